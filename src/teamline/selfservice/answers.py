"""The words of every self-service answer, in the customer's language: one module for the
phone IVR, the bot on message channels and SMS keywords, so a balance is said the same way
everywhere (and translated once, in selfservice/locale).

Every function speaks the language active when it is called (`translation.override(...)`
around it). Functions that read the telco backend raise what it raises (TelcoUnavailable,
SubscriberNotFound, InvalidNumber): what to say then depends on the channel ("press 0" on the
phone, a handoff in a chat), so the caller decides.

SMS costs by the segment: `gsm7` spells the few letters outside the GSM 7-bit alphabet (õ, ã,
ç, í, …) with their plain letter, so a Latin-script answer fits one 160-character segment
instead of a 70-character UCS-2 one; Chinese stays as it is.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, time, timedelta

from django.utils import formats, timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _

from teamline.connectors.sms import GSM7_BASIC, GSM7_EXTENSION
from teamline.proactive.queries import active_outages_in
from teamline.teams.hours import (
    admits,
    calendar_for,
    is_holiday,
    next_opening,
    service_mode,
)
from teamline.teams.models import ServiceMode, Team

from .telco import TelcoUnavailable, telco_backend

MAX_OUTAGES = 3
HOLIDAY_LOOKAHEAD_DAYS = 14


# --- Shared pieces -----------------------------------------------------------------------------


def spoken_time(team: Team, when: datetime, now: datetime) -> str:
    """ "today at 09:00", "tomorrow at 09:00" or "Monday 6 January at 09:00" in the team's time
    zone."""
    tz = calendar_for(team, now=now).tz
    local = timezone.localtime(when, tz)
    today = timezone.localtime(now, tz).date()
    clock = formats.time_format(local, "H:i")
    if local.date() == today:
        return _("today at {time}").format(time=clock)
    if local.date() == today + timedelta(days=1):
        return _("tomorrow at {time}").format(time=clock)
    return _("{day} at {time}").format(day=formats.date_format(local, "l j F"), time=clock)


def currency_name(code: str) -> str:
    names = {"NOK": _("kroner"), "CNY": _("yuan"), "EUR": _("euros"), "GBP": _("pounds")}
    return names.get(code.upper(), code)


def handoff_word() -> str:
    # Translators: the one word a customer writes to reach a person. It must be one of the
    # bot's handoff words for the language (selfservice/intents.py, TALK_TO_PERSON).
    return _("AGENT")


# --- Account answers (a verified customer's own number) ----------------------------------------


def balance_text(msisdn: str) -> str:
    balance = telco_backend().balance(msisdn)
    amount = formats.number_format(balance.amount, decimal_pos=2)
    return _("Your balance is {amount} {currency}.").format(
        amount=amount, currency=currency_name(balance.currency)
    )


def data_text(msisdn: str) -> str:
    usage = telco_backend().data_usage(msisdn)
    left = formats.number_format(round(usage.left_mb / 1024, 1), decimal_pos=1)
    cap = formats.number_format(round(usage.cap_mb / 1024, 1), decimal_pos=1)
    return _("You have {left} of {cap} gigabytes of data left until {date}.").format(
        left=left, cap=cap, date=formats.date_format(usage.period_ends, "j F")
    )


def bill_text(msisdn: str) -> str:
    plan = telco_backend().subscriber(msisdn).plan
    return _(
        "Your plan is {plan}. Your bill is its monthly price plus what you used outside it, "
        "such as calls abroad or extra data."
    ).format(plan=plan or "-")


def buy_data_text() -> str:
    """The backend sells nothing: say where to buy, and that a person can do it."""
    return _(
        "You can buy more data in our app or on our website under My subscription. "
        "Write {word} and a person from your team will add it for you."
    ).format(word=handoff_word())


# --- Public answers ----------------------------------------------------------------------------


def known_outage_texts(region: str, team: Team, now: datetime) -> list[str]:
    """ "We know about it": the outages declared in Teamline for the region (proactive), with
    what customers are told and when it should be fixed; [] when there is none. Said first by
    the bots and the IVR."""
    texts = []
    for outage in active_outages_in(region)[:MAX_OUTAGES]:
        texts.append(
            _("We know about the outage in {region}: {title}. {message}").format(
                region=region, title=outage.title, message=outage.message
            )
        )
        if outage.expected_end is not None and outage.expected_end > now:
            texts.append(
                _("We expect it to be fixed {when}.").format(
                    when=spoken_time(team, outage.expected_end, now)
                )
            )
    return texts


def outage_texts(region: str, team: Team, now: datetime) -> list[str]:
    """The outages of the region: Teamline's declared ones first, then the telco backend's
    (those not already said). With a declared outage, a backend that does not answer is not
    an error: what we know is said."""
    known = known_outage_texts(region, team, now)
    said = {outage.title.casefold() for outage in active_outages_in(region)}
    try:
        outages = telco_backend().outages(region)
    except TelcoUnavailable:
        if known:
            return known
        raise
    outages = [o for o in outages if o.title.casefold() not in said]
    if not outages and not known:
        return [_("There are no known outages in {region} right now.").format(region=region)]
    texts = known
    for outage in outages[: max(0, MAX_OUTAGES - len(said))]:
        texts.append(
            _("Known outage in {region}: {title}.").format(region=region, title=outage.title)
        )
        if outage.expected_end is not None:
            texts.append(
                _("We expect it to be fixed {when}.").format(
                    when=spoken_time(team, outage.expected_end, now)
                )
            )
    return texts


def _clock(value: time) -> str:
    return "24:00" if value == time(0, 0) else value.strftime("%H:%M")


def weekly_hours(team: Team, now: datetime) -> str:
    """ "Mon-Fri 08:00-16:00, Sat 10:00-14:00" in the active language ("" for 24/7)."""
    calendar = calendar_for(team, now=now)
    by_day: dict[int, list[str]] = {}
    for weekday, opens, closes in sorted(calendar.intervals):
        by_day.setdefault(weekday, []).append(f"{_clock(opens)}-{_clock(closes)}")
    parts: list[str] = []
    day = 0
    while day < 7:
        hours = by_day.get(day)
        if not hours:
            day += 1
            continue
        last = day
        while last + 1 < 7 and by_day.get(last + 1) == hours:
            last += 1
        names = str(WEEKDAYS_ABBR[day])
        if last > day:
            names += "-" + str(WEEKDAYS_ABBR[last])
        parts.append(f"{names} {', '.join(hours)}")
        day = last + 1
    return "; ".join(parts)


def hours_texts(team: Team, now: datetime) -> list[str]:
    """The team's hours, whether it answers now, and the next holiday within two weeks."""
    texts = []
    hours = weekly_hours(team, now)
    if hours:
        texts.append(_("{team} answers {hours}.").format(team=team.name, hours=hours))
    else:
        texts.append(_("{team} answers around the clock.").format(team=team.name))
    mode = service_mode(team, now)
    if not admits(mode, urgent=False):
        opens = next_opening(team, now)
        when = spoken_time(team, opens, now) if opens is not None else ""
        if mode == ServiceMode.LIMITED and when:
            text = _("Your team takes urgent matters only now and answers everyone {when}.")
        elif mode == ServiceMode.LIMITED:
            text = _("Your team takes urgent matters only now.")
        elif when:
            text = _("Your team is closed now and answers again {when}.")
        else:
            text = _("Your team is closed now.")
        texts.append(text.format(when=when))
    calendar = calendar_for(team, now=now)
    today = timezone.localtime(now, calendar.tz).date()
    for offset in range(1, HOLIDAY_LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if is_holiday(calendar, day):
            date = formats.date_format(day, "j F")
            if calendar.holiday_mode == ServiceMode.LIMITED:
                texts.append(_("On {date}, a holiday, urgent matters only.").format(date=date))
            elif calendar.holiday_mode == ServiceMode.CLOSED:
                texts.append(_("On {date}, a holiday, your team is closed.").format(date=date))
            break
    return texts


# --- The bot's own turns -----------------------------------------------------------------------


def anything_else() -> str:
    return _("Anything else? Write {word} to talk to your team.").format(word=handoff_word())


def not_understood() -> str:
    return _(
        "Sorry, I did not understand. I can tell you your balance, data left, explain your "
        "bill, check outages and opening hours. Write {word} to talk to your team."
    ).format(word=handoff_word())


def handing_over(team: Team) -> str:
    return _("I am passing you to {team}; a person will answer you here.").format(team=team.name)


def backend_down() -> str:
    return _("Sorry, I cannot reach our systems right now.")


def not_found() -> str:
    return _("I could not find a subscription for your number.")


def verify_in_the_widget() -> str:
    return _(
        "To tell you about your account I need to know it is you: please sign in on our "
        "website or in our app and ask again. Or write {word} to talk to your team."
    ).format(word=handoff_word())


def step_up_sent(destination: str) -> str:
    return _(
        "To tell you about your account I need to know it is you. I sent a code to "
        "{destination}: enter it in the box below the chat, then ask me again."
    ).format(destination=destination)


def step_up_sign_in() -> str:
    return _(
        "To tell you about your account I need to know it is you. Please verify with one of "
        "the buttons below the chat, then ask me again. Or write {word} to talk to your team."
    ).format(word=handoff_word())


def cannot_verify() -> str:
    return _("I cannot confirm who you are on this channel.")


def sms_keywords() -> dict[str, str]:
    """The keyword to text for each intent, as the help text names them."""
    return {
        # Translators: an SMS keyword (one word, capitals where the script has them) the bot
        # knows for the balance (selfservice/intents.py).
        "balance": _("BALANCE"),
        # Translators: an SMS keyword for data left.
        "data_left": _("DATA"),
        # Translators: an SMS keyword for known outages.
        "outage": _("OUTAGE"),
        # Translators: an SMS keyword for opening hours.
        "opening_hours": _("HOURS"),
    }


def sms_help_text() -> str:
    words = sms_keywords()
    return _(
        "Text {balance} for your balance, {data} for data left, {outage} for outages, {hours} "
        "for opening hours. Or write your question to your team."
    ).format(
        balance=words["balance"],
        data=words["data_left"],
        outage=words["outage"],
        hours=words["opening_hours"],
    )


# --- SMS ---------------------------------------------------------------------------------------


def gsm7(text: str) -> str:
    """`text` with letters outside the GSM 7-bit alphabet spelled plainly ("õ" → "o",
    "ç" → "c", "–" → "-") when that makes the whole text GSM-7; otherwise (Chinese, emoji)
    unchanged."""
    replaced = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            replaced.append(ch)
            continue
        if ch in "\u2013\u2014":
            replaced.append("-")
            continue
        if ch in "\u00a0\u202f":
            replaced.append(" ")
            continue
        base = unicodedata.normalize("NFKD", ch)[:1]
        replaced.append(base)
    plain = "".join(replaced)
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in plain):
        return plain
    return text
