"""A run of angry customers — in Norwegian, then in Chinese — through the real SMS webhook:
after the third negative conversation in a row Kari gets a private suggestion to take a break
and Siv, who supervises Oslo, gets an alert. Bo (Bergen) hears nothing; a neutral morning
raises nothing."""

from __future__ import annotations

import pytest

from teamline.conversations.models import Message
from teamline.core.events import EventType
from teamline.core.testing import capture_events
from teamline.wellbeing.models import ConversationMood, WellbeingAlert

from .support import handled_conversation

pytestmark = pytest.mark.django_db

NORWEGIAN_ANGRY = [
    ["Dette er helt forferdelig, mobilen virker ikke!", "Jeg er så sint nå."],
    ["Elendig service, tredje gang jeg ringer", "Dere er helt ubrukelige"],
    ["Jeg er skuffet og lei av dere", "Latterlig dårlig dekning"],
]
CHINESE_ANGRY = [
    ["你们的服务太差了！", "我非常不满意"],
    ["真是垃圾，我要投诉", "气死我了"],
    ["你們的網路糟糕透了", "我要投訴，太差勁了"],  # Traditional characters
]
NEUTRAL = [
    ["Hei, når kommer regningen min?"],
    ["我想查一下我的余额"],
    ["Hvordan bytter jeg SIM-kort?", "Takk for hjelpen!"],
]


def wellbeing_events(sink):
    return [
        (str(event.type), event.staff, recipients.staff)
        for event, recipients in sink
        if str(event.type).startswith("wellbeing.")
    ]


@pytest.mark.parametrize(
    "language, conversations", [("nb", NORWEGIAN_ANGRY), ("zh", CHINESE_ANGRY)]
)
def test_three_negative_conversations_in_a_row_raise_a_suggestion_and_an_alert(
    morning, django_capture_on_commit_callbacks, language, conversations
):
    with capture_events() as sink, django_capture_on_commit_callbacks(execute=True):
        for n, lines in enumerate(conversations[:2]):
            handled_conversation(morning, lines, minute=10 * n)
        assert wellbeing_events(sink) == []  # two in a row is not yet a run
        last = handled_conversation(morning, conversations[2], minute=20)

    scored = Message.objects.filter(conversation=last, sender_kind="customer")
    assert all(m.content["sentiment"]["score"] < 0 for m in scored)
    moods = list(ConversationMood.objects.filter(agent=morning.kari).order_by("resolved_at"))
    assert [m.negative for m in moods] == [True, True, True]
    alert = WellbeingAlert.objects.get()
    assert (alert.agent, alert.signal, alert.value, alert.threshold) == (
        morning.kari,
        "negative_run",
        3.0,
        3.0,
    )
    sent = wellbeing_events(sink)
    assert [(kind, groups) for kind, _staff, groups in sent] == [
        (EventType.WELLBEING_SUGGESTION, frozenset({f"user.{morning.kari.pk}"})),
        (EventType.WELLBEING_ALERT, frozenset({f"user.{morning.siv.pk}"})),
    ]
    assert sent[1][1]["agent"] == {"id": morning.kari.pk, "name": morning.kari.name}
    assert sent[1][1]["alert"]["signal"] == "negative_run"


def test_the_run_starts_again_after_an_alert_and_a_calm_conversation_breaks_it(
    morning, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n, lines in enumerate(NORWEGIAN_ANGRY):
            handled_conversation(morning, lines, minute=10 * n)
        assert WellbeingAlert.objects.count() == 1
        # After the alert two more angry ones and a friendly one: no second alert.
        handled_conversation(morning, NORWEGIAN_ANGRY[0], minute=60)
        handled_conversation(morning, CHINESE_ANGRY[0], minute=70)
        handled_conversation(morning, ["Tusen takk, supert!"], minute=80)
        handled_conversation(morning, CHINESE_ANGRY[1], minute=90)
    assert WellbeingAlert.objects.count() == 1


def test_a_neutral_morning_raises_nothing(morning, django_capture_on_commit_callbacks):
    with capture_events() as sink, django_capture_on_commit_callbacks(execute=True):
        for n, lines in enumerate(NEUTRAL * 2):
            handled_conversation(morning, lines, minute=10 * n)
    assert ConversationMood.objects.filter(agent=morning.kari, negative=False).count() == 6
    assert WellbeingAlert.objects.count() == 0
    assert wellbeing_events(sink) == []
