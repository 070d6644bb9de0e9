"""The one SMS opt-out rule: which texts are carrier keywords, and what STOP / START do to a
customer's list of numbers never to be texted.

Everything that cares asks here: the SMS connector (marking an inbound keyword, answering it
in the webhook's TwiML, reachability, refusing to send), the inbound pipeline and
customers.actions.do_record_sms_keyword (keeping customer.attributes["sms_opt_out"]). Pure
functions, no database.
"""

from __future__ import annotations

from typing import Any

# customer.attributes key: the E.164 numbers of this customer that sent STOP.
OPT_OUT_ATTRIBUTE = "sms_opt_out"

STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
_KEYWORD_TRIM = " \t\r\n.!?,;:'\"\u00a0"


def keyword_of(text: str) -> str | None:
    """ "stop", "start" or "help" when the whole message is one of the carrier keywords
    (case-insensitive, surrounding blanks and punctuation ignored: "Stop." counts), else None.
    A sentence that merely contains the word ("please stop calling me") is not a keyword."""
    word = (text or "").strip(_KEYWORD_TRIM).upper()
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return None


def opted_out_numbers(attributes: dict[str, Any] | None) -> list[str]:
    """The numbers in a customer's attributes that sent STOP (a malformed value is none)."""
    value = (attributes or {}).get(OPT_OUT_ATTRIBUTE) or []
    return [str(number) for number in value if number] if isinstance(value, list) else []


def is_opted_out(attributes: dict[str, Any] | None, number: str) -> bool:
    return number.strip() in opted_out_numbers(attributes)


def updated_opt_outs(current: list[str] | None, number: str, keyword: str | None) -> list[str]:
    """The new list after `number` sent `keyword`: STOP adds the number, START removes it,
    anything else (HELP, no keyword) leaves the list as it was."""
    numbers = [n for n in (current or []) if n]
    number = number.strip()
    if keyword == "stop" and number not in numbers:
        return [*numbers, number]
    if keyword == "start":
        return [n for n in numbers if n != number]
    return numbers


# --- Consent keywords: STOP DATA / START DATA (a topic, not the whole number) ----------------

# The word for each consent topic a customer may text, in the six languages.
CONSENT_TOPIC_WORDS = {
    "DATA": "data_cap",
    "DADOS": "data_cap",
    "ANDMED": "data_cap",
    "流量": "data_cap",
}
CONSENT_STOP_WORDS = frozenset({"STOP", "STOPP", "PARAR", "PARE", "LÕPETA", "停止", "退订", "退訂"})
CONSENT_START_WORDS = frozenset({"START", "INICIAR", "ALUSTA", "开始", "開始", "订阅", "訂閱"})


def consent_keyword_of(text: str) -> tuple[str, bool] | None:
    """(topic, granted) when the whole message asks to stop or start one topic — "STOP DATA",
    "stopp data", "STOP DADOS", "停止流量" — else None. Case, surrounding blanks and
    punctuation are ignored; a sentence that merely contains the words is not a keyword."""
    cleaned = (text or "").strip(_KEYWORD_TRIM + "。！")
    if not cleaned or len(cleaned) > 40:
        return None
    words = cleaned.upper().split()
    if len(words) == 1:
        # Chinese runs the words together: 停止流量.
        for verb in (*CONSENT_STOP_WORDS, *CONSENT_START_WORDS):
            if words[0].startswith(verb) and words[0][len(verb) :] in CONSENT_TOPIC_WORDS:
                words = [verb, words[0][len(verb) :]]
                break
    if len(words) != 2 or words[1] not in CONSENT_TOPIC_WORDS:
        return None
    if words[0] in CONSENT_STOP_WORDS:
        return CONSENT_TOPIC_WORDS[words[1]], False
    if words[0] in CONSENT_START_WORDS:
        return CONSENT_TOPIC_WORDS[words[1]], True
    return None
