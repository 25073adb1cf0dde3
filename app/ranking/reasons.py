"""Why a story ranked: in sentences a non-technical editor reads, and the raw numbers beside."""

from __future__ import annotations

import math
from typing import Any

from app.ranking.engagement import Prior

# Reasons said in words elsewhere (the summary sentence, coverage, the other outlets and posts),
# left out of the table of raw numbers.
WORDED_REASONS = frozenset({"summary", "coverage", "also_in", "duplicates"})

# Engagement relative to the week's typical rate, in words: (at least this lift, words).
_ENGAGEMENT_WORDS = (
    (2.0, "readers engaged far more than with a typical post"),
    (1.25, "readers engaged more than with a typical post"),
    (0.8, "readers engaged about as much as with a typical post"),
    (0.0, "readers engaged less than with a typical post"),
)


def _names(outlets: list[str], shown: int) -> str:
    if len(outlets) <= shown:
        return ", ".join(outlets)
    return f"{', '.join(outlets[:shown])} and {len(outlets) - shown} more"


def _engagement(reasons: dict, prior: Prior) -> list[str]:
    if not reasons["has_metrics"]:
        return ["no engagement figures for this post"]
    lift = reasons["shrunk_rate"] / prior.typical_rate if prior.typical_rate > 0 else 1.0
    words = next(text for floor, text in _ENGAGEMENT_WORDS if lift >= floor)
    spread = reasons["adjusted_reach"] / prior.typical_reach if prior.typical_reach else 1.0
    audience = "a large" if spread >= 2 else "an average" if spread >= 0.5 else "a small"
    parts = [f"{words}, on {audience} audience ({reasons['views']:,} views)"]
    if reasons["rate_capped"]:
        parts.append("too few views to back its high rate fully")
    if reasons["age_adjustment"] >= 1.5:
        parts.append(
            f"published late in the week, so its views count ×{reasons['age_adjustment']:.1f}"
        )
    return parts


def plain_summary(reasons: dict, source: str, *, prior: Prior, shown: int) -> str:
    """One sentence from a listed story's reasons: pin, coverage, engagement, clicks, weight."""
    parts = ["pinned by an editor"] if reasons["pinned"] else []
    coverage = reasons["coverage"]
    outlets, count = coverage["sources"], coverage["count"]
    if count >= 2:
        parts.append(f"covered by {count} sources ({_names(outlets, shown)})")
    elif coverage["posts"] >= 2:
        parts.append(f"{coverage['posts']} posts, all from {outlets[0]}")
    else:
        parts.append("covered by one source")
    if reasons["days_covered"] >= 3:
        parts.append(f"in the news on {reasons['days_covered']} days")
    parts += _engagement(reasons, prior)
    name = source.strip() or "this source"
    click_prior = reasons["click_prior"]
    if click_prior is not None and abs(click_prior - 1) >= 0.1:
        parts.append(f"readers clicked {name} {click_prior:.1f}× the usual in earlier issues")
    if reasons["source_weight"] != 1.0:
        parts.append(f"an editor weighted {name} ×{reasons['source_weight']:g}")
    sentence = "; ".join(parts)
    return sentence[:1].upper() + sentence[1:]


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"


def readable(value: Any) -> str:
    """A raw reason value for the table: numbers rounded, lists and maps spelt out."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, dict):
        return ", ".join(f"{key} ×{readable(v)}" for key, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value) or "—"
    return str(value)


def technical_details(score: float, reasons: dict[str, Any]) -> list[tuple[str, str]]:
    """A listed item's raw ranking numbers as (label, value) rows, its score first."""
    rows = [("score", f"{score:.4f}")]
    for key, value in reasons.items():
        if key not in WORDED_REASONS and key != "score":
            rows.append((str(key).replace("_", " "), readable(value)))
    return rows
