"""Template helpers of the desk's knowledge-base pages."""

from __future__ import annotations

from django import template

register = template.Library()

# Django's language codes → the BCP 47 tags HTML's lang attribute wants.
_HTML_LANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant"}


@register.filter
def html_lang(code: str) -> str:
    """The lang attribute for text in a KB language (so screen readers switch voice)."""
    return _HTML_LANG.get(code, code)
