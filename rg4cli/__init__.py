"""rg4: LLM-RG4 chest X-ray report generation as composable JSON Lines commands."""

__version__ = "0.1.0"
