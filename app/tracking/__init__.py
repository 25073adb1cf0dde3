"""Tracking what happened: clicks, metrics, send progress and history, the outbox, health."""
