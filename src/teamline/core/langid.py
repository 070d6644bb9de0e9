"""Which of the six languages a customer's text is written in, when that is clear.

Messaging channels rarely say which language a customer reads (Telegram does, with the app's
language; SMS, WhatsApp and most others do not), so Teamline looks at what they write. The
detector is lingua (lingua-language-detector, a maintained n-gram model set that knows Bokmål,
Estonian, Portuguese and Chinese), restricted to the languages Teamline speaks plus Nynorsk (so a
Nynorsk text is recognised as Norwegian instead of being forced onto a neighbour), in its
low-accuracy mode (trigram models only), built once per process and cached. Measured: about
20 MB of RSS and 35 ms of CPU to build and load, then about 0.04 ms of CPU per message
(docs/i18n.md); the high-accuracy mode took about 150 MB and gave the same answers on the
samples in tests/core/test_langid.py.
Chinese script (Simplified or Traditional) is not a language to lingua: OpenCC says which
characters a text uses.

`detect_language` answers only when confident — the text is long enough, lingua's best
language is well ahead of the next, and for Chinese the characters say which script — and
None otherwise. A short "ok" or "thanks" tells nothing and changes nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from opencc import OpenCC

# Below this many letters a text is too short to say (`hei`, `ok`, `obrigado` alone).
MIN_LETTERS = 12
# Two Han characters are enough: 你好 / 您好嗎 say Chinese on their own.
MIN_HAN = 2
# lingua's confidence in its best language (0…1) and its lead over the second.
MIN_CONFIDENCE = 0.6
MIN_LEAD = 0.25

# Addresses and links say nothing about the language around them.
_NOISE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+|\S+\.(?:com|net|org|no|ee|pt|cn|tw)\S*", re.I)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

_LINGUA = {
    Language.ENGLISH: "en",
    Language.BOKMAL: "nb",
    Language.NYNORSK: "nb",
    Language.ESTONIAN: "et",
    Language.PORTUGUESE: "pt",
    Language.CHINESE: "zh",
}


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    """Built once per process (its models load lazily, per language, on first use)."""
    return LanguageDetectorBuilder.from_languages(*_LINGUA).with_low_accuracy_mode().build()


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _s2t() -> OpenCC:
    return OpenCC("s2t")


def chinese_script(text: str) -> str | None:
    """zh-hant when the text has a character Simplified Chinese writes otherwise, zh-hans when
    it has one Traditional writes otherwise, "zh" when its characters are the same in both
    (人工, 真人客服: the customer's own language decides), None without Chinese."""
    han = "".join(_HAN.findall(text))
    if not han:
        return None
    if _t2s().convert(han) != han:
        return "zh-hant"
    if _s2t().convert(han) != han:
        return "zh-hans"
    return "zh"


def detect_language(text: str) -> str | None:
    """One of the six when the text clearly is in it, else None."""
    text = _NOISE.sub(" ", (text or "")[:2000])
    han = len(_HAN.findall(text))
    letters = len(_LETTER.findall(text))
    if han >= MIN_HAN and han * 2 >= letters:
        script = chinese_script(text)
        return script if script in ("zh-hans", "zh-hant") else None
    if letters - han < MIN_LETTERS:
        return None
    # Bokmål and Nynorsk share the vote: both are Norwegian (nb) to Teamline.
    totals: dict[str, float] = {}
    for value in detector().compute_language_confidence_values(text):
        language = _LINGUA[value.language]
        totals[language] = totals.get(language, 0.0) + value.value
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    if not ranked:
        return None
    language, confidence = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    if confidence < MIN_CONFIDENCE or confidence - second < MIN_LEAD or language == "zh":
        return None
    return language
