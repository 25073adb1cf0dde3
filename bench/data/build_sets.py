"""Rebuild the labelled story sets in bench/data/ from fetched copies of their public sources.

Each argument is the git directory of a fetched (bare) copy of the source repository; the files are
read with `git show HEAD:path`, so no work tree is needed; each set is built when its source is
given. See bench/data/README.md for what each source is, its citation and licence, and how weeks
and timestamps were formed.

    python bench/data/build_sets.py \
        --neus /path/HLTCHKUST+framing-bias-metric/repo \
        --fnc1 /path/FakeNewsChallenge+fnc-1/repo \
        --basil /path/launchnlp+BASIL/repo \
        --gsdmm /path/jackyin12+GSDMM/repo

Output (one JSON object per line): id, title, summary, source, published_at (ISO 8601 with
offset), story (a string label: equal = same event), batch (the "week" the bench clusters at once).
The output is deterministic: rerunning on the same sources gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUMMARY_CHARS = 400
NEUS_FILE = "data/raw_crawled/headline_11_2021-10-19_crawled_all.jsonl"
FNC1_FILE = "competition_test_stances.csv"
BASIL_SOURCES = {"fox": "Fox News", "nyt": "The New York Times", "hpo": "HuffPost"}
EMERGENT_BATCH_STORIES = 22  # stories per synthetic week of the Emergent set (110 stories)
GSDMM_TITLES, GSDMM_SNIPPETS = "data/T", "data/S"  # line i of each is one article; same clusters
# Two Google News clusters sharing at least this many identical articles (title and snippet) are
# one story listed twice (this happens twice: the IRS rule on tax-exempt groups, the NSA porn leak).
GOOGLENEWS_SHARED_TO_MERGE = 10
GOOGLENEWS_STORIES = 66  # whole stories kept (of 150), so the file stays under 2 MB
GOOGLENEWS_BATCH_STORIES = 33  # stories per synthetic week


def git_show(git_dir: str, path: str) -> str:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode("utf-8")


def git_ls(git_dir: str, prefix: str) -> list[str]:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", "HEAD", prefix],
        check=True,
        capture_output=True,
        text=True,
    )
    return sorted(out.stdout.split())


def git_head(git_dir: str) -> str:
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def rng_for(*key: object) -> random.Random:
    return random.Random("|".join(map(str, key)))


def write(name: str, rows: list[dict]) -> None:
    path = HERE / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, row in enumerate(rows, 1):
            row = {"id": i, **row}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    stories = len({r["story"] for r in rows})
    batches = len({r["batch"] for r in rows})
    print(
        f"{path.name}: {len(rows)} headlines, {stories} stories, {batches} batches, "
        f"{path.stat().st_size / 1024:.0f} KiB"
    )


def build_allsides(git_dir: str) -> list[dict]:
    """AllSides headline roundups as crawled for NeuS (Lee et al., NAACL 2022)."""
    stories = [json.loads(line) for line in git_show(git_dir, NEUS_FILE).splitlines() if line]
    # Two roundups that quote the very same headline report one event: give them one label.
    label: dict[int, int] = {s["id"]: s["id"] for s in stories}
    first_with_title: dict[str, int] = {}
    for s in sorted(stories, key=lambda s: s["date"]):
        for side in s["news"].values():
            other = first_with_title.setdefault(side["newsTitle"].strip(), s["id"])
            if other != s["id"]:
                label[s["id"]] = label[other]
    rows, seen = [], set()
    for s in sorted(stories, key=lambda s: (s["date"], s["id"])):
        # "Perspectives:" roundups gather opinion pieces on a theme, not reports of one event.
        if s["issue"].lower().startswith("perspectives") or len(s["news"]) < 2:
            continue
        roundup_at = datetime.fromisoformat(s["date"])
        year, week, _ = roundup_at.isocalendar()
        for side in ("left", "center", "right"):
            item = s["news"].get(side)
            if item is None or item["newsTitle"].strip() in seen:
                continue
            seen.add(item["newsTitle"].strip())
            # The data keeps only the roundup's time; articles appeared up to a day or so before it.
            before = timedelta(minutes=rng_for("allsides", s["id"], side).randint(0, 36 * 60))
            rows.append(
                {
                    "title": item["newsTitle"].strip(),
                    "summary": clip(" ".join(item.get("newBody") or [])[:2000]),
                    "source": item["newsSource"].strip(),
                    "published_at": (roundup_at - before).isoformat(),
                    "story": f"allsides-{label[s['id']]}",
                    "batch": f"{year}-W{week:02d}",
                }
            )
    return rows


def build_emergent(git_dir: str) -> list[dict]:
    """Emergent claims as the FNC-1 competition test set pairs headlines with article bodies."""
    table = list(csv.DictReader(io.StringIO(git_show(git_dir, FNC1_FILE))))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    # A headline and a body are "related" (agree/disagree/discuss) only when both come from
    # articles on one Emergent claim, so connected components of related pairs are the claims.
    for r in table:
        if r["Stance"] != "unrelated":
            parent[find("h:" + r["Headline"])] = find("b:" + r["Body ID"])
    claims: dict[str, list[str]] = defaultdict(list)
    for title in sorted({r["Headline"] for r in table if r["Stance"] != "unrelated"}):
        claims[find("h:" + title)].append(title)
    groups = sorted(claims.values(), key=lambda titles: titles[0])
    rng_for("emergent", "weeks").shuffle(groups)
    rows = []
    monday = datetime(2014, 9, 1, tzinfo=UTC)  # synthetic; the claims run from 2014 to 2017
    for n, titles in enumerate(groups):
        batch, _ = divmod(n, EMERGENT_BATCH_STORIES)
        week_start = monday + timedelta(weeks=batch)
        rng = rng_for("emergent", titles[0])
        breaks = week_start + timedelta(minutes=rng.randint(0, 5 * 24 * 60))
        for title in titles:
            at = breaks + timedelta(minutes=rng.randint(0, 48 * 60))
            rows.append(
                {
                    "title": " ".join(title.split()),
                    "summary": "",
                    "source": "",
                    "published_at": at.isoformat(),
                    "story": f"emergent-{n}",
                    "batch": f"synthetic-week-{batch + 1}",
                }
            )
    rows.sort(key=lambda r: (r["batch"], r["published_at"], r["title"]))
    return rows


def build_basil(git_dir: str) -> list[dict]:
    """BASIL (Fan et al., EMNLP 2019): one event each reported by Fox News, NYT and HuffPost."""
    rows = []
    for path in git_ls(git_dir, "articles"):
        if not path.endswith(".json"):
            continue
        doc = json.loads(git_show(git_dir, path))
        if not doc["title"].strip():
            continue  # one NYT article of the release has no title
        # The first "paragraph" repeats the title; the lead is the next one.
        paragraphs = [" ".join(p) for p in doc["body-paragraphs"]]
        first = next((p for p in paragraphs if p.strip() != doc["title"].strip()), "")
        # Dates only, and the three reports often share one: a time of day keeps them apart.
        day = datetime.fromisoformat(doc["date"]).replace(tzinfo=UTC)
        at = day + timedelta(minutes=rng_for("basil", doc["uuid"]).randint(6 * 60, 22 * 60))
        rows.append(
            {
                "title": " ".join(doc["title"].split()),
                "summary": clip(first),
                "source": BASIL_SOURCES[doc["source"].lower()],
                "published_at": at.isoformat(),
                "story": f"basil-{doc['triplet-uuid']}",
                "batch": doc["date"][:4],
            }
        )
    rows.sort(key=lambda r: (r["published_at"], r["title"]))
    return rows


def build_googlenews(git_dir: str) -> list[dict]:
    """Google News story clusters of 27 Nov 2013 (Yin & Wang, KDD 2014), as its authors released it.

    The released text is normalised by the authors (lower case, no stop words, digits or other
    non-Latin characters, WordNet-lemmatised, rare words dropped): not the headlines as published.
    """
    titles = [json.loads(line) for line in git_show(git_dir, GSDMM_TITLES).splitlines() if line]
    snippets = [json.loads(line) for line in git_show(git_dir, GSDMM_SNIPPETS).splitlines() if line]
    if len(titles) != len(snippets) or any(
        t["cluster"] != s["cluster"] for t, s in zip(titles, snippets, strict=True)
    ):
        raise SystemExit("GSDMM data/T and data/S are not line-aligned")
    articles = [
        (t["cluster"], " ".join(t["text"].split()), " ".join(s["text"].split()))
        for t, s in zip(titles, snippets, strict=True)
    ]
    clusters_of: dict[tuple[str, str], set[int]] = defaultdict(set)
    for cluster, title, snippet in articles:
        clusters_of[title, snippet].add(cluster)
    shared: Counter[tuple[int, int]] = Counter()
    for found in clusters_of.values():
        ordered = sorted(found)
        shared.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :])
    label = {cluster: cluster for cluster, _, _ in articles}
    for (a, b), n in sorted(shared.items()):
        if n >= GOOGLENEWS_SHARED_TO_MERGE:
            merged, into = label[b], label[a]
            label = {c: into if story == merged else story for c, story in label.items()}
    stories: dict[int, list[tuple[str, str]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for cluster, title, snippet in articles:
        # No title, or one article in two distinct stories (4 articles): there is no right answer.
        if not title or len({label[c] for c in clusters_of[title, snippet]}) > 1:
            continue
        if (title, snippet) not in seen:  # the same article listed twice in one story
            seen.add((title, snippet))
            stories[label[cluster]].append((title, snippet))
    order = sorted(stories)
    rng_for("googlenews", "stories").shuffle(order)
    rows = []
    monday = datetime(2013, 11, 25, tzinfo=UTC)  # synthetic; the snapshot is of 27 Nov 2013
    for n, story in enumerate(order[:GOOGLENEWS_STORIES]):
        batch, _ = divmod(n, GOOGLENEWS_BATCH_STORIES)
        week_start = monday + timedelta(weeks=batch)
        rng = rng_for("googlenews", story)
        breaks = week_start + timedelta(minutes=rng.randint(0, 5 * 24 * 60))
        for title, snippet in stories[story]:
            at = breaks + timedelta(minutes=rng.randint(0, 48 * 60))
            rows.append(
                {
                    "title": title,
                    "summary": clip(snippet),
                    "source": "",
                    "published_at": at.isoformat(),
                    "story": f"googlenews-{story}",
                    "batch": f"synthetic-week-{batch + 1}",
                }
            )
    rows.sort(key=lambda r: (r["batch"], r["published_at"], r["title"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neus", help="git dir of HLTCHKUST/framing-bias-metric")
    parser.add_argument("--fnc1", help="git dir of FakeNewsChallenge/fnc-1")
    parser.add_argument("--basil", help="git dir of launchnlp/BASIL")
    parser.add_argument("--gsdmm", help="git dir of jackyin12/GSDMM")
    args = parser.parse_args()
    builds = (
        ("allsides", "neus", build_allsides),
        ("emergent", "fnc1", build_emergent),
        ("basil", "basil", build_basil),
        ("googlenews", "gsdmm", build_googlenews),
    )
    if not any(getattr(args, source) for _, source, _ in builds):
        parser.error("give the git dir of at least one source")
    for name, source, build in builds:
        git_dir = getattr(args, source)
        if git_dir:
            print(f"{source}: HEAD {git_head(git_dir)}")
            write(name, build(git_dir))


if __name__ == "__main__":
    main()
