"""The authors' released MIMIC-RG4 annotations -> rg4 study records (`build-data --from mimic-rg4`).

Released format (as the official code's per-setting data loaders read it): one
JSON file per setting, `{"train": [...], "val": [...], "test": [...]}`, each item a study:

    id, finding, impression           the (rewritten) target sections; 's' = section absent
    APPA_flag, APPA_imagepath         'AP' / 'PA', the frontal image (relative to MIMIC-CXR-JPG)
    lateral_imagepath                 mn, mw
    last_finding, last_impression     sw, mw: the previous study's report ('s' = absent)
    last_APPA_imagepath               sw, mw: the previous study's frontal image
    history, indication               0 = absent
    new_scores                        TLW token scores (below)

Records: the fields `rg4 build-data --from mimic-cxr` writes for the same (study, setting):
id "s<study>_<setting>", study_id / subject_id (from the image path's pSUBJECT/sSTUDY, else the
item's fields), split (val -> validate, MIMIC-CXR's name), setting (from the item's fields:
a lateral path makes it m, a last report w), frontal, view, lateral, prior_report (the last
sections joined as rg4 joins them), prior_study_id, indication, history, findings,
impression. raw_findings / raw_impression are null (the release holds only the rewritten
text) and `rewrite` says {"generator": "mimic-rg4 release"}: the texts are the authors'.

new_scores -> sentence_weights (the mapping): the official loss reads `new_scores[k]` as the
weight of the k-th token (BOS first) of the target string r2gen_clean(finding + " " +
impression) (rg4cli.text.cleaning: the official cleaning) under the LLM's tokenizer
(Vicuna-7B v1.5), and adds 0.75 x the mean CE over the tokens whose score is non-zero (rg4 train --tlw official with λ = 1.75). rg4 keeps
weights per sentence, in character offsets of its own target text (findings: ...
impression: ...), so with `--scores-tokenizer` the importer tokenizes the cleaned text,
gives each cleaned word its highest token score, aligns the cleaned words with the words
of rg4's target (case and the punctuation the cleaning strips ignored), and a sentence gets
weight λ (rg4 train's default 1.75) when any of its words scored above 0, else 1; `score`
is the highest score among its words. The official loader keeps 100 tokens (max_length), so a
release carries no scores past them: those sentences get weight 1, as the official loss never
weighs them either. Without a tokenizer the scores cannot be placed:
the records carry no sentence_weights (counted in the notes). `to_release_item` is the
inverse (an rg4 record -> a released-format item), for exporting to the official code.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from rg4cli.dataset.mimic import SPLIT_ALIASES
from rg4cli.errors import InputError
from rg4cli.paper import TLW_LAMBDA
from rg4cli.records.provenance import bind
from rg4cli.text.cleaning import r2gen_clean
from rg4cli.text.sections import join_sections

ABSENT = "s"
GENERATOR = "mimic-rg4 release"
NOTE_UNMAPPED = "new_scores not mapped to sentence_weights (no --scores-tokenizer)"
NOTE_NO_SCORES = "no new_scores"
_PATH_IDS = re.compile(r"(?:^|/)p(\d+)/s(\d+)(?:/|$)")
_STRIPPED = re.compile(r"[.,?;*!%^&_+()\[\]{}\"/\\':]")


def _text(value: Any, where: str, source: str) -> str | None:
    if value in (None, ABSENT, 0):
        return None
    if not isinstance(value, str):
        raise InputError(
            f"expected a string ('s' or 0 when absent), got {type(value).__name__}", source=source, field=where
        )
    return value.strip() or None


def _ids(path: str | None) -> tuple[str | None, str | None]:
    m = _PATH_IDS.search(path or "")
    return (m.group(1), m.group(2)) if m else (None, None)


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise InputError(
            f"--scores-tokenizer: cannot load a tokenizer from {path}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
        ) from None


# ---- words of the cleaned text <-> words of rg4's target --------------------------------
def _words(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in re.finditer(r"\S+", text):
        norm = _STRIPPED.sub("", m.group().lower())
        if norm:
            out.append((m.start(), m.end(), norm))
    return out


def _aligned(cleaned_words, target_words) -> list[tuple[int, int]]:
    """(cleaned word index, target word index) pairs of the same word, in order."""
    matcher = SequenceMatcher(None, [w for *_, w in cleaned_words], [w for *_, w in target_words], autojunk=False)
    return [(a + k, b + k) for a, b, n in matcher.get_matching_blocks() for k in range(n)]


def _token_offsets(tokenizer, cleaned: str) -> list[tuple[int, int]]:
    try:
        enc = tokenizer(cleaned, add_special_tokens=True, return_offsets_mapping=True)
    except NotImplementedError:
        raise InputError(
            "--scores-tokenizer: character offsets need a fast tokenizer (tokenizer.json, or "
            "tokenizer.model with sentencepiece and protobuf installed)"
        ) from None
    return [tuple(o) for o in enc["offset_mapping"]]


def _word_of(starts: list[int], words: list[tuple[int, int, str]], start: int, end: int) -> int | None:
    """The word a token's characters [start, end) fall in (a SentencePiece piece may carry the space
    before its word); None for BOS / EOS and bare spaces."""
    if end <= start:
        return None
    n = bisect.bisect_right(starts, end - 1) - 1
    return n if n >= 0 and words[n][1] > start else None


def release_target(findings: str | None, impression: str | None) -> str:
    """The official target string `new_scores` index: r2gen_clean(finding + ' ' + impression)."""
    return r2gen_clean(" ".join(t for t in (findings, impression) if t))


def sentence_weights_from_scores(
    findings: str | None, impression: str | None, scores: list[float], tokenizer, lam: float
) -> list[dict]:
    """Released token scores -> rg4 sentence_weights over join_sections(findings, impression)."""
    import numpy as np

    from rg4cli.weights.backends import sentence_weights_from_tokens

    target = join_sections(findings, impression)
    cleaned = release_target(findings, impression)
    cleaned_words, target_words = _words(cleaned), _words(target)
    word_score = [0.0] * len(cleaned_words)
    starts = [s for s, _, _ in cleaned_words]
    for (start, end), score in zip(_token_offsets(tokenizer, cleaned), scores):
        n = _word_of(starts, cleaned_words, start, end)
        if n is not None:
            word_score[n] = max(word_score[n], float(score))
    pairs = _aligned(cleaned_words, target_words)
    offsets = [(target_words[b][0], target_words[b][1]) for _, b in pairs]
    values = np.array([word_score[a] for a, _ in pairs], dtype=np.float64)
    return sentence_weights_from_tokens(target, offsets, values if len(values) else None, 0.0, lam)


def release_scores(
    findings: str | None, impression: str | None, sentence_weights: list[dict], tokenizer, max_tokens: int = 100
) -> list[float]:
    """The inverse: 1.0 for the tokens of emphasised sentences (weight > 1), else 0.0 (BOS first)."""
    target = join_sections(findings, impression)
    cleaned = release_target(findings, impression)
    cleaned_words, target_words = _words(cleaned), _words(target)
    emphasised = [(s["start"], s["end"]) for s in sentence_weights or () if s.get("weight", 1) > 1]
    hot_word = [False] * len(cleaned_words)
    for a, b in _aligned(cleaned_words, target_words):
        ws, we, _ = target_words[b]
        hot_word[a] = any(ws < e and we > s for s, e in emphasised)
    starts = [s for s, _, _ in cleaned_words]
    out = []
    for start, end in _token_offsets(tokenizer, cleaned)[:max_tokens]:
        n = _word_of(starts, cleaned_words, start, end)
        out.append(1.0 if n is not None and hot_word[n] else 0.0)
    return out


def to_release_item(record: dict, tokenizer=None, *, max_tokens: int = 100) -> dict:
    """An rg4 study record -> one item of the released format (the file of its setting)."""

    def sec(value):
        return value if value else ABSENT

    item = {
        "id": record.get("frontal", "").rsplit("/", 1)[-1].split(".")[0] or record["id"],
        "study_id": record.get("study_id"),
        "subject_id": record.get("subject_id"),
        "finding": sec(record.get("findings")),
        "impression": sec(record.get("impression")),
        "APPA_flag": record.get("view") or "PA",
        "APPA_imagepath": record.get("frontal"),
        "history": record.get("history") or 0,
        "indication": record.get("indication") or 0,
    }
    if record.get("lateral"):
        item["lateral_imagepath"] = record["lateral"]
    if record.get("prior_report"):
        from rg4cli.text.sections import split_sections

        last_f, last_i = split_sections(record["prior_report"])
        # rg4 records keep no prior image: the prior study's directory stands in for it
        subject, prior = record.get("subject_id") or "", record.get("prior_study_id") or ""
        item.update(
            last_finding=sec(last_f),
            last_impression=sec(last_i),
            last_APPA_imagepath=f"files/p{subject[:2]}/p{subject}/s{prior}/" if prior else "",
        )
    if tokenizer is not None and record.get("sentence_weights"):
        item["new_scores"] = release_scores(
            record.get("findings"), record.get("impression"), record["sentence_weights"], tokenizer, max_tokens
        )
    return item


class ReleaseImport:
    """Read released MIMIC-RG4 annotation files (a JSON file, or a directory of them)."""

    def __init__(
        self,
        source: str | Path,
        *,
        scores_tokenizer: str | None = None,
        lam: float | None = None,
        splits: tuple[str, ...] | None = None,
    ):
        source = Path(source)
        if source.is_dir():
            self.files = sorted(source.glob("*.json"))
            if not self.files:
                raise InputError(f"no *.json annotation files in {source}")
        elif source.is_file():
            self.files = [source]
        else:
            raise InputError(f"no such MIMIC-RG4 annotation file or directory: {source}")
        self.tokenizer = load_tokenizer(scores_tokenizer) if scores_tokenizer else None
        self.lam = TLW_LAMBDA if lam is None else lam
        self.splits = splits
        self.n_studies = 0
        self.skipped: Counter = Counter()
        self.skip_examples: dict[str, list[str]] = defaultdict(list)
        self.notes: Counter = Counter()

    def _load(self, path: Path) -> dict:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"not a readable JSON file: {str(exc).splitlines()[0][:200]}", source=str(path)) from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise InputError(
                'expected {"train": [...], "val": [...], "test": [...]} (the released format)', source=str(path)
            )
        return data

    def records(self) -> Iterator[dict]:
        for path in self.files:
            for split, items in self._load(path).items():
                name = SPLIT_ALIASES.get(split, split)
                if self.splits is not None and name not in self.splits:
                    continue
                for k, item in enumerate(items):
                    self.n_studies += 1
                    yield self._record(item, f"{split}[{k}]", str(path), name)

    def _record(self, item: Any, where: str, source: str, split: str) -> dict:
        if not isinstance(item, dict):
            raise InputError(f"expected an object, got {type(item).__name__}", source=source, field=where)

        def text(key: str) -> str | None:
            return _text(item.get(key), f"{where}.{key}", source)

        frontal = text("APPA_imagepath")
        if frontal is None:
            raise InputError("missing the frontal image path", source=source, field=f"{where}.APPA_imagepath")
        lateral = text("lateral_imagepath")
        prior = join_sections(text("last_finding"), text("last_impression")) or None
        subject_id, study_id = _ids(frontal)
        study_id = str(item.get("study_id") or study_id or item.get("id"))
        findings, impression = text("finding"), text("impression")
        if not (findings or impression):
            raise InputError("neither finding nor impression", source=source, field=f"{where}.finding")
        setting = ("m" if lateral else "s") + ("w" if prior else "n")
        view = (text("APPA_flag") or "").upper()
        rec = {
            "id": f"s{study_id}_{setting}",
            "study_id": study_id,
            "subject_id": str(item.get("subject_id") or subject_id or "") or None,
            "split": split,
            "setting": setting,
            "frontal": frontal,
            "view": view if view in ("PA", "AP") else None,
            "lateral": lateral,
            "prior_report": prior,
            "prior_study_id": _ids(text("last_APPA_imagepath"))[1] if prior else None,
            "indication": text("indication"),
            "history": text("history"),
            "findings": findings,
            "impression": impression,
            "raw_findings": None,
            "raw_impression": None,
            "rewrite": {
                "generator": GENERATOR,
                "judge": None,
                "rounds": 0,
                "verdicts": [],
                "changed": False,
                "resolved": True,
            },
        }
        scores = item.get("new_scores")
        if scores is None:
            self.notes[NOTE_NO_SCORES] += 1
        elif self.tokenizer is None:
            self.notes[NOTE_UNMAPPED] += 1
        else:
            if not isinstance(scores, list) or not all(isinstance(v, (int, float, str)) for v in scores):
                raise InputError("expected a list of numbers", source=source, field=f"{where}.new_scores")
            try:
                values = [float(v) for v in scores]
            except ValueError:
                raise InputError("expected a list of numbers", source=source, field=f"{where}.new_scores") from None
            weights = sentence_weights_from_scores(findings, impression, values, self.tokenizer, self.lam)
            bind(
                rec,
                "sentence_weights",
                weights,
                text_field="findings+impression",
                text=join_sections(findings, impression),
            )
        return rec
