"""Image thumbnails as inline data URIs: grayscale JPEG, longest side `size` pixels.

Images are read with rg4cli.images (the same path rule and decoders as train and generate:
confined to --image-root, DICOM and 16-bit PNG included), so the page shows what the model
read. An image used by several records (the settings of one study) is encoded once. An image
that cannot be read gets no thumbnail; the reason is counted for the page's notes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

from rg4cli.errors import InputError
from rg4cli.images import ImageRoot, load_image

# JPEG quality 60 on a grayscale radiograph thumbnail: ~2 KB at 96 px, artefacts not visible at that size.
QUALITY = 60


@dataclass
class Thumbnails:
    image_root: ImageRoot | None
    size: int = 96
    uris: dict[str, str] = field(default_factory=dict)  # key -> data URI
    keys: dict[str, str | None] = field(default_factory=dict)  # image path -> key (None: unreadable)
    problems: list[str] = field(default_factory=list)
    bytes: int = 0  # of all data URIs

    def key(self, path: str) -> str | None:
        """The key of `path`'s thumbnail in `uris`, or None when it cannot be read."""
        if path in self.keys:
            return self.keys[path]
        try:
            image = load_image(self.image_root, path)
        except InputError as exc:
            self.problems.append(exc.problem)
            self.keys[path] = None
            return None
        image = image.convert("L")
        image.thumbnail((self.size, self.size))
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=QUALITY, optimize=True)
        key = f"i{len(self.uris)}"
        self.uris[key] = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        self.bytes += len(self.uris[key])
        self.keys[path] = key
        return key
