"""Engagement judged against exposure (SPEC §7 rule 2): the week's prior and each post's score."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from app.ranking.candidates import Candidate

# Shares and comments cost a reader more effort than a like, so they say more about value.
ENGAGEMENT_WEIGHTS = {"likes": 1.0, "comments": 2.0, "shares": 3.0}
# Below this many views a post's own rate is too noisy to help fit the week's prior.
MIN_EVIDENCE_VIEWS = 100
# Prior strength in pseudo-views: fewer than ~100 views never outweighs the week's typical rate.
MIN_PSEUDO_VIEWS, MAX_PSEUDO_VIEWS, DEFAULT_PSEUDO_VIEWS = 100.0, 5000.0, 300.0
DEFAULT_TYPICAL_RATE = 0.02
# A post live for minutes is judged as if live this long, so a lucky first hour cannot explode.
MIN_HOURS_LIVE = 12.0
# Reach enters as log10(10 + views) ** 0.75: it helps, but a 200x larger audience only lifts a
# score about 1.7x, so a post shown far more cannot win on exposure alone (bench/rank_quality.py).
REACH_EXPONENT = 0.75
# A post may claim a rate above the week's typical one only in proportion to its views: up to 3
# interquartile ranges (Tukey's far-out distance) at MIN_EVIDENCE_VIEWS views, 1.2 at 40 views.
# A tiny audience is mostly the author's own circle, not independent readers, so the binomial
# prior alone still let a 40-view post at 50 % likes top a 20,000-view story (SPEC §7 rule 2,
# the app/demo traps). Well-viewed posts are untouched, so bench/rank_quality.py does not move.
CLAIM_IQRS = 3.0
# No usable quartiles (too few well-observed posts, or most alike): spread = the pooled rate.
FALLBACK_SPREAD = 1.0


@dataclass(frozen=True)
class Prior:
    """The week's typical rate, its strength in pseudo-views, typical reach, rates' IQR."""

    typical_rate: float = DEFAULT_TYPICAL_RATE
    pseudo_views: float = DEFAULT_PSEUDO_VIEWS
    typical_reach: float = 0.0
    rate_spread: float = math.inf  # IQR of well-observed rates; inf lets any rate count


@dataclass(frozen=True)
class Exposure:
    """Per post: views (at least its engagements), weighted engagement, that count's Poisson
    variance, and the age adjustment of its views."""

    views: np.ndarray
    engagement: np.ndarray
    variance: np.ndarray
    adjustment: np.ndarray


def exposure(pool: Sequence[Candidate], window_start: datetime, now: datetime) -> Exposure:
    """What each post's counters say, as arrays (a 100k-post week in milliseconds)."""
    counts = np.array([(c.views, c.likes, c.shares, c.comments) for c in pool], dtype=np.float64)
    views_raw, likes, shares, comments = counts.reshape(-1, 4).T
    # Every like, share or comment came from someone who saw the post; a source that reports
    # engagement but no views must not look like an infinite engagement rate.
    views = np.maximum(views_raw, likes + shares + comments)
    w = ENGAGEMENT_WEIGHTS
    engagement = w["likes"] * likes + w["comments"] * comments + w["shares"] * shares
    variance = w["likes"] ** 2 * likes + w["comments"] ** 2 * comments + w["shares"] ** 2 * shares
    # Counters are read at `now`, so exposure runs to now (not to the window's end): a post
    # published late had fewer hours to gather views than the week's earliest posts.
    reference = max((now - window_start).total_seconds() / 3600, MIN_HOURS_LIVE)
    published = np.array([c.published_at.timestamp() for c in pool], dtype=np.float64)
    hours_live = np.maximum((now.timestamp() - published) / 3600, MIN_HOURS_LIVE)
    return Exposure(views, engagement, variance, np.maximum(reference / hours_live, 1.0))


def fit_prior(candidates: Iterable[Candidate], *, window_end: datetime, now: datetime) -> Prior:
    """Fit the week's typical rate, pseudo-views (method of moments) and the rates' spread."""
    # In id order: float sums depend on order, and the same week must rank the same (rule 7).
    pool = sorted(candidates, key=lambda c: c.id)
    if not pool:
        return Prior(
            DEFAULT_TYPICAL_RATE, DEFAULT_PSEUDO_VIEWS, 0.0, FALLBACK_SPREAD * DEFAULT_TYPICAL_RATE
        )
    seen = exposure(pool, window_end - timedelta(days=7), now)
    views, engagement, variance = seen.views, seen.engagement, seen.variance
    typical_reach = float(np.median(views * seen.adjustment))
    total_views = views.sum()
    pooled = float(engagement.sum() / total_views) if total_views else DEFAULT_TYPICAL_RATE
    solid = views >= MIN_EVIDENCE_VIEWS
    if solid.sum() < 5:
        return Prior(pooled, DEFAULT_PSEUDO_VIEWS, typical_reach, FALLBACK_SPREAD * pooled)
    rates = engagement[solid] / views[solid]
    typical = float(np.median(rates))
    # statistics.quantiles' default ("exclusive") is numpy's "weibull" method.
    q1, q3 = np.quantile(rates, [0.25, 0.75], method="weibull")
    # Most posts alike (often all without engagement): a zero IQR would cap every post at typical.
    spread = float(q3 - q1) if q3 > q1 else FALLBACK_SPREAD * pooled
    # Sampling noise of each rate (Poisson counts, weighted), taken out of the observed spread.
    noise = float(np.mean(variance[solid] / views[solid] ** 2))
    true_spread = float(np.var(rates)) - noise
    engaged = engagement[solid].sum()
    mean_weight = float(variance[solid].sum() / engaged) if engaged else 1.0
    if typical <= 0 or true_spread <= 0:
        pseudo = MAX_PSEUDO_VIEWS
    else:
        pseudo = min(max(typical * mean_weight / true_spread, MIN_PSEUDO_VIEWS), MAX_PSEUDO_VIEWS)
    return Prior(typical, pseudo, typical_reach, spread)


@dataclass(frozen=True)
class ScoreParts:
    """The parts of each post's score, one array entry per post (see `score`)."""

    views: np.ndarray
    engagement: np.ndarray
    credited: np.ndarray
    shrunk: np.ndarray
    adjustment: np.ndarray
    reach_factor: np.ndarray
    score: np.ndarray


def score_parts(
    pool: Sequence[Candidate], window_start: datetime, now: datetime, prior: Prior
) -> ScoreParts:
    """Score every post at once: shrunk credited rate × log10(10 + age-adjusted views) ** 0.75."""
    seen = exposure(pool, window_start, now)
    views, engagement, adjustment = seen.views, seen.engagement, seen.adjustment
    # The part of a rate its views can back: typical plus CLAIM_IQRS IQRs per 100 views.
    claim = prior.typical_rate + CLAIM_IQRS * prior.rate_spread * views / MIN_EVIDENCE_VIEWS
    with np.errstate(divide="ignore", invalid="ignore"):
        credited = np.where(views > 0, np.minimum(engagement / views, claim), 0.0)
    pseudo, typical = prior.pseudo_views, prior.typical_rate
    shrunk = (credited * views + pseudo * typical) / (views + pseudo)
    reach_factor = np.log10(10 + views * adjustment) ** REACH_EXPONENT
    return ScoreParts(
        views, engagement, credited, shrunk, adjustment, reach_factor, shrunk * reach_factor
    )


def score(c: Candidate, *, window_end: datetime, now: datetime, prior: Prior) -> tuple[float, dict]:
    """Score = shrunk credited rate × log10(10 + age-adjusted views) ** 0.75, with its parts."""
    parts = score_parts([c], window_end - timedelta(days=7), now, prior)
    views, engagement = int(parts.views[0]), float(parts.engagement[0])
    credited, shrunk = float(parts.credited[0]), float(parts.shrunk[0])
    adjustment, reach_factor = float(parts.adjustment[0]), float(parts.reach_factor[0])
    value = float(parts.score[0])
    rate = engagement / views if views else None
    reasons = {
        "views": views,
        "weighted_engagement": round(engagement, 2),
        "engagement_weights": dict(ENGAGEMENT_WEIGHTS),
        "engagement_rate": round(rate, 5) if rate is not None else None,
        "credited_rate": round(credited, 5),
        "rate_capped": rate is not None and credited < rate,
        "typical_rate": round(prior.typical_rate, 5),
        "rate_spread": round(prior.rate_spread, 5) if math.isfinite(prior.rate_spread) else None,
        "pseudo_views": round(prior.pseudo_views, 1),
        "shrunk_rate": round(shrunk, 5),
        "age_adjustment": round(adjustment, 3),
        "adjusted_reach": round(views * adjustment, 1),
        "reach_factor": round(reach_factor, 4),
        "score": round(value, 6),
    }
    return value, reasons
