"""Suspected outages: a place whose signals rise well above its own recent baseline.

Signals, counted per place in BUCKET_SECONDS buckets (SignalCount):

- contacts: a customer's inbound message saying there is no signal or no data, in any of the
  six languages (SYMPTOMS), counted for the customer's region. Read from the messages table
  behind a cursor (DetectionCursor), so each message counts once whatever the number of
  workers, and neither the bot nor routing has to know about detection.
- network events (`type` network, read from the stored events behind their own cursor) for
  their region and, when the event names one (`data.site` or `data.cell`), for that site too.
  An event of an outage kind (OUTAGE_KINDS, `data.kind`) needs no statistics: it declares the
  outage itself.

The test (the one-sided exact Poisson test of a count against a rate, as in syndromic
surveillance, e.g. the CDC's EARS and Kulldorff's space-time scan statistic use it): in the
current window of WINDOW_BUCKETS buckets a place saw `x` signals; over the BASELINE_WINDOWS
windows before it, `b`. Its expected count per window is the smoothed rate

    λ = (b + PRIOR) / BASELINE_WINDOWS

(PRIOR, half a signal, keeps a place with no history from having λ = 0), and under "nothing
changed" the current count is Poisson(λ). The place is suspected when

    x ≥ MIN_COUNT  and  P(X ≥ x | λ) = Σ_{k ≥ x} e^{-λ} λ^k / k! < ALPHA.

MIN_COUNT keeps a handful of contacts from a quiet place from alarming anyone; ALPHA (10⁻³)
makes a false alarm from steady traffic a rare event per place and window. The tail is summed
in log space from x upwards (terms shrink by λ/(k+1) < 1 once k > λ), so it is exact for any λ.

A suspicion is raised once per place and source while it is open (unique constraint), and not
while the place already has an active outage. Supervisors see it on the desk (outage.suspected)
and confirm it (an outage is declared) or dismiss it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from teamline.accounts.models import User
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.conversations.models import Message, SenderKind
from teamline.core.errors import Conflict, Forbidden, NotFound
from teamline.core.events import Event as LiveEvent
from teamline.core.events import EventType, send_event_on_commit
from teamline.core.ids import parse_id
from teamline.knowledge.text import fold

from .models import (
    DetectionCursor,
    Event,
    Outage,
    OutageSource,
    SignalCount,
    SignalSource,
    SuspectedOutage,
    SuspicionState,
)
from .outages import can_manage_outages, do_declare_outage, outage_recipients
from .queries import active_outages_in, region_key

BUCKET_SECONDS = 300
WINDOW_BUCKETS = 3  # the current window: 15 minutes
BASELINE_WINDOWS = 8  # the baseline: the 2 hours before it
PRIOR = 0.5
MIN_COUNT = 5
ALPHA = 1e-3
# Inbound messages read per pass (the next pass reads on from the cursor).
SCAN_LIMIT = 5000
CONTACTS_CURSOR = "contacts"
NETWORK_CURSOR = "network"
# Events of every type looked at per pass for the network ones (ids and types only).
EVENT_SCAN_LIMIT = 50_000
MAX_PLACE = 100

# What customers write when the network fails them ("no signal", "no data"), per language.
# Matched on folded text (knowledge.text.fold: case, diacritics, Traditional → Simplified), Latin
# phrases as whole words, Chinese where they occur. Not the bot's `outage` intent: that one
# answers "is there an outage?", and its "data" words mean data left, not data that is gone.
SYMPTOMS: dict[str, tuple[str, ...]] = {
    "en": (
        "no signal", "no service", "no network", "no coverage", "no reception", "no data",
        "no internet", "no mobile data", "network down", "network is down", "lost signal",
        "signal lost", "cannot call", "can't call", "cant call", "data not working",
        "internet not working", "data stopped working",
    ),
    "nb": (
        "ingen dekning", "ikke dekning", "ingen signal", "ikke signal", "ingen nett",
        "nettet er nede", "nettet nede", "ingen data", "mobildata virker ikke",
        "data virker ikke", "internett virker ikke", "får ikke ringt", "kan ikke ringe",
    ),
    "et": (
        "levi puudub", "pole levi", "ei ole levi", "levi pole", "levi ei ole", "levi kadus",
        "vork puudub", "pole vorku", "vorku pole", "vorgu katkestus", "internet ei toota",
        "pole internetti", "andmeside ei toota", "mobiilne internet ei toota",
        "ei saa helistada",
    ),
    "pt": (
        "sem rede", "sem sinal", "sem dados", "sem internet", "sem cobertura", "rede em baixo",
        "rede caiu", "nao tenho rede", "nao tenho sinal", "dados nao funcionam",
        "internet nao funciona", "nao consigo ligar",
    ),
    "zh-hans": (
        "没信号", "没有信号", "无信号", "信号没了", "没网", "没有网", "断网", "上不了网",
        "无法上网", "不能上网", "没有数据", "流量用不了", "打不了电话",
    ),
    "zh-hant": (
        "沒訊號", "沒有訊號", "無訊號", "訊號沒了", "沒網", "沒有網", "斷網", "上不了網",
        "無法上網", "不能上網", "沒有數據", "流量用不了", "打不了電話",
    ),
}  # fmt: skip

# Network events whose `data.kind` says the network is down: an outage without statistics.
OUTAGE_KINDS = frozenset({"outage", "site_down", "cell_down", "network_down"})


# --- Recognising a symptom ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], frozenset[str]]:
    latin: set[str] = set()
    han: set[str] = set()
    for phrases in SYMPTOMS.values():
        for phrase in phrases:
            folded = fold(phrase)
            (han if re.search(r"[\u3400-\u9fff]", folded) else latin).add(folded)
    words = "|".join(sorted((re.escape(p) for p in latin), key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{words})(?!\w)"), frozenset(han)


def says_no_signal(text: str) -> bool:
    """Whether a customer's message says they have no signal or no data (any of the six
    languages, any case, with or without diacritics, either Chinese script)."""
    if not text:
        return False
    folded = " ".join(fold(text[:2000]).split())
    latin, han = _patterns()
    return bool(latin.search(folded)) or any(phrase in folded for phrase in han)


# --- Counting signals ------------------------------------------------------------------------


def bucket_of(moment: datetime) -> datetime:
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_SECONDS, tz=moment.tzinfo or None)


@dataclass(frozen=True)
class NetworkSignal:
    """One network event as detection reads it."""

    region: str
    site: str
    kind: str
    occurred_at: datetime
    ref: str = ""  # the event's id, for the outage it may declare


def _place(value: object) -> str:
    return str(value or "").strip()[:MAX_PLACE]


def _add(counts: dict[tuple[str, str, str, datetime], int], labels: dict[str, str], *,
         region: str, site: str, source: str, moment: datetime) -> None:  # fmt: skip
    key = region_key(region)
    if not key:
        return
    labels.setdefault(key, _place(region))
    counts[(key, region_key(site), source, bucket_of(moment))] += 1


def _store(counts: dict[tuple[str, str, str, datetime], int], labels: dict[str, str]) -> None:
    """Add the counts (caller's transaction): an atomic F() increment, else a new row."""
    for (region, site, source, bucket), n in counts.items():
        updated = SignalCount.objects.filter(
            region=region, site=site, source=source, bucket=bucket
        ).update(count=F("count") + n)
        if updated:
            continue
        try:
            with transaction.atomic():
                SignalCount.objects.create(
                    region=region,
                    label=labels.get(region, region),
                    site=site,
                    source=source,
                    bucket=bucket,
                    count=n,
                )
        except IntegrityError:  # a concurrent pass created it: add to theirs
            SignalCount.objects.filter(
                region=region, site=site, source=source, bucket=bucket
            ).update(count=F("count") + n)


def _horizon() -> datetime:
    """As far back as the test looks (the baseline and the current window)."""
    windows = BASELINE_WINDOWS + 1
    return timezone.now() - timedelta(seconds=BUCKET_SECONDS * WINDOW_BUCKETS * windows)


def _cursor(name: str, recent: QuerySet[Any]) -> DetectionCursor:
    """The stream's cursor; a new one starts just before the first row within the horizon, so
    an installation that had years of messages before it counts only what the test reads."""
    cursor = DetectionCursor.objects.filter(name=name).first()
    if cursor is not None:
        return cursor
    first = recent.order_by("pk").values_list("pk", flat=True).first()
    start = (
        first - 1 if first is not None else (recent.model.objects.aggregate(m=Max("pk"))["m"] or 0)
    )
    cursor, _created = DetectionCursor.objects.get_or_create(
        name=name, defaults={"position": start}
    )
    return cursor


def count_contacts(*, limit: int = SCAN_LIMIT) -> int:
    """Read the inbound customer messages behind the cursor and count those that say there is
    no signal or no data, per customer region. The cursor moves with a conditional UPDATE in
    the same transaction as the counts: a concurrent pass that read the same messages rolls
    back and counts nothing. Returns the messages read."""
    cursor = _cursor(CONTACTS_CURSOR, Message.objects.filter(created_at__gte=_horizon()))
    rows = list(
        Message.objects.filter(pk__gt=cursor.position, sender_kind=SenderKind.CUSTOMER)
        .order_by("pk")
        .values_list("pk", "text", "created_at", "conversation__customer__region")[:limit]
    )
    if not rows:
        return 0
    counts: dict[tuple[str, str, str, datetime], int] = defaultdict(int)
    labels: dict[str, str] = {}
    for _pk, text, created_at, region in rows:
        if region and says_no_signal(text):
            _add(counts, labels, region=region, site="", source=SignalSource.CONTACTS,
                 moment=created_at)  # fmt: skip
    with transaction.atomic():
        moved = DetectionCursor.objects.filter(
            name=CONTACTS_CURSOR, position=cursor.position
        ).update(position=rows[-1][0])
        if not moved:
            return 0
        _store(counts, labels)
    return len(rows)


def record_network_events(signals: Iterable[NetworkSignal]) -> list[Outage]:
    """Count network events for their region and site; an event of an outage kind declares an
    outage for its region at once (the network feed, no actor) unless one is active there.
    Runs in the caller's transaction (the ingest's). Returns the outages declared."""
    counts: dict[tuple[str, str, str, datetime], int] = defaultdict(int)
    labels: dict[str, str] = {}
    declared: list[Outage] = []
    for signal in signals:
        region, site = _place(signal.region), _place(signal.site)
        if not region_key(region):
            continue
        _add(counts, labels, region=region, site="", source=SignalSource.NETWORK,
             moment=signal.occurred_at)  # fmt: skip
        if region_key(site):
            _add(counts, labels, region=region, site=site, source=SignalSource.NETWORK,
                 moment=signal.occurred_at)  # fmt: skip
        if str(signal.kind).strip().lower() in OUTAGE_KINDS:
            outage = _declare_from_network(region, site, signal.ref)
            if outage is not None:
                declared.append(outage)
    _store(counts, labels)
    return declared


def count_network_events(*, limit: int = EVENT_SCAN_LIMIT) -> list[Outage]:
    """Read the stored events behind the network cursor and count the network ones
    (record_network_events), each once: the cursor moves with a conditional UPDATE in the same
    transaction. Events of customers not known yet count too: the network does not wait for
    the customer. Returns the outages network events declared."""
    cursor = _cursor(NETWORK_CURSOR, Event.objects.filter(received_at__gte=_horizon()))
    scanned = list(
        Event.objects.filter(pk__gt=cursor.position)
        .order_by("pk")
        .values_list("pk", "type")[:limit]
    )
    if not scanned:
        return []
    network = [pk for pk, kind in scanned if kind == "network"]
    signals = []
    rows = Event.objects.filter(pk__in=network).values_list(
        "external_id", "region", "data", "occurred_at"
    )
    for external_id, region, data, occurred_at in rows:
        data = data if isinstance(data, dict) else {}
        signals.append(
            NetworkSignal(
                region=str(region or data.get("region") or ""),
                site=str(data.get("site") or data.get("cell") or ""),
                kind=str(data.get("kind") or ""),
                occurred_at=occurred_at,
                ref=str(external_id),
            )
        )
    with transaction.atomic():
        moved = DetectionCursor.objects.filter(
            name=NETWORK_CURSOR, position=cursor.position
        ).update(position=scanned[-1][0])
        if not moved:
            return []
        return record_network_events(signals)


def _declare_from_network(region: str, site: str, ref: str) -> Outage | None:
    if (
        active_outages_in(region)
        or Outage.objects.filter(
            ended_at__isnull=True, region_keys__key=region_key(region)
        ).exists()
    ):
        return None
    title = _("Network outage at site {site}").format(site=site) if site else _("Network outage")
    outage = do_declare_outage(
        regions=[region],
        title=title,
        message=_("Our network has a fault in your area. We are working on it."),
        source=OutageSource.NETWORK,
        source_ref=ref,
        actor=None,
    )
    SuspectedOutage.objects.filter(region=region_key(region), state=SuspicionState.OPEN).update(
        state=SuspicionState.CONFIRMED, outage=outage, decided_at=timezone.now()
    )
    return outage


# --- The test ------------------------------------------------------------------------------


def poisson_tail(x: int, rate: float) -> float:
    """P(X ≥ x) for X ~ Poisson(rate), summed in log space from x upwards."""
    if x <= 0:
        return 1.0
    if rate <= 0:
        return 0.0
    if x <= rate:
        # Not in the upper tail: 1 - P(X < x), from the (few) terms below x.
        below = sum(math.exp(k * math.log(rate) - rate - math.lgamma(k + 1)) for k in range(x))
        return max(0.0, 1.0 - below)
    log_term = x * math.log(rate) - rate - math.lgamma(x + 1)
    total, k = 0.0, x
    while True:
        term = math.exp(log_term)
        total += term
        if term < 1e-16 * max(total, 1e-300):
            return min(1.0, total)
        k += 1
        log_term += math.log(rate) - math.log(k)


@dataclass(frozen=True)
class PlaceTest:
    region: str
    label: str
    site: str
    source: str
    observed: int
    expected: float
    p_value: float

    @property
    def suspected(self) -> bool:
        return self.observed >= MIN_COUNT and self.p_value < ALPHA


def score_places(now: datetime) -> list[PlaceTest]:
    """The test for every place and source with a signal in the current window."""
    window_start = bucket_of(now) - timedelta(seconds=BUCKET_SECONDS * (WINDOW_BUCKETS - 1))
    baseline_start = window_start - timedelta(
        seconds=BUCKET_SECONDS * WINDOW_BUCKETS * BASELINE_WINDOWS
    )
    current: dict[tuple[str, str, str], int] = defaultdict(int)
    baseline: dict[tuple[str, str, str], int] = defaultdict(int)
    labels: dict[str, str] = {}
    rows = SignalCount.objects.filter(bucket__gte=baseline_start, bucket__lte=now).values_list(
        "region", "label", "site", "source", "bucket", "count"
    )
    for region, label, site, source, bucket, count in rows:
        labels.setdefault(region, label)
        key = (region, site, source)
        if bucket >= window_start:
            current[key] += count
        else:
            baseline[key] += count
    tests = []
    for key, observed in current.items():
        expected = (baseline.get(key, 0) + PRIOR) / BASELINE_WINDOWS
        region, site, source = key
        tests.append(
            PlaceTest(
                region, labels.get(region, region), site, source, observed, expected,
                poisson_tail(observed, expected),
            )
        )  # fmt: skip
    return tests


def detect_suspected_outages(*, now: datetime | None = None) -> list[SuspectedOutage]:
    """Count new contacts, test every place, raise a suspicion for each place that fails the
    test and has neither an active outage nor an open suspicion. Each raise commits with its
    outage.suspected event (the regions' teams and admins)."""
    now = now or timezone.now()
    count_contacts()
    count_network_events()
    window_start = bucket_of(now) - timedelta(seconds=BUCKET_SECONDS * (WINDOW_BUCKETS - 1))
    raised = []
    for place in score_places(now):
        if not place.suspected or active_outages_in(place.label):
            continue
        if SuspectedOutage.objects.filter(
            region=place.region,
            site=place.site,
            source=place.source,
            state=SuspicionState.DISMISSED,
            decided_at__gte=now - timedelta(seconds=BUCKET_SECONDS * WINDOW_BUCKETS),
        ).exists():
            continue  # dismissed within the window: the same burst does not alarm again
        try:
            with transaction.atomic():
                suspicion = SuspectedOutage.objects.create(
                    region=place.region,
                    region_label=place.label,
                    site=place.site,
                    source=place.source,
                    observed=place.observed,
                    expected=place.expected,
                    p_value=place.p_value,
                    window_start=window_start,
                    raised_at=now,
                )
                send_event_on_commit(
                    LiveEvent(EventType.OUTAGE_SUSPECTED, staff=present_suspicion(suspicion)),
                    outage_recipients([place.label]),
                )
        except IntegrityError:
            continue  # open already
        raised.append(suspicion)
    return raised


def present_suspicion(suspicion: SuspectedOutage) -> dict[str, object]:
    return {
        "id": suspicion.pk,
        "region": suspicion.region_label,
        "site": suspicion.site or None,
        "source": suspicion.source,
        "observed": suspicion.observed,
        "expected": round(suspicion.expected, 2),
        "p_value": suspicion.p_value,
        "window_start": suspicion.window_start.isoformat(),
        "state": suspicion.state,
    }


# --- Supervisors decide -------------------------------------------------------------------


def access_suspicion(actor: User, suspicion_id: object) -> SuspectedOutage:
    if not can_manage_outages(actor):
        raise Forbidden("Only supervisors and admins can decide on suspected outages.")
    pk = parse_id(suspicion_id, "suspected outage")
    suspicion = SuspectedOutage.objects.filter(pk=pk).first()
    if suspicion is None:
        raise NotFound("No such suspected outage.")
    return suspicion


def do_confirm_suspicion(
    suspicion: SuspectedOutage,
    *,
    title: object,
    message: object,
    critical: bool = False,
    expected_end: datetime | None = None,
    actor: User,
) -> Outage:
    """A supervisor confirms: an outage is declared for the suspicion's region (as
    do_declare_outage, source `suspected`) and the suspicion closes with it (conditional
    UPDATE: deciding twice is a Conflict)."""
    with transaction.atomic():
        outage = do_declare_outage(
            regions=[suspicion.region_label],
            title=title,
            message=message,
            critical=critical,
            expected_end=expected_end,
            source=OutageSource.SUSPECTED,
            source_ref=str(suspicion.pk),
            actor=actor,
        )
        decided = SuspectedOutage.objects.filter(pk=suspicion.pk, state=SuspicionState.OPEN).update(
            state=SuspicionState.CONFIRMED,
            outage=outage,
            decided_by=actor,
            decided_at=timezone.now(),
        )
        if not decided:
            raise Conflict("This suspected outage has been decided already.")
    return outage


def do_dismiss_suspicion(suspicion: SuspectedOutage, *, actor: User) -> None:
    """Not an outage: the suspicion closes (audited outage.dismissed); the place may be
    suspected again by a later window."""
    if not can_manage_outages(actor):
        raise Forbidden("Only supervisors and admins can decide on suspected outages.")
    with transaction.atomic():
        decided = SuspectedOutage.objects.filter(pk=suspicion.pk, state=SuspicionState.OPEN).update(
            state=SuspicionState.DISMISSED, decided_by=actor, decided_at=timezone.now()
        )
        if not decided:
            raise Conflict("This suspected outage has been decided already.")
        do_audit(
            AuditAction.OUTAGE_DISMISSED,
            actor=actor,
            target_type="suspected_outage",
            target_id=suspicion.pk,
            data={"region": suspicion.region_label, "site": suspicion.site},
        )
