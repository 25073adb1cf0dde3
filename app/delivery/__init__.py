"""The send engine (SPEC §8–9): render once, deliver to every confirmed reader exactly once.

Two seams, as in listmonk: the ledger (`ledger.Ledger`, the store that hands out a batch and
records outcomes) and the messenger (`app.delivery.transports.Transport`, whose errors
`transports.verdict` turns into what happens to the reader). The flow lives in `engine`, the
controls and the sweeper in `control`, the weekly draft-and-autosend in `weekly`; `transactional`
sends the confirmation and welcome mails by the same verdicts.

Policy, per recipient:

- `start_send` freezes the recipients (one `deliveries` row per confirmed reader) and stores the
  finished message on the issue; batches are Celery tasks that carry (issue id, batch number).
- A batch claims its due `pending` rows (→ `sending`, leased) and commits before any mail goes.
  Each outcome is committed before the next message is sent, so a worker killed mid-send leaves
  at most the one message in flight unrecorded; after its lease the sweeper puts it back to
  `pending` and it is sent again (≤ 1 duplicate per worker process). On PostgreSQL an outcome is
  one UPDATE on an autocommit connection with `synchronous_commit` off: the server has it once
  it answers, but a crash of the database server itself (not of a worker) may lose the last
  3 × wal_writer_delay (0.6 s by default) of outcomes, and those messages go out again.
  On SQLite each outcome is a short transaction of its own (WAL, synchronous=NORMAL).
- Leases are renewed once half spent; the issue's and the readers' status are re-read every
  50 messages.
- A reader who is no longer confirmed when their chunk goes out → `skipped`, nothing sent.
- SMTP 4xx → back to `pending` with `not_before` from DIGEST_RETRY_DELAYS; after the last delay
  → `failed`. 5xx → `failed`. 5.1.x (no such mailbox) → `bounced` and the reader suppressed.
- Connection, TLS or authentication trouble → the issue is paused with a readable reason and
  the rows go back to `pending`: nobody is marked failed or bounced. `resume` continues.
- The connection lost after the message data went out → `unknown`, never re-sent: the message
  may well have arrived, and "at most one copy" wins over "at least one".
- When no row is `pending` or `sending`, the issue becomes `sent`.
- Cancel → the rows not yet sent become `cancelled` (those a batch holds when it hands them back
  at its next checkpoint). "Send to the rest" (`control.send_remaining`) turns exactly those
  rows back to `pending` and the issue to `sending`: whoever has an outcome is never mailed again.
"""
