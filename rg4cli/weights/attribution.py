"""Integrated Gradients over a text classifier's token embeddings (paper Alg. 1, line 5).

IG (Sundararajan et al. 2017) attributes a scalar output f to the inputs x:

    IG_t(x) = sum_d (x_td - x'_td) * integral_0^1 df(x' + a (x - x'))/dx_td da

with x' a baseline. Here x is the sequence of word-piece embeddings a BERT model
looks up (before position/type embeddings and LayerNorm, which the model still adds
on top of `inputs_embeds`), and the per-token attribution is the sum over the
embedding dimension d. By completeness, sum_t IG_t = f(x) - f(x') up to the
quadrature error of the integral.

Choices the paper leaves open, and what this module does (all configurable):
- Baseline: `pad` (default) replaces every word piece with the [PAD] embedding but
  keeps [CLS] and [SEP], as Captum's BERT tutorials do, so only the report's own
  words are attributed; `zero` uses zero vectors (again keeping [CLS]/[SEP]).
- Integral: `gausslegendre` (default; Gauss-Legendre nodes on [0, 1], exact for
  polynomials up to degree 2*steps-1), `trapezoid` (steps points including both
  ends) or `riemann_middle`.
- Output f: whatever `score_fn` returns; `LabelerAttributor` (rg4cli.weights.backends)
  picks one raw head logit (the positive class for a positive label, the uncertain
  class for an uncertain one), not a softmax probability, because a saturated
  probability has vanishing gradients.

Two implementations give the same numbers:
- `integrated_gradients`: every (report, step) pair is one row (all of a report's
  targets share its interpolation path); rows are packed into chunks of
  `batch_size` (padded to the longest report in the chunk, padding masked out) and
  each chunk is one forward pass and one backward pass per target slot. Rows do not
  interact (eval mode: no dropout, no batch statistics), so the gradient of the sum
  of each row's own target is each row's own gradient.
- `integrated_gradients_per_label`: the textbook loop, one forward/backward per
  label and step; kept as the reference for tests and benchmarks/bench_ig.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rg4cli.weights.settings import METHODS

# score_fn(inputs_embeds (B, T, D), attention_mask (B, T)) -> scores (B, K)
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class IGRequest:
    """One report to attribute: its embeddings, its baseline and the outputs to explain."""

    embeds: torch.Tensor  # (T, D)
    baseline: torch.Tensor  # (T, D)
    targets: Sequence[int]  # indices into score_fn's K outputs


def integration_nodes(steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Points a in [0, 1] and weights w with integral_0^1 g(a) da ~= sum_k w_k g(a_k)."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if method == "trapezoid":
        if steps < 2:
            raise ValueError("the trapezoid rule needs at least 2 steps")
        alphas = np.linspace(0.0, 1.0, steps)
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[0] = weights[-1] = 0.5 / (steps - 1)
        return alphas, weights
    if method == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def integrated_gradients(
    score_fn: ScoreFn,
    requests: Sequence[IGRequest],
    *,
    steps: int = 50,
    method: str = "gausslegendre",
    batch_size: int = 128,
) -> list[torch.Tensor]:
    """Batched IG: returns, per request, a (len(targets), T) tensor of token attributions.

    One row is one interpolated sequence (request, step); all targets of a request
    share its path, so each chunk of `batch_size` rows takes one forward pass and one
    backward pass per target slot (the graph is kept between them). Memory ~
    batch_size x the longest report in the chunk. Requests are ordered by target
    count, then length, so chunks carry little padding and few idle target slots.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    alphas, weights = integration_nodes(steps, method)
    out: list[torch.Tensor] = []
    for req in requests:
        _check_request(req)
        out.append(torch.zeros(len(req.targets), req.embeds.shape[0], dtype=req.embeds.dtype, device=req.embeds.device))
    order = sorted(
        (i for i, r in enumerate(requests) if len(r.targets)),
        key=lambda i: (-len(requests[i].targets), -requests[i].embeds.shape[0]),
    )
    rows = [(i, k) for i in order for k in range(steps)]
    for start in range(0, len(rows), batch_size):
        _ig_chunk(score_fn, requests, rows[start : start + batch_size], alphas, weights, out)
    return out


def _check_request(req: IGRequest) -> None:
    if req.embeds.dim() != 2 or req.embeds.shape != req.baseline.shape:
        raise ValueError(
            f"embeds and baseline must both be (T, D); got {tuple(req.embeds.shape)} and {tuple(req.baseline.shape)}"
        )


def _ig_chunk(
    score_fn: ScoreFn,
    requests: Sequence[IGRequest],
    rows: list[tuple[int, int]],
    alphas: np.ndarray,
    weights: np.ndarray,
    out: list[torch.Tensor],
) -> None:
    first = requests[rows[0][0]].embeds
    device, dtype = first.device, first.dtype
    # Consecutive rows of one request form a group: (request, first row, end row, steps).
    groups: list[tuple[int, int, int, list[int]]] = []
    for r, (i, k) in enumerate(rows):
        if groups and groups[-1][0] == i:
            groups[-1][3].append(k)
            groups[-1] = (i, groups[-1][1], r + 1, groups[-1][3])
        else:
            groups.append((i, r, r + 1, [k]))
    length = max(requests[i].embeds.shape[0] for i, _, _, _ in groups)
    inputs = first.new_zeros(len(rows), length, first.shape[1])
    mask = torch.zeros(len(rows), length, dtype=torch.long, device=device)
    diffs, step_weights = [], []
    for i, r0, r1, ks in groups:
        req = requests[i]
        t = req.embeds.shape[0]
        diff = req.embeds - req.baseline
        alpha = torch.as_tensor(alphas[ks], dtype=dtype, device=device)
        inputs[r0:r1, :t] = req.baseline + alpha[:, None, None] * diff
        mask[r0:r1, :t] = 1
        diffs.append(diff)
        step_weights.append(torch.as_tensor(weights[ks], dtype=dtype, device=device))
    inputs.requires_grad_(True)
    scores = score_fn(inputs, mask)
    slots = max(len(requests[i].targets) for i, _, _, _ in groups)
    for j in range(slots):
        # grad_outputs picks each row's own target for slot j (rows without one: zero).
        pick = torch.zeros_like(scores)
        for i, r0, r1, _ in groups:
            if j < len(requests[i].targets):
                pick[r0:r1, requests[i].targets[j]] = 1.0
        (grads,) = torch.autograd.grad(scores, inputs, pick, retain_graph=j + 1 < slots)
        with torch.no_grad():
            for (i, r0, r1, _), diff, w in zip(groups, diffs, step_weights):
                if j < len(requests[i].targets):
                    t = diff.shape[0]
                    out[i][j] += (w[:, None] * (grads[r0:r1, :t] * diff).sum(-1)).sum(0)


def integrated_gradients_per_label(
    score_fn: ScoreFn, requests: Sequence[IGRequest], *, steps: int = 50, method: str = "gausslegendre"
) -> list[torch.Tensor]:
    """Reference IG: for each report, each label, each step, one forward/backward pass."""
    alphas, weights = integration_nodes(steps, method)
    out = []
    for req in requests:
        _check_request(req)
        t = req.embeds.shape[0]
        mask = torch.ones(1, t, dtype=torch.long, device=req.embeds.device)
        diff = req.embeds - req.baseline
        per_target = []
        for target in req.targets:
            total_grad = torch.zeros_like(req.embeds)
            for a, w in zip(alphas, weights):
                point = (req.baseline + float(a) * diff)[None].detach().requires_grad_(True)
                score = score_fn(point, mask)[0, target]
                (grad,) = torch.autograd.grad(score, point)
                total_grad += float(w) * grad[0]
            per_target.append((total_grad * diff).sum(-1).detach())
        out.append(torch.stack(per_target) if per_target else diff.new_zeros(0, t))
    return out


def score_difference(score_fn: ScoreFn, request: IGRequest) -> torch.Tensor:
    """f(x) - f(baseline) for each target: what the attributions must sum to (completeness)."""
    with torch.no_grad():
        both = torch.stack([request.embeds, request.baseline])
        mask = torch.ones(2, request.embeds.shape[0], dtype=torch.long, device=request.embeds.device)
        scores = score_fn(both, mask)
        idx = torch.as_tensor(list(request.targets), device=scores.device, dtype=torch.long)
        return scores[0, idx] - scores[1, idx]
