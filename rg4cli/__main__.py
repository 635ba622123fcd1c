"""`python -m rg4cli` (and `accelerate launch -m rg4cli train ...`)."""

from .cli.app import main

main()
