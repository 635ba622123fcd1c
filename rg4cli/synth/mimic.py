"""The MIMIC-CXR-JPG tree of phantom studies: `write_mimic_tree` writes them where MIMIC-CXR-JPG
(with the MIMIC-CXR reports unpacked beside it) keeps its files:

    ROOT/files/pNN/pSUBJECT/sSTUDY/DICOM_ID.jpg   frontal (PA/AP) and, for most, a lateral
    ROOT/files/pNN/pSUBJECT/sSTUDY.txt            free-text report, MIMIC headers, `___` de-id
    ROOT/mimic-cxr-2.0.0-metadata.csv.gz          one row per image (MIMIC's columns)
    ROOT/mimic-cxr-2.0.0-split.csv.gz             train/validate/test, split by subject
    ROOT/truth.jsonl                              one line per study: what is really there

Same studies, same bytes: JPEGs use fixed settings and the gzip headers carry no time.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from rg4cli.synth.images import IMAGE_SUFFIX, save_image
from rg4cli.synth.reports import render_report
from rg4cli.synth.specs import TRUTH_NAME, StudySpec, dicom_tags, render_images

METADATA_NAME = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT_NAME = "mimic-cxr-2.0.0-split.csv.gz"
METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
JPEG_QUALITY = 90


def _write_csv_gz(path: Path, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue().encode("utf-8"))


VIEW_CODE_MEANING = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral"}


def metadata_rows(studies: Sequence[StudySpec]) -> list[list]:
    rows = []
    for s in studies:
        proc = "CHEST (PORTABLE AP)" if s.view == "AP" else ("CHEST (PA AND LAT)" if s.has_lateral else "CHEST (PA)")
        orientation = "Recumbent" if s.view == "AP" else "Erect"
        images = [(s.frontal_dicom, s.view)] + ([(s.lateral_dicom, s.lateral_view)] if s.lateral_dicom else [])
        for dicom, view in images:
            rows.append(
                [
                    dicom,
                    s.subject_id,
                    s.study_id,
                    proc,
                    view,
                    s.image_size,
                    s.image_size,
                    s.study_date,
                    s.study_time,
                    proc,
                    VIEW_CODE_MEANING[view],
                    orientation,
                ]
            )
    return rows


def write_mimic_tree(root: str | Path, studies: Sequence[StudySpec], image_format: str = "jpeg") -> dict:
    """Write images, reports, metadata/split CSVs and truth.jsonl under `root`.

    `image_format`: jpeg (MIMIC-CXR-JPG), png, png16 or dicom (see synth.images.save_image).
    Returns counts: {"subjects", "studies", "images", "root", "truth"}.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    studies = [dataclasses.replace(s, image_suffix=IMAGE_SUFFIX[image_format]) for s in studies]
    n_images = 0
    for spec in studies:
        study_dir = root / spec.study_dir
        study_dir.mkdir(parents=True, exist_ok=True)
        for dicom, unit in render_images(spec, unit=True).items():
            save_image(
                unit,
                study_dir / f"{dicom}{spec.image_suffix}",
                image_format,
                quality=JPEG_QUALITY,
                tags=dicom_tags(spec, dicom) if image_format == "dicom" else None,
            )
            n_images += 1
        (root / spec.report_path).write_text(render_report(spec), encoding="utf-8")
    rows = metadata_rows(studies)
    _write_csv_gz(root / METADATA_NAME, METADATA_COLUMNS, rows)
    split_of = {s.study_id: s.split for s in studies}
    _write_csv_gz(root / SPLIT_NAME, SPLIT_COLUMNS, [[r[0], r[2], r[1], split_of[r[2]]] for r in rows])
    with open(root / TRUTH_NAME, "w", encoding="utf-8") as fh:
        for spec in studies:
            fh.write(json.dumps(spec.truth(), ensure_ascii=False) + "\n")
    return {
        "subjects": len({s.subject_id for s in studies}),
        "studies": len(studies),
        "images": n_images,
        "root": str(root),
        "truth": str(root / TRUTH_NAME),
    }
