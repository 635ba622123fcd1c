"""LLM chat clients shared by the rewriters and the LLM judge (rg4cli.llm.clients)."""
