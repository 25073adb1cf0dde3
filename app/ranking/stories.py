"""One story, one slot (SPEC §7 rule 3): group a week's posts into the events they report.

How (measured on labelled real headlines in `bench/story_quality.py`; README "Story clustering"):

1. Each title loses its wire clutter and is read as stemmed words and canonical quantities
   (`headlines`). Posts whose titles read identically, or whose long summaries do, are copies
   of one text (syndication) and enter as one node.
2. A node is a TF-IDF vector of its title words plus its summary's words at a lower weight, fitted
   on the week itself: a word most posts use says little, a name few posts share says a lot.
3. Candidate pairs share a word that is rare in the week (a sparse product over rare columns,
   `similarity`); their exact cosine decides. Pairs far apart in time, or whose titles state
   different numbers of one kind ("9GW" / "5GW") or opposite actions ("approves" / "cancels"),
   are never linked (`vetoes`).
4. Links are taken strongest first; two groups join only while the average similarity over all
   their pairs stays high (average link), so one loose pair cannot chain two stories together.
5. Groups whose centroids are alike join too (a story told over days in drifting words), unless
   a vetoed pair lies between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from app.ranking.headlines import Reading, forget_words, read_headline, strip_wire_clutter
from app.ranking.similarity import candidate_pairs
from app.ranking.vetoes import vetoes

# A summary says more than a title but less precisely: its words count at this share of a title's.
SUMMARY_WEIGHT = 0.5
SUMMARY_CHARS = 400  # the lead is what tells the event; the rest drifts into background
# Cosine at or above which a pair is linked, and average cosine two groups need to join.
LINK_SIMILARITY = 0.2
GROUP_SIMILARITY = 0.15
# One outlet covers one event with one post, or with updates that share most words; two of its
# posts that merely share a topic ("heat pump") are two stories, so its own pairs need more.
SAME_SOURCE_SIMILARITY = 0.4
# Groups of at least two posts whose centroids are this alike join (no vetoed pair between):
# coverage that runs for days drifts in wording, but its vocabulary as a whole stays. Measured on
# the four labelled sets: 0.4 lifts Google News recall 0.31 -> 0.52 with precision unchanged;
# 0.35 starts merging neighbouring stories (bench/story_quality.py).
CENTROID_SIMILARITY = 0.4
# Coverage of one event rarely runs longer than this; a later post with the same words is news.
STORY_WINDOW = timedelta(days=3)
# A summary at least this many words long that two posts share word for word is one wire text.
COPY_SUMMARY_WORDS = 8
COPY_LEAD_WORDS = 12  # same title and the same first words of the summary: one text


class Headline(NamedTuple):
    """A post as story matching sees it; `published_at` must be timezone-aware."""

    id: int
    title: str
    summary: str
    source: str
    published_at: datetime


@dataclass(frozen=True)
class Stories:
    """Per input post: the story it belongs to, the group of copies of one text it is in, and
    how typical of its story it is (a post that tells the story the way the others do).

    Labels are the index of the first post of the story (or copy group) in the input.
    """

    story: list[int]
    copies: list[int]
    centrality: list[float]  # mean likeness to the rest of its story: 0 alone, near 1 typical


_read = lru_cache(maxsize=200_000)(read_headline)


@lru_cache(maxsize=200_000)
def _read_title(title: str, source: str) -> Reading:
    return _read(strip_wire_clutter(title, source))


def _read_summary(summary: str) -> Reading:
    return _read(summary[:SUMMARY_CHARS])


class _Groups:
    """Union-find over indices with group sizes."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra


def _copy_groups(titles: list[Reading], summaries: list[Reading]) -> _Groups:
    """Posts with one title and lead, or one long summary, are copies of one text.

    One title alone is not enough: outlets that write their own piece sometimes land on the
    same plain headline ("Amazon deforestation falls to lowest level in a decade"); a wire copy
    keeps the lead too.
    """
    groups = _Groups(len(titles))
    first: dict[tuple, int] = {}
    for i, (title, summary) in enumerate(zip(titles, summaries, strict=True)):
        lead = summary.tokens[:COPY_LEAD_WORDS]
        keys = [("t", title.tokens, lead)] if title.tokens else []
        if len(summary.tokens) >= COPY_SUMMARY_WORDS:
            keys.append(("s", summary.tokens))
        for key in keys:
            if key in first:
                groups.union(first[key], i)
            else:
                first[key] = i
    return groups


def _vectors(
    titles: list[list[str]], summaries: list[list[str]]
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Row-normalised TF-IDF of title words plus SUMMARY_WEIGHT × summary words (one vocabulary),
    and which words each title has (1/0)."""
    if not any(titles) and not any(summaries):  # only empty or punctuation titles: no words
        empty = sparse.csr_matrix((len(titles), 0), dtype=np.float32)
        return empty, empty
    vectorizer = TfidfVectorizer(
        analyzer=lambda tokens: tokens, sublinear_tf=True, norm=None, dtype=np.float32
    )
    both = vectorizer.fit_transform(titles + summaries).tocsr()  # one pass over the tokens
    title_matrix, summary_matrix = both[: len(titles)], both[len(titles) :]
    matrix = title_matrix + SUMMARY_WEIGHT * summary_matrix
    words = title_matrix.copy()
    words.data[:] = 1.0
    return normalize(matrix.tocsr(), norm="l2", copy=False), words


def _merge(n: int, pairs: list[tuple[int, int, float]], vetoed: list[tuple[int, int]]) -> _Groups:
    """Average-link merging over pairs sorted strongest first; vetoed pairs never share a group.

    `between[g][h]` is the sum of similarities across groups g and h, kept up to date as groups
    merge, so the average link of any two groups costs one look-up.
    """
    between: dict[int, dict[int, float]] = {}
    for a, b, similarity in pairs:
        between.setdefault(a, {})[b] = similarity
        between.setdefault(b, {})[a] = similarity
    # Per group root: the posts no member of the group may share a story with.
    barred: dict[int, set[int]] = {}
    for a, b in vetoed:
        barred.setdefault(a, set()).add(b)
        barred.setdefault(b, set()).add(a)
    groups = _Groups(n)
    find = groups.find
    members: dict[int, list[int]] = {}
    for a, b, _similarity in pairs:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        left, right = members.get(ra, [ra]), members.get(rb, [rb])
        if between[ra][rb] / (len(left) * len(right)) < GROUP_SIMILARITY:
            continue
        left_bars, right_bars = barred.get(ra, set()), barred.get(rb, set())
        if len(right) <= len(left):
            clash = any(m in left_bars for m in right)
        else:
            clash = any(m in right_bars for m in left)
        if clash:
            continue
        root = groups.union(ra, rb)
        gone = rb if root == ra else ra
        members[root] = left + right
        members.pop(gone, None)
        if left_bars or right_bars:
            bigger, smaller = sorted((left_bars, right_bars), key=len, reverse=True)
            bigger |= smaller
            barred[root] = bigger
            barred.pop(gone, None)
        kept, moved = between[root], between.pop(gone)
        del kept[gone]
        for other, total in moved.items():
            if other == root:
                continue
            kept[other] = kept.get(other, 0.0) + total
            row = between[other]
            row[root] = row.get(root, 0.0) + row.pop(gone)
    return groups


def _merge_centroids(
    groups: _Groups, vectors: sparse.csr_matrix, barred: list[tuple[int, int]], times: np.ndarray
) -> None:
    """Join whole groups whose centroids are alike: a long-running story told in drifting words."""
    n = vectors.shape[0]
    roots = np.array([groups.find(i) for i in range(n)], dtype=np.int64)
    labels, inverse = np.unique(roots, return_inverse=True)
    sizes = np.bincount(inverse)
    multi = np.flatnonzero(sizes >= 2)
    if len(multi) < 2 or vectors.shape[1] == 0:
        return
    # Only groups of two or more: a lone post has no centroid beyond its own words.
    rows_of = np.flatnonzero(np.isin(inverse, multi))
    position = np.full(len(labels), -1)
    position[multi] = np.arange(len(multi))
    member = sparse.csr_matrix(
        (np.ones(len(rows_of), dtype=np.float32), (position[inverse[rows_of]], rows_of)),
        shape=(len(multi), n),
    )
    centroids = normalize(member @ vectors, norm="l2")
    a, b, similarity = candidate_pairs(centroids, CENTROID_SIMILARITY)
    start = np.full(len(multi), np.inf)
    np.minimum.at(start, position[inverse[rows_of]], times[rows_of])
    near = np.abs(start[a] - start[b]) <= STORY_WINDOW.total_seconds()
    a, b, similarity = a[near], b[near], similarity[near]
    barred_groups = {(position[inverse[x]], position[inverse[y]]) for x, y in barred}
    for k in np.argsort(-similarity, kind="stable").tolist():
        ga, gb = int(a[k]), int(b[k])
        if (ga, gb) in barred_groups or (gb, ga) in barred_groups:
            continue
        groups.union(int(labels[multi[ga]]), int(labels[multi[gb]]))


def group_stories(posts: Sequence[Headline]) -> Stories:
    """Which posts report one event (`story`) and which are copies of one text (`copies`)."""
    if not posts:
        return Stories([], [], [])
    titles = [_read_title(p.title, p.source) for p in posts]
    summaries = [_read_summary(p.summary) for p in posts]
    copy_groups = _copy_groups(titles, summaries)
    roots_of_copies = np.array([copy_groups.find(i) for i in range(len(posts))], dtype=np.int64)
    # One node per copy group: its first post speaks for it; its time is the group's first.
    _, leaders, node_of = np.unique(roots_of_copies, return_index=True, return_inverse=True)
    node_of = node_of.reshape(-1)
    published = np.array([p.published_at.timestamp() for p in posts])
    times = np.full(len(leaders), np.inf)
    np.minimum.at(times, node_of, published)
    leader_list = leaders.tolist()
    vectors, words = _vectors(
        [list(titles[i].tokens) for i in leader_list],
        [list(summaries[i].tokens) for i in leader_list],
    )
    rows, cols, cosines = candidate_pairs(vectors, LINK_SIMILARITY)
    near = np.abs(times[rows] - times[cols]) <= STORY_WINDOW.total_seconds()
    rows, cols, cosines = rows[near], cols[near], cosines[near]
    codes: dict[str, int] = {"": -1}
    outlet = np.array(
        [codes.setdefault(posts[i].source.strip().casefold(), len(codes)) for i in leader_list],
        dtype=np.int64,
    )
    same_outlet = (outlet[rows] == outlet[cols]) & (outlet[rows] >= 0)
    keep = ~same_outlet | (cosines >= SAME_SOURCE_SIMILARITY)
    rows, cols, cosines = rows[keep], cols[keep], cosines[keep]
    vetoed = vetoes(
        rows, cols, words, [titles[i] for i in leader_list], [summaries[i] for i in leader_list]
    )
    order = np.argsort(-cosines[~vetoed], kind="stable")
    link_rows, link_cols = rows[~vetoed][order], cols[~vetoed][order]
    link_cosines = cosines[~vetoed][order]
    pairs = list(zip(link_rows.tolist(), link_cols.tolist(), link_cosines.tolist(), strict=True))
    barred = list(zip(rows[vetoed].tolist(), cols[vetoed].tolist(), strict=True))
    merged = _merge(len(leaders), pairs, barred)
    _merge_centroids(merged, vectors, barred, times)
    roots = np.array([merged.find(node) for node in range(len(leaders))], dtype=np.int64)
    # How typical each node is of its story: its mean similarity to the story's other nodes.
    inside = roots[link_rows] == roots[link_cols]
    likeness = np.zeros(len(leaders))
    np.add.at(likeness, link_rows[inside], link_cosines[inside])
    np.add.at(likeness, link_cols[inside], link_cosines[inside])
    nodes_in_story = np.bincount(roots, minlength=len(leaders))
    centrality = likeness / np.maximum(nodes_in_story[roots] - 1, 1)
    post_roots = roots[node_of]
    # Labels: the index of the first post of each story and of each copy group.
    _, first_post, story_index = np.unique(post_roots, return_index=True, return_inverse=True)
    _, first_copy, copy_index = np.unique(roots_of_copies, return_index=True, return_inverse=True)
    return Stories(
        first_post[story_index.reshape(-1)].tolist(),
        first_copy[copy_index.reshape(-1)].tolist(),
        centrality[node_of].tolist(),
    )


def clear_caches() -> None:
    """Forget every headline read so far, so a benchmark times a week read from scratch."""
    _read.cache_clear()
    _read_title.cache_clear()
    forget_words()


def headline_words(post: Headline) -> frozenset[str]:
    """The tokens (`headlines`) of a post's title and lead, as story matching read them."""
    return frozenset(_read_title(post.title, post.source).tokens) | frozenset(
        _read_summary(post.summary).tokens
    )


def cluster_stories(posts: Sequence[Headline]) -> list[int]:
    """A story label per post (equal labels = one event), in input order."""
    return group_stories(posts).story


def same_story(first: str, second: str, *, summaries: tuple[str, str] = ("", "")) -> bool:
    """Whether two headlines (published together) report one event."""
    moment = datetime.fromisoformat("2026-01-05T00:00:00+00:00")
    pair = [
        Headline(0, first, summaries[0], "", moment),
        Headline(1, second, summaries[1], "", moment),
    ]
    labels = cluster_stories(pair)
    return labels[0] == labels[1]
