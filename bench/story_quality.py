"""Story clustering quality on real, labelled headlines: pairwise and B-cubed P/R/F1.

Every headline here was written by a news outlet and every label by people (researchers or
AllSides editors) saying which headlines report one event. Nothing is simulated except, where the
source lacks them, timestamps (see bench/data/README.md, which also gives licences and how each
file was derived by bench/data/build_sets.py):

allsides  AllSides headline roundups (Apr-Oct 2021): one event reported by a left-, a centre- and
          a right-rated outlet, with each article's lead as summary, as crawled for NeuS: Lee,
          Bang, Yu, Madotto, Fung, "NeuS: Neutral Multi-News Summarization for Mitigating Framing
          Bias", NAACL 2022; github.com/HLTCHKUST/framing-bias-metric. Batches: ISO weeks.
emergent  Emergent claims (Ferreira & Vlachos, "Emergent: a novel data-set for stance
          classification", NAACL 2016) as used by the Fake News Challenge FNC-1 competition test
          set (github.com/FakeNewsChallenge/fnc-1): many outlets' headlines on one rumour. Titles
          only, no sources; the weeks and times are synthetic (22 claims per week).
basil     BASIL (Fan et al., "In Plain Sight: Media Bias Through the Lens of Factual Reporting",
          EMNLP 2019; github.com/launchnlp/BASIL): 100 events, each reported by Fox News, The New
          York Times and HuffPost, 2010-2019. Batches: calendar years (10 events each).
googlenews Google News story clusters of 27 Nov 2013 (Yin & Wang, "A Dirichlet Multinomial Mixture
          Model-based Approach for Short Text Clustering", KDD 2014; github.com/jackyin12/GSDMM):
          66 of its stories, titles with snippets as summary. The text is as the authors released
          it, normalised (lower case, no stop words or digits, lemmatised), not as published; the
          labels are Google's clustering. No sources; weeks and times are synthetic (33 stories).

A clusterer sees one batch (a "week") at a time and returns a label per headline. Pairs are only
ever formed inside a batch. Metrics, from the contingency table of (gold story, predicted label):

pairwise  P = same-story pairs put together / all pairs put together; R = same-story pairs put
          together / all same-story pairs. With no pair put together P is 1 (nothing merged
          wrongly); with no same-story pair R is 1.
bcubed    per headline, P = share of its predicted cluster that is its story, R = share of its
          story that is in its predicted cluster; both averaged over headlines.

A set's figures pool all its batches (pairs and headlines summed). The summary line is the mean of
the per-set P and R (each set weighs the same, whatever its size), F1 from those two means.

Methods: `ours` = app.ranking.stories.cluster_stories; `exact` = same title once casefolded with
punctuation and extra spaces dropped; `fuzzy` = the old behaviour: rapidfuzz token_sort_ratio
(with rapidfuzz's default_process: lower case, non-alphanumerics dropped) >= 85, single link.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parent / "data"
SETS = ("allsides", "emergent", "basil", "googlenews")
TARGET_F1, TARGET_P = 0.85, 0.90
FUZZY_CUTOFF = 85.0


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled headline; `story` is the gold label, `batch` the week it is clustered in."""

    id: int
    title: str
    summary: str
    source: str
    published_at: datetime
    story: str
    batch: str


def load_set(name: str) -> list[Item]:
    items = []
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            items.append(
                Item(
                    id=row["id"],
                    title=row["title"],
                    summary=row["summary"],
                    source=row["source"],
                    published_at=datetime.fromisoformat(row["published_at"]),
                    story=row["story"],
                    batch=row["batch"],
                )
            )
    return items


# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    """Additive tallies from which both metric families follow (sum them over batches)."""

    items: int = 0
    pairs_together: int = 0  # same story and same predicted label
    pairs_predicted: int = 0  # same predicted label
    pairs_gold: int = 0  # same story
    bcubed_p: float = 0.0  # sum over headlines of their B-cubed precision
    bcubed_r: float = 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.items + other.items,
            self.pairs_together + other.pairs_together,
            self.pairs_predicted + other.pairs_predicted,
            self.pairs_gold + other.pairs_gold,
            self.bcubed_p + other.bcubed_p,
            self.bcubed_r + other.bcubed_r,
        )


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def contingency_counts(gold: Sequence[object], predicted: Sequence[object]) -> Counts:
    """Tallies for one batch from its contingency table: O(n), no loop over pairs."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predicted")
    cells = Counter(zip(gold, predicted, strict=True))
    gold_sizes, predicted_sizes = Counter(gold), Counter(predicted)
    return Counts(
        items=len(gold),
        pairs_together=sum(_pairs(n) for n in cells.values()),
        pairs_predicted=sum(_pairs(n) for n in predicted_sizes.values()),
        pairs_gold=sum(_pairs(n) for n in gold_sizes.values()),
        # Each of the n headlines of a cell shares n of its cluster's members with its story.
        bcubed_p=sum(n * n / predicted_sizes[p] for (_, p), n in cells.items()),
        bcubed_r=sum(n * n / gold_sizes[g] for (g, _), n in cells.items()),
    )


def f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


def pairwise_prf(counts: Counts) -> tuple[float, float, float]:
    p = counts.pairs_together / counts.pairs_predicted if counts.pairs_predicted else 1.0
    r = counts.pairs_together / counts.pairs_gold if counts.pairs_gold else 1.0
    return p, r, f1(p, r)


def bcubed_prf(counts: Counts) -> tuple[float, float, float]:
    if not counts.items:
        return 1.0, 1.0, 1.0
    p, r = counts.bcubed_p / counts.items, counts.bcubed_r / counts.items
    return p, r, f1(p, r)


def pairwise_scores(gold: Sequence[object], predicted: Sequence[object]) -> tuple[float, ...]:
    """(P, R, F1) over pairs for one clustering of one batch."""
    return pairwise_prf(contingency_counts(gold, predicted))


def bcubed_scores(gold: Sequence[object], predicted: Sequence[object]) -> tuple[float, ...]:
    """(P, R, F1) B-cubed for one clustering of one batch."""
    return bcubed_prf(contingency_counts(gold, predicted))


# --- methods ------------------------------------------------------------------------------------

Clusterer = Callable[[Sequence[Item]], list[int]]
_NOT_WORD = re.compile(r"[\W_]+")


def normalise_title(title: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", title.casefold()).split())


def cluster_exact(items: Sequence[Item]) -> list[int]:
    first: dict[str, int] = {}
    # A title with no word left is its own story, never one with every other such title.
    keys = [normalise_title(it.title) or f"\0{i}" for i, it in enumerate(items)]
    return [first.setdefault(key, i) for i, key in enumerate(keys)]


def cluster_fuzzy(items: Sequence[Item]) -> list[int]:
    import numpy as np
    from rapidfuzz import fuzz, process
    from rapidfuzz.utils import default_process

    titles = [it.title for it in items]
    scores = process.cdist(
        titles,
        titles,
        scorer=fuzz.token_sort_ratio,
        processor=default_process,
        score_cutoff=FUZZY_CUTOFF,
        dtype=np.uint8,
    )
    parent = list(range(len(items)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in zip(*np.nonzero(np.triu(scores, k=1)), strict=True):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(items))]


def cluster_ours(items: Sequence[Item]) -> list[int]:
    from app.ranking.stories import Headline, cluster_stories

    posts = [Headline(it.id, it.title, it.summary, it.source, it.published_at) for it in items]
    return list(cluster_stories(posts))


METHODS: dict[str, Clusterer] = {
    "ours": cluster_ours,
    "exact": cluster_exact,
    "fuzzy": cluster_fuzzy,
}


# --- running ------------------------------------------------------------------------------------


@dataclass
class SetResult:
    name: str
    counts: Counts
    stories: int
    batches: int
    seconds: float
    clustered: list[tuple[list[Item], list[int]]]  # per batch: its items and predicted labels


def batches_of(items: Sequence[Item]) -> dict[str, list[Item]]:
    batches: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        batches[it.batch].append(it)
    return dict(sorted(batches.items()))


def run_set(name: str, method: Clusterer) -> SetResult:
    items = load_set(name)
    counts, clustered, seconds = Counts(), [], 0.0
    for batch, members in batches_of(items).items():
        start = time.perf_counter()
        labels = method(members)
        seconds += time.perf_counter() - start
        if len(labels) != len(members):
            raise SystemExit(f"{name} {batch}: {len(members)} headlines, {len(labels)} labels")
        counts += contingency_counts([it.story for it in members], labels)
        clustered.append((members, list(labels)))
    stories = len({it.story for it in items})
    return SetResult(name, counts, stories, len(clustered), seconds, clustered)


def _fmt(kind: str, prf: tuple[float, ...]) -> str:
    return f"{kind} P={prf[0]:.3f} R={prf[1]:.3f} F1={prf[2]:.3f}"


def show_errors(results: list[SetResult], n: int, seed: int = 0) -> None:
    """Print n sampled false merges and n sampled misses (pairs of headlines), for reading."""
    merges, misses = [], []
    for res in results:
        for members, labels in res.clustered:
            by_label: dict[int, list[int]] = defaultdict(list)
            by_story: dict[str, list[int]] = defaultdict(list)
            for i, (it, label) in enumerate(zip(members, labels, strict=True)):
                by_label[label].append(i)
                by_story[it.story].append(i)
            for group in by_label.values():
                for x, a in enumerate(group):
                    merges += [
                        (res.name, members[a], members[b])
                        for b in group[x + 1 :]
                        if members[a].story != members[b].story
                    ]
            for group in by_story.values():
                for x, a in enumerate(group):
                    misses += [
                        (res.name, members[a], members[b])
                        for b in group[x + 1 :]
                        if labels[a] != labels[b]
                    ]
    rng = random.Random(seed)
    for title, pairs in (
        ("false merges (put together, different stories)", merges),
        ("misses (same story, kept apart)", misses),
    ):
        print(f"\n{title}: showing {min(n, len(pairs))} of {len(pairs)}")
        for name, a, b in rng.sample(pairs, min(n, len(pairs))):
            print(f"  [{name} {a.batch}]")
            for it in (a, b):
                source = f"{it.source}, " if it.source else ""
                print(f"    {it.title!r}  ({source}{it.published_at:%Y-%m-%d %H:%M}; {it.story})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", choices=sorted(METHODS), default="ours")
    parser.add_argument(
        "--set",
        action="append",
        choices=SETS,
        dest="sets",
        help="restrict to this set (repeatable); default: all",
    )
    parser.add_argument(
        "--show",
        type=int,
        default=0,
        metavar="N",
        help="print N false merges and N misses, sampled",
    )
    args = parser.parse_args()
    method = METHODS[args.method]
    if args.method == "ours":
        try:
            from app.ranking.stories import Headline, cluster_stories  # noqa: F401
        except ImportError as exc:
            raise SystemExit(f"--method ours needs cluster_stories: {exc}") from exc

    results = [run_set(name, method) for name in (args.sets or SETS)]
    for res in results:
        c = res.counts
        print(
            f"{res.name:<9} n={c.items} stories={res.stories} batches={res.batches} | "
            f"{_fmt('pairwise', pairwise_prf(c))} | {_fmt('bcubed', bcubed_prf(c))} | "
            f"{res.seconds:.2f}s"
        )
    summary = []
    for prf in (pairwise_prf, bcubed_prf):
        scores = [prf(res.counts) for res in results]
        p = sum(s[0] for s in scores) / len(scores)
        r = sum(s[1] for s in scores) / len(scores)
        summary.append((p, r, f1(p, r)))
    (pp, pr, pf), bcubed = summary
    meets = "meets" if pf >= TARGET_F1 and pp >= TARGET_P else "misses"
    print(
        f"story_quality: pairwise P={pp:.2f} R={pr:.2f} F1={pf:.2f} "
        f"(target F1>={TARGET_F1:.2f}, P>={TARGET_P:.2f}: {meets}) | "
        f"bcubed P={bcubed[0]:.2f} R={bcubed[1]:.2f} F1={bcubed[2]:.2f} | "
        f"method={args.method} sets={','.join(r.name for r in results)} (mean of sets)"
    )
    if args.show:
        show_errors(results, args.show)


if __name__ == "__main__":
    main()
