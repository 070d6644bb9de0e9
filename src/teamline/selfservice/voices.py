"""The IVR's languages: which of the six a call is spoken in (the customer's preference, else
the calling number's country, else the inbox default) and each language's voices for the
provider's <Say> and speech recognition (`VOICES`, overridable per inbox)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import phonenumbers

from teamline.conversations.models import (
    Inbox,
)
from teamline.core.languages import normalize_tag
from teamline.core.languages import supported_language as core_language
from teamline.customers.models import Customer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    say_language: str  # <Say language=…>
    voice: str  # <Say voice=…>
    speech_language: str  # <Gather language=…> (speech recognition)


# The voice of each call language (Twilio's Amazon Polly and Google voices, as Twilio pairs them
# with a <Say> language; <Gather> speech languages are Twilio's speech recognition tags). A call
# language is a Django language code: the six prompt languages (settings.LANGUAGES) and two
# regional variants with a voice of their own: pt-br has its own catalog (pt_BR, which gettext
# finds before pt, and falls back to pt for anything missing); zh-hk reads the zh-hant prompts
# (`PROMPT_LANGUAGES`: gettext would look for zh_HK, then zh). An inbox may
# override a voice with config["voices"][<language>] = {"say": …, "voice": …, "speech": …}.
VOICES: dict[str, Voice] = {
    "en": Voice("en-GB", "Polly.Amy", "en-GB"),
    "nb": Voice("nb-NO", "Polly.Liv", "nb-NO"),
    "zh-hans": Voice("zh-CN", "Polly.Zhiyu", "cmn-Hans-CN"),
    # Traditional Chinese as Taiwan speaks it (Mandarin); Polly has no Taiwanese voice.
    "zh-hant": Voice("cmn-TW", "Google.cmn-TW-Standard-A", "cmn-Hant-TW"),
    # Hong Kong (and Macau): Cantonese, read from the same Traditional Chinese prompts.
    "zh-hk": Voice("yue-HK", "Google.yue-HK-Standard-A", "yue-Hant-HK"),
    # Polly has no Estonian voice; Google's is the one Twilio offers.
    "et": Voice("et-EE", "Google.et-EE-Standard-A", "et-EE"),
    "pt": Voice("pt-PT", "Polly.Ines", "pt-PT"),
    "pt-br": Voice("pt-BR", "Polly.Camila", "pt-BR"),
}
# The language whose catalog a regional variant's prompts come from, where gettext's fallback
# does not find it.
PROMPT_LANGUAGES = {"zh-hk": "zh-hant"}
# The regional variants, each with the language of settings.LANGUAGES it is a variant of.
REGIONAL_VARIANTS = {"zh-hk": "zh-hant", "pt-br": "pt"}
# Tags naming a regional variant with a voice of its own; every other tag maps to one of the six
# through core.languages (the one map: zh-TW → zh-hant, no → nb, …).
VOICE_VARIANTS = {
    "zh-hk": "zh-hk",
    "zh-hant-hk": "zh-hk",
    "zh-mo": "zh-hk",
    "zh-hant-mo": "zh-hk",
    "yue": "zh-hk",
    "yue-hk": "zh-hk",
    "pt-br": "pt-br",
}
# The language a number's country speaks, for callers whose language we do not know yet.
COUNTRY_LANGUAGES = {
    "NO": "nb",
    "CN": "zh-hans",
    "SG": "zh-hans",
    "TW": "zh-hant",
    "HK": "zh-hk",
    "MO": "zh-hk",
    "EE": "et",
    "PT": "pt",
    "BR": "pt-br",
    "GB": "en",
    "IE": "en",
    "US": "en",
    "CA": "en",
    "AU": "en",
}


def supported_language(code: str) -> str | None:
    """The call language (a key of VOICES) a tag asks for, or None."""
    tag = normalize_tag(code)
    language = VOICE_VARIANTS.get(tag) or core_language(tag)
    return language if language in VOICES else None


def prompt_language(language: str) -> str:
    """The Django language whose catalog a call language's prompts come from."""
    return PROMPT_LANGUAGES.get(language, language)


def call_language(customer: Customer, caller: str, inbox: Inbox) -> str:
    """The customer's preferred language, else the calling number's country's, else the
    inbox's default (config["language"]), else English. A preferred language without a region
    ("zh-hant", "pt") takes the voice of the number's country when that country speaks it
    (a Hong Kong number: Cantonese; a Brazilian one: Brazilian Portuguese)."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(caller, None))
    except phonenumbers.NumberParseException:
        region = ""
    by_country = supported_language(COUNTRY_LANGUAGES.get(region or "", ""))
    preferred = (customer.preferred_language or "").strip().lower().replace("_", "-")
    known = supported_language(preferred)
    if known:
        if by_country and preferred == known and REGIONAL_VARIANTS.get(by_country) == known:
            return by_country
        return known
    if by_country:
        return by_country
    return supported_language(str((inbox.config or {}).get("language") or "")) or "en"


def voice_for(inbox: Inbox, language: str) -> Voice:
    override = ((inbox.config or {}).get("voices") or {}).get(language)
    base = VOICES[language]
    if not isinstance(override, dict):
        return base
    return Voice(
        str(override.get("say") or base.say_language),
        str(override.get("voice") or base.voice),
        str(override.get("speech") or base.speech_language),
    )
