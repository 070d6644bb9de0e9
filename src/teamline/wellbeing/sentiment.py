"""Customer sentiment of one message, by word lists (lexicon.py): deterministic, no model.

A message is cut into clauses at punctuation (a negation does not reach past a comma). In
each clause every sentiment word counts its weight; a negator up to three words before it
(two characters in Chinese) turns it around at half strength ("not bad" is mildly good, "not
helpful" is bad), an intensifier just before it makes it half as strong again. The message's
score is the sum, bounded to ±MAX_SCORE so one long rant weighs like a strong sentence.

Latin-script text is read with every Latin lexicon and the one that recognises most words
wins (ties go to the customer's known language, then en, nb, et, pt): a Norwegian customer who
writes English is read as English. Text with Chinese characters is read with the Simplified
and Traditional lists together (longest match first over character n-grams).

Only the first MAX_CHARS characters are read: the cost of a message is bounded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .lexicon import CHINESE, LATIN, ZH_HANS, ZH_HANT, Lexicon

MAX_CHARS = 2000
MAX_SCORE = 5.0
NEGATED = -0.5
INTENSIFIED = 1.5
NEGATION_REACH_WORDS = 3
NEGATION_REACH_CHARS = 2

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CLAUSES = re.compile(r"[.,;:!?…()\[\]\"“”«»\n。，、；：！？（）「」『』]+")
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


@dataclass(frozen=True)
class Score:
    value: float  # the sum of the recognised words, within ±MAX_SCORE
    hits: int  # how many sentiment words were recognised
    language: str  # the lexicon that read it ("" when nothing was recognised)


NEUTRAL = Score(0.0, 0, "")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold()
    return text.replace("\u2019", "'")


def _stems(lexicon: Lexicon) -> tuple[dict[str, int], tuple[int, ...]]:
    stems = {entry[:-1]: w for entry, w in lexicon.words.items() if entry.endswith("*")}
    return stems, tuple(sorted({len(stem) for stem in stems}, reverse=True))


# Entries ending in "*" by lexicon, with their lengths: a word is looked up by its prefixes of
# those lengths, a few dict lookups instead of a scan of the list.
_STEMS = {lexicon.language: _stems(lexicon) for lexicon in LATIN.values()}


def _lookup(lexicon: Lexicon, word: str) -> int:
    weight = lexicon.words.get(word)
    if weight is not None:
        return weight
    stems, lengths = _STEMS[lexicon.language]
    for size in lengths:
        if len(word) >= size and (found := stems.get(word[:size])) is not None:
            return found
    return 0


def _score_latin(clauses: list[list[str]], lexicon: Lexicon) -> tuple[float, int]:
    total = 0.0
    hits = 0
    for words in clauses:
        for i, word in enumerate(words):
            weight = _lookup(lexicon, word)
            if not weight:
                continue
            hits += 1
            value = float(weight)
            if i > 0 and words[i - 1] in lexicon.intensifiers:
                value *= INTENSIFIED
            before = words[max(0, i - NEGATION_REACH_WORDS) : i]
            if any(w in lexicon.negators for w in before):
                value *= NEGATED
            total += value
    return total, hits


_ZH_WORDS = {**ZH_HANS.words, **ZH_HANT.words}
_ZH_NEGATORS = ZH_HANS.negators | ZH_HANT.negators
_ZH_INTENSIFIERS = ZH_HANS.intensifiers | ZH_HANT.intensifiers
_ZH_ENTRIES = set(_ZH_WORDS) | _ZH_NEGATORS | _ZH_INTENSIFIERS
_ZH_LONGEST = max(len(e) for e in _ZH_ENTRIES)
_HANT_ONLY = set(ZH_HANT.words) - set(ZH_HANS.words)
_HANS_ONLY = set(ZH_HANS.words) - set(ZH_HANT.words)


def _grams(clause: str) -> list[tuple[int, int, str]]:
    """(start, end, entry) for each entry found by longest match, left to right."""
    found = []
    i = 0
    while i < len(clause):
        for size in range(min(_ZH_LONGEST, len(clause) - i), 0, -1):
            piece = clause[i : i + size]
            if piece in _ZH_ENTRIES:
                found.append((i, i + size, piece))
                i += size
                break
        else:
            i += 1
    return found


def _score_chinese(clauses: list[str]) -> tuple[float, int, str]:
    total = 0.0
    hits = 0
    hant = hans = 0
    for clause in clauses:
        grams = _grams(clause)
        for n, (start, _end, entry) in enumerate(grams):
            weight = _ZH_WORDS.get(entry, 0)
            if not weight:
                continue
            hits += 1
            hant += entry in _HANT_ONLY
            hans += entry in _HANS_ONLY
            value = float(weight)
            negated = intensified = False
            edge = start
            for prev_start, prev_end, prev in reversed(grams[:n]):
                if edge - prev_end > NEGATION_REACH_CHARS or prev in _ZH_WORDS:
                    break
                if prev in _ZH_INTENSIFIERS and not negated:
                    intensified = True
                if prev in _ZH_NEGATORS:
                    negated = True
                edge = prev_start
            if intensified:
                value *= INTENSIFIED
            if negated:
                value *= NEGATED
            total += value
    return total, hits, ("zh-hant" if hant > hans else "zh-hans")


def _bounded(value: float) -> float:
    return round(max(-MAX_SCORE, min(MAX_SCORE, value)), 2)


def score_text(text: str, language: str = "") -> Score:
    """The sentiment of one customer message; `language` is what is known of the customer's
    language (settings.LANGUAGES code, "" when unknown), used only to break ties."""
    if not text or not text.strip():
        return NEUTRAL
    folded = _fold(text)
    clauses = [c for c in _CLAUSES.split(folded) if c.strip()]
    if _CJK.search(folded):
        value, hits, lang = _score_chinese([re.sub(r"\s+", "", c) for c in clauses])
        if language in CHINESE:
            lang = language
        return Score(_bounded(value), hits, lang) if hits else NEUTRAL
    words = [_WORD.findall(c) for c in clauses]
    order = [language] if language in LATIN else []
    order += [code for code in ("en", "nb", "et", "pt") if code not in order]
    best = NEUTRAL
    for code in order:
        value, hits = _score_latin(words, LATIN[code])
        if hits > best.hits:
            best = Score(_bounded(value), hits, code)
    return best
