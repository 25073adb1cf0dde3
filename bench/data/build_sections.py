"""Rebuild `bench/data/sections.jsonl` (for `bench/section_quality.py`) from OSUKED/Energy-News.

The source repository (https://github.com/OSUKED/Energy-News) ran a scraper on a schedule that
committed each outlet's current RSS items to `data/<outlet>/current_articles.json`; its git
history therefore holds every item seen, with the tags each outlet gave it in its own feed
(`<category>` elements). This script walks that history for three outlets whose tags are
topical, and writes one JSON object a line:

| field | meaning |
|---|---|
| `id` | 1..n |
| `outlet` | `greentechmedia`, `guardian` or `renews` |
| `title` | the headline from the feed (HTML entities decoded, whitespace collapsed) |
| `summary` | the feed's lead, cut to ~400 characters at a word; `""` where it is just the title |
| `tags` | the outlet's own category tags for the item, in feed order |
| `date` | as the scraper recorded it |

Usage (deterministic, byte-identical output for the same history):

    .venv/bin/python bench/data/build_sections.py --repo <git dir of OSUKED/Energy-News>

Only git (`git log`, `git show`) is used; nothing is fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).with_name("sections.jsonl")
OUTLETS = {  # folder in the source → outlet name here
    "green_tech_media": "greentechmedia",
    "guardian": "guardian",
    "renews": "renews",
}
RENEWS_KEEP = 1000  # reNEWS has ~2,700 items; a fixed hash-ordered subset keeps the file < 1 MB
# Tags that contain ", " themselves, so splitting the feed's comma-joined string would cut them.
COMMA_TAGS = (
    "Batteries, Storage & Fuel Cells",
    "PV, EV, & Storage",
    "Electric, hybrid and low-emission cars",
    "Mergers, acquisitions and funding",
)
SUMMARY_CHARS = 400


def _git(repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", repo, *args], capture_output=True, text=True, check=True
    ).stdout


def _clean(text: object) -> str:
    return " ".join(html.unescape(str(text or "")).split())


def _tags(raw: object) -> list[str]:
    text = html.unescape(str(raw or ""))
    for number, tag in enumerate(COMMA_TAGS):
        text = text.replace(tag, f"\x00{number}\x00")
    tags = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"\x00(\d+)\x00", part)
        tag = COMMA_TAGS[int(match.group(1))] if match else " ".join(part.split())
        if tag and tag.lower() not in ("none", "nan") and tag not in tags:
            tags.append(tag)
    return tags


def _summary(lead: str, title: str) -> str:
    lead = re.sub(r"\s*(\.\.\.|…)$", "", lead)
    if not lead or lead == title:
        return ""
    if len(lead) <= SUMMARY_CHARS:
        return lead
    return lead[:SUMMARY_CHARS].rsplit(" ", 1)[0]


def _link(item: dict) -> str:
    for field in ("feedburner:origLink", "guid", "article_url"):
        value = item.get(field)
        if isinstance(value, dict):
            value = value.get("#text")
        if isinstance(value, str) and value.startswith("http"):
            return value.split("?")[0].rstrip("/")
    return ""


def items(repo: str, folder: str) -> list[dict]:
    """Every item seen in the folder's history, newest version of each title first seen."""
    path = f"data/{folder}/current_articles.json"
    seen: dict[str, dict] = {}
    links: set[str] = set()
    for commit in _git(repo, "log", "--format=%H", "--", path).split():
        try:
            feed = json.loads(_git(repo, "show", f"{commit}:{path}") or "[]")
        except (json.JSONDecodeError, subprocess.CalledProcessError):
            continue
        for item in feed:
            title = _clean(item.get("title"))
            link = _link(item)
            # The log is newest first: keep the newest version. One article can come back with
            # its title re-cased or edited, so the link (without query) is a key too.
            if title and title.casefold() not in seen and link not in links:
                if link:
                    links.add(link)
                seen[title.casefold()] = {
                    "outlet": OUTLETS[folder],
                    "title": title,
                    "summary": _summary(_clean(item.get("lead")), title),
                    "tags": _tags(item.get("category")),
                    "date": _clean(item.get("date")),
                }
    found = [item for item in seen.values() if item["tags"]]
    found.sort(key=lambda item: (item["date"], item["title"]))
    if folder == "renews":
        ranked = sorted(found, key=lambda i: hashlib.sha1(i["title"].encode()).hexdigest())
        keep = {id(item) for item in ranked[:RENEWS_KEEP]}
        found = [item for item in found if id(item) in keep]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True, help="git dir of OSUKED/Energy-News")
    args = parser.parse_args()
    rows = [item for folder in OUTLETS for item in items(args.repo, folder)]
    with OUT.open("w", encoding="utf-8") as out:
        for number, row in enumerate(rows, start=1):
            out.write(json.dumps({"id": number, **row}, ensure_ascii=False) + "\n")
    print(f"{len(rows)} items → {OUT}")


if __name__ == "__main__":
    main()
