"""What a customer's message asks for: one of the bot's intents, recognised from per-language
keywords and synonyms, deterministically.

The text and every keyword are folded the same way as knowledge search folds them
(knowledge.text.fold: case, width, diacritics, Traditional → Simplified Chinese), so "SALDO",
"Saldoen", "åpningstider" / "apningstider" and 餘額 / 余额 meet. A word of the text matches a
keyword when it is the keyword, the keyword with a short ending ("saldoen", "arvet", "faturas"),
or the keyword with a typo: an edit distance (with transpositions) of 1 for words of 5 to 7
letters and 2 from 8 letters on; words of 4 letters or fewer must be exact, or "data" would
be "date". Chinese has no spaces: a Chinese keyword matches where it occurs in the text.

Each intent scores the words of its matched keywords; the highest score wins, and a handoff
word ("agent", "menneske", "inimene", "pessoa", "人工", …) wins whenever it occurs, so a person
is always one word away. The language is the one whose keywords and common words the text
uses most (Chinese: Traditional when the text has a character that Simplified writes
otherwise); a text that is no clearer than "SALDO" leaves it to the caller (the customer's
language, their number's country).

`Classifier` is the seam for a smarter recogniser later: anything with `classify(text)` that
returns a `Recognition`. `use_classifier` swaps it (settings or tests of a new one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from teamline.core.langid import chinese_script
from teamline.knowledge.text import fold

BALANCE = "balance"
DATA_LEFT = "data_left"
BUY_DATA = "buy_data"
BILL_EXPLAINED = "bill_explained"
OUTAGE = "outage"
OPENING_HOURS = "opening_hours"
TALK_TO_PERSON = "talk_to_person"

INTENTS = (
    BALANCE,
    DATA_LEFT,
    BUY_DATA,
    BILL_EXPLAINED,
    OUTAGE,
    OPENING_HOURS,
    TALK_TO_PERSON,
)
# Intents that read the customer's account: only for a verified customer.
ACCOUNT_INTENTS = frozenset({BALANCE, DATA_LEFT, BILL_EXPLAINED})

LANGUAGES = ("en", "nb", "zh-hans", "zh-hant", "et", "pt")

# Keywords and synonyms per language and intent. Phrases of several words match as a
# sequence. Chinese keywords are listed in the script customers write them in; folding makes
# Simplified and Traditional one.
KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        BALANCE: ("balance", "credit", "money left", "prepaid"),
        DATA_LEFT: ("data", "data left", "gigabytes", "gb", "mobile data", "usage"),
        BUY_DATA: ("buy", "purchase", "top up", "more data", "extra data", "data pack", "refill"),
        BILL_EXPLAINED: ("bill", "invoice", "charged", "charges", "statement"),
        OUTAGE: ("outage", "outages", "no signal", "coverage", "network down", "signal"),
        OPENING_HOURS: ("opening hours", "hours", "open", "closed", "holiday", "holidays"),
        TALK_TO_PERSON: ("agent", "person", "human", "representative", "operator", "someone"),
    },
    "nb": {
        BALANCE: ("saldo", "kreditt", "ringetid", "penger igjen"),
        DATA_LEFT: ("data", "datamengde", "mobildata", "gigabyte", "dataforbruk", "forbruk"),
        BUY_DATA: ("kjøpe", "kjøp", "mer data", "ekstra data", "datapakke", "fylle på", "påfyll"),
        BILL_EXPLAINED: ("regning", "faktura", "belastet", "trekk"),
        OUTAGE: ("driftsavbrudd", "drift", "avbrudd", "dekning", "nettet", "signal", "nede"),
        OPENING_HOURS: ("åpningstider", "åpningstid", "åpent", "åpen", "stengt", "helligdag"),
        TALK_TO_PERSON: (
            "menneske",
            "person",
            "agent",
            "kundebehandler",
            "saksbehandler",
            "rådgiver",
        ),
    },
    "et": {
        BALANCE: ("saldo", "kontojääk", "jääk", "krediit", "raha"),
        DATA_LEFT: ("andmed", "andmeid", "andmemaht", "mobiilne internet", "internet", "gigabaiti"),
        BUY_DATA: ("osta", "ostma", "juurde", "lisaandmed", "andmepakett"),
        BILL_EXPLAINED: ("arve", "arvel", "tasu", "makse"),
        OUTAGE: ("rike", "rikke", "katkestus", "levi", "võrk", "võrgu"),
        OPENING_HOURS: ("lahtiolekuajad", "lahtiolekuaeg", "lahti", "avatud", "tööaeg", "suletud"),
        TALK_TO_PERSON: ("inimene", "inimesega", "teenindaja", "klienditeenindaja", "agent"),
    },
    "pt": {
        BALANCE: ("saldo", "crédito", "quanto dinheiro"),
        DATA_LEFT: ("dados", "dados móveis", "internet", "gigas", "gb"),
        BUY_DATA: ("comprar", "compra", "mais dados", "pacote", "carregar", "carregamento"),
        BILL_EXPLAINED: ("fatura", "conta", "cobrança", "cobrado"),
        OUTAGE: ("avaria", "falha", "sem rede", "rede", "cobertura", "sinal"),
        OPENING_HOURS: ("horário", "horários", "aberto", "abertos", "fechado", "feriado"),
        TALK_TO_PERSON: ("pessoa", "humano", "agente", "assistente", "operador", "atendente"),
    },
    "zh-hans": {
        BALANCE: ("余额", "话费", "剩多少钱"),
        DATA_LEFT: ("流量", "数据", "剩余流量", "上网"),
        BUY_DATA: ("买流量", "购买", "加流量", "流量包", "充流量"),
        BILL_EXPLAINED: ("账单", "扣费", "收费", "费用"),
        OUTAGE: ("故障", "断网", "没信号", "信号", "网络"),
        OPENING_HOURS: ("营业时间", "开放时间", "几点", "上班时间", "节假日"),
        TALK_TO_PERSON: ("人工", "客服", "真人", "转人工"),
    },
    "zh-hant": {
        BALANCE: ("餘額", "話費", "剩多少錢"),
        DATA_LEFT: ("流量", "數據", "剩餘流量", "上網"),
        BUY_DATA: ("買流量", "購買", "加流量", "流量包", "儲值"),
        BILL_EXPLAINED: ("帳單", "賬單", "扣費", "收費", "費用"),
        OUTAGE: ("故障", "斷網", "沒訊號", "訊號", "網路", "網絡"),
        OPENING_HOURS: ("營業時間", "開放時間", "幾點", "上班時間", "假日"),
        TALK_TO_PERSON: ("人工", "客服", "真人", "轉人工"),
    },
}

# Common words that say which language a text is in (they name no intent).
COMMON_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "my", "what", "is", "the", "how", "much", "i", "want", "to", "when", "you", "are",
        "have", "left", "please", "hi", "hello", "why", "talk", "can", "with", "do", "of",
    ),
    "nb": (
        "hva", "er", "min", "mitt", "mine", "jeg", "hvor", "mye", "har", "igjen", "nar", "dere",
        "vil", "snakke", "med", "hei", "kan", "ikke", "pa", "hvorfor", "en", "et", "og", "til",
    ),
    "et": (
        "mis", "on", "minu", "mu", "kui", "palju", "mul", "tahan", "raakida", "tere", "kas",
        "millal", "olete", "ei", "miks", "ja", "oma", "teie", "palun",
    ),
    "pt": (
        "qual", "o", "a", "meu", "minha", "e", "quanto", "quero", "falar", "com", "uma", "um",
        "ola", "quando", "estao", "tenho", "porque", "nao", "de", "da", "do", "os", "as",
    ),
}  # fmt: skip

_WORD = re.compile(r"[^\W_]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MAX_TEXT = 2000  # what is read of a message: intents are in its first sentences


@dataclass(frozen=True)
class Recognition:
    """What a text asks for (`intent`, None when nothing matched), the language it is written
    in (None when the text does not say), and the keywords that matched (for the agent)."""

    intent: str | None
    language: str | None  # one of LANGUAGES, or "zh": Chinese the same in both scripts
    matched: tuple[str, ...] = ()


class Classifier(Protocol):
    def classify(self, text: str) -> Recognition: ...


@dataclass(frozen=True)
class _Keyword:
    language: str
    intent: str
    shown: str  # as written in KEYWORDS
    words: tuple[str, ...]  # folded; one element for a Chinese keyword
    han: bool


@lru_cache(maxsize=1)
def _keywords() -> tuple[_Keyword, ...]:
    found = []
    for language, by_intent in KEYWORDS.items():
        for intent, phrases in by_intent.items():
            for phrase in phrases:
                folded = fold(phrase)
                han = bool(_HAN.search(folded))
                words = (folded,) if han else tuple(_WORD.findall(folded))
                found.append(_Keyword(language, intent, phrase, words, han))
    return tuple(found)


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Positions in _keywords(): Latin keywords by their first word, and the Chinese ones."""
    by_first: dict[str, list[int]] = {}
    han = []
    for position, keyword in enumerate(_keywords()):
        if keyword.han:
            han.append(position)
        else:
            by_first.setdefault(keyword.words[0], []).append(position)
    return {w: tuple(p) for w, p in by_first.items()}, tuple(han)


def _candidates(present: frozenset[str], *, han: bool) -> list[_Keyword]:
    """The keywords that may occur in a text whose words match `present`, in _keywords()'s
    order (so the result does not depend on set order)."""
    by_first, han_positions = _index()
    positions = [p for w in present for p in by_first.get(w, ())]
    if han:
        positions.extend(han_positions)
    keywords = _keywords()
    return [keywords[p] for p in sorted(positions)]


@lru_cache(maxsize=1)
def _common() -> dict[str, frozenset[str]]:
    return {lang: frozenset(fold(w) for w in words) for lang, words in COMMON_WORDS.items()}


def allowed_typos(length: int) -> int:
    """How many edits a word of `length` letters may be away from a keyword."""
    if length <= 4:
        return 0
    return 1 if length <= 7 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau–Levenshtein distance (optimal string alignment: a swap of neighbours is one
    edit), or limit + 1 once it is certain to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def word_matches(token: str, keyword: str, *, typos: bool = True) -> bool:
    """`token` (a folded word of the text) is `keyword`, inflected or (with `typos`)
    mistyped."""
    if token == keyword:
        return True
    if len(keyword) >= 4 and token.startswith(keyword) and len(token) - len(keyword) <= 4:
        return True  # an ending: "saldoen", "arvet", "outages"
    allowed = allowed_typos(len(keyword))
    if not typos or allowed == 0:
        return False
    if edit_distance(token, keyword, allowed) <= allowed:
        return True
    # A typo in an inflected form ("sladoen"): compare the keyword with the word's start.
    stem = token[: len(keyword)]
    return len(token) - len(keyword) in range(1, 5) and edit_distance(stem, keyword, 1) <= 1


def _phrase_at(matches: list[frozenset[str]], words: tuple[str, ...]) -> bool:
    """The phrase occurs in the text: `matches[i]` are the vocabulary words the text's i-th
    word matches."""
    n = len(words)
    for start in range(len(matches) - n + 1):
        if all(words[k] in matches[start + k] for k in range(n)):
            return True
    return False


@lru_cache(maxsize=8192)
def token_matches(token: str) -> frozenset[str]:
    """The vocabulary words `token` matches. A token the vocabulary knows as it is (a keyword
    word, inflected or not, or a common word) matches only that way: it is never read as
    another word's typo ("apent" is nb "open", not a mistyped "agent")."""
    vocabulary = _vocabulary()
    # The token itself, or the keyword it is with an ending of up to 4 letters (as in
    # word_matches, without the loop over the vocabulary).
    stems = {token, *(token[:k] for k in range(max(4, len(token) - 4), len(token)))}
    exact = frozenset(stems & vocabulary)
    if exact or token in _all_common():
        return exact
    letters = set(token)
    size = len(token)
    return frozenset(
        w
        for w, length, keyword_letters, allowed in _typo_candidates()
        if -2 <= size - length <= 4
        # An edit loses at most one of the keyword's letters: a cheap filter before the
        # distance itself.
        and len(keyword_letters - letters) <= allowed
        and word_matches(token, w)
    )


@lru_cache(maxsize=1)
def _typo_candidates() -> tuple[tuple[str, int, frozenset[str], int], ...]:
    """The vocabulary words long enough to be matched with a typo: (word, length, letters,
    edits allowed)."""
    return tuple(
        (w, len(w), frozenset(w), allowed_typos(len(w)))
        for w in sorted(_vocabulary())
        if allowed_typos(len(w)) > 0
    )


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    return frozenset(w for k in _keywords() if not k.han for w in k.words)


@lru_cache(maxsize=1)
def _all_common() -> frozenset[str]:
    return frozenset(w for words in _common().values() for w in words)


class KeywordClassifier:
    """The deterministic classifier described at the top of this module."""

    def classify(self, text: str) -> Recognition:
        text = (text or "")[:MAX_TEXT]
        folded = fold(text)
        tokens = _WORD.findall(_HAN.sub(" ", folded))
        script = chinese_script(text)
        matches = [token_matches(t) for t in tokens]
        scores: dict[str, int] = {}
        matched: dict[str, list[str]] = {}
        hits_by_language: dict[str, int] = {}
        present = frozenset().union(*matches)  # every vocabulary word the text matches
        seen_han: set[tuple[str, str]] = set()
        for keyword in _candidates(present, han=script is not None):
            if keyword.han:
                if script is None or keyword.words[0] not in folded:
                    continue
                if (keyword.intent, keyword.words[0]) in seen_han:
                    continue  # both scripts list it: it counts once
                seen_han.add((keyword.intent, keyword.words[0]))
                weight = len(keyword.words[0])  # characters: 剩余流量 outweighs 流量
            elif all(w in present for w in keyword.words) and _phrase_at(matches, keyword.words):
                weight = len(keyword.words)
                hits_by_language[keyword.language] = hits_by_language.get(keyword.language, 0) + 1
            else:
                continue
            scores[keyword.intent] = scores.get(keyword.intent, 0) + weight
            if keyword.shown not in matched.setdefault(keyword.intent, []):
                matched[keyword.intent].append(keyword.shown)
        intent = None
        if TALK_TO_PERSON in scores:
            intent = TALK_TO_PERSON
        elif scores:
            best = max(scores.values())
            # Ties go to the earlier intent in INTENTS: deterministic.
            intent = next(i for i in INTENTS if scores.get(i) == best)
        language = script or self._language(tokens, hits_by_language)
        return Recognition(intent, language, tuple(matched.get(intent or "", ())))

    def _language(self, tokens: list[str], keyword_hits: dict[str, int]) -> str | None:
        counts = {lang: keyword_hits.get(lang, 0) for lang in COMMON_WORDS}
        common = _common()
        for token in tokens:
            for lang, words in common.items():
                if token in words:
                    counts[lang] += 1
        best = max(counts.values(), default=0)
        if best == 0:
            return None
        leaders = [lang for lang, count in counts.items() if count == best]
        return leaders[0] if len(leaders) == 1 else None


_classifier: Classifier = KeywordClassifier()


def classifier() -> Classifier:
    return _classifier


def use_classifier(replacement: Classifier) -> Classifier:
    """Make `replacement` the classifier; returns the one it replaces (to restore it)."""
    global _classifier
    previous, _classifier = _classifier, replacement
    return previous


def classify(text: str) -> Recognition:
    return _classifier.classify(text)


def is_single_word(text: str) -> bool:
    """A text that is one keyword-like word ("SALDO", "Data!", "余额"): what an SMS keyword is."""
    stripped = (text or "").strip(" \t\r\n.!?,;:'\"\u00a0。！？")
    if _HAN.search(stripped):
        # Chinese has no spaces: a keyword is a word of up to four characters (营业时间);
        # anything longer is a sentence ("我的手机坏了怎么办") for the team.
        return 0 < len(stripped) <= 4
    return 0 < len(stripped) <= 24 and not any(ch.isspace() for ch in stripped)
