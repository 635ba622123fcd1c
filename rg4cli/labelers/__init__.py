"""rg4 label: the 14 CheXpert observations of a report (rules and BERT classifier backends)."""
