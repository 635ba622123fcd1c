"""rg4: LLM-RG4 chest X-ray report generation as composable JSON Lines commands."""

import os
from importlib.metadata import PackageNotFoundError, version

# pyproject.toml holds the version; an installed package carries it in its metadata.
try:
    __version__ = version("rg4cli")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

# rg4 never downloads at run time: models load from local paths or the Hugging Face cache
# (`local_files_only`). Without this, huggingface_hub still retries the network for tens of
# seconds before a missing model fails. Export HF_HUB_OFFLINE=0 to allow downloads.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
