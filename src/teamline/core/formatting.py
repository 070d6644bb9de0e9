"""Dates, times and numbers as a customer reads them, in one of the six languages (Babel).

Texts Teamline sends customers ("A person will answer your message from 09:00 on Tuesday
13 January", a reminder's time, a data balance) are formatted here for the customer's language:
Babel's CLDR data names the weekdays and months, and each language's own order of day, month
and weekday is kept (`DAY_PATTERNS`). English is written the British way (24-hour clock, day
before month), as the brand's region does. Times are always shown on the 24-hour clock, which
all six languages' customers read without ambiguity.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from django.utils import translation
from django.utils.translation import gettext

from .languages import babel_locale, language_for

# A day named in full: weekday, day and month, in each language's order.
DAY_PATTERNS = {
    "en": "EEEE d MMMM",  # Tuesday 13 January
    "nb": "EEEE d. MMMM",  # tirsdag 13. januar
    "zh-hans": "M月d日EEEE",  # 1月13日星期二
    "zh-hant": "M月d日EEEE",  # 1月13日星期二
    "et": "EEEE, d. MMMM",  # teisipäev, 13. jaanuar
    "pt": "EEEE, d 'de' MMMM",  # terça-feira, 13 de janeiro
}


def _locale(language: str) -> str:
    code = babel_locale(language)
    return "en_GB" if code == "en" else code


def format_clock(when: datetime, language: str | None) -> str:
    """09:00 (24-hour clock) in the language's digits and separator."""
    return format_time(when, "HH:mm", locale=_locale(language_for(language)))


def format_day(when: datetime, language: str | None) -> str:
    """Tuesday 13 January / tirsdag 13. januar / 1月13日星期二 …"""
    code = language_for(language)
    return format_date(when, DAY_PATTERNS.get(code, DAY_PATTERNS["en"]), locale=_locale(code))


def format_when(when: datetime, now: datetime, tz: tzinfo, language: str | None) -> str:
    """'09:00', '09:00 tomorrow' or '09:00 on Tuesday 13 January', in `tz`, in the language."""
    code = language_for(language)
    local, today = when.astimezone(tz), now.astimezone(tz).date()
    clock = format_clock(local, code)
    if local.date() == today:
        return clock
    with translation.override(code):
        if local.date() == today + timedelta(days=1):
            return gettext("%(time)s tomorrow") % {"time": clock}
        return gettext("%(time)s on %(date)s") % {"time": clock, "date": format_day(local, code)}


def format_number(value: int | float | Decimal, language: str | None) -> str:
    """1 234,5 / 1,234.5 / 1.234,5 … as the language writes numbers."""
    return format_decimal(value, locale=_locale(language_for(language)))
