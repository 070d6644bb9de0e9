"""What search sees of a text: one normalisation and one tokenisation for articles and queries,
the same on SQLite and PostgreSQL (docs/adr/0006-knowledge-search.md).

- Case and width are folded (NFKC, casefold); Latin diacritics are dropped and the Nordic
  letters spelled without them (å → a, ø → o, æ → ae), so "sao paulo", "São Paulo", "tilgodehavende"
  and "tilgodehåvende" meet; Estonian õ ä ö ü fold to o a o u.
- Chinese is folded to Simplified characters (OpenCC's Traditional → Simplified table, plus the
  variants it leaves apart, 帳/賬 → 帐), so a query in either script finds a text in the other.
- Words (letters and digits) become `words` (the whole word) and `grams` (its character
  trigrams): trigrams find inflected forms (Estonian "rändlus", "rändluse", "rändlusest"),
  parts of compounds (Norwegian "mobildata" ↔ "data"), and words with a typo ("roamnig"
  shares "roa", "oam" with "roaming"). Terms hold only letters and digits, so both databases'
  tokenizers keep each one whole.
- Chinese runs (no spaces between words) become their character bigrams as `words` and single
  characters as `grams`, the usual way to index text that has no word boundaries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from opencc import OpenCC

_LATIN_EXTRA = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "đ": "d", "ł": "l"})
# Variants Traditional → Simplified conversion leaves apart that people use for the same word.
_HAN_VARIANTS = str.maketrans({"账": "帐", "着": "著", "里": "裏"})
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RUN = re.compile(rf"[{_HAN}]+")
# A word longer than this is not a word (a pasted key, a URL's middle): cut, not indexed whole.
MAX_WORD = 40


@lru_cache(maxsize=1)
def _to_simplified() -> OpenCC:
    return OpenCC("t2s")


def fold(text: str) -> str:
    """The folded form of `text` that both articles and queries are compared in."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if _HAN_RUN.search(text):
        text = _to_simplified().convert(text).translate(_HAN_VARIANTS)
    text = text.translate(_LATIN_EXTRA)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Terms:
    words: list[str]
    grams: list[str]

    def as_text(self) -> tuple[str, str]:
        return " ".join(self.words), " ".join(self.grams)


def units(text: str) -> list[Terms]:
    """`text` cut into its runs (a Latin word, a stretch of Chinese), each with its words and
    grams: what a query is planned from (knowledge/search.py)."""
    found: list[Terms] = []
    for run in _RUN.findall(fold(text)):
        if _HAN_RUN.fullmatch(run):
            bigrams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
            found.append(Terms(bigrams, list(run)))
            continue
        word = run[:MAX_WORD]
        found.append(Terms([word], [word[i : i + 3] for i in range(len(word) - 2)]))
    return found


def terms(text: str) -> Terms:
    """The words and grams of `text` (in order, repeated as often as they occur)."""
    words: list[str] = []
    grams: list[str] = []
    for unit in units(text):
        words.extend(unit.words)
        grams.extend(unit.grams)
    return Terms(words, grams)
