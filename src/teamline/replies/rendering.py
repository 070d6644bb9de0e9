"""A canned reply's variables and how they are filled in: a small explicit substitution of
known names, never a template language.

`{{customer.first_name}}`, `{{agent.name}}` and `{{team.hours_today}}` (spaces inside the
braces allowed) are replaced in one pass over the text; what a value holds is never looked at
again, so a customer named "{{agent.name}}" stays just that. Anything else in braces is left
visible as written (and refused when a reply is saved: replies.actions). The text is the
customer's language's (`pick_language`), and so is the team's hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import translation
from django.utils.translation import gettext

from teamline.core.formatting import format_clock
from teamline.core.languages import default_language, inbox_language, languages, supported_language
from teamline.customers.masking import Sensitive, shown
from teamline.teams.hours import Calendar, calendar_for, day_of, day_rules, intervals_on
from teamline.teams.models import ServiceMode, Team

CUSTOMER_FIRST_NAME = "customer.first_name"
AGENT_NAME = "agent.name"
TEAM_HOURS_TODAY = "team.hours_today"
VARIABLES = (CUSTOMER_FIRST_NAME, AGENT_NAME, TEAM_HOURS_TODAY)
# `{{ name }}`: whatever sits between double braces, without braces or line breaks, bounded.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}\n]{0,64}?)\s*\}\}")


def variables_in(text: str) -> list[str]:
    """The names between double braces in `text`, in order, each once."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def unknown_variables(text: str) -> list[str]:
    return [name for name in variables_in(text) if name not in VARIABLES]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Each known placeholder replaced by its value, in one pass; unknown ones left as they
    are written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return values[name] if name in values else match.group(0)

    return PLACEHOLDER.sub(replace, text)


def pick_language(texts: Mapping[str, str], customer_language: str, inbox_config: Any) -> str:
    """The language of `texts` to use for a customer: theirs, else the inbox's default, else
    the installation's, else the first the reply has (in the six's order)."""
    for wanted in (
        supported_language(customer_language),
        inbox_language(inbox_config),
        default_language(),
    ):
        if wanted and texts.get(wanted):
            return wanted
    return next((code for code in languages() if texts.get(code)), "")


def first_name(name: str) -> str:
    """The first word of the customer's name ("" when Teamline does not know their name)."""
    words = (name or "").split()
    return words[0] if words else ""


def hours_today(calendar: Calendar, now: datetime, language: str) -> str:
    """The team's hours on its local day, for a customer: "09:00–17:00", "08:00–12:00,
    13:00–16:00", "open around the clock", or what a holiday or a closed day means."""
    day = day_of(calendar, now)
    holiday, _weekday = day_rules(calendar, day)
    with translation.override(language):
        if holiday and calendar.holiday_mode == ServiceMode.CLOSED:
            return gettext("closed today (a holiday)")
        if not calendar.intervals:
            text = gettext("open around the clock")
        else:
            ranges = intervals_on(calendar, day)
            if not ranges:
                return gettext("closed today")
            text = ", ".join(
                f"{format_clock(start.astimezone(calendar.tz), language)}–"
                f"{format_clock(end.astimezone(calendar.tz), language)}"
                for start, end in ranges
            )
        if holiday:
            return gettext("%(hours)s, urgent matters only (a holiday)") % {"hours": text}
        return text


@dataclass(frozen=True)
class Rendered:
    language: str
    text: str
    # Names between braces that are not variables (left visible in `text`).
    unknown: tuple[str, ...]


class Filler:
    """Fills replies in for one conversation and one agent: the values are worked out once
    (the team's calendar read once, its hours once per language), so a picker listing many
    replies costs a fixed number of queries. The customer's name is what `agent` may see of
    it (masked for a remote agent, who then writes it themselves)."""

    def __init__(
        self, *, customer: Any, inbox_config: Any, agent: Any, team: Team, now: datetime
    ) -> None:
        self.customer, self.inbox_config, self.agent = customer, inbox_config, agent
        self.team, self.now = team, now
        self._calendar: Calendar | None = None
        self._hours: dict[str, str] = {}

    def _hours_today(self, language: str) -> str:
        if language not in self._hours:
            if self._calendar is None:
                self._calendar = calendar_for(self.team, now=self.now)
            self._hours[language] = hours_today(self._calendar, self.now, language)
        return self._hours[language]

    def render(self, texts: Mapping[str, str]) -> Rendered:
        """The reply in the customer's language with its variables filled in."""
        language = pick_language(texts, self.customer.preferred_language, self.inbox_config)
        text = texts.get(language, "")
        names = variables_in(text)
        values: dict[str, str] = {}
        if CUSTOMER_FIRST_NAME in names:
            values[CUSTOMER_FIRST_NAME] = first_name(
                shown(self.agent, Sensitive.NAME, self.customer.name)
            )
        if AGENT_NAME in names:
            values[AGENT_NAME] = self.agent.name
        if TEAM_HOURS_TODAY in names:
            values[TEAM_HOURS_TODAY] = self._hours_today(language or default_language())
        return Rendered(
            language=language,
            text=substitute(text, values),
            unknown=tuple(name for name in names if name not in VARIABLES),
        )


def filler_for(conversation: Any, agent: Any, now: datetime) -> Filler:
    """A Filler for a conversation (read with its customer, team and inbox)."""
    return Filler(
        customer=conversation.customer,
        inbox_config=conversation.inbox.config,
        agent=agent,
        team=conversation.team,
        now=now,
    )
