"""Similar pairs among sparse row vectors: candidate pairs a rare shared word proposes, with
their exact cosine, and row-by-row dot products in slices small enough for a million pairs."""

from __future__ import annotations

import numpy as np
from scipy import sparse

# Words used by more than this share of the week's posts (and at least RARE_MIN_POSTS) are too
# common to propose a pair; they still count in the cosine of pairs a rarer word proposed.
RARE_SHARE, RARE_MIN_POSTS = 0.01, 60
DENSE_NODES = 3000  # below this many nodes the full similarity product is cheaper than pruning
_CHUNK_ROWS = 4096


def candidate_pairs(
    vectors: sparse.csr_matrix, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, cosine) for i < j with cosine ≥ `threshold`, proposed by a rare shared word."""
    n = vectors.shape[0]
    if n < 2 or vectors.shape[1] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float32)
    if n <= DENSE_NODES:
        proposer = vectors
    else:
        df = np.bincount(vectors.indices, minlength=vectors.shape[1])
        rare = np.flatnonzero(df <= max(RARE_MIN_POSTS, RARE_SHARE * n))
        proposer = vectors[:, rare].tocsr()
    exact = proposer is vectors  # then the product is the cosine itself
    rows, cols, values = [], [], []
    transposed = proposer.T.tocsc()
    for start in range(0, n, _CHUNK_ROWS):
        product = (proposer[start : start + _CHUNK_ROWS] @ transposed).tocoo()
        keep = product.col > product.row + start
        keep &= product.data >= threshold if exact else product.data > 0
        rows.append(product.row[keep] + start)
        cols.append(product.col[keep])
        values.append(product.data[keep])
    i, j = np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)
    cosine = np.concatenate(values) if exact else pair_dot(vectors, i, j)
    keep = cosine >= threshold
    return i[keep], j[keep], cosine[keep]


def pair_dot(
    left: sparse.csr_matrix,
    rows: np.ndarray,
    cols: np.ndarray,
    right: sparse.csr_matrix | None = None,
) -> np.ndarray:
    """left[i] · right[j] (right defaults to left) for each pair, in slices so a million pairs
    stay small in memory."""
    right = left if right is None else right
    out = np.zeros(len(rows), dtype=np.float32)
    for start in range(0, len(rows), 200_000):
        part = slice(start, start + 200_000)
        out[part] = np.asarray(left[rows[part]].multiply(right[cols[part]]).sum(axis=1)).ravel()
    return out
