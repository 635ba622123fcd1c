"""rg4 weights: token-level loss weights per sentence."""
