"""The languages Teamline speaks, and the one map from a language tag to one of them.

Customers arrive with every kind of tag: a browser's `zh-TW`, an email's `Content-Language:
nb-NO`, Telegram's `pt-br`, Messenger's `zh_HK`, an operator's `no`. Teamline speaks six
languages (settings.LANGUAGES): en, nb, zh-hans, zh-hant, et, pt. `supported_language` maps a tag
to one of the six, or to None when it is none of them; `language_for` adds the fallback (the
inbox's default language, else the installation's). Every place that reads a tag goes through
here, so `zh-HK` means Traditional Chinese in the widget, the routing engine and a reminder alike.

The map (docs/i18n.md):

- zh-TW, zh-HK, zh-MO, zh-Hant(-*) → zh-hant; zh-CN, zh-SG, zh, zh-Hans(-*) → zh-hans
- no, nn, nb-NO (and no-*, nn-*) → nb
- pt-BR, pt-PT (and any pt-*) → pt; et-EE → et; en-* → en
- anything else → None (the caller's default: the inbox's default language)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings

# Tags whose first subtag alone does not say which of the six they are.
_ALIASES = {
    "zh": "zh-hans",
    "zh-cn": "zh-hans",
    "zh-sg": "zh-hans",
    "zh-my": "zh-hans",
    "zh-tw": "zh-hant",
    "zh-hk": "zh-hant",
    "zh-mo": "zh-hant",
    "no": "nb",
    "nn": "nb",
}
# Chinese regions that write Traditional characters.
_TRADITIONAL_REGIONS = frozenset({"tw", "hk", "mo"})
_NORWEGIAN = frozenset({"nb", "no", "nn"})
_TAG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")


def languages() -> tuple[str, ...]:
    """The six codes, in settings order (en first)."""
    return tuple(str(code) for code, _name in settings.LANGUAGES)


def language_names() -> list[tuple[str, str]]:
    """(code, name in that language) for pickers."""
    return [(str(code), str(name)) for code, name in settings.LANGUAGES]


def normalize_tag(tag: str | None) -> str:
    """`zh_Hant_TW` / ` ZH-hant-tw ` → `zh-hant-tw`; "" when it is not a language tag."""
    text = (tag or "").strip().lower().replace("_", "-")
    # Accept-Language style weights and POSIX suffixes (`pt_BR.UTF-8`, `nb;q=0.8`) are noise.
    text = text.split(";", 1)[0].split(".", 1)[0].split("@", 1)[0].strip()
    return text if _TAG.match(text) else ""


def supported_language(tag: str | None) -> str | None:
    """The one of the six languages a tag names, or None."""
    code = normalize_tag(tag)
    if not code:
        return None
    known = languages()
    if code in known:
        return code
    if code in _ALIASES and _ALIASES[code] in known:
        return _ALIASES[code]
    parts = code.split("-")
    primary = parts[0]
    if primary == "zh":
        subtags = set(parts[1:])
        wanted = "zh-hant" if "hant" in subtags or subtags & _TRADITIONAL_REGIONS else "zh-hans"
        return wanted if wanted in known else None
    if primary in _NORWEGIAN:
        return "nb" if "nb" in known else None
    return primary if primary in known else None


def default_language() -> str:
    return supported_language(str(settings.LANGUAGE_CODE)) or "en"


def inbox_language(config: Mapping[str, Any] | None) -> str:
    """An inbox's default language (config["language"]), else the installation's."""
    return supported_language(str((config or {}).get("language") or "")) or default_language()


def language_for(tag: str | None, default: str | None = None) -> str:
    """The language to speak to someone whose tag is `tag`: one of the six, else `default`
    (itself mapped: an inbox's "pt-BR" default is pt), else the installation's default."""
    return supported_language(tag) or supported_language(default) or default_language()


def first_supported(tags: Iterable[str | None]) -> str | None:
    """The first of several tags (a browser's navigator.languages, in preference order) that
    Teamline speaks."""
    for tag in tags:
        code = supported_language(tag)
        if code:
            return code
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """An Accept-Language (or Content-Language) header's tags, most preferred first; `*` and
    malformed entries are left out, q=0 means "not this one"."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0 or not normalize_tag(tag):
            continue
        weighted.append((-quality, index, tag.strip()))
    return [tag for _q, _i, tag in sorted(weighted)]


def language_from_header(header: str | None) -> str | None:
    return first_supported(parse_accept_language(header))


def babel_locale(language: str | None) -> str:
    """The Babel/CLDR locale for one of the six (zh-hant → zh_Hant)."""
    code = language_for(language)
    return {"zh-hans": "zh_Hans", "zh-hant": "zh_Hant"}.get(code, code)
