"""Section assignment quality on real posts with the outlets' own tags: P/R/F1 per section.

Data: `bench/data/sections.jsonl`, 1,545 energy/climate news items as published in three outlets'
RSS feeds in 2020-21, each with the category tags *the outlet* gave it, collected by the scraper of
OSUKED/Energy-News (https://github.com/OSUKED/Energy-News, history walked by
`bench/data/build_sections.py`; the repository states no licence, the items are third-party
headlines and short leads: research use, do not redistribute further):

greentechmedia  326 items of Greentech Media (Nov 2020-Jul 2021): headline, feed lead (~250 chars),
                GTM's category taxonomy (Solar, Wind, Grid Edge, Energy Storage, Electric
                Vehicles, Policy, Utilities, …; generous: an item often carries 5-20 tags).
guardian        219 items of The Guardian's energy-industry feed (Oct 2020-Jul 2021): headline,
                lead, the Guardian's keyword tags (Wind power, Solar power, Utilities, …).
renews          1,000 of ~2,700 reNEWS headlines (Nov 2020-Jul 2021; a fixed hash-ordered
                subset): headline only (the feed's lead is the headline), reNEWS section/tag
                (Offshore Wind, Onshore Wind, Solar, Energy Storage, Other news, plus company
                and country tags).

Gold sections: the outlet's tags mapped through TAG_SECTIONS below, a table fixed before the bench
was first run (not changed after seeing results, except that tags are now compared ignoring case:
reNEWS also writes "onshore wind", "Offshore wind", which the first run missed). A tag not in the
table maps to no section.
Choices:

- GTM "Grid Edge" is a vertical spanning EVs, storage, smart homes and demand response: it maps to
  nothing; its grid-specific children (Grid Optimization, Utilities, Next Generation Utility, Smart
  Grid, Microgrids, Demand Response, Networking/AMI) and "Nuclear" map to Grid & power.
- GTM "Markets & Policy" (a child of Solar) is mostly market news: nothing. "Wind Markets &
  Policy" is a Wind child: Wind. "Policy", "Regulation & Policy" and its child "PV, EV, & Storage":
  Policy.
- GTM "Off Grid/Energy Access", "Fossil Fuels", "Efficiency", "Finance & VC", "Energy": nothing.
- Guardian Policy = politics and climate-policy tags (Politics, US politics, Green politics,
  Conservatives, COP 21/Cop26, Paris climate agreement, Global climate talks, Carbon tax,
  Transport/Economic/Planning policy, Law, Regulators, Ofgem). "Climate change", "Greenhouse gas
  emissions", "Energy bills": nothing (subjects, not policy). "Nuclear waste": nothing.
- reNEWS tags cover only Wind (Offshore/Onshore/Floating Wind) and Solar & storage (Solar,
  Energy Storage); its "grid" tag is an ad hoc lowercase tag on a few items and is not used.

An outlet is scored only on the sections its tags can express (COVERED): reNEWS items count for
Wind and Solar & storage only, so an item a keyword puts in Policy is neither a hit nor a miss
there. A post may be in several sections or none, on both sides.

Runs `Sections.of_post(topics=(), title, summary)` with the default sections (what a post from a
feed without categories gets). `--with-tags` also reports `topics=<the outlet's tags>`: those are
the very labels being predicted, so it only shows what passing feed categories through buys when
a feed has topical ones; it is not an independent measurement.

Prints per-section precision/recall/F1/support and micro averages (overall and per outlet), the
share of posts with ≥ 1 gold section that get none, per-keyword hit/false-hit counts, and a sample
of misses and false hits (fixed seed) to read by eye. `--all-failures FILE` writes every failure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Settings  # noqa: E402
from app.sections import Section, Sections  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "sections.jsonl"
SOLAR, WIND, GRID, POLICY, MOBILITY = "solar-storage", "wind", "grid-power", "policy", "mobility"

TAG_SECTIONS: dict[str, dict[str, str]] = {
    "greentechmedia": {
        **dict.fromkeys(
            (
                "Solar",
                "Solar-Plus-Storage",
                "Utility-Scale Solar",
                "Residential Solar",
                "Solar Projects",
                "Solar Finance & VC",
                "PV Modules",
                "BOS/Inverters",
                "The Solar Lead",
                "Energy Storage",
                "Batteries, Storage & Fuel Cells",
                "Long-Duration Storage",
                "Storage Plus",
            ),
            SOLAR,
        ),
        **dict.fromkeys(
            (
                "Wind",
                "Offshore Wind",
                "Wind Projects",
                "Wind Finance & VC",
                "Wind Markets & Policy",
            ),
            WIND,
        ),
        **dict.fromkeys(
            (
                "Grid Optimization",
                "Utilities",
                "Next Generation Utility",
                "Smart Grid",
                "Microgrids",
                "Demand Response",
                "Networking/AMI",
                "Nuclear",
            ),
            GRID,
        ),
        **dict.fromkeys(("Policy", "Regulation & Policy", "PV, EV, & Storage"), POLICY),
        **dict.fromkeys(("Electric Vehicles", "Mobility"), MOBILITY),
    },
    "guardian": {
        "Solar power": SOLAR,
        "Energy storage": SOLAR,
        "Wind power": WIND,
        **dict.fromkeys(
            ("Utilities", "National Grid", "Nuclear power", "Hinkley Point C"),
            GRID,
        ),
        **dict.fromkeys(
            (
                "Politics",
                "US politics",
                "Green politics",
                "Conservatives",
                "COP 21: Paris climate change conference 2015",
                "Cop26: Glasgow climate change conference 2021",
                "Paris climate agreement",
                "Global climate talks",
                "Carbon tax",
                "Transport policy",
                "Economic policy",
                "Planning policy",
                "Law",
                "Regulators",
                "Ofgem",
            ),
            POLICY,
        ),
        **dict.fromkeys(
            (
                "Electric, hybrid and low-emission cars",
                "Motoring",
                "Automotive industry",
                "Airline industry",
                "Airline emissions",
                "Air transport",
                "Rail industry",
                "Road transport",
                "Shipping industry",
                "Travel and transport",
            ),
            MOBILITY,
        ),
    },
    "renews": {
        "Offshore Wind": WIND,
        "Onshore Wind": WIND,
        "Floating Wind": WIND,
        "Solar": SOLAR,
        "Energy Storage": SOLAR,
    },
}
ALL = (SOLAR, WIND, GRID, POLICY, MOBILITY)
COVERED = {"greentechmedia": ALL, "guardian": ALL, "renews": (SOLAR, WIND)}


def load() -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        table = {tag.casefold(): key for tag, key in TAG_SECTIONS[row["outlet"]].items()}
        row["gold"] = {table[t.casefold()] for t in row["tags"] if t.casefold() in table}
    return rows


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def keyword_matchers(sections: Sections) -> dict[str, list[tuple[str, Sections]]]:
    """Section key → (keyword, a Sections holding only that keyword), to say which word fired."""
    return {
        s.key: [(kw, Sections((Section(s.key, s.label, (kw,)),))) for kw in s.keywords]
        for s in sections.all
    }


def evaluate(rows: list[dict], sections: Sections, *, use_tags: bool) -> dict:
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)  # (outlet, section) → tp/fp/fn
    misses, false_hits = [], []
    empty, with_gold = Counter(), Counter()
    started = time.perf_counter()
    for row in rows:
        topics = row["tags"] if use_tags else ()
        got = set(sections.of_post(topics=topics, title=row["title"], summary=row["summary"]))
        row["got"] = got
    elapsed = time.perf_counter() - started
    for row in rows:
        covered = COVERED[row["outlet"]]
        gold = row["gold"] & set(covered)
        got = row["got"] & set(covered)
        if gold:
            with_gold[row["outlet"]] += 1
            empty[row["outlet"]] += not got
        for key in covered:
            cell = counts[(row["outlet"], key)]
            if key in gold and key in got:
                cell["tp"] += 1
            elif key in got:
                cell["fp"] += 1
                false_hits.append((key, row))
            elif key in gold:
                cell["fn"] += 1
                misses.append((key, row))
    return {
        "counts": counts,
        "misses": misses,
        "false_hits": false_hits,
        "empty": empty,
        "with_gold": with_gold,
        "seconds": elapsed,
    }


def report(result: dict, sections: Sections, title: str) -> None:
    counts = result["counts"]
    print(f"\n=== {title} ({result['seconds'] * 1000:.0f} ms for of_post on all posts)")
    print(f"{'section':<16}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}{'predicted':>11}")
    total = Counter()
    for key in ALL:
        cell = sum((c for (o, k), c in counts.items() if k == key), Counter())
        total += cell
        p, r, f = prf(cell["tp"], cell["fp"], cell["fn"])
        support, predicted = cell["tp"] + cell["fn"], cell["tp"] + cell["fp"]
        label = sections.by_key[key].label
        print(f"{label:<16}{p:>7.3f}{r:>7.3f}{f:>7.3f}{support:>9}{predicted:>11}")
    p, r, f = prf(total["tp"], total["fp"], total["fn"])
    print(f"{'micro':<16}{p:>7.3f}{r:>7.3f}{f:>7.3f}{total['tp'] + total['fn']:>9}")
    print("per outlet (micro over its covered sections):")
    for outlet in COVERED:
        cell = sum((c for (o, k), c in counts.items() if o == outlet), Counter())
        p, r, f = prf(cell["tp"], cell["fp"], cell["fn"])
        n, e = result["with_gold"][outlet], result["empty"][outlet]
        print(
            f"  {outlet:<15} P {p:.3f} R {r:.3f} F1 {f:.3f}"
            f"   in no section though labelled: {e}/{n} ({e / n if n else 0:.1%})"
        )
    n, e = sum(result["with_gold"].values()), sum(result["empty"].values())
    print(f"  {'all':<15} in no section though labelled: {e}/{n} ({e / n if n else 0:.1%})")


def keyword_table(rows: list[dict], sections: Sections) -> None:
    """Per keyword: posts where it fires in a scored section, split into right and wrong."""
    matchers = keyword_matchers(sections)
    right, wrong = Counter(), Counter()
    for row in rows:
        for key in COVERED[row["outlet"]]:
            if key not in row["got"]:
                continue
            for kw, single in matchers[key]:
                if single.of_post(topics=(), title=row["title"], summary=row["summary"]):
                    (right if key in row["gold"] else wrong)[(key, kw)] += 1
    print("\nkeywords firing (title + summary): right / wrong  (wrong = section not in the tags)")
    for key in ALL:
        cells = [
            f"{kw} {right[(key, kw)]}/{wrong[(key, kw)]}"
            for kw, _ in matchers[key]
            if right[(key, kw)] or wrong[(key, kw)]
        ]
        print(f"  {sections.by_key[key].label}: " + ", ".join(cells))


def fired(row: dict, key: str, matchers: dict) -> str:
    words = [
        kw
        for kw, single in matchers[key]
        if single.of_post(topics=(), title=row["title"], summary=row["summary"])
    ]
    return ",".join(words)


def show(result: dict, sections: Sections, sample: int, seed: int) -> None:
    matchers = keyword_matchers(sections)
    rng = random.Random(seed)
    for name, items in (("MISSES", result["misses"]), ("FALSE HITS", result["false_hits"])):
        picked = rng.sample(items, min(sample, len(items)))
        print(f"\n--- {name}: {sample} of {len(items)} (section | outlet | title | tags)")
        for key, row in picked:
            why = f" [fired: {fired(row, key, matchers)}]" if name == "FALSE HITS" else ""
            tags = "; ".join(row["tags"][:8]) + (" …" if len(row["tags"]) > 8 else "")
            print(f"{sections.by_key[key].label:<15}| {row['outlet']:<14}| {row['title']}{why}")
            print(f"{'':<15}|   tags: {tags}")


def dump(result: dict, sections: Sections, path: Path) -> None:
    matchers = keyword_matchers(sections)
    with path.open("w", encoding="utf-8") as out:
        for name, items in (("miss", result["misses"]), ("false_hit", result["false_hits"])):
            for key, row in items:
                out.write(
                    json.dumps(
                        {
                            "kind": name,
                            "section": key,
                            "outlet": row["outlet"],
                            "title": row["title"],
                            "summary": row["summary"],
                            "tags": row["tags"],
                            "fired": fired(row, key, matchers) if name == "false_hit" else "",
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sample", type=int, default=15, help="misses and false hits shown")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--with-tags", action="store_true", help="also run with topics = tags")
    parser.add_argument("--all-failures", type=Path, help="write every failure here (JSONL)")
    args = parser.parse_args()

    started = time.perf_counter()
    sections = Settings(_env_file=None).sections
    rows = load()
    print(
        f"{len(rows)} posts: "
        + ", ".join(f"{o} {n}" for o, n in Counter(r["outlet"] for r in rows).items())
    )
    result = evaluate(rows, sections, use_tags=False)
    report(result, sections, "topics=() — title + summary only")
    keyword_table(rows, sections)
    show(result, sections, args.sample, args.seed)
    if args.all_failures:
        dump(result, sections, args.all_failures)
    if args.with_tags:
        tagged = evaluate(rows, sections, use_tags=True)
        report(tagged, sections, "topics=<outlet's tags> (circular: the tags are the labels)")
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
