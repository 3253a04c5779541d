"""``python -m nightlight`` = the ``nightlight`` command."""

from nightlight.cli import main

main()
