"""CIDEr of many weighted corpora at once, from the cooked pairs of `nlg._CiderTable`.

A weight vector says how many times each pair occurs in a corpus (a bootstrap resample:
0, 1, 2...; the evaluated set: all ones). pycocoevalcap's CIDEr on such a corpus takes
its document frequencies from that corpus's references, duplicates counted, so every
n-gram's IDF changes from one resample to the next and every pair's score with it.

Per pair and n-gram order, CIDEr needs three sums over n-grams g, each of the form
sum_g c_g * idf_g^2 (idf_g >= 0 always: a document frequency never exceeds the corpus size):

    hh = sum over the hypothesis's n-grams of h_g^2           (its vector's squared norm)
    rr = sum over a reference's n-grams of r_g^2              (the reference's)
    hr = sum over shared n-grams of min(h_g, r_g) * r_g       (the clipped dot product)

so a corpus's scores are three sparse matrix products with its idf^2 vector, for a block
of corpora at once (a dense n-grams x corpora matrix). Two n-grams that occur in the
references of exactly the same pairs have the same document frequency in every weighted
corpus: they are merged into one class first (their counts added), which shrinks the
matrices several fold on templated reports without changing the sums. A hypothesis
n-gram no reference holds has document frequency 0, so idf = log(corpus size) for it:
its part of hh is one constant per row times log(N)^2.

Exact up to rounding (products and sums in another order than the library's): equal to
`nlg._CiderTable.scores` on the duplicated pairs within 1e-12 (tests/lib/test_uncertainty.py).
`CiderFlat` holds a system's cooked pairs as flat arrays; `CiderBlock` the matrices of
one block of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from rg4cli.metrics.nlg import CIDER_N, CIDER_SIGMA


class CiderFlat:
    """Every pair's cooked n-grams (`nlg._CiderPair`) as flat arrays, built once per system."""

    def __init__(self, pairs: Sequence) -> None:
        self.n = len(pairs)
        h, r, x, o, ref_pair, deltas = [], [], [], [], [], []
        for j, p in enumerate(pairs):
            h.append((np.full(len(p.hyp.ids), j), p.hyp.ids, p.hyp.tf, p.hyp.order))
            o.append((np.full(len(p.ref_ngrams), j), p.ref_ngrams))
            for ref, in_ref in zip(p.refs, p.in_refs):
                k = len(ref_pair)
                ref_pair.append(j)
                deltas.append(float(p.hyp.length - ref.length))
                r.append((np.full(len(ref.ids), k), ref.ids, ref.tf, ref.order))
                shared = in_ref > 0
                val = np.minimum(p.hyp.tf[shared], in_ref[shared]) * in_ref[shared]
                x.append((np.full(int(shared.sum()), k), p.hyp.ids[shared], p.hyp.order[shared], val))
        self.h_pair, self.h_ids, self.h_tf, self.h_order = _columns(h, 4)
        self.r_ref, self.r_ids, self.r_tf, self.r_order = _columns(r, 4)
        self.x_ref, self.x_ids, self.x_order, self.x_val = _columns(x, 4)
        self.o_pair, self.o_ids = _columns(o, 2)
        self.ref_pair = np.array(ref_pair, dtype=np.int64)
        # The length penalty of each (pair, reference), one Python float each, as the library writes it.
        self.penalty = np.array([np.e ** (-(d**2) / (2 * CIDER_SIGMA**2)) for d in deltas])
        self.size = int(max(self.h_ids.max(initial=-1), self.o_ids.max(initial=-1))) + 1


def _columns(parts: list, width: int) -> list[np.ndarray]:
    if not parts:
        return [np.zeros(0, np.int64)] * width
    return [np.concatenate([p[i] for p in parts]) for i in range(width)]


class CiderBlock:
    """The CIDEr sums of one block of pairs (all pairs, or one setting's) as sparse matrices."""

    def __init__(self, flat: CiderFlat, idx: np.ndarray) -> None:
        nb = len(idx)
        self.n = nb
        local = np.full(flat.n, -1, dtype=np.int64)
        local[idx] = np.arange(nb)
        # Which of the block's pairs hold each n-gram id in their references: n-grams with the same
        # set of pairs form one class, found by two random 64-bit sums over the set and its size
        # (a false merge needs two equal 128-bit sums of different sets).
        keep = local[flat.o_pair] >= 0
        owner, ngram = local[flat.o_pair[keep]], flat.o_ids[keep]
        rng = np.random.default_rng(0)
        salt = rng.integers(0, 2**63, size=(2, max(nb, 1)), dtype=np.uint64)
        sums = np.zeros((3, flat.size), dtype=np.uint64)
        np.add.at(sums[0], ngram, salt[0][owner])
        np.add.at(sums[1], ngram, salt[1][owner])
        sums[2] = np.bincount(ngram, minlength=flat.size)
        held = np.flatnonzero(sums[2])
        _, first, klass_of = np.unique(sums[:, held], axis=1, return_index=True, return_inverse=True)
        klass = np.full(flat.size, -1, dtype=np.int64)
        klass[held] = klass_of.ravel()
        n_class = len(first)
        self.n_class = n_class
        # Document frequency of each class in a weighted corpus: (its representative's pairs) @ weights.
        rep = np.zeros(flat.size, dtype=bool)
        rep[held[first]] = True
        on = rep[ngram]
        self.df = sparse.csr_matrix((np.ones(int(on.sum())), (klass[ngram[on]], owner[on])), shape=(n_class, nb))
        # hh: rows pair * CIDER_N + order; hypothesis n-grams no reference holds are a constant.
        keep = local[flat.h_pair] >= 0
        rows = local[flat.h_pair[keep]] * CIDER_N + flat.h_order[keep]
        k = klass[flat.h_ids[keep]]
        sq = flat.h_tf[keep] ** 2
        self.hh = _csr(rows[k >= 0], k[k >= 0], sq[k >= 0], (nb * CIDER_N, n_class))
        self.hh_const = np.bincount(rows[k < 0], weights=sq[k < 0], minlength=nb * CIDER_N)
        # hr and rr: rows reference * CIDER_N + order, the block's references numbered in order.
        in_block = local[flat.ref_pair] >= 0
        ref_local = np.full(len(flat.ref_pair), -1, dtype=np.int64)
        ref_local[in_block] = np.arange(int(in_block.sum()))
        n_refs = int(in_block.sum())
        keep = ref_local[flat.r_ref] >= 0
        self.rr = _csr(
            ref_local[flat.r_ref[keep]] * CIDER_N + flat.r_order[keep],
            klass[flat.r_ids[keep]],
            flat.r_tf[keep] ** 2,
            (n_refs * CIDER_N, n_class),
        )
        keep = ref_local[flat.x_ref] >= 0
        self.hr = _csr(
            ref_local[flat.x_ref[keep]] * CIDER_N + flat.x_order[keep],
            klass[flat.x_ids[keep]],
            flat.x_val[keep],
            (n_refs * CIDER_N, n_class),
        )
        self.ref_pair = local[flat.ref_pair[in_block]]
        self.single_ref = n_refs == nb and bool(np.all(self.ref_pair == np.arange(nb)))
        self.penalty = flat.penalty[in_block]
        self.n_refs_of = np.bincount(self.ref_pair, minlength=nb).astype(np.float64)
        # log(max(1, df)) for every possible document frequency (df <= corpus size).
        self._log_df = np.array([np.log(max(1.0, float(d))) for d in range(0, 1 << 10)])

    def _log_table(self, top: int) -> np.ndarray:
        if top >= len(self._log_df):
            self._log_df = np.array([np.log(max(1.0, float(d))) for d in range(0, 2 * top + 2)])
        return self._log_df

    def pair_scores(self, weights: np.ndarray) -> np.ndarray:
        """(pairs, corpora) CIDEr of every pair in each weighted corpus; `weights` (corpora, pairs)."""
        with np.errstate(divide="ignore", invalid="ignore"):  # a corpus without these pairs: NaN
            return self._pair_scores(np.asarray(weights, dtype=np.float64))

    def _pair_scores(self, w: np.ndarray) -> np.ndarray:
        n_corpora = w.shape[0]
        size = w.sum(1)
        log_n = np.log(size)  # ref_len = np.log(float(n_pairs)), as the library
        df = np.rint(self.df @ np.ascontiguousarray(w.T)).astype(np.int64)  # (classes, corpora)
        idf = log_n[None, :] - self._log_table(int(size.max(initial=0)))[df]
        idf2 = idf * idf
        hh = self.hh @ idf2 + self.hh_const[:, None] * (log_n * log_n)[None, :]
        rr = self.rr @ idf2
        hr = self.hr @ idf2
        norm_h = np.sqrt(hh).reshape(self.n, CIDER_N, n_corpora)
        norm_r = np.sqrt(rr).reshape(-1, CIDER_N, n_corpora)
        if not self.single_ref:
            norm_h = norm_h[self.ref_pair]
        hr = hr.reshape(-1, CIDER_N, n_corpora)
        den = norm_h * norm_r
        val = np.divide(hr, den, out=hr.copy(), where=den != 0)  # 0 when either vector is 0 (hr is 0 too)
        val *= self.penalty[:, None, None]
        if self.single_ref:
            per = val
        else:
            per = np.zeros((self.n, CIDER_N, n_corpora))
            np.add.at(per, self.ref_pair, val)
        return per.mean(1) / self.n_refs_of[:, None] * 10.0

    def corpus_scores(self, weights: np.ndarray) -> np.ndarray:
        """(corpora,) CIDEr of each weighted corpus (NaN for an empty one)."""
        w = np.asarray(weights, dtype=np.float64)
        each = self.pair_scores(w)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.einsum("ij,ji->i", w, each) / w.sum(1)


def _csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> sparse.csr_matrix:
    m = sparse.coo_matrix((np.asarray(vals, np.float64), (rows, cols)), shape=shape)
    return m.tocsr()  # duplicates (n-grams of one class) summed: integer counts, exact
