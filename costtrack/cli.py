"""The ``costtrack`` console script: the same as ``python manage.py``."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "costtrack.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["costtrack", *(sys.argv[1:] if argv is None else argv)])
