"""``costtrack import focus FILE... [--unit CODE] [--user NAME] [--progress|--quiet]``.

Each file (or glob) is imported in its own transaction, one after the other; a file that
fails is reported and the others still run (the command then exits with an error).
"""

import glob
import json
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from costs.imports import services
from costs.models import ImportBatch
from costtrack.core.exceptions import ApplicationError
from costtrack.core.roles import FINANCE


class _Progress:
    """Progress on stderr: a bar redrawn in place on a terminal, plain lines elsewhere.

    Shows the bytes read of the file, then the rows staged and the scopes done (of this
    file, and of all files so far when several are imported).
    """

    def __init__(self, total: int, write, *, tty: bool, label: str = "") -> None:
        self.total = max(total, 1)
        self.write = write
        self.tty = tty
        self.label = f"{label} " if label else ""
        self.shown = -1

    def __call__(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        if self.tty:
            if percent != self.shown:
                self.shown = percent
                bar = "#" * (percent // 4)
                self.write(f"\r{self.label}reading [{bar:<25}] {percent:3d}% {done / 1e6:8.1f} MB")
        elif percent // 10 != self.shown // 10 or (percent == 100 and self.shown != 100):
            self.shown = percent
            self.write(f"{self.label}reading {percent}% ({done / 1e6:.1f} MB)\n")

    def phase(self, name: str) -> None:
        self.write(f"\n{self.label}{name} …" if self.tty else f"{self.label}{name} …\n")

    def staged(self, rows: int) -> None:
        text = f"{self.label}rows staged: {rows}"
        self.write(f"\n{text}" if self.tty else f"{text}\n")

    def scopes(self, done: int, total: int) -> None:
        text = f"{self.label}scopes done: {done}/{total}"
        self.write(f"\n{text}" if self.tty else f"{text}\n")

    def done(self) -> None:
        if self.tty and self.shown >= 0:
            self.write("\n")


def _expand(patterns: list[str]) -> list[str]:
    """The files named or matched by the globs, in order, each once."""
    paths: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matched = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
            if not matched:
                raise CommandError(f"No file matches {pattern}.")
            paths += matched
        elif not os.path.isfile(pattern):
            raise CommandError(f"No file at {pattern}.")
        else:
            paths.append(pattern)
    return list(dict.fromkeys(paths))


class Command(BaseCommand):
    help = (
        "Import billing exports: `import focus FILE...` (FinOps FOCUS 1.0-1.3 as CSV, gzip or "
        "Parquet; globs accepted)."
    )

    def add_arguments(self, parser):
        parser.add_argument("format", choices=["focus"])
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--focus-version", default="", help="Declare the FOCUS version (else detected)."
        )
        parser.add_argument("--unit", help="Code of the unit for rows no rule places.")
        parser.add_argument(
            "--user", help="Finance user to import as (default: the first finance user)."
        )
        parser.add_argument("--override-reason", default="", help="Import past a block budget.")
        parser.add_argument(
            "--progress",
            action="store_true",
            help="Progress on stderr even when it is not a terminal (the default on one).",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress at all.")
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
        paths = _expand(options["files"])
        user = self._user(options.get("user"))
        try:
            unit = services.default_unit(options.get("unit"))
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        tty = self.stderr.isatty()
        show = not options["quiet"] and (tty or options["progress"] or len(paths) > 1)
        failures, scopes_done = [], 0
        for number, path in enumerate(paths, start=1):
            label = f"[{number}/{len(paths)}] {os.path.basename(path)}" if len(paths) > 1 else ""
            batch = self._import_one(path, user=user, unit=unit, options=options,
                                     show=show, tty=tty, label=label)  # fmt: skip
            if batch.status == ImportBatch.Status.FAILED:
                failures.append(self._failure(batch))
                continue
            scopes_done += len(batch.scope_rows)
            self._report(batch, options)
        if len(paths) > 1 and not options["json"]:
            self.stdout.write(
                f"{len(paths) - len(failures)} of {len(paths)} files imported, "
                f"{scopes_done} scopes."
            )
        if failures:
            raise CommandError("\n".join(failures))

    def _import_one(self, path, *, user, unit, options, show, tty, label):
        progress = None
        if show:

            def write(text: str) -> None:
                if text:
                    self.stderr.write(text, ending="")
                    self.stderr.flush()

            progress = _Progress(os.path.getsize(path), write, tty=tty, label=label)
        try:
            with open(path, "rb") as source:
                batch = services.import_file(
                    source=source,
                    file_name=os.path.basename(path),
                    acting_user=user,
                    unit=unit,
                    override_reason=options["override_reason"],
                    progress=progress,
                    focus_version=options["focus_version"],
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        finally:
            if progress is not None:
                progress.done()
        batch.scope_rows = list(batch.scopes.order_by("first_line", "id"))
        return batch

    def _failure(self, batch) -> str:
        lines = [f"Import #{batch.pk} of {batch.file_name} failed; nothing was imported."]
        for error in batch.errors[:20]:
            where = f"line {error['line']}" if error.get("line") else "file"
            column = f" [{error['column']}]" if error.get("column") else ""
            lines.append(f"  {where}{column}: {error['message']}")
        if batch.error_count > 20:
            lines.append(f"  … {batch.error_count - 20} more errors")
        return "\n".join(lines)

    def _report(self, batch, options) -> None:
        scopes = [
            {
                "provider": s.provider,
                "billing_account_id": s.billing_account_id,
                "billing_period": [str(s.billing_period_start), str(s.billing_period_end)],
                "status": s.status,
                "rows": s.rows,
                "costs_created": s.costs_created,
                "costs_reversed": s.costs_reversed,
                "unmapped_rows": s.unmapped_rows,
                "corrections": s.corrections,
                "totals": s.totals,
                "cost_totals": s.cost_totals,
            }
            for s in batch.scope_rows
        ]
        summary = {
            "import": batch.pk,
            "status": batch.status,
            "file": batch.file_name,
            "format": batch.format,
            "focus_version": batch.focus_version,
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
            "scopes": scopes,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        if getattr(batch, "already_imported", False):
            self.stdout.write(
                f"This file was already imported as import #{batch.pk}; nothing changed."
            )
        where = (
            f"billing account {batch.billing_account_id}, period {batch.billing_period_start} "
            f"to {batch.billing_period_end}"
            if len(scopes) <= 1
            else f"{len(scopes)} scopes"
        )
        version = f" (FOCUS {batch.focus_version}, {batch.get_format_display()})"
        self.stdout.write(f"Import #{batch.pk} {batch.status}: {batch.file_name}, {where}{version}")
        kept = sum(s.rows for s in batch.scope_rows if s.status == "unchanged")
        self.stdout.write(
            f"  rows {batch.rows}: imported {batch.imported_rows}, skipped (zero) "
            f"{batch.skipped_rows}, unmapped {batch.unmapped_rows}"
            + (f", in unchanged scopes {kept}" if kept else "")
        )
        self.stdout.write(
            f"  costs created {batch.costs_created} (auto-approved {batch.costs_auto_approved}),"
            f" reversed {batch.costs_reversed}, resources created {batch.resources_created}"
        )
        for currency, total in sorted(batch.totals.items()):
            self.stdout.write(f"  total {currency} {total}")
        for s in batch.scope_rows:
            self.stdout.write(
                f"  scope {s.provider} {s.billing_account_id} {s.billing_period_start}…"
                f"{s.billing_period_end}: {s.status}, rows {s.rows}, costs {s.costs_created}, "
                f"reversed {s.costs_reversed}, unmapped rows {s.unmapped_rows}, "
                f"corrections {s.corrections}"
            )
            for currency, t in sorted(s.cost_totals.items()):
                self.stdout.write(
                    f"    {currency} billed {t['BilledCost']} effective {t['EffectiveCost']} "
                    f"list {t['ListCost']} (imported {s.totals.get(currency, '0')})"
                )
        for warning in batch.warnings:
            self.stdout.write(f"  warning: {warning.get('message') or warning}")
