"""Adaptive token fusion (ATF, paper §Method) and the interleaved baseline.

Official block per modality (one perceiver step): multi-head cross-attention (add_bias_kv,
add_zero_attn, dropout) from N queries over the encoder tokens -> LayerNorm ->
Linear(D',D') + LayerNorm + residual -> Linear(D', mlp) -> GELU -> Linear(mlp, D) ->
LayerNorm. p_f's queries are N learnable vectors; p_l and p_t are queried by p_f's
output (after the residual, as the official code does). ATF concatenates h_f, h_l, h_t
along the feature axis in that fixed order, zeros for a missing modality, then
Linear(3D, D) + LayerNorm: the LLM sees N tokens whatever the setting.

`InterleavedFusion` is the "typical" multimodal input of the ablation: each image
becomes its own block of N tokens (one shared perceiver + projector, LLaVA-style)
stacked along the sequence; the prior report goes into the prompt as text.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PerceiverBlock(nn.Module):
    def __init__(self, dim: int, kv_dim: int, heads: int, mlp_dim: int, llm_dim: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(
            dim,
            heads,
            dropout=dropout,
            add_bias_kv=True,
            add_zero_attn=True,
            kdim=kv_dim,
            vdim=kv_dim,
            batch_first=True,
        )
        self.norm_attn = nn.LayerNorm(dim)
        self.proj_in = nn.Linear(dim, dim)
        self.norm_in = nn.LayerNorm(dim)
        self.proj_up = nn.Linear(dim, mlp_dim)
        self.proj_out = nn.Linear(mlp_dim, llm_dim)
        self.norm_out = nn.LayerNorm(llm_dim)

    def forward(self, queries: Tensor, tokens: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """queries [B,N,D'], tokens [B,T,Dkv], mask [B,T] (True = real token) -> (h [B,N,D], query_out [B,N,D'])."""
        pad = None if mask is None else ~mask.bool()
        attended = self.attn(queries, tokens, tokens, key_padding_mask=pad, need_weights=False)[0]
        attended = self.norm_attn(attended)
        query_out = self.norm_in(self.proj_in(attended)) + attended
        h = self.norm_out(self.proj_out(F.gelu(self.proj_up(query_out))))
        return h, query_out


def _learnable_queries(n: int, dim: int, std: float = 0.02) -> nn.Parameter:
    q = nn.Parameter(torch.zeros(1, n, dim))
    q.data.normal_(mean=0.0, std=std)
    return q


def _keep(h: Tensor, present: Tensor | None) -> Tensor:
    """Zero the rows of samples whose modality is absent (mixed batches)."""
    if present is None:
        return h
    return h * present.to(h.dtype).view(-1, 1, 1)


class AdaptiveTokenFusion(nn.Module):
    kind = "atf"

    def __init__(
        self,
        *,
        image_dim: int,
        text_dim: int,
        llm_dim: int,
        num_queries: int,
        num_heads: int,
        mlp_dim: int,
        dropout: float,
        query_init_std: float = 0.02,
    ):
        super().__init__()
        self.llm_dim = llm_dim
        self.num_queries = num_queries
        self.queries = _learnable_queries(num_queries, image_dim, query_init_std)
        self.frontal = PerceiverBlock(image_dim, image_dim, num_heads, mlp_dim, llm_dim, dropout)
        self.lateral = PerceiverBlock(image_dim, image_dim, num_heads, mlp_dim, llm_dim, dropout)
        self.prior = PerceiverBlock(image_dim, text_dim, num_heads, mlp_dim, llm_dim, dropout)
        self.out_proj = nn.Linear(3 * llm_dim, llm_dim)
        self.out_norm = nn.LayerNorm(llm_dim)

    def forward(
        self,
        frontal: Tensor,
        lateral: Tensor | None = None,
        prior: Tensor | None = None,
        prior_mask: Tensor | None = None,
        lateral_present: Tensor | None = None,
        prior_present: Tensor | None = None,
        frontal_only: bool = False,
    ) -> Tensor:
        """-> [B, N, D]. `lateral`/`prior` None = absent for the whole batch (zeros).
        frontal_only: h_f itself, before the 3D->D projection (the released stage 1)."""
        batch = frontal.shape[0]
        h_f, query = self.frontal(self.queries.expand(batch, -1, -1).to(frontal.dtype), frontal)
        if frontal_only:
            return h_f
        zeros = torch.zeros_like(h_f)
        h_l = zeros if lateral is None else _keep(self.lateral(query, lateral)[0], lateral_present)
        h_t = zeros if prior is None else _keep(self.prior(query, prior, prior_mask)[0], prior_present)
        return self.out_norm(self.out_proj(torch.cat([h_f, h_l, h_t], dim=-1)))


class InterleavedFusion(nn.Module):
    kind = "interleaved"

    def __init__(
        self,
        *,
        image_dim: int,
        llm_dim: int,
        num_queries: int,
        num_heads: int,
        mlp_dim: int,
        dropout: float,
        query_init_std: float = 0.02,
        **_unused,
    ):
        super().__init__()
        self.llm_dim = llm_dim
        self.num_queries = num_queries
        self.queries = _learnable_queries(num_queries, image_dim, query_init_std)
        self.image = PerceiverBlock(image_dim, image_dim, num_heads, mlp_dim, llm_dim, dropout)

    def forward(
        self, frontal: Tensor, lateral: Tensor | None = None, frontal_only: bool = False, **_ignored
    ) -> dict[str, Tensor]:
        """-> {"frontal": [B,N,D], "lateral": [B,N,D] (when given)}: one block per image."""
        batch = frontal.shape[0]
        queries = self.queries.expand(batch, -1, -1).to(frontal.dtype)
        blocks = {"frontal": self.image(queries, frontal)[0]}
        if lateral is not None and not frontal_only:
            blocks["lateral"] = self.image(queries, lateral)[0]
        return blocks


def build_fusion(cfg) -> nn.Module:
    kwargs = dict(
        image_dim=cfg.image_dim,
        text_dim=cfg.text_dim,
        llm_dim=cfg.llm_dim,
        num_queries=cfg.num_queries,
        num_heads=cfg.num_heads,
        mlp_dim=cfg.mlp_dim,
        dropout=cfg.dropout,
        query_init_std=cfg.query_init_std,
    )
    if cfg.fusion == "atf":
        return AdaptiveTokenFusion(**kwargs)
    return InterleavedFusion(**kwargs)
