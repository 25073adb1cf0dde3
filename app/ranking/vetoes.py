"""Vetoes of story matching (SPEC §7 rule 3): pairs that read alike but report different events.

Different numbers of one kind ("9GW" / "5GW"), opposite actions ("approves" / "cancels"),
different countries, or one sentence with a name or subject swapped.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from app.ranking.headlines import (
    ACTION_KINDS,
    OPPOSITE_ACTION,
    Reading,
    markers_conflict,
)
from app.ranking.quantities import quantities_conflict
from app.ranking.similarity import pair_dot

# Titles that share at least 3 words and differ in exactly one on each side are one sentence
# with a slot filled differently; a name or subject in that slot ("Spain/Chile approves solar
# subsidy", "solar/wind record") makes another story. Looser frames are paraphrases, whose
# outlets name people and places differently all the time (bench/story_quality.py).
SAME_FRAME_SHARED, SAME_FRAME_SLOTS = 3, 1
_ACTION_BIT = {kind: 1 << bit for bit, kind in enumerate(ACTION_KINDS)}


def _action_bits(reading: Reading) -> tuple[int, int]:
    """The headline's action kinds as bits, and the bits of their opposites."""
    bits = opposite = 0
    for kind in reading.actions:
        bits |= _ACTION_BIT[kind]
        opposite |= _ACTION_BIT[OPPOSITE_ACTION[kind]]
    return bits, opposite


def vetoes(
    rows: np.ndarray,
    cols: np.ndarray,
    words: sparse.csr_matrix,
    titles: list[Reading],
    summaries: list[Reading],
) -> np.ndarray:
    """Which candidate pairs report different events however alike they read (SPEC §7 rule 3):
    different numbers of one kind, opposite actions, different countries, or one sentence with
    a name or subject swapped. Cheap tests run on whole arrays; Python sees the few left."""
    vetoed = np.zeros(len(rows), dtype=bool)
    if not len(rows):
        return vetoed
    bits = np.array([_action_bits(t) for t in titles], dtype=np.int64).reshape(-1, 2)
    a_bits, a_opp, b_bits, b_opp = bits[rows, 0], bits[rows, 1], bits[cols, 0], bits[cols, 1]
    vetoed |= (a_bits & ~b_bits & b_opp & ~a_opp) != 0
    vetoed |= (b_bits & ~a_bits & a_opp & ~b_opp) != 0
    title_places, any_places = _place_matrix(titles, summaries)
    has_place = np.asarray(title_places.sum(axis=1)).ravel() > 0
    both = has_place[rows] & has_place[cols]
    if both.any():
        r, c = rows[both], cols[both]
        apart = (pair_dot(title_places, r, c, any_places) == 0) & (
            pair_dot(title_places, c, r, any_places) == 0
        )
        vetoed[np.flatnonzero(both)[apart]] = True
    numbered = np.array([bool(t.quantities) for t in titles], dtype=bool)
    for k in np.flatnonzero(numbered[rows] & numbered[cols] & ~vetoed).tolist():
        a, b = titles[rows[k]], titles[cols[k]]
        vetoed[k] = quantities_conflict(a.quantities, b.quantities)
    sizes = np.asarray(words.sum(axis=1)).ravel()
    shared = pair_dot(words, rows, cols)
    frame = (
        (shared >= SAME_FRAME_SHARED)
        & (sizes[rows] - shared == SAME_FRAME_SLOTS)
        & (sizes[cols] - shared == SAME_FRAME_SLOTS)
        & ~vetoed
    )
    for k in np.flatnonzero(frame).tolist():
        a, b = int(rows[k]), int(cols[k])
        vetoed[k] = markers_conflict(titles[a], titles[b], also=(summaries[a], summaries[b]))
    return vetoed


def _place_matrix(
    titles: list[Reading], summaries: list[Reading]
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Countries of each title (1/0), and of its title or summary."""
    index: dict[str, int] = {}
    title_cells, any_cells = ([], []), ([], [])
    for row, (title, summary) in enumerate(zip(titles, summaries, strict=True)):
        for code in title.places:
            title_cells[0].append(row)
            title_cells[1].append(index.setdefault(code, len(index)))
        for code in title.places | summary.places:
            any_cells[0].append(row)
            any_cells[1].append(index.setdefault(code, len(index)))
    shape = (len(titles), max(len(index), 1))

    def matrix(cells: tuple[list[int], list[int]]) -> sparse.csr_matrix:
        ones = np.ones(len(cells[0]), dtype=np.float32)
        return sparse.csr_matrix((ones, cells), shape=shape)

    return matrix(title_cells), matrix(any_cells)
