"""The 14 CheXpert observations, in CheXbert's head order, and the label values."""

from __future__ import annotations

OBSERVATIONS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
    "No Finding",
)

# The "5 labels" of CE tables in the literature.
FIVE: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")

# The 13 observations TLW attributes (No Finding excluded, paper §TLW).
THIRTEEN: tuple[str, ...] = OBSERVATIONS[:13]

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1  # and None: not mentioned

# CheXbert head classes -> rg4 label values (0 blank, 1 positive, 2 negative, 3 uncertain).
CHEXBERT_CLASS_TO_LABEL = {0: None, 1: POSITIVE, 2: NEGATIVE, 3: UNCERTAIN}
LABEL_TO_CHEXBERT_CLASS = {v: k for k, v in CHEXBERT_CLASS_TO_LABEL.items()}
