"""``costtrack recommendations compute [--queue] [--no-notify]``: compute the recommendations
now (in this process) and print what was found, or queue the computation for the workers."""

import json

from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Compute the recommendations (or queue their computation on the workers)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        compute = sub.add_parser("compute", help="Compute every recommendation now.")
        compute.add_argument(
            "--queue", action="store_true", help="Queue it for the workers instead."
        )
        compute.add_argument(
            "--no-notify", action="store_true", help="Do not send the owners' digest."
        )

    def handle(self, *args, action: str, **options):
        from recommendations.services import recommendations_compute
        from recommendations.triggers import recommendations_enqueue

        if options["queue"]:
            with transaction.atomic():
                job = recommendations_enqueue()
            self.stdout.write(f"Queued job #{job}.")
            return
        result = recommendations_compute(notify=not options["no_notify"])
        self.stdout.write(json.dumps(result.as_dict()))
