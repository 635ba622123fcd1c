"""Shared test fixtures: where the real IU reports live (skip when absent), small corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RG4_SHARED", REPO.parent / "shared"))
IU_DIR = SHARED / "data" / "iu"

# Two cores: keep each test process from oversubscribing them.
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def iu_dir() -> Path:
    if not (IU_DIR / "reports.jsonl").exists():
        pytest.skip("real IU reports not available (../shared/data/iu)")
    return IU_DIR


REPORT_CORPUS = [
    "findings: The heart is normal in size. There is no pleural effusion or pneumothorax. "
    "impression: No acute cardiopulmonary process.",
    "findings: Moderate right pleural effusion with adjacent atelectasis. The heart is enlarged. "
    "impression: Right effusion. Cardiomegaly.",
    "findings: Small left apical pneumothorax. A right internal jugular catheter ends in the SVC. "
    "impression: Small left pneumothorax.",
    "findings: Patchy opacity in the left lower lobe may represent pneumonia. impression: Possible pneumonia.",
]
