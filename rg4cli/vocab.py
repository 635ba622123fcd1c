"""rg4's vocabulary, defined once: the 14 CheXpert observations (CheXbert's head order), label
values, study settings and views, hallucination categories, report sections."""

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

NO_FINDING: str = OBSERVATIONS[13]
SUPPORT_DEVICES: str = OBSERVATIONS[12]

# The paper's four input settings (docs/records.md "The study record"): s/m = frontal only / frontal +
# lateral, n/w = without / with the prior report. ("Settings" classes are something else: a
# command's options as a dataclass.)
INPUT_SETTINGS: tuple[str, ...] = ("sn", "sw", "mn", "mw")
VIEWS: tuple[str, ...] = ("PA", "AP")  # the frontal projection a record's `view` names

# Input-agnostic content (Nguyen et al. 2023): what `rg4 hallucination` flags.
CATEGORIES: tuple[str, ...] = ("pc", "pp", "view", "comm")
CATEGORY_NAMES: dict[str, str] = {
    "pc": "prior comparison",
    "pp": "prior procedure",
    "view": "view / projection statement",
    "comm": "communication",
}

# Report sections a model is asked to write (`rg4 generate --sections`, the prompt).
SECTIONS: tuple[str, ...] = ("both", "findings", "impression")
# What `rg4 generate --sections` may ask: a fixed choice, or "reference": the sections each
# study's record has (findings only, impression only or both; both when it has neither),
# as the released test code asks.
SECTION_REQUESTS: tuple[str, ...] = ("reference",) + SECTIONS
