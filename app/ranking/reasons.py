"""Why a story ranked, in sentences a non-technical editor reads (the numbers stay beside them)."""

from __future__ import annotations

from app.ranking.engagement import Prior

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
