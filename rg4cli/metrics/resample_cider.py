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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from rg4cli.metrics.nlg import CIDER_N, CIDER_SIGMA


class CiderBlock:
    """The CIDEr sums of one block of pairs (all pairs, or one setting's) as sparse matrices."""

    def __init__(self, pairs: Sequence) -> None:
        nb = len(pairs)
        self.n = nb
        # Which pairs' references hold each n-gram id: one class per distinct set of pairs.
        rows = np.repeat(np.arange(nb), [len(p.ref_ngrams) for p in pairs]) if nb else np.zeros(0, np.int64)
        cols = np.concatenate([p.ref_ngrams for p in pairs]) if nb else np.zeros(0, np.int64)
        size = int(max([cols.max(initial=-1)] + [int(p.hyp.ids.max(initial=-1)) for p in pairs])) + 1
        owners = sparse.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(nb, size))
        owners.sort_indices()
        klass = np.full(size, -1, dtype=np.int64)
        keys: dict[bytes, int] = {}
        members: list[np.ndarray] = []
        ptr, ind = owners.indptr, owners.indices
        for c in np.flatnonzero(np.diff(ptr)):
            who = ind[ptr[c] : ptr[c + 1]]
            k = keys.setdefault(who.tobytes(), len(keys))
            if k == len(members):
                members.append(who)
            klass[c] = k
        n_class = len(members)
        self.n_class = n_class
        # Document frequency of each class in a weighted corpus: owners_of_class @ weights.
        self.df = sparse.csr_matrix(
            (
                np.ones(sum(map(len, members))),
                np.concatenate(members) if members else np.zeros(0, np.int64),
                np.concatenate([[0], np.cumsum([len(m) for m in members])]).astype(np.int64),
            ),
            shape=(n_class, nb),
        )
        # hh: rows pair * CIDER_N + order.
        h_rows, h_cols, h_vals = [], [], []
        self.hh_const = np.zeros(nb * CIDER_N)
        for j, p in enumerate(pairs):
            k = klass[p.hyp.ids]
            row = j * CIDER_N + p.hyp.order
            known = k >= 0
            h_rows.append(row[known])
            h_cols.append(k[known])
            h_vals.append(p.hyp.tf[known] ** 2)
            np.add.at(self.hh_const, row[~known], p.hyp.tf[~known] ** 2)
        self.hh = _csr(h_rows, h_cols, h_vals, (nb * CIDER_N, n_class))
        # hr and rr: rows reference * CIDER_N + order, references numbered through the block.
        r_rows, r_cols, r_vals, x_rows, x_cols, x_vals = [], [], [], [], [], []
        ref_pair, deltas = [], []
        for j, p in enumerate(pairs):
            for ref, in_ref in zip(p.refs, p.in_refs):
                k = len(ref_pair)
                ref_pair.append(j)
                deltas.append(float(p.hyp.length - ref.length))
                r_rows.append(k * CIDER_N + ref.order)
                r_cols.append(klass[ref.ids])
                r_vals.append(ref.tf**2)
                shared = in_ref > 0
                x_rows.append(k * CIDER_N + p.hyp.order[shared])
                x_cols.append(klass[p.hyp.ids[shared]])
                x_vals.append(np.minimum(p.hyp.tf[shared], in_ref[shared]) * in_ref[shared])
        n_refs = len(ref_pair)
        self.rr = _csr(r_rows, r_cols, r_vals, (n_refs * CIDER_N, n_class))
        self.hr = _csr(x_rows, x_cols, x_vals, (n_refs * CIDER_N, n_class))
        self.ref_pair = np.array(ref_pair, dtype=np.int64)
        self.single_ref = n_refs == nb and bool(np.all(self.ref_pair == np.arange(nb)))
        self.penalty = np.array([np.e ** (-(d**2) / (2 * CIDER_SIGMA**2)) for d in deltas])
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


def _csr(rows: list, cols: list, vals: list, shape: tuple[int, int]) -> sparse.csr_matrix:
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    m = sparse.coo_matrix((cat(vals, np.float64), (cat(rows, np.int64), cat(cols, np.int64))), shape=shape)
    return m.tocsr()  # duplicates (n-grams of one class) summed: integer counts, exact
