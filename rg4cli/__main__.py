"""`python -m rg4cli` (and `accelerate launch -m rg4cli train ...`)."""

from rg4cli.cli.launch import main

main()
