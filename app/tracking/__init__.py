"""Tracking: clicks and opens, the metrics the admin dashboard shows, and its charts."""
