"""Phantom studies in IU X-ray layout (`rg4 synth --layout iu`): what `build-data --from iu-xray` reads.

ROOT/reports.jsonl (id CXR<n>, indication, comparison, findings, impression, examination,
images [{file, projection}], r2gen_split), ROOT/annotation.json (R2Gen's split and image
paths), ROOT/chexbert_labels.jsonl (the phantoms' true labels, labeled_text
findings+impression), ROOT/images/CXR<n>_IM-<k>/<i>.png (the R2Gen layout; i follows the
file names' order) and truth.jsonl. IU has no patient ids and no priors: every phantom study is its own
study, with its findings and impression as written for the MIMIC layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rg4cli.synth.images import IMAGE_SUFFIX, save_image
from rg4cli.synth.specs import TRUTH_NAME, StudySpec, dicom_tags, render_images

R2GEN_SPLIT = {"train": "train", "validate": "val", "test": "test"}


def write_iu_tree(root: str | Path, studies: Sequence[StudySpec], image_format: str = "png") -> dict:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    annotation: dict[str, list] = {"train": [], "val": [], "test": []}
    n_images = 0
    with (
        open(root / "reports.jsonl", "w", encoding="utf-8") as reports,
        open(root / TRUTH_NAME, "w", encoding="utf-8") as truth,
        open(root / "chexbert_labels.jsonl", "w", encoding="utf-8") as labels,
    ):
        for n, spec in enumerate(studies, start=1):
            r2gen_id = f"CXR{n}_IM-{1000 + n}"
            files, paths = [], []
            for i, (dicom, unit) in enumerate(render_images(spec, unit=True).items()):
                frontal = dicom == spec.frontal_dicom
                name = f"{n}_IM-{1000 + n}-{1001 + 1000 * (not frontal)}.dcm.png"
                rel = f"{r2gen_id}/{i}{IMAGE_SUFFIX[image_format]}"
                (root / "images" / r2gen_id).mkdir(parents=True, exist_ok=True)
                save_image(
                    unit,
                    root / "images" / rel,
                    image_format,
                    tags=dicom_tags(spec, dicom) if image_format == "dicom" else None,
                )
                files.append({"file": name, "projection": "Frontal" if frontal else "Lateral"})
                paths.append(rel)
                n_images += 1
            split = R2GEN_SPLIT.get(spec.split or "", None)
            exam = f"Xray Chest {spec.view}" + (" and Lateral" if spec.lateral_dicom else "")
            rec = {
                "id": f"CXR{n}",
                "comparison": None,
                "indication": spec.indication,
                "findings": spec.findings,
                "impression": spec.impression,
                "examination": exam,
                "images": files,
                "r2gen_split": split,
            }
            reports.write(json.dumps(rec, ensure_ascii=False) + "\n")
            # the phantom's true labels, as a labeler's output shipped beside the reports
            labels.write(
                json.dumps({"id": f"CXR{n}", "labeled_text": "findings+impression", "labels": spec.labels}) + "\n"
            )
            if split is not None:
                annotation[split].append(
                    {
                        "id": r2gen_id,
                        "report": " ".join(t for t in (spec.findings, spec.impression) if t),
                        "image_path": paths,
                        "split": split,
                    }
                )
            truth.write(
                json.dumps(
                    dict(
                        spec.truth(),
                        id=f"CXR{n}",
                        frontal=f"images/{paths[0]}",
                        lateral=f"images/{paths[1]}" if len(paths) > 1 else None,
                    ),
                    ensure_ascii=False,
                )
                + "\n"
            )
    (root / "annotation.json").write_text(json.dumps(annotation), encoding="utf-8")
    return {
        "subjects": len(studies),
        "studies": len(studies),
        "images": n_images,
        "root": str(root),
        "truth": str(root / TRUTH_NAME),
    }
