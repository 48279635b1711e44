"""``costtrack import focus FILE [--unit CODE] [--user NAME] [--progress]``."""

import json
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from costs.imports import services
from costs.models import ImportBatch
from costtrack.core.exceptions import ApplicationError
from costtrack.core.roles import FINANCE


class _Progress:
    """A one-line progress bar on stderr, redrawn when a whole percent more is read."""

    def __init__(self, total: int, write) -> None:
        self.total = max(total, 1)
        self.write = write
        self.shown = -1

    def __call__(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        if percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 4)
            self.write(f"\rreading [{bar:<25}] {percent:3d}% {done / 1e6:8.1f} MB")

    def phase(self, name: str) -> None:
        self.write(f"\n{name} …")

    def done(self) -> None:
        if self.shown >= 0:
            self.write("\n")


class Command(BaseCommand):
    help = "Import a billing export: `import focus FILE` (FinOps FOCUS CSV, plain or gzip)."

    def add_arguments(self, parser):
        parser.add_argument("format", choices=["focus"])
        parser.add_argument("file")
        parser.add_argument("--unit", help="Code of the unit for rows no rule places.")
        parser.add_argument(
            "--user", help="Finance user to import as (default: the first finance user)."
        )
        parser.add_argument("--override-reason", default="", help="Import past a block budget.")
        parser.add_argument("--progress", action="store_true", help="Progress bar on stderr.")
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def _user(self, username: str | None):
        User = get_user_model()
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user '{username}'.")
            return user
        user = (
            User.objects.filter(is_active=True, groups__name=FINANCE).order_by("pk").first()
            or User.objects.filter(is_active=True, is_superuser=True).order_by("pk").first()
        )
        if user is None:
            raise CommandError("No finance user to import as; pass --user.")
        return user

    def handle(self, *args, **options):
        path = options["file"]
        if not os.path.isfile(path):
            raise CommandError(f"No file at {path}.")
        user = self._user(options.get("user"))
        progress = None
        if options["progress"]:

            def write(text: str) -> None:
                self.stderr.write(text, ending="")
                self.stderr.flush()

            progress = _Progress(os.path.getsize(path), write)
        try:
            unit = services.default_unit(options.get("unit"))
            with open(path, "rb") as source:
                batch = services.import_file(
                    source=source,
                    file_name=os.path.basename(path),
                    acting_user=user,
                    unit=unit,
                    override_reason=options["override_reason"],
                    progress=progress,
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        finally:
            if progress is not None:
                progress.done()
        summary = {
            "import": batch.pk,
            "status": batch.status,
            "file": batch.file_name,
            "billing_account_id": batch.billing_account_id,
            "billing_period": [str(batch.billing_period_start), str(batch.billing_period_end)],
            "rows": batch.rows,
            "imported_rows": batch.imported_rows,
            "skipped_rows": batch.skipped_rows,
            "unmapped_rows": batch.unmapped_rows,
            "costs_created": batch.costs_created,
            "costs_auto_approved": batch.costs_auto_approved,
            "costs_reversed": batch.costs_reversed,
            "resources_created": batch.resources_created,
            "totals": batch.totals,
            "supersedes": batch.supersedes_id,
        }
        if batch.status == ImportBatch.Status.FAILED:
            lines = [f"Import #{batch.pk} of {batch.file_name} failed; nothing was imported."]
            for error in batch.errors[:20]:
                where = f"line {error['line']}" if error.get("line") else "file"
                column = f" [{error['column']}]" if error.get("column") else ""
                lines.append(f"  {where}{column}: {error['message']}")
            if batch.error_count > 20:
                lines.append(f"  … {batch.error_count - 20} more errors")
            raise CommandError("\n".join(lines))
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        if getattr(batch, "already_imported", False):
            self.stdout.write(
                f"This file was already imported as import #{batch.pk}; nothing changed."
            )
        self.stdout.write(
            f"Import #{batch.pk} {batch.status}: {batch.file_name}, billing account "
            f"{batch.billing_account_id}, period {batch.billing_period_start} to "
            f"{batch.billing_period_end}"
        )
        self.stdout.write(
            f"  rows {batch.rows}: imported {batch.imported_rows}, skipped (zero) "
            f"{batch.skipped_rows}, unmapped {batch.unmapped_rows}"
        )
        self.stdout.write(
            f"  costs created {batch.costs_created} (auto-approved {batch.costs_auto_approved}),"
            f" reversed {batch.costs_reversed}, resources created {batch.resources_created}"
        )
        for currency, total in sorted(batch.totals.items()):
            self.stdout.write(f"  total {currency} {total}")
        for warning in batch.warnings:
            self.stdout.write(f"  warning: {warning.get('message') or warning}")
