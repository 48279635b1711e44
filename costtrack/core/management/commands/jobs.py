"""``costtrack jobs relay|dispatch|reap|status``: the job outbox from the command line.

costtrack jobs relay [--poll 1] [--reap-every 15]   the dispatcher process (make worker)
costtrack jobs dispatch                              hand every due job over once
costtrack jobs reap                                  take back jobs whose lease expired
costtrack jobs status                                how many jobs are in each state
"""

import signal

from django.core.management.base import BaseCommand
from django.db.models import Count

from costtrack.core import jobs
from costtrack.core.jobs.relay import relay, relay_round
from costtrack.core.models import Job


class Command(BaseCommand):
    help = "Run the dispatcher of the job outbox (relay), or one dispatch or reap round."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("relay", help="Dispatch jobs as they are written, until stopped.")
        run.add_argument("--poll", type=float, default=1.0, help="Seconds between polls.")
        run.add_argument("--reap-every", type=float, default=15.0, help="Seconds between reaps.")
        sub.add_parser("dispatch", help="Hand every due job to the broker once.")
        sub.add_parser("reap", help="Hand over again the jobs whose lease expired.")
        sub.add_parser("status", help="Count the jobs per state.")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "relay":
            self._relay(options)
        elif action == "dispatch":
            self.stdout.write(f"Handed over: {relay_round()}")
        elif action == "reap":
            counts = jobs.jobs_reap()
            self.stdout.write(", ".join(f"{k} {v}" for k, v in counts.items()))
        else:
            rows = Job.objects.values("state").annotate(n=Count("id")).order_by("state")
            for row in rows:
                self.stdout.write(f"{row['state']}: {row['n']}")

    def _relay(self, options) -> None:
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Relay ready (poll {options['poll']}s).")
        self.stdout.flush()
        relay(poll=options["poll"], reap_every=options["reap_every"], stop=lambda: bool(stopping))
        self.stdout.write("Relay stopped.")
