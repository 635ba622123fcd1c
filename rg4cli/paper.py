"""The LLM-RG4 paper's numbers and the released code's defaults, defined once.

Every default that is the paper's choice (rather than rg4's) is read from here, so the
library, the CLI and the docs cannot drift apart.
"""

from __future__ import annotations

# Token-level loss weighting (paper §Implementation Details and Alg. 1): a sentence whose
# smoothed attribution exceeds TLW_THRESHOLD gets weight TLW_LAMBDA, every other one 1.
TLW_LAMBDA = 1.75
TLW_THRESHOLD = 0.4

# Decoding of the released test script: beam 3, repetition and length penalty 2.0,
# 50 to 200 new tokens.
NUM_BEAMS = 3
MAX_NEW_TOKENS = 200
MIN_NEW_TOKENS = 50
REPETITION_PENALTY = 2.0
LENGTH_PENALTY = 2.0
