"""CLI tests of tokenizer cli (library tests: tests/lib/test_model_tokenizers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import REPO, REPORT_CORPUS
from ..lib.test_model_tokenizers import (
    SCRIPT,
)


def test_vocabulary_is_the_same_across_hash_seeds():
    texts = REPORT_CORPUS * 3 + ["Silhouette shadows hazy bodies; no acute disease."]
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, json.dumps(texts)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
        )
        outs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
