"""Ranking: a week's posts grouped into stories and scored, with the reasons shown to editors."""
