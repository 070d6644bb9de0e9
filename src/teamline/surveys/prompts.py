"""The words of a survey, per kind and channel, in the customer's language (gettext, the
surveys catalog), and the shape of its answers: button ids, score parsing.

Pure functions of their arguments and the active translation: actions.py activates the
customer's language around them."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from .models import SCALES, SurveyKind

# Button ids and callback data: "tl-survey:<token>:<score>" (Telegram allows 64 bytes).
BUTTON_PREFIX = "tl-survey:"
_BUTTON = re.compile(r"^tl-survey:([A-Za-z0-9_-]{16,32}):(\d{1,2})$")
# What a bare score may carry around it: blanks and a full stop or an exclamation mark.
_TRIM = " \t\r\n\u00a0\u3000.!。！"
MAX_COMMENT = 2000


def question(kind: str) -> str:
    if kind == SurveyKind.NPS:
        return _("How likely are you to recommend us to a friend or colleague?")
    return _("How satisfied are you with the help you got?")


def score_label(kind: str, score: int) -> str:
    """What each score means, for buttons, radio labels and the email's links."""
    if kind == SurveyKind.NPS:
        if score == 0:
            return pgettext("nps score", "0 – Not at all likely")
        if score == 10:
            return pgettext("nps score", "10 – Extremely likely")
        return str(score)
    return {
        1: pgettext("csat score", "1 – Very dissatisfied"),
        2: pgettext("csat score", "2 – Dissatisfied"),
        3: pgettext("csat score", "3 – Neither satisfied nor dissatisfied"),
        4: pgettext("csat score", "4 – Satisfied"),
        5: pgettext("csat score", "5 – Very satisfied"),
    }[score]


def scores(kind: str) -> range:
    low, high = SCALES[kind]
    return range(low, high + 1)


def reply_hint(kind: str) -> str:
    """For text channels: how to answer by typing."""
    if kind == SurveyKind.NPS:
        return _("Reply with a number from 0 (not at all likely) to 10 (extremely likely).")
    return _("Reply with a number from 1 (very dissatisfied) to 5 (very satisfied).")


def message_text(kind: str, channel: str, links: dict[int, str] | None = None) -> str:
    """The survey message as the customer reads it on `channel`."""
    ask = question(kind)
    if channel == "email":
        lines = [ask, "", _("Choose your answer (one click opens a short page):"), ""]
        for score in sorted(links or {}, reverse=True):
            lines.append(f"{score_label(kind, score)}: {(links or {})[score]}")
        lines += ["", _("Thank you for helping us improve.")]
        return "\n".join(lines)
    if channel == "webchat":
        return ask
    if channel == "sms" or not has_buttons(kind, channel):
        return f"{ask} {reply_hint(kind)}"
    # WhatsApp and Telegram carry buttons; typing the number works too.
    return f"{ask} {_('Tap an answer, or reply with the number.')}"


def has_buttons(kind: str, channel: str) -> bool:
    """Telegram's inline keyboard takes any scale; a WhatsApp list at most 10 rows (CSAT)."""
    return channel == "telegram" or (channel == "whatsapp" and len(scores(kind)) <= 10)


def choose_button() -> str:
    """The button that opens WhatsApp's list of answers (at most 20 characters)."""
    return pgettext("whatsapp list button", "Answer")


def choices(kind: str, token: str) -> list[dict[str, str]]:
    """The buttons (WhatsApp list rows, Telegram inline keyboard), best first."""
    return [
        {"id": f"{BUTTON_PREFIX}{token}:{score}", "title": score_label(kind, score)}
        for score in reversed(scores(kind))
    ]


def widget_words(kind: str) -> dict[str, Any]:
    """What the widget's rating form says (the survey's own language, not the page's)."""
    return {
        "question": question(kind),
        "labels": {str(score): score_label(kind, score) for score in scores(kind)},
        "comment": _("Anything you would like to add? (optional)"),
        "submit": _("Send my answer"),
        "thanks": _("Thank you for your answer!"),
        "opt_out": _("Do not ask me for feedback again"),
        "choose": _("Please choose an answer."),
    }


def thanks() -> str:
    return _("Thank you for your answer!")


def button_answer(content: dict[str, Any]) -> tuple[str, int] | None:
    """(token, score) when an inbound message is a tap on a survey button: a WhatsApp
    list or button reply, or a Telegram callback. No query."""
    candidates: list[Any] = []
    interactive = content.get("interactive")
    if isinstance(interactive, dict):
        for key in ("list_reply", "button_reply"):
            reply = interactive.get(key)
            if isinstance(reply, dict):
                candidates.append(reply.get("id"))
    callback = content.get("callback")
    if isinstance(callback, dict):
        candidates.append(callback.get("data"))
    for value in candidates:
        if isinstance(value, str) and (found := _BUTTON.match(value)):
            return found.group(1), int(found.group(2))
    return None


def typed_score(text: str) -> int | None:
    """The score when the whole message is a number of one or two digits — "5", " 5 ", "５"
    (full-width), "5." — else None. Other text is a normal message. No query."""
    if not text or len(text) > 12:
        return None
    cleaned = unicodedata.normalize("NFKC", text).strip(_TRIM)
    if len(cleaned) in (1, 2) and cleaned.isascii() and cleaned.isdigit():
        return int(cleaned)
    return None
