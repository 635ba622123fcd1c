"""A folder of images or a DICOM export -> study records without a report (`build-data --from folder`).

What a PACS export or a scanner drop looks like, turned into the records `rg4 generate`
reads (docs/datasets.md "From a folder to reports"):

- DICOM files (.dcm / .dicom, or any file with the DICM magic, as exports often have no
  suffix): grouped by StudyInstanceUID, wherever they lie; the view from ViewPosition
  (PA, AP; LATERAL / LL; else the first image is taken as frontal).
- Other images (.png, .jpg, .jpeg, .tif, .tiff, .bmp): one study per folder; the view
  from the file name (a word "lateral" / "lat" / "ll", "pa", "ap"; else frontal).

Per study: frontal = the first PA, else AP, else unlabeled image (file name order);
lateral = the first LATERAL / LL image. Record: id (the StudyInstanceUID, or the folder's
path with '/' as '_'), study_id, frontal and lateral relative to the folder (so
`--image-root FOLDER` serves them), view, study_date (DICOM StudyDate when present), no
findings or impression. A study without a usable frontal image is skipped and counted;
a DICOM file whose header cannot be read is skipped and counted by its path. Files are
only read up to their headers here; pixels are decoded by `rg4 generate`.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from rg4cli.errors import InputError
from rg4cli.images import DICOM_SUFFIXES, IMAGE_SUFFIXES, is_dicom

FRONTAL = ("PA", "AP")
LATERAL = ("LATERAL", "LL", "LAT", "RL")
SKIP_NO_FRONTAL = "no frontal image"
SKIP_UNREADABLE = "DICOM header unreadable"
_NAME_VIEW = re.compile(r"(?:^|[^a-z])(lateral|lat|ll|pa|ap)(?:[^a-z]|$)")


def view_from_name(name: str) -> str | None:
    m = _NAME_VIEW.search(Path(name).stem.lower())
    if not m:
        return None
    word = m.group(1)
    return "LATERAL" if word in ("lateral", "lat", "ll") else word.upper()


class FolderImport:
    def __init__(self, source: str | Path):
        self.root = Path(source)
        if not self.root.is_dir():
            raise InputError(f"--from folder: not a directory: {self.root}")
        self.skipped: Counter = Counter()
        self.skip_examples: dict[str, list[str]] = defaultdict(list)
        self.notes: Counter = Counter()
        self.studies_found: dict[str, dict] = {}
        self._scan()

    @property
    def n_studies(self) -> int:
        return len(self.studies_found)

    def _skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        if len(self.skip_examples[reason]) < 5:
            self.skip_examples[reason].append(what)

    def _scan(self) -> None:
        import pydicom
        from pydicom.errors import InvalidDicomError

        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                rel = path.relative_to(self.root).as_posix()
                suffix = path.suffix.lower()
                if name.startswith("."):
                    continue
                if suffix in DICOM_SUFFIXES or (suffix not in IMAGE_SUFFIXES and is_dicom(path)):
                    try:
                        ds = pydicom.dcmread(path, stop_before_pixels=True)
                        uid = str(ds.StudyInstanceUID)
                    except (InvalidDicomError, OSError, AttributeError, ValueError, KeyError, EOFError):
                        self._skip(SKIP_UNREADABLE, rel)  # e.g. a DICOMDIR, or a cut-short file
                        continue
                    study = self.studies_found.setdefault(uid, {"id": uid, "images": [], "date": None})
                    study["date"] = study["date"] or (str(ds.get("StudyDate", "")) or None)
                    study["images"].append((rel, str(ds.get("ViewPosition", "") or "").upper() or None))
                elif suffix in IMAGE_SUFFIXES:
                    folder = Path(rel).parent.as_posix()
                    key = "." if folder == "." else folder
                    study = self.studies_found.setdefault(
                        key,
                        {"id": (self.root.name if key == "." else key.replace("/", "_")), "images": [], "date": None},
                    )
                    study["images"].append((rel, view_from_name(name)))

    def records(self) -> Iterator[dict]:
        for study in self.studies_found.values():
            images = sorted(study["images"])
            frontal = next((r for v in FRONTAL for r, view in images if view == v), None)
            frontal = frontal or next((r for r, view in images if view not in LATERAL), None)
            if frontal is None:
                self._skip(SKIP_NO_FRONTAL, study["id"])
                continue
            lateral = next((r for r, view in images if view in LATERAL), None)
            view = dict(images)[frontal]
            yield {
                "id": study["id"],
                "study_id": study["id"],
                "setting": "mn" if lateral else "sn",
                "frontal": frontal,
                "view": view if view in FRONTAL else None,
                "lateral": lateral,
                "prior_report": None,
                "study_date": study["date"],
                "findings": None,
                "impression": None,
            }
