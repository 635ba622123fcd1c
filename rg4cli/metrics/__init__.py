"""rg4 score: NLG metrics and clinical efficacy."""
