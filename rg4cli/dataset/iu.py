"""IU X-ray (Open-i) -> studies for the rewrite loop (`build-data --from iu-xray`).

Layout (SOURCE is the directory; a reports file may be given as SOURCE too):

    reports.jsonl                one study per line: id, indication, comparison, findings,
                                 impression, examination, images [{file, projection}],
                                 r2gen_split (optional)
      or indiana_reports.csv     the Open-i reports as CSV (uid, indication, comparison,
         + indiana_projections.csv   findings, impression, ...; uid, filename, projection)
    annotation.json (optional)   R2Gen's split: {"train"|"val"|"test": [{id "CXR<uid>_IM-...",
                                 image_path ["CXR<uid>_IM-.../0.png", ...]}]}
    chexbert_labels.jsonl (opt.)  {id, labeled_text, labels}: carried into the records as
                                 `labels`, bound to that section's text; dropped from a
                                 record whose rewrite changed that text
    images/                      the image files: images/<file> (Open-i names), or
                                 images/<R2Gen id>/<n>.png with annotation.json

Choices: frontal = the first Frontal projection, lateral = the first Lateral (file name
order); with annotation.json, its n-th image path stands for the study's n-th file in
name order (R2Gen numbers a study's images that way). Split: annotation.json when given
(val -> validate), else the reports' r2gen_split, else null. View: PA / AP when the exam
title names it, else null. IU has no patient ids and no prior studies: subject_id is the
study id, every study is sn or mn. A study is skipped (counted) without a frontal
projection, or without findings and impression; `comparison` is read but not written
(there is no prior report to compare with).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from rg4cli.dataset.mimic import NOTE_LATERAL_FILE, SKIP_FRONTAL_FILE, SKIP_NO_SECTIONS, SPLIT_ALIASES, MimicStudy
from rg4cli.errors import InputError
from rg4cli.images import file_under
from rg4cli.records.provenance import bind
from rg4cli.records.streams import RecordReader
from rg4cli.records.study import text_of

LABELS_NAME = "chexbert_labels.jsonl"  # optional: {id, labeled_text, labels} per study (CheXbert's)
LABELED_TEXTS = ("findings", "impression", "findings+impression")
SKIP_NO_FRONTAL = "no Frontal projection among the study's images"
SKIP_NOT_IN_REPORTS = "in annotation.json but not in the reports"
_UID = re.compile(r"^(?:CXR)?(\d+)")


def _uid(value: str) -> str:
    m = _UID.match(str(value).strip())
    return m.group(1) if m else str(value).strip()


def _clean(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


class IUImport:
    def __init__(
        self,
        source: str | Path,
        *,
        annotation: str | Path | None = None,
        check_images: bool = True,
        splits: tuple[str, ...] | None = None,
    ):
        source = Path(source)
        self.root = source if source.is_dir() else source.parent
        self.check_images = check_images
        self.splits = splits
        self.skipped: Counter = Counter()
        self.skip_examples: dict[str, list[str]] = defaultdict(list)
        self.notes: Counter = Counter()
        self.reports = self._read_reports(source)
        if annotation is None and (self.root / "annotation.json").is_file():
            annotation = self.root / "annotation.json"
        self.r2gen = self._read_annotation(Path(annotation)) if annotation is not None else None
        labels = self.root / LABELS_NAME
        self.labels = self._read_labels(labels) if labels.is_file() else {}

    @property
    def n_studies(self) -> int:
        return len(self.reports)

    # ---- reading -------------------------------------------------------------------
    def _read_reports(self, source: Path) -> dict[str, dict]:
        if source.is_file():
            return self._jsonl(source)
        if (source / "reports.jsonl").is_file():
            return self._jsonl(source / "reports.jsonl")
        if (source / "indiana_reports.csv").is_file() and (source / "indiana_projections.csv").is_file():
            return self._csv(source / "indiana_reports.csv", source / "indiana_projections.csv")
        raise InputError(
            f"no IU X-ray reports in {source} (reports.jsonl, or indiana_reports.csv + indiana_projections.csv)"
        )

    def _jsonl(self, path: Path) -> dict[str, dict]:
        out: dict[str, dict] = {}
        reader = RecordReader(str(path))
        for line, rec in reader:
            images = rec.get("images") or []
            if not isinstance(images, list) or not all(
                isinstance(i, dict) and isinstance(i.get("file"), str) for i in images
            ):
                raise InputError("expected a list of {file, projection}", source=reader.name, line=line, field="images")
            rec = dict(rec, images=sorted(images, key=lambda i: i["file"]))
            out[_uid(rec["id"])] = rec
        return out

    def _csv(self, reports: Path, projections: Path) -> dict[str, dict]:
        images: dict[str, list[dict]] = defaultdict(list)
        with open(projections, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                images[_uid(row.get("uid", ""))].append(
                    {"file": row.get("filename", ""), "projection": row.get("projection", "")}
                )
        out: dict[str, dict] = {}
        with open(reports, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("uid", "findings", "impression") if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"missing column(s) {', '.join(missing)}", source=str(reports), line=1)
            for row in reader:
                uid = _uid(row["uid"])
                out[uid] = {
                    "id": f"CXR{uid}",
                    **{k: _clean(row.get(k)) for k in ("indication", "comparison", "findings", "impression")},
                    "examination": _clean(row.get("image")),
                    "images": sorted(images.get(uid, []), key=lambda i: i["file"]),
                }
        return out

    def _read_labels(self, path: Path) -> dict[str, tuple[str, dict]]:
        out = {}
        reader = RecordReader(str(path))
        for line, rec in reader:
            field_name, labels = rec.get("labeled_text", "findings"), rec.get("labels")
            if field_name not in LABELED_TEXTS or not isinstance(labels, dict):
                raise InputError(
                    f"expected labeled_text {' / '.join(LABELED_TEXTS)} and a labels object",
                    source=reader.name,
                    line=line,
                    field="labels",
                )
            out[_uid(rec["id"])] = (field_name, labels)
        return out

    def _annotations(self, uid: str, sections: dict) -> dict:
        """Labels shipped with the reports, bound to the section text they were computed from."""
        if uid not in self.labels:
            return {}
        field_name, labels = self.labels[uid]
        text = text_of(sections, field_name)
        if not text:
            return {}
        ann: dict = {}
        bind(ann, "labels", labels, text_field=field_name, text=text)
        return ann

    def _read_annotation(self, path: Path) -> dict[str, tuple[str, list[str]]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not a readable JSON file: {str(exc).splitlines()[0][:200]}", source=str(path)) from None
        if not isinstance(data, dict):
            raise InputError('expected {"train": [...], "val": [...], "test": [...]} (R2Gen)', source=str(path))
        out: dict[str, tuple[str, list[str]]] = {}
        for split, items in data.items():
            for k, item in enumerate(items if isinstance(items, list) else []):
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    raise InputError("expected an object with an id", source=str(path), field=f"{split}[{k}]")
                paths = item.get("image_path") or []
                out[_uid(item["id"])] = (SPLIT_ALIASES.get(split, split), [f"images/{p}" for p in paths])
        for uid in out.keys() - self.reports.keys():
            self._skip(SKIP_NOT_IN_REPORTS, f"CXR{uid}")
        return out

    def _skip(self, reason: str, study_id: str) -> None:
        self.skipped[reason] += 1
        if len(self.skip_examples[reason]) < 5:
            self.skip_examples[reason].append(study_id)

    # ---- studies ---------------------------------------------------------------------
    def _path(self, uid: str, rec: dict, index: int) -> str:
        if self.r2gen is not None and uid in self.r2gen and index < len(self.r2gen[uid][1]):
            return self.r2gen[uid][1][index]
        name = rec["images"][index]["file"]
        for rel in (f"images/{name}", f"images/images_normalized/{name}"):
            if file_under(self.root, rel):
                return rel
        return f"images/{name}"

    def _exists(self, rel: str) -> bool:
        return not self.check_images or file_under(self.root, rel)

    def _pick(self, uid: str, rec: dict, projection: str) -> tuple[str | None, bool]:
        candidates = [k for k, img in enumerate(rec["images"]) if str(img.get("projection")).lower() == projection]
        for k in candidates:
            rel = self._path(uid, rec, k)
            if self._exists(rel):
                return rel, True
        return None, bool(candidates)

    def studies(self) -> Iterator[MimicStudy]:
        for uid in sorted(self.reports, key=lambda u: (len(u), u)):
            rec = self.reports[uid]
            study_id = f"CXR{uid}"
            split = self.r2gen[uid][0] if self.r2gen is not None and uid in self.r2gen else None
            if self.r2gen is None and rec.get("r2gen_split"):
                split = SPLIT_ALIASES.get(rec["r2gen_split"], rec["r2gen_split"])
            if self.splits is not None and split not in self.splits:
                continue
            frontal, had_frontal = self._pick(uid, rec, "frontal")
            if frontal is None:
                self._skip(SKIP_FRONTAL_FILE if had_frontal else SKIP_NO_FRONTAL, study_id)
                continue
            sections = {k: _clean(rec.get(k)) for k in ("indication", "comparison", "findings", "impression")}
            if not (sections["findings"] or sections["impression"]):
                self._skip(SKIP_NO_SECTIONS, study_id)
                continue
            lateral, had_lateral = self._pick(uid, rec, "lateral")
            if lateral is None and had_lateral:
                self.notes[NOTE_LATERAL_FILE] += 1
            exam = (rec.get("examination") or "").upper()
            view = "PA" if re.search(r"\bPA\b", exam) else "AP" if re.search(r"\bAP\b", exam) else None
            yield MimicStudy(
                study_id=study_id,
                subject_id=study_id,
                split=split,
                frontal=frontal,
                view=view,
                lateral=lateral,
                prior_study_id=None,
                prior_report=None,
                sections=sections,
                annotations=self._annotations(uid, sections),
            )
