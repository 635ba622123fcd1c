"""Import a MIMIC-CXR-JPG tree: one plain object per study, with its images, prior and sections.

Layout (what `rg4 synth` writes, and PhysioNet's MIMIC-CXR-JPG 2.x with the MIMIC-CXR
reports unpacked beside it):

    ROOT/mimic-cxr-2.0.0-metadata.csv(.gz)   dicom_id, subject_id, study_id, ViewPosition,
                                              Rows, Columns, StudyDate, StudyTime, ...
    ROOT/mimic-cxr-2.0.0-split.csv(.gz)      dicom_id, study_id, subject_id, split
    ROOT/files/pNN/pSUBJECT/sSTUDY/DICOM.jpg   (or .png / .dcm: rg4 synth --image-format)
    ROOT/files/pNN/pSUBJECT/sSTUDY.txt       free-text report (REPORTS may be another
                                              directory, or mimic-cxr-reports.zip)

Choices (documented here because every number downstream depends on them):

- Frontal image: ViewPosition PA is preferred over AP. Among several images of the
  chosen view, the one with the most pixels (Rows x Columns) wins, then the lowest
  dicom_id (deterministic, and the largest image is the most complete acquisition).
  With `check_images`, candidates whose .jpg is absent are passed over.
- Lateral image: ViewPosition LATERAL, else LL; same tie-break.
- Prior study: the subject's study immediately before this one in (StudyDate,
  StudyTime, study_id) order, whatever its images. Its report becomes `prior_report`
  as the marked target text of its raw sections, "findings: ... impression: ..."
  (sections.join_sections): the same form rg4 generates, so a previous rg4 report can
  serve as the prior at inference time. A prior whose report has neither findings nor
  impression gives no prior report (counted as a note).
- A study is skipped (counted, with its reason) when it has no frontal image, when its
  report file is missing, or when its report has neither findings nor impression.
- Order: subject_id ascending, then each subject's studies chronologically.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rg4cli.errors import InputError
from rg4cli.images import file_under
from rg4cli.text.sections import join_sections, parse_sections

FRONTAL_VIEWS = ("PA", "AP")  # preference order
LATERAL_VIEWS = ("LATERAL", "LL")

SKIP_NO_FRONTAL = "no frontal (PA/AP) image in the metadata"
SKIP_FRONTAL_FILE = "frontal image file missing"
SKIP_NO_REPORT = "report file missing"
SKIP_NO_SECTIONS = "report has neither findings nor impression"
NOTE_NO_SPLIT = "study not in the split file (split null)"
NOTE_PRIOR_UNUSABLE = "previous study's report unusable (no prior_report)"
NOTE_LATERAL_FILE = "lateral image file missing (treated as absent)"

# Split names as MIMIC-CXR spells them; other sources' spellings map onto them (R2Gen and the
# MIMIC-RG4 release say "val").
SPLIT_ALIASES = {"train": "train", "val": "validate", "validate": "validate", "test": "test"}

METADATA_NAMES = ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-metadata.csv")
SPLIT_NAMES = ("mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-split.csv")
METADATA_COLUMNS = ("dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime")
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")


@dataclass
class Image:
    dicom_id: str
    view: str
    pixels: int

    def sort_key(self) -> tuple:
        return (-self.pixels, self.dicom_id)


@dataclass
class StudyIndex:
    """What the metadata says about one study (no report read yet)."""

    study_id: str
    subject_id: str
    date: str
    time: float
    images: list[Image] = field(default_factory=list)


@dataclass
class MimicStudy:
    """One imported study; paths are relative to the MIMIC root."""

    study_id: str
    subject_id: str
    split: str | None
    frontal: str
    view: str
    lateral: str | None
    prior_study_id: str | None
    prior_report: str | None
    sections: dict[str, str | None]
    date: str = ""
    # annotations that came with the study (labels, ...), record-shaped and bound to their text
    # (records.provenance); assembly keeps one only while its text survives the rewrite
    annotations: dict = field(default_factory=dict)

    @property
    def findings(self) -> str | None:
        return self.sections.get("findings")

    @property
    def impression(self) -> str | None:
        return self.sections.get("impression")

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings this study's inputs allow, in INPUT_SETTINGS order (sn, sw, mn, mw)."""
        out = ["sn"]
        if self.prior_report:
            out.append("sw")
        if self.lateral:
            out.append("mn")
        if self.lateral and self.prior_report:
            out.append("mw")
        return tuple(out)


def _find(root: Path, names: tuple[str, ...], what: str, given: str | Path | None) -> Path:
    if given is not None:
        p = Path(given)
        if not p.is_file():
            raise InputError(f"no such {what} file: {p}")
        return p
    for name in names:
        if (root / name).is_file():
            return root / name
    # Other releases rename the files; accept one unambiguous *metadata.csv(.gz).
    key = "metadata" if "metadata" in names[0] else "split"
    found = sorted(root.glob(f"*{key}.csv.gz")) + sorted(root.glob(f"*{key}.csv"))
    if len(found) == 1:
        return found[0]
    raise InputError(
        f"no {what} file ({' or '.join(names)}) in {root}"
        + (f"; several candidates: {', '.join(p.name for p in found)}" if found else "")
    )


def _open_csv(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    line = 0
    try:
        with _open_csv(path) as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(
                    f"missing column(s) {', '.join(missing)} (header: {', '.join(reader.fieldnames or [])})",
                    source=str(path),
                    line=1,
                )
            for row in reader:
                line = reader.line_num
                yield line, row
    except UnicodeDecodeError as exc:
        # Decoded in chunks: the bad byte is at or a little after the line read last.
        raise InputError(
            f"not UTF-8 text after line {line} ({exc.reason}); convert the file to UTF-8", source=str(path)
        ) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(
            f"the compressed file is cut short or corrupt after line {line} ({exc}); download it again",
            source=str(path),
        ) from None
    except csv.Error as exc:
        raise InputError(f"bad CSV: {exc}", source=str(path), line=line + 1) from None


def _int_field(row: dict, name: str, path: Path, line: int, *, default: int | None = None) -> int:
    value = (row.get(name) or "").strip()
    if not value:
        if default is not None:
            return default
        raise InputError("empty value", source=str(path), line=line, field=name)
    try:
        return int(float(value))
    except ValueError:
        raise InputError(f"expected a number, got {value!r}", source=str(path), line=line, field=name) from None


def _id_field(row: dict, name: str, path: Path, line: int) -> str:
    value = (row.get(name) or "").strip()
    if not value:
        raise InputError("empty value", source=str(path), line=line, field=name)
    if value.endswith(".0"):  # ids written through a float column
        value = value[:-2]
    # real ids are digits; 's50414267' / 'p10000032' spellings are accepted too
    if value[:1] in "sp" and value[1:].isdigit():
        value = value[1:]
    return value


class ReportSource:
    """Report .txt files from a directory (files/pNN/pSUBJECT/sSTUDY.txt) or a zip."""

    def __init__(self, location: Path):
        self.location = location
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if location.is_file() and location.suffix == ".zip":
            self._zip = zipfile.ZipFile(location)
            for name in self._zip.namelist():
                if name.endswith(".txt"):
                    self._members[Path(name).name] = name  # sSTUDY.txt is unique in MIMIC
        elif not location.is_dir():
            raise InputError(f"reports: no such directory or .zip: {location}")

    @staticmethod
    def relpath(subject_id: str, study_id: str) -> str:
        return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}.txt"

    def read(self, subject_id: str, study_id: str) -> str | None:
        if self._zip is not None:
            member = self._members.get(f"s{study_id}.txt")
            return None if member is None else self._zip.read(member).decode("utf-8", errors="replace")
        path = self.location / self.relpath(subject_id, study_id)
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None


IMAGE_SUFFIXES = (".jpg", ".png", ".dcm")  # MIMIC-CXR-JPG, then PNG / DICOM trees (rg4 synth --image-format)


def image_relpath(subject_id: str, study_id: str, dicom_id: str, suffix: str = ".jpg") -> str:
    return f"files/p{subject_id[:2]}/p{subject_id}/s{study_id}/{dicom_id}{suffix}"


class MimicImport:
    """Index a MIMIC-CXR-JPG tree; iterate its usable studies with `studies()`.

    Counters (`skipped`, `notes`) fill while iterating, so a huge tree streams:
    only the metadata index is held in memory, each report is read once.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        metadata: str | Path | None = None,
        split_file: str | Path | None = None,
        reports: str | Path | None = None,
        check_images: bool = True,
        splits: tuple[str, ...] | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"MIMIC root is not a directory: {self.root}")
        self.metadata_path = _find(self.root, METADATA_NAMES, "metadata CSV", metadata)
        self.split_path = _find(self.root, SPLIT_NAMES, "split CSV", split_file)
        self.reports = ReportSource(Path(reports) if reports is not None else self.root)
        self.check_images = check_images
        self.splits = tuple(splits) if splits else None
        self.skipped: Counter = Counter()
        self.skip_examples: dict[str, list[str]] = defaultdict(list)
        self.notes: Counter = Counter()
        self.by_subject: dict[str, list[StudyIndex]] = defaultdict(list)
        self.split_of: dict[str, str] = {}
        self._load_metadata()
        self._load_split()

    # ---- indexing -------------------------------------------------------------
    def _load_metadata(self) -> None:
        studies: dict[str, StudyIndex] = {}
        path = self.metadata_path
        for line, row in _rows(path, METADATA_COLUMNS):
            study_id = _id_field(row, "study_id", path, line)
            subject_id = _id_field(row, "subject_id", path, line)
            st = studies.get(study_id)
            if st is None:
                date = str(_int_field(row, "StudyDate", path, line, default=0))
                time_text = (row.get("StudyTime") or "").strip() or "0"
                try:
                    time = float(time_text)
                except ValueError:
                    raise InputError(
                        f"expected a number, got {time_text!r}", source=str(path), line=line, field="StudyTime"
                    ) from None
                st = studies[study_id] = StudyIndex(study_id, subject_id, date, time)
            elif st.subject_id != subject_id:
                raise InputError(
                    f"study {study_id} listed under subjects {st.subject_id} and {subject_id}",
                    source=str(path),
                    line=line,
                    field="subject_id",
                )
            view = (row.get("ViewPosition") or "").strip().upper()
            pixels = 0
            if "Rows" in row and "Columns" in row:
                pixels = _int_field(row, "Rows", path, line, default=0) * _int_field(
                    row, "Columns", path, line, default=0
                )
            st.images.append(Image(_id_field(row, "dicom_id", path, line), view, pixels))
        if not studies:
            raise InputError("no rows", source=str(path))
        for st in studies.values():
            self.by_subject[st.subject_id].append(st)
        for subject_studies in self.by_subject.values():
            subject_studies.sort(key=lambda s: (int(s.date), s.time, s.study_id))

    def _load_split(self) -> None:
        path = self.split_path
        for line, row in _rows(path, SPLIT_COLUMNS):
            study_id = _id_field(row, "study_id", path, line)
            value = (row.get("split") or "").strip()
            if not value:
                raise InputError("empty value", source=str(path), line=line, field="split")
            self.split_of.setdefault(study_id, value)

    @property
    def n_studies(self) -> int:
        return sum(len(v) for v in self.by_subject.values())

    # ---- choosing images ---------------------------------------------------------
    def _file(self, subject_id: str, study_id: str, dicom_id: str) -> str | None:
        """The image's path (.jpg, else .png or .dcm beside it); None when absent and checked."""
        for suffix in IMAGE_SUFFIXES:
            rel = image_relpath(subject_id, study_id, dicom_id, suffix)
            if not self.check_images or file_under(self.root, rel):
                return rel
        return None

    def _pick(self, st: StudyIndex, views: tuple[str, ...]) -> tuple[str | None, str | None, bool]:
        """Best image among `views` (preference order); (path, view, any candidate existed)."""
        any_candidate = False
        for view in views:
            for img in sorted((i for i in st.images if i.view == view), key=Image.sort_key):
                any_candidate = True
                path = self._file(st.subject_id, st.study_id, img.dicom_id)
                if path is not None:
                    return path, img.view, True
        return None, None, any_candidate

    def _skip(self, reason: str, study_id: str) -> None:
        self.skipped[reason] += 1
        if len(self.skip_examples[reason]) < 5:
            self.skip_examples[reason].append(study_id)

    # ---- iteration -------------------------------------------------------------
    def studies(self) -> Iterator[MimicStudy]:
        for subject_id in sorted(self.by_subject):
            prior_sections: dict[str, str | None] | None = None
            prior_id: str | None = None
            for st in self.by_subject[subject_id]:
                text = self.reports.read(subject_id, st.study_id)
                sections = parse_sections(text) if text is not None else None
                try:
                    study = self._make(st, text, sections, prior_id, prior_sections)
                finally:
                    prior_id, prior_sections = st.study_id, sections
                if study is not None:
                    yield study

    def _make(
        self, st: StudyIndex, text: str | None, sections: dict | None, prior_id: str | None, prior_sections: dict | None
    ) -> MimicStudy | None:
        split = self.split_of.get(st.study_id)
        if self.splits is not None and split not in self.splits:
            return None
        frontal, view, had_frontal = self._pick(st, FRONTAL_VIEWS)
        if frontal is None:
            self._skip(SKIP_FRONTAL_FILE if had_frontal else SKIP_NO_FRONTAL, st.study_id)
            return None
        if text is None:
            self._skip(SKIP_NO_REPORT, st.study_id)
            return None
        assert sections is not None
        if not (sections.get("findings") or sections.get("impression")):
            self._skip(SKIP_NO_SECTIONS, st.study_id)
            return None
        lateral, _, had_lateral = self._pick(st, LATERAL_VIEWS)
        if lateral is None and had_lateral:
            self.notes[NOTE_LATERAL_FILE] += 1
        prior_report = None
        if prior_id is not None:
            prior_report = (
                join_sections((prior_sections or {}).get("findings"), (prior_sections or {}).get("impression")) or None
            )
            if prior_report is None:
                self.notes[NOTE_PRIOR_UNUSABLE] += 1
        if split is None:
            self.notes[NOTE_NO_SPLIT] += 1
        return MimicStudy(
            study_id=st.study_id,
            subject_id=st.subject_id,
            split=split,
            frontal=frontal,
            view=view,
            lateral=lateral,
            prior_study_id=prior_id if prior_report else None,
            prior_report=prior_report,
            sections=sections,
            date=st.date,
        )
