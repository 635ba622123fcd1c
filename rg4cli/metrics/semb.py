"""SembScore: cosine similarity of CheXbert's report embeddings (CXR-Report-Metric's s_emb).

The embedding of a report is the CheXbert encoder's last hidden state at [CLS] (the vector
the 14 heads read), from the text prepared as the labeler prepares it
(`model.chexbert_input`); the score of a pair is `(a . b) / (|a| |b|)`, the mean over pairs
the block's value.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def cls_embeddings(clf, texts: list[str], batch_size: int = 32, device="cpu", text_mode: str = "chexbert"):
    """[CLS] hidden states [N, H] of a CheXbert-shaped classifier (`model.classifiers.Classifier`)."""
    from rg4cli.model.chexbert_input import batch_inputs

    model = clf.model.to(device).eval()
    out = []
    for i in range(0, len(texts), batch_size):
        inputs = batch_inputs(clf.tokenizer, texts[i : i + batch_size], text_mode, device)
        out.append(model.bert(**inputs).last_hidden_state[:, 0, :].float().cpu())
    return torch.cat(out) if out else torch.zeros((0, model.config.hidden_size))


def semb_scores(clf, hyps: list[str], refs: list[str], batch_size: int = 32, device="cpu", text_mode="chexbert"):
    """Per pair: cosine of the hypothesis and reference embeddings."""
    distinct = list(dict.fromkeys([*hyps, *refs]))
    emb = cls_embeddings(clf, distinct, batch_size, device, text_mode)
    row = {t: i for i, t in enumerate(distinct)}
    h = emb[[row[t] for t in hyps]].double()
    r = emb[[row[t] for t in refs]].double()
    cos = (h * r).sum(-1) / (h.norm(dim=-1) * r.norm(dim=-1))
    return [float(x) for x in cos]
