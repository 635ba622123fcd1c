"""The official prompt (prompt version "official-v1") and its token segments.

Sequence the LLM reads (official code, stage 2 and test script):

    <s> Human: {INDICATION: … HISTORY: …} <Img>[N fusion tokens]</Img> {instruction}. \\nAssistant: <s>
    → target: "findings: … impression: …" </s>

The instruction is view-aware (PA: "posterior anterior", AP: "anterior posterior",
unknown view: the official generic wording) and asks for finding and impression, or
one of them when the other section is missing. The indication/history prefix is cut
so that "Human: … <Img>" fits `context_max_tokens` (official: 50 tokens). The official
code places a BOS before the prompt and another one starting the answer; both are
kept so that released checkpoints see the layout they were trained on.

The interleaved variant reads `<Img>[frontal]</Img> <Img>[lateral]</Img> LAST REPORT:
{prior} …`: each image is its own token block, the prior report is plain text.

A prefix is a list of segments: a list of token ids, or the name of a feature block
("fusion", "frontal", "lateral") that the model fills with N embeddings.

Options (ModelConfig): `prompt_tokenization` "one-string" tokenizes "Human: {context} <Img>"
and "</Img> {instruction}. \nAssistant:" as one string each, as the released code does
(token ids equal the released prompt's); "segments" tokenizes the fixed pieces and the
context apart. `stage1_input` "bos-image" makes a stage-1 prefix BOS + the frontal block
+ BOS (the released stage 1: no prompt). `report_text` "r2gen" cleans the target and
the prior report (rg4cli.text.cleaning.r2gen_clean); `target_max_tokens` cuts the answer
(BOS included) like the released tokenizer call (`max_length=100`, truncation).
"""

from __future__ import annotations

from dataclasses import dataclass

from rg4cli.records.study import Study
from rg4cli.text.cleaning import r2gen_clean
from rg4cli.text.sections import join_sections
from rg4cli.vocab import SECTIONS

PROMPT_VERSION = "official-v1"

_VIEW_WORDS = {"PA": "posterior anterior", "AP": "anterior posterior"}


def instruction(view: str | None, sections: str = "both") -> str:
    """The official instruction text for a view and the requested sections."""
    if sections not in SECTIONS:
        raise ValueError(f"sections must be one of {SECTIONS}, got {sections!r}")
    words = _VIEW_WORDS.get((view or "").upper())
    if words is None:
        return {
            "both": "Write radiological finding and impression for this chest X-ray examination",
            "findings": "Write radiological finding section of report for chest X-ray examination",
            "impression": "Write radiological impression section of report for chest X-ray examination",
        }[sections]
    return {
        "both": f"Write radiological finding and impression for this {words} chest X-ray visual feature",
        "findings": f"Write radiological finding section of report for {words} chest X-ray visual feature",
        "impression": f"Write radiological impression section of report for {words} chest X-ray visual feature",
    }[sections]


def sections_of(study: Study) -> str:
    """Which sections a training target holds (the instruction asks for exactly those)."""
    has_f = bool(study.findings and study.findings.strip())
    has_i = bool(study.impression and study.impression.strip())
    if has_f and not has_i:
        return "findings"
    if has_i and not has_f:
        return "impression"
    return "both"


def context_text(indication: str | None, history: str | None) -> str:
    parts = []
    if indication and indication.strip():
        parts.append("INDICATION: " + " ".join(indication.split()))
    if history and history.strip():
        parts.append("HISTORY: " + " ".join(history.split()))
    return " ".join(parts)


def target_text(study: Study, report_text: str = "raw") -> str:
    """THE text the LLM learns: `findings: … impression: …` (sections.join_sections);
    report_text "r2gen": R2Gen-cleaned ("findings : … impression : …", split_sections reads it)."""
    text = join_sections(study.findings, study.impression)
    return r2gen_clean(text) if report_text == "r2gen" else text


def prior_text(study: Study, report_text: str = "raw") -> str | None:
    """The prior report as the text encoder (or the interleaved prompt) reads it."""
    if not study.prior_report:
        return None
    return r2gen_clean(study.prior_report) if report_text == "r2gen" else study.prior_report


def decoder_vocabulary_corpus(texts: list[str]) -> list[str]:
    """What the tiny preset builds its decoder's BPE vocabulary from: the report and context
    texts, and the prompt template about as often as there are texts (every example carries
    one), so "INDICATION:", "<Img>" or "Assistant:" are a few tokens, not one per letter
    (counted once, they cost ~60 of a prompt's ~100 tokens)."""
    texts = [t for t in texts if t]
    fixed = template_texts()
    return texts + fixed * max(1, len(texts) // len(fixed))


def template_texts() -> list[str]:
    """Every fixed string of the template (the tiny preset trains its tokenizer on them too)."""
    out = [
        "Human: INDICATION: HISTORY: <Img>",
        "Human: HISTORY: <Img>",
        "Human: <Img>",
        "</Img> <Img></Img> LAST REPORT: ",
        "findings: impression:",
    ]
    for view in ("PA", "AP", None):
        for sections in SECTIONS:
            out.append("</Img> " + instruction(view, sections) + ". \nAssistant:")
    return out


@dataclass
class TextBatch:
    """Token ids of a batch before embedding (plain lists; the model pads and embeds).

    prefixes[b]: segments (ids or a feature-block name); target_ids[b]: target tokens
    ending with EOS; target_offsets[b][j]: (start, end) characters of target token j in
    target_texts[b] (EOS: (len, len)), so character spans (sentence_weights) map onto tokens.
    """

    prefixes: list[list]
    target_ids: list[list[int]] | None = None
    target_offsets: list[list[tuple[int, int]]] | None = None
    target_texts: list[str] | None = None

    def __len__(self) -> int:
        return len(self.prefixes)


class PromptBuilder:
    def __init__(
        self,
        tokenizer,
        *,
        fusion: str = "atf",
        context_max_tokens: int = 50,
        prior_max_tokens: int = 256,
        tokenization: str = "segments",
        stage1_input: str = "prompt",
        report_text: str = "raw",
        target_max_tokens: int = 0,
    ):
        self.tok = tokenizer
        self.fusion = fusion
        self.context_max_tokens = context_max_tokens
        self.prior_max_tokens = prior_max_tokens
        self.tokenization = tokenization
        self.stage1_input = stage1_input
        self.report_text = report_text
        self.target_max_tokens = target_max_tokens
        self.stage = 1
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id
        if self.bos is None or self.eos is None:
            raise ValueError("the LLM tokenizer needs bos and eos tokens")
        self._cache: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        hit = self._cache.get(text)
        if hit is None:
            hit = self.tok(text, add_special_tokens=False)["input_ids"]
            if len(self._cache) < 256:  # fixed template pieces only; bounded
                self._cache[text] = hit
        return list(hit)

    def _head(self, ctx: str) -> list[int]:
        """Token ids of "Human: {context} <Img>", at most context_max_tokens (the context is cut)."""
        if self.tokenization == "one-string":
            whole = self.tok(f"Human: {ctx} <Img>", add_special_tokens=False)["input_ids"]
            if len(whole) <= self.context_max_tokens:
                return list(whole)
            # Too long: the released code cuts the string's tokens at 50, losing " <Img>"; rg4
            # cuts the context and keeps the marker.
            tail = self.ids(" <Img>")
            lead = self.tok(f"Human: {ctx}", add_special_tokens=False)["input_ids"]
            return list(lead[: max(0, self.context_max_tokens - len(tail))]) + tail
        head, tail = self.ids("Human: "), self.ids(" <Img>")
        ctx_ids = self.tok(ctx, add_special_tokens=False)["input_ids"] if ctx else []
        room = max(0, self.context_max_tokens - len(head) - len(tail))
        return head + ctx_ids[:room] + tail

    def _join(self, *pieces: str) -> list[int]:
        if self.tokenization == "one-string":
            return self.ids("".join(pieces))
        return [i for p in pieces for i in self.ids(p)]

    def prefix(self, study: Study, sections: str = "both") -> list:
        if self.stage == 1 and self.stage1_input == "bos-image":
            return [[self.bos], "fusion" if self.fusion == "atf" else "frontal", [self.bos]]
        ctx = context_text(study.indication, study.history)
        segs: list = [[self.bos] + self._head(ctx)]
        instr = " " + instruction(study.view, sections) + ". \nAssistant:"
        if self.fusion == "atf":
            segs += ["fusion", self._join("</Img>", instr) + [self.bos]]
            return segs
        segs.append("frontal")
        if study.lateral:
            segs += [self.ids("</Img> <Img>"), "lateral"]
        prior = prior_text(study, self.report_text)
        if prior:
            prior_ids = self.tok(" ".join(prior.split()), add_special_tokens=False)["input_ids"]
            after = self._join("</Img>", " LAST REPORT: ") + prior_ids[: self.prior_max_tokens]
            segs.append(after + self.ids(instr) + [self.bos])
        else:
            segs.append(self._join("</Img>", instr) + [self.bos])
        return segs

    def target(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = [(int(o[0]), int(o[1])) for o in enc["offset_mapping"]]
        ids, offsets = list(enc["input_ids"]) + [self.eos], offsets + [(len(text), len(text))]
        if self.target_max_tokens:
            keep = self.target_max_tokens - 1  # the answer's BOS is the prefix's last token
            ids, offsets = ids[:keep], offsets[:keep]
        return ids, offsets

    def batch(self, studies: list[Study], *, with_targets: bool = False, sections: str | None = None) -> TextBatch:
        """sections None = from each study's reference (training, and generation asking for the
        sections the reference has: both when it has none); else the requested ones."""
        prefixes, tids, toffs, ttexts = [], [], [], []
        for study in studies:
            prefixes.append(self.prefix(study, sections or sections_of(study)))
            if with_targets:
                text = target_text(study, self.report_text)
                ids, offs = self.target(text)
                tids.append(ids)
                toffs.append(offs)
                ttexts.append(text)
        if not with_targets:
            return TextBatch(prefixes)
        return TextBatch(prefixes, tids, toffs, ttexts)
