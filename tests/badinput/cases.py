"""The table of bad inputs: one Case per probe, over every command that reads records or model dirs.

Placeholders in argv and in the expected error: {d} the case's directory (its input files
live there), {lab}/{disc} small labeler/DiscBERT dirs, {gen} a tiny generator model dir,
{img} the image root of GEN_LINES, {mimic} a small MIMIC-CXR-JPG tree.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field


@dataclass
class Case:
    name: str
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    exit: int = 2
    error: str | None = None  # expected in the one `error:` line (None: no error line)
    out: tuple[str, list[str] | None] | None = None  # (file, ids it holds afterwards; None: some)
    setup: tuple = ()  # ("lock", file) | ("damage", model, file, how) | ("copy", model)


def jl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


A = {"id": "a", "report": "Small left pleural effusion. No pneumothorax."}
C = {"id": "c", "report": "Heart size is normal."}
FI = {"id": "a", "findings": "Small left pleural effusion.", "impression": "Left effusion."}
FC = {"id": "c", "findings": "Normal heart.", "impression": "No acute process."}
G0 = {"id": "s0", "frontal": "img/0.png", "view": "PA"}
G1 = {"id": "s1", "frontal": "img/1.png", "view": "PA"}
G2 = {"id": "s2", "frontal": "img/1.png", "view": "PA", "lateral": "img/0.png"}
GEN = [
    "--model",
    "{gen}",
    "--image-root",
    "{img}",
    "--max-new-tokens",
    "3",
    "--min-new-tokens",
    "1",
    "--num-beams",
    "1",
    "--batch-size",
    "2",
]
TRAIN = ["--task", "labeler", "--epochs", "1", "--batch-size", "2", "--grad-accum", "1", "-q", "-o", "{d}/run"]
LABELED = dict(FI, labels={"Pleural Effusion": 1})


def _gz_cut() -> bytes:
    rng = random.Random(0)
    lines = [
        json.dumps({"id": f"r{i}", "report": "Small effusion. " + "".join(rng.choice("abcdefgh ") for _ in range(150))})
        for i in range(200)
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    return data[: len(data) // 2]


NOT_UTF8 = b'{"id": "b", "report": "caf\xe9"}'
NAN = b'{"id": "b", "report": "x", "score": NaN}'
INF = b'{"id": "b", "report": "x", "w": [1, -Infinity]}'
HUGE = b'{"id": "b", "report": "x", "w": 1e999}'
SURROGATE = b'{"id": "b", "report": "x \\udc80 y"}'
DEEP = b'{"id": "b", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"
BIGINT = b'{"id": "b", "n": 1' + b"0" * 5000 + b"}"
BOM = b"\xef\xbb\xbf"

CASES: list[Case] = []


def add(*cases: Case) -> None:
    CASES.extend(cases)


# ---- label (rules unless a model is named) ----------------------------------------------------
LABEL = ["label", "{d}/in.jsonl", "-o", "{d}/out.jsonl"]
for name, line, where in [
    ("not-utf8", NOT_UTF8, ":2: not UTF-8"),
    ("nan", NAN, ":2: score: NaN is not a finite"),
    ("infinity", INF, ":2: w[1]: -Infinity"),
    ("overflow", HUGE, ":2: w: 1e999"),
    ("surrogate", SURROGATE, ":2: report: a lone UTF-16 surrogate"),
    ("deep", DEEP, ":2: bad JSON: nested too deeply"),
    ("bigint", BIGINT, ":2: bad JSON"),
    ("bad-json", b'{"id": "b", "report": }', ":2: bad JSON"),
    ("array", b"[1, 2]", ":2: expected a JSON object"),
    ("no-id", b'{"report": "x"}', ":2: id: missing field"),
    ("float-id", b'{"id": 7.5, "report": "x"}', ":2: id: expected"),
    ("report-int", b'{"id": "b", "report": 0}', ":2: report: expected a string"),
    ("no-text", b'{"id": "b"}', ":2: report: no text to label"),
]:
    add(Case(f"label-{name}", LABEL, {"in.jsonl": jl(A, line, C)}, 2, "{d}/in.jsonl" + where, ("out.jsonl", ["a"])))
add(
    Case(
        "label-not-utf8-skip",
        LABEL + ["--on-error", "skip"],
        {"in.jsonl": jl(A, NOT_UTF8, C)},
        0,
        None,
        ("out.jsonl", ["a", "c"]),
    ),
    Case(
        "label-cut-last-line",
        LABEL,
        {"in.jsonl": jl(A, C) + b'{"id": "d", "rep'},
        2,
        "{d}/in.jsonl:3: bad JSON",
        ("out.jsonl", ["a", "c"]),
    ),
    Case(
        "label-truncated-gz",
        ["label", "{d}/in.jsonl.gz", "-o", "{d}/out.jsonl"],
        {"in.jsonl.gz": _gz_cut()},
        2,
        "the compressed stream is cut short",
        ("out.jsonl", None),
    ),
    Case("label-bom", LABEL, {"in.jsonl": BOM + jl(A, C)}, 0, None, ("out.jsonl", ["a", "c"])),
    Case(
        "label-plain-named-gz",
        ["label", "{d}/in.jsonl.gz", "-o", "{d}/out.jsonl"],
        {"in.jsonl.gz": jl(A, C)},
        0,
        None,
        ("out.jsonl", ["a", "c"]),
    ),
    Case(
        "label-in-is-out",
        ["label", "{d}/in.jsonl", "-o", "{d}/in.jsonl"],
        {"in.jsonl": jl(A, C)},
        2,
        "{d}/in.jsonl: is also an input",
    ),
    Case(
        "label-in-is-out-gz",
        ["label", "{d}/in.jsonl.gz", "-o", "{d}/in.jsonl.gz"],
        {"in.jsonl.gz": gzip.compress(jl(A, C))},
        2,
        "is also an input",
    ),
    Case("label-out-is-dir", ["label", "{d}/in.jsonl", "-o", "{d}"], {"in.jsonl": jl(A)}, 2, "{d}: is a directory"),
    Case(
        "label-out-full-disk",
        ["label", "{d}/in.jsonl", "-o", "/dev/full"],
        {"in.jsonl": jl(A)},
        1,
        "/dev/full: cannot write: No space left on device",
    ),
    Case(
        "label-out-under-a-file",
        ["label", "{d}/in.jsonl", "-o", "{d}/in.jsonl/out.jsonl"],
        {"in.jsonl": jl(A)},
        2,
        "{d}/in.jsonl/out.jsonl: cannot write",
    ),
    Case("label-no-such-input", ["label", "{d}/nope.jsonl"], {}, 2, "{d}/nope.jsonl: no such file"),
    Case("label-input-is-dir", ["label", "{d}"], {}, 2, "{d}: is a directory"),
    Case(
        "label-second-writer",
        LABEL,
        {"in.jsonl": jl(A, C)},
        2,
        "{d}/out.jsonl: another process is writing",
        setup=("lock", "out.jsonl"),
    ),
    Case(
        "label-chexbert-truncated",
        ["label", "{d}/in.jsonl", "--backend", "chexbert", "--labeler-model", "{d}/model"],
        {"in.jsonl": jl(A)},
        2,
        "{d}/model/model.safetensors: cannot read weights",
        setup=("damage", "lab", "model.safetensors", "truncate"),
    ),
    Case(
        "label-chexbert-empty",
        ["label", "{d}/in.jsonl", "--backend", "chexbert", "--labeler-model", "{d}/model"],
        {"in.jsonl": jl(A)},
        2,
        "{d}/model/model.safetensors: cannot read weights",
        setup=("damage", "lab", "model.safetensors", "empty"),
    ),
    Case(
        "label-chexbert-bad-config",
        ["label", "{d}/in.jsonl", "--backend", "chexbert", "--labeler-model", "{d}/model"],
        {"in.jsonl": jl(A)},
        2,
        "{d}/model/rg4_classifier.json: cannot read",
        setup=("damage", "lab", "rg4_classifier.json", "truncate"),
    ),
    Case(
        "label-chexbert-pickle",
        ["label", "{d}/in.jsonl", "--backend", "chexbert", "--labeler-model", "{d}/ck.pth", "--labeler-bert", "{d}"],
        {"in.jsonl": jl(A), "ck.pth": b"\x80\x04garbage"},
        2,
        "cannot read checkpoint {d}/ck.pth",
    ),
)

# ---- hallucination ---------------------------------------------------------------------------
HALL = ["hallucination", "{d}/in.jsonl", "-o", "{d}/out.jsonl"]
add(
    Case(
        "hall-not-utf8", HALL, {"in.jsonl": jl(FI, NOT_UTF8, FC)}, 2, "{d}/in.jsonl:2: not UTF-8", ("out.jsonl", ["a"])
    ),
    Case("hall-nan", HALL, {"in.jsonl": jl(FI, NAN, FC)}, 2, "{d}/in.jsonl:2: score: NaN", ("out.jsonl", ["a"])),
    Case(
        "hall-findings-int",
        HALL,
        {"in.jsonl": jl(FI, {"id": "b", "findings": 0, "impression": "x"}, FC)},
        2,
        "{d}/in.jsonl:2: findings: expected a string",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "hall-lateral-int",
        HALL,
        {"in.jsonl": jl(FI, dict(FC, id="b", lateral=5), FC)},
        2,
        "{d}/in.jsonl:2: lateral",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "hall-summary-is-input",
        ["hallucination", "{d}/in.jsonl", "--summary", "{d}/in.jsonl"],
        {"in.jsonl": jl(FI)},
        2,
        "{d}/in.jsonl: is also an input",
    ),
    Case(
        "hall-in-is-out",
        ["hallucination", "{d}/in.jsonl", "-o", "{d}/in.jsonl"],
        {"in.jsonl": jl(FI)},
        2,
        "is also an input",
    ),
    Case(
        "hall-summary-is-output",
        ["hallucination", "{d}/in.jsonl", "-o", "{d}/o.json", "--summary", "{d}/o.json"],
        {"in.jsonl": jl(FI)},
        2,
        "name the same file",
    ),
    Case(
        "hall-threshold-nan",
        HALL + ["--threshold", "nan"],
        {"in.jsonl": jl(FI)},
        2,
        "--threshold: must be a finite number",
    ),
    Case(
        "hall-discbert-truncated",
        ["hallucination", "{d}/in.jsonl", "--backend", "discbert", "--judge-model", "{d}/model"],
        {"in.jsonl": jl(FI)},
        2,
        "{d}/model/model.safetensors: cannot read weights",
        setup=("damage", "disc", "model.safetensors", "truncate"),
    ),
    Case(
        "hall-skip-goes-on",
        HALL + ["--on-error", "skip"],
        {"in.jsonl": jl(FI, SURROGATE, FC)},
        0,
        None,
        ("out.jsonl", ["a", "c"]),
    ),
)

# ---- weights ---------------------------------------------------------------------------------
WEIGHTS = ["weights", "{d}/in.jsonl", "-o", "{d}/out.jsonl"]
add(
    Case(
        "weights-findings-int",
        WEIGHTS,
        {"in.jsonl": jl(FI, {"id": "b", "findings": 0, "impression": "x"}, FC)},
        2,
        "{d}/in.jsonl:2: findings: expected a string",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "weights-findings-int-skip",
        WEIGHTS + ["--on-error", "skip"],
        {"in.jsonl": jl(FI, {"id": "b", "findings": 0, "impression": "x"}, FC)},
        0,
        None,
        ("out.jsonl", ["a", "c"]),
    ),
    Case(
        "weights-labels-list",
        WEIGHTS,
        {"in.jsonl": jl(FI, dict(FC, id="b", labels=[1]), FC)},
        2,
        "{d}/in.jsonl:2: labels",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "weights-not-utf8",
        WEIGHTS,
        {"in.jsonl": jl(FI, NOT_UTF8, FC)},
        2,
        "{d}/in.jsonl:2: not UTF-8",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "weights-overflow", WEIGHTS, {"in.jsonl": jl(FI, HUGE, FC)}, 2, "{d}/in.jsonl:2: w: 1e999", ("out.jsonl", ["a"])
    ),
    Case(
        "weights-threshold-nan",
        WEIGHTS + ["--threshold", "nan"],
        {"in.jsonl": jl(FI)},
        2,
        "--threshold: must be a finite number",
    ),
    Case("weights-lam-inf", WEIGHTS + ["--lam", "inf"], {"in.jsonl": jl(FI)}, 2, "--lam: must be a finite number"),
    Case(
        "weights-in-is-out",
        ["weights", "{d}/in.jsonl", "-o", "{d}/in.jsonl"],
        {"in.jsonl": jl(FI)},
        2,
        "is also an input",
    ),
    Case(
        "weights-ig-truncated",
        ["weights", "{d}/in.jsonl", "--labeler-model", "{d}/model"],
        {"in.jsonl": jl(FI)},
        2,
        "{d}/model/model.safetensors: cannot read weights",
        setup=("damage", "lab", "model.safetensors", "truncate"),
    ),
    Case(
        "weights-ig-bad-tokenizer",
        ["weights", "{d}/in.jsonl", "--labeler-model", "{d}/model"],
        {"in.jsonl": jl(FI)},
        2,
        "{d}/model: cannot load the tokenizer",
        setup=("damage", "lab", "tokenizer.json", "truncate"),
    ),
)

# ---- score -------------------------------------------------------------------------------------
SCORE = ["score", "{d}/hyp.jsonl", "--ref", "{d}/ref.jsonl", "--no-meteor", "-q"]
REFS = jl(FI, dict(FC, id="b"), FC)
add(
    Case(
        "score-findings-int",
        SCORE,
        {"hyp.jsonl": jl(FI, {"id": "b", "findings": 0, "impression": "x"}, FC), "ref.jsonl": REFS},
        2,
        "{d}/hyp.jsonl:2: findings: expected a string",
    ),
    Case(
        "score-ref-report-list",
        SCORE,
        {"hyp.jsonl": jl(FI, dict(FC, id="b"), FC), "ref.jsonl": jl(FI, {"id": "b", "report": ["x"]}, FC)},
        2,
        "{d}/ref.jsonl:2: report: expected a string",
    ),
    Case(
        "score-ref-nan",
        SCORE,
        {"hyp.jsonl": jl(FI, FC), "ref.jsonl": jl(FI, NAN, FC)},
        2,
        "{d}/ref.jsonl:2: score: NaN",
    ),
    Case(
        "score-hyp-not-utf8",
        SCORE,
        {"hyp.jsonl": jl(FI, NOT_UTF8, FC), "ref.jsonl": REFS},
        2,
        "{d}/hyp.jsonl:2: not UTF-8",
    ),
    Case(
        "score-labels-string",
        SCORE,
        {"hyp.jsonl": jl(FI, dict(FC, id="b", labels="yes"), FC), "ref.jsonl": REFS},
        2,
        "{d}/hyp.jsonl:2: labels",
    ),
    Case(
        "score-per-report-is-input",
        SCORE + ["--per-report", "{d}/hyp.jsonl"],
        {"hyp.jsonl": jl(FI), "ref.jsonl": jl(FI)},
        2,
        "{d}/hyp.jsonl: is also an input",
    ),
    Case(
        "score-output-is-ref",
        SCORE + ["-o", "{d}/ref.jsonl"],
        {"hyp.jsonl": jl(FI), "ref.jsonl": jl(FI)},
        2,
        "{d}/ref.jsonl: is also an input",
    ),
    Case(
        "score-two-outputs-one-file",
        SCORE + ["-o", "{d}/s.json", "--per-report", "{d}/s.json"],
        {"hyp.jsonl": jl(FI), "ref.jsonl": jl(FI)},
        2,
        "name the same file",
    ),
    Case(
        "score-output-dir", SCORE + ["-o", "{d}"], {"hyp.jsonl": jl(FI), "ref.jsonl": jl(FI)}, 2, "{d}: is a directory"
    ),
    Case(
        "score-against-deep",
        SCORE + ["--against", "{d}/b.jsonl"],
        {"hyp.jsonl": jl(FI), "ref.jsonl": jl(FI), "b.jsonl": jl(DEEP)},
        2,
        "{d}/b.jsonl:1: bad JSON: nested",
    ),
)

# ---- train ---------------------------------------------------------------------------------
add(
    Case(
        "train-lr-nan",
        ["train", *TRAIN, "--lr", "nan", "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED)},
        2,
        "--lr: must be a finite number",
    ),
    Case(
        "train-not-utf8",
        ["train", *TRAIN, "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED, NOT_UTF8)},
        2,
        "{d}/in.jsonl:2: not UTF-8",
    ),
    Case(
        "train-labels-int",
        ["train", *TRAIN, "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED, dict(LABELED, labels=3))},
        2,
        "{d}/in.jsonl:2: labels",
    ),
    Case(
        "train-findings-int",
        ["train", *TRAIN, "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED, dict(LABELED, findings=0))},
        2,
        "{d}/in.jsonl:2: findings: expected a string",
    ),
    Case(
        "train-nan-label-value",
        ["train", *TRAIN, "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED, b'{"id": "b", "report": "x", "labels": {"Edema": NaN}}')},
        2,
        "{d}/in.jsonl:2: labels.Edema: NaN",
    ),
    Case(
        "train-out-is-input",
        ["train", "--task", "labeler", "-o", "{d}/in.jsonl", "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED)},
        2,
        "{d}/in.jsonl",
    ),
    Case(
        "train-init-is-output",
        ["train", *TRAIN, "--init", "{d}/run", "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED), "run/keep.txt": b"x"},
        2,
        "{d}/run: is also an input",
    ),
    Case(
        "train-second-writer",
        ["train", *TRAIN, "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED)},
        2,
        "{d}/run: another process is writing this directory",
        setup=("dirlock", "run"),
    ),
    Case(
        "train-init-truncated",
        ["train", *TRAIN, "--init", "{d}/model", "{d}/in.jsonl"],
        {"in.jsonl": jl(LABELED)},
        2,
        "{d}/model/model.safetensors: cannot read weights",
        setup=("damage", "lab", "model.safetensors", "truncate"),
    ),
)

# ---- generate (a tiny model dir) ---------------------------------------------------------------
GENERATE = ["generate", "{d}/in.jsonl", *GEN, "-o", "{d}/out.jsonl"]
add(
    Case(
        "generate-not-utf8-keeps-before",
        GENERATE,
        {"in.jsonl": jl(G0, G1, NOT_UTF8, G2)},
        2,
        "{d}/in.jsonl:3: not UTF-8",
        ("out.jsonl", ["s0", "s1"]),
    ),
    Case(
        "generate-frontal-int",
        GENERATE,
        {"in.jsonl": jl(G0, dict(G1, frontal=5), G2)},
        2,
        "{d}/in.jsonl:2: frontal",
        ("out.jsonl", ["s0"]),
    ),
    Case(
        "generate-resume-damaged-middle",
        GENERATE + ["--resume"],
        {"in.jsonl": jl(G0, G1, G2), "out.jsonl": jl(G0, b'{"id": "s1", "rep', G2)},
        2,
        "{d}/out.jsonl:2: bad JSON",
    ),  # the damaged output is left as it was
    Case(
        "generate-in-is-out",
        ["generate", "{d}/in.jsonl", *GEN, "-o", "{d}/in.jsonl"],
        {"in.jsonl": jl(G0)},
        2,
        "is also an input",
    ),
    Case(
        "generate-fusion-truncated",
        GENERATE,
        {"in.jsonl": jl(G0)},
        2,
        "{d}/model/fusion.safetensors: cannot read weights",
        setup=("damage", "gen", "fusion.safetensors", "truncate"),
    ),
    Case(
        "generate-fusion-empty",
        GENERATE,
        {"in.jsonl": jl(G0)},
        2,
        "{d}/model/fusion.safetensors: cannot read weights",
        setup=("damage", "gen", "fusion.safetensors", "empty"),
    ),
    Case(
        "generate-decoder-truncated",
        GENERATE,
        {"in.jsonl": jl(G0)},
        2,
        "{d}/model/decoder/model.safetensors: cannot read weights",
        setup=("damage", "gen", "decoder/model.safetensors", "truncate"),
    ),
    Case(
        "generate-config-bad-json",
        GENERATE,
        {"in.jsonl": jl(G0)},
        2,
        "{d}/model/rg4_model.json:",
        setup=("damage", "gen", "rg4_model.json", "truncate"),
    ),
    Case(
        "generate-no-model-dir",
        ["generate", "{d}/in.jsonl", "--model", "{d}/nope"],
        {"in.jsonl": jl(G0)},
        2,
        "{d}/nope: no such model directory",
    ),
    Case(
        "generate-second-writer",
        GENERATE,
        {"in.jsonl": jl(G0)},
        2,
        "{d}/out.jsonl: another process is writing",
        setup=("lock", "out.jsonl"),
    ),
)

# ---- build-data (a small MIMIC tree) and synth ----------------------------------------------------
add(
    Case(
        "build-resume-damaged-middle",
        ["build-data", "{mimic}", "-o", "{d}/out.jsonl", "--resume"],
        {"out.jsonl": jl({"id": "x1"}, b"{oops", {"id": "x3"})},
        2,
        "{d}/out.jsonl:2: bad JSON",
    ),
    Case(
        "build-rejects-is-output",
        ["build-data", "{mimic}", "-o", "{d}/o.jsonl", "--rejects", "{d}/o.jsonl"],
        {},
        2,
        "name the same file",
    ),
    Case("build-output-is-dir", ["build-data", "{mimic}", "-o", "{d}"], {}, 2, "{d}: is a directory"),
    Case(
        "build-second-writer",
        ["build-data", "{mimic}", "-o", "{d}/out.jsonl"],
        {},
        2,
        "{d}/out.jsonl: another process is writing",
        setup=("lock", "out.jsonl"),
    ),
    Case(
        "build-system-prompt-is-output",
        ["build-data", "{mimic}", "--system-prompt", "{d}/p.txt", "-o", "{d}/p.txt"],
        {"p.txt": b"Rewrite."},
        2,
        "{d}/p.txt: is also an input",
    ),
    Case(
        "build-stats-json-full-disk",
        ["build-data", "{mimic}", "-o", "{d}/out.jsonl", "--stats-json", "/dev/full"],
        {},
        1,
        "/dev/full: cannot write: No space left on device",
    ),
    Case(
        "synth-output-is-file",
        ["synth", "-o", "{d}/f"],
        {"f": b"x"},
        2,
        "{d}/f: --output: exists and is not a directory",
    ),
)


# ---- issue 31: duplicate keys, empty ids, contradicting options, CSV bytes, truncated images --------
def _png(seed: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.RandomState(seed).rand(64, 60) * 255).astype("uint8")).save(buf, format="PNG")
    return buf.getvalue()


def _mimic(meta_rows: list[bytes], *, gz_cut: bool = False, reports: bool = False) -> dict[str, bytes]:
    """A MIMIC tree in the case dir: metadata and split CSV, one image per row, reports when asked."""
    head = b"dicom_id,subject_id,study_id,ViewPosition,StudyDate,StudyTime\n"
    meta = head + b"".join(meta_rows)
    split = b"dicom_id,study_id,subject_id,split\n" + b"".join(
        b"%s,%s,%s,train\n" % (r.split(b",")[0], r.split(b",")[2], r.split(b",")[1]) for r in meta_rows
    )
    files = {"mimic-cxr-2.0.0-split.csv": split}
    if gz_cut:
        data = gzip.compress(head + b"".join(meta_rows) * 400)
        files["mimic-cxr-2.0.0-metadata.csv.gz"] = data[: len(data) // 2]
    else:
        files["mimic-cxr-2.0.0-metadata.csv"] = meta
    for r in meta_rows:
        dicom, subject, study = (x.decode("utf-8", "replace") for x in r.split(b",")[:3])
        files[f"files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg"] = b"\xff\xd8\xff"
        if reports:
            files[f"files/p{subject[:2]}/p{subject}/s{study}.txt"] = b"FINAL REPORT\n FINDINGS: Clear.\n"
    return files


ROWS = [b"d1,10000001,50000001,PA,21300101,090000\n", b"d2,10000001,50000002,PA,21300102,090000\n"]
PNG0 = _png(0)
add(
    Case(
        "label-duplicate-key",
        LABEL,
        {"in.jsonl": jl(A, b'{"id": "b", "report": "Effusion.", "report": "No effusion."}', C)},
        2,
        "{d}/in.jsonl:2: report: duplicate key 'report'",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "label-nested-duplicate-key",
        LABEL,
        {"in.jsonl": jl(A, b'{"id": "b", "report": "x", "labels": {"Edema": 1, "Edema": 0}}')},
        2,
        "{d}/in.jsonl:2: Edema: duplicate key",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "label-empty-id",
        LABEL,
        {"in.jsonl": jl(A, {"id": "", "report": "x"}, C)},
        2,
        "{d}/in.jsonl:2: id: empty id",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "weights-empty-id",
        WEIGHTS,
        {"in.jsonl": jl(FI, dict(FC, id=""))},
        2,
        "{d}/in.jsonl:2: id: empty id",
        ("out.jsonl", ["a"]),
    ),
    Case(
        "hall-threshold-not-a-probability",
        HALL + ["--threshold", "5"],
        {"in.jsonl": jl(FI)},
        2,
        "--threshold is a probability, between 0 and 1; got 5.0",
    ),
    Case(
        "hall-summary-is-a-directory",
        HALL + ["--summary", "{d}/sub"],
        {"in.jsonl": jl(FI), "sub/keep": b""},
        2,
        "{d}/sub: is a directory",
    ),  # refused before the work: no out.jsonl (checked by the empty `out` below)
    Case(
        "generate-min-above-max",
        ["generate", "{d}/in.jsonl", *GEN, "--min-new-tokens", "50", "-o", "{d}/out.jsonl"],
        {"in.jsonl": jl(G0)},
        2,
        "--min-new-tokens 50 is more than --max-new-tokens 3",
    ),
    Case(
        "generate-truncated-image-keeps-its-batch",
        ["generate", "{d}/in.jsonl", *GEN[:2], "--image-root", "{d}", *GEN[4:], "-o", "{d}/out.jsonl"],
        {
            "in.jsonl": jl(G0, dict(G1, frontal="img/cut.png"), dict(G0, id="s2")),
            "img/0.png": PNG0,
            "img/cut.png": PNG0[: len(PNG0) * 2 // 3],
        },
        2,
        "{d}/in.jsonl:2: frontal: cannot read image",
        ("out.jsonl", ["s0"]),
    ),
    Case(
        "build-workers-zero",
        ["build-data", "{mimic}", "--workers", "0", "-o", "{d}/out.jsonl"],
        {},
        2,
        "--workers must be at least 1, got 0",
    ),
    Case(
        "build-tree-without-reports",
        ["build-data", "{d}", "-o", "{d}/out.jsonl"],
        _mimic(ROWS),
        2,
        "no record written: every study was skipped (report file missing: 2)",
    ),
    Case(
        "build-metadata-not-utf8",
        ["build-data", "{d}", "-o", "{d}/out.jsonl"],
        _mimic([ROWS[0], b"d\xe92,10000001,50000002,PA,21300102,090000\n"], reports=True),
        2,
        "{d}/mimic-cxr-2.0.0-metadata.csv: not UTF-8 text after line",
    ),
    Case(
        "build-metadata-gz-cut",
        ["build-data", "{d}", "-o", "{d}/out.jsonl"],
        _mimic(ROWS, gz_cut=True, reports=True),
        2,
        "{d}/mimic-cxr-2.0.0-metadata.csv.gz: the compressed file is cut short",
    ),
    Case(
        "score-skip-findings-of-the-wrong-type",
        SCORE + ["--on-error", "skip"],
        {"hyp.jsonl": jl(FI, {"id": "b", "findings": 0, "impression": "x"}, FC), "ref.jsonl": REFS},
        0,
        None,
    ),
)
