"""Readers: subscribe, confirm, unsubscribe, consent, import and export (the road's first leg)."""
