#!/usr/bin/env python
"""Django's command-line utility for costtrack (the ``costtrack`` console script does the same)."""

from costtrack.cli import main

if __name__ == "__main__":
    main()
