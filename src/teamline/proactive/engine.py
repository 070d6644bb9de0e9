"""Where rules are evaluated: the one function every path of an event ends in.

Ingest (proactive.actions.do_ingest_events) stores events; the queue — the database in the
embedded mode, a durable stream at scale (proactive/stream.py) — hands them in batches to
`evaluate_batch`, which runs the rules over them. Matching a waiting event to a customer who
appeared later hands it here too.

Contract for whoever evaluates here:

- `events` are stored Event rows with a customer (events of unknown customers wait and come
  here once matched), in id order, at most one batch (STREAM_BATCH) at a time.
- Evaluation is at-least-once: after a crash the same events come again. Everything it causes
  must be idempotent (a send is unique per rule dedupe key), so a second run changes nothing.
- It runs inside no transaction of the caller's; the caller marks the events evaluated after
  it returns. It must not raise for one bad event: an exception fails (and retries) the batch.

With no rules defined it evaluates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from .models import Event


def evaluate_batch(events: Sequence[Event]) -> None:
    """Run the rules over `events` (see the module's contract). No rules yet: nothing to do."""
    return None
