"""rg4 generate: studies in, reports out."""
