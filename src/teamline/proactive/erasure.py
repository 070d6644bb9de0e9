"""What proactive care keeps about one customer, for the privacy app's export and erasure
(privacy/actions.py, docs/security.md "GDPR").

Proactive tables that name a customer or carry their facts:

- Event: the operator's events about them (identity, usage facts) — deleted, and with them
  any event still waiting under one of their identities;
- Notice: what they were told or were to be told — kept for the per-rule counts, emptied of
  the event's values (their name, their usage figures), of the reason (a failed notice names
  the number or address it could not reach) and of the channel; one still pending or
  deferred is cancelled, so its task sends nothing;
- RuleFiring: the ledger — kept (the `fired` count), its dedupe key (rendered from the
  event's values) replaced by a neutral one;
- FailedBatch: a batch whose evaluation failed holding one of their events (HeldEvent, gone
  with the event) loses its error text, which may quote the event (proactive/deadletter.py);
- OutageContact: which outage their conversation was tagged with — ids and a time only, kept.

The export reads the same tables through proactive.queries (`*_of_customers`).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat

from .models import Event, FailedBatch, HeldEvent, Notice, NoticeStatus, RuleFiring

ERASED_REASON = "the customer's data was erased"
ERASED_KEY = "erased:"


def do_erase_customer_records(
    customer_ids: Sequence[int], identity_values: Sequence[str]
) -> dict[str, int]:
    """Erase what proactive care keeps about the customers `customer_ids` (a customer and
    those merged into them) and the waiting events naming one of `identity_values`. Runs in
    the privacy task's transaction (which locks the customer); idempotent: a second run finds
    nothing left to change. Returns counts per kind, for the erasure's tombstone. Emits no
    event."""
    ids = list(customer_ids)
    events = Event.objects.filter(
        Q(customer_id__in=ids) | Q(customer__isnull=True, identity_value__in=list(identity_values))
    )
    notices = Notice.objects.filter(customer_id__in=ids)
    failed = FailedBatch.objects.filter(
        pk__in=HeldEvent.objects.filter(event__in=events).values("batch_id")
    ).exclude(error="")
    return {
        # Before the events go (and their holds with them).
        "proactive_failed_batches": failed.update(error=""),
        "proactive_events": events.delete()[0],
        # Before the emptying below: a deferred notice's task finds it decided and sends nothing.
        "proactive_notices_cancelled": notices.filter(
            status__in=[NoticeStatus.PENDING, NoticeStatus.DEFERRED]
        ).update(status=NoticeStatus.CANCELLED, deferred_until=None),
        "proactive_notices": notices.filter(
            ~Q(values={}) | ~Q(reason=ERASED_REASON) | ~Q(channel="")
        ).update(values={}, reason=ERASED_REASON, channel=""),
        "proactive_firings": RuleFiring.objects.filter(customer_id__in=ids)
        .exclude(dedupe_key__startswith=ERASED_KEY)
        .update(
            dedupe_key=Concat(Value(ERASED_KEY), Cast("pk", output_field=CharField())),
            event_id_copy=None,
        ),
    }
