"""`python -m consentry`: the same command as `consentry`."""

from consentry.cli import main

main()
