"""How a wellbeing signal reads on the desk: its name and its value in words."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

register = template.Library()

SIGNAL_NAMES = {
    "negative_run": gettext_lazy("Hard conversations in a row"),
    "no_break": gettext_lazy("Time since your last break"),
    "long_handle": gettext_lazy("Latest handle time against your usual"),
    "typing_strain": gettext_lazy("Typing strain"),
}


@register.filter
def signal_name(signal: str) -> str:
    return str(SIGNAL_NAMES.get(signal, signal))


@register.filter
def signal_value(value: float | None, signal: str) -> str:
    """A signal's value (or threshold) in words."""
    if value is None:
        return _("Not enough data yet")
    if signal == "negative_run":
        n = int(value)
        return ngettext("%(n)d conversation", "%(n)d conversations", n) % {"n": n}
    if signal == "no_break":
        minutes = int(value)
        return _("%(hours)d h %(minutes)02d min") % {
            "hours": minutes // 60,
            "minutes": minutes % 60,
        }
    if signal == "long_handle":
        return _("%(factor)s × your median") % {"factor": f"{value:.1f}"}
    if signal == "typing_strain":
        return _("%(percent)d %% corrections") % {"percent": round(value * 100)}
    return f"{value:g}"


@register.simple_tag
def suggestion_text(signal: str, value: float) -> str:
    """The private suggestion's sentence, by the signal that raised it."""
    if signal == "negative_run":
        n = int(value)
        return ngettext(
            "Your last %(n)d conversation was a hard one. Take a five-minute break?",
            "Your last %(n)d conversations were hard ones. Take a five-minute break?",
            n,
        ) % {"n": n}
    if signal == "no_break":
        minutes = int(value)
        return _(
            "You have worked %(hours)d h %(minutes)02d min without a break. "
            "Take a five-minute break?"
        ) % {"hours": minutes // 60, "minutes": minutes % 60}
    if signal == "long_handle":
        return _("That conversation took much longer than usual. Take a five-minute break?")
    return _("Your typing suggests strain. Take a five-minute break?")
