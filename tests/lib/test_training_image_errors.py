"""train names a truncated image by its record: file, line and field (not only the image path)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rg4cli.errors import InputError
from rg4cli.training.cache import NoCache
from rg4cli.training.generator import GeneratorTask


class _Model:
    def pixel_values(self, images):
        return images

    def encode_image(self, pixels):
        return [None for _ in pixels]


def test_a_truncated_image_names_file_line_and_field(tmp_path):
    good, cut = tmp_path / "good.png", tmp_path / "cut.png"
    Image.fromarray((np.random.RandomState(0).rand(40, 40) * 255).astype("uint8")).save(good)
    cut.write_bytes(good.read_bytes()[:-60])
    task = GeneratorTask.__new__(GeneratorTask)
    task.model, task.image_cache, task.hasher = _Model(), NoCache(), str
    with pytest.raises(InputError, match=r"^train.jsonl:7: lateral: cannot read image .*cut.png"):
        task._image_features([good, cut], [("train.jsonl", 3, "frontal"), ("train.jsonl", 7, "lateral")])
