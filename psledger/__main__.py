"""`python -m psledger`: the CLI."""

from psledger.cli import main

main()
