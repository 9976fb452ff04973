"""`python -m harvester` is the `harvester` command."""

from ._cli.main import main

main()
