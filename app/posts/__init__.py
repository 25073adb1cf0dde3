"""Posts: what the digest can list — pushed by a CMS or polled from RSS/Atom feeds."""
