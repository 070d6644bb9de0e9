"""What search sees of a message, a customer and a query (docs/adr/0008-desk-search.md).

Texts and queries are folded and cut the way the knowledge base's search does it
(knowledge/text.py: case, width and diacritics folded, Traditional Chinese to Simplified,
Latin words whole, Chinese runs as character bigrams), so "sao paulo" finds "São Paulo",
"regning" finds "Regningen", 帳單 finds 账单 and 我的账单 needs no spaces. Only whole words are
indexed (no trigrams: a message is short and there are millions of them); a query's words of
three letters or more match as prefixes instead, which carries the inflections that add an
ending (Estonian "arve" → "arvet", "arvele"; Portuguese "fatura" → "faturas").

Scope tokens (a message's: its conversation's team and the conversation; a customer's: the
home team, the teams of their conversations and those conversations' assignees) and phone
tokens (the digits reversed, so any ending of a number is a prefix) start with a zero and a
letter, a shape the folded words of a text practically never have; a query can only add them
as more conditions, never widen what it may see.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from teamline.core.errors import InvalidInput
from teamline.knowledge.text import units

# A query longer than this is refused (it is a search box, not a document).
MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 12
# What is indexed of one message: an email's quoted history past this says nothing new.
MAX_INDEXED_CHARS = 20_000
# A query word of at least this many letters matches as a prefix.
PREFIX_FROM = 3
# The digits a phone query needs: fewer match too many numbers. A remote agent (who sees
# numbers masked) needs a whole local number, so a search cannot spell one out digit by digit.
PHONE_MIN_DIGITS = 6
PHONE_MIN_DIGITS_REMOTE = 7
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
_PHONE_QUERY = re.compile(r"^[+\d\s().\-/]+$")
_CONVERSATION = re.compile(r"^#(\d{1,18})$")
_NUL = "\x00"


_TOKEN = re.compile(r"^0[tcpa]\d+$")


def is_word(term: str) -> bool:
    """A word of a text, not a scope or phone token."""
    return not _TOKEN.match(term)


def team_token(team_id: int) -> str:
    return f"0t{team_id}"


def conversation_token(conversation_id: int) -> str:
    return f"0c{conversation_id}"


def assignee_token(user_id: int) -> str:
    return f"0a{user_id}"


def phone_token(digits: str) -> str:
    """A phone number's digits (with the country code, no +) reversed: "4791234567" →
    "0p7654321974"; any ending of the number is then a prefix of the token."""
    return "0p" + digits[::-1]


def words_of(*texts: str) -> list[str]:
    """The distinct words of `texts`, in order."""
    seen: dict[str, None] = {}
    for text in texts:
        for unit in units(text[:MAX_INDEXED_CHARS]):
            for word in unit.words:
                seen.setdefault(word, None)
    return list(seen)


def message_terms(text: str, subject: str, team_id: int, conversation_id: int) -> str:
    """The indexed terms of a message ("" when it has no words: nothing to index)."""
    words = words_of(subject, text)
    if not words:
        return ""
    return " ".join([*words, team_token(team_id), conversation_token(conversation_id)])


def customer_terms(
    name: str,
    identities: Iterable[tuple[str, str]],
    teams: Iterable[int | None] = (),
    assignees: Iterable[int | None] = (),
) -> str:
    """The indexed terms of a customer ("" when there is nothing to find them by): the words
    of the name, of each email address and external id, each phone number as a phone token,
    then the scope tokens of who may see them (customers.queries.visible_customers): `teams`
    (the home team and their conversations' teams) and `assignees` (their conversations')."""
    texts = [name]
    phones = []
    for kind, value in identities:
        if kind == "phone":
            digits = "".join(ch for ch in value if ch.isdigit())
            if digits:
                phones.append(phone_token(digits))
        elif kind in ("email", "external"):
            texts.append(value)
    found = [*words_of(*texts), *dict.fromkeys(phones)]
    if not found:
        return ""
    scope = [
        *(team_token(team) for team in sorted({t for t in teams if t is not None})),
        *(assignee_token(user) for user in sorted({u for u in assignees if u is not None})),
    ]
    return " ".join([*found, *scope])


@dataclass(frozen=True)
class Term:
    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query: terms that must all match, a phone number's reversed digits (matched
    as a prefix of a customer's phone tokens), a conversation number ("#123")."""

    text: str
    terms: list[Term] = field(default_factory=list)
    phone: str = ""
    conversation_id: int | None = None


def phone_digits(query: str) -> str:
    """The digits of a query written like a phone number, as they end the number's E.164
    form: "+47 912 34 567" and "0047 91234567" → "4791234567", "07700 900123" (a trunk
    prefix) → "7700900123", "912 34 567" → "91234567"; "" when it is not shaped like one."""
    text = query.strip()
    if not _PHONE_QUERY.match(text):
        return ""
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.lstrip("( ").startswith("+"):  # "(+47) …" is international too
        digits = digits[2:] if digits.startswith("00") else digits.lstrip("0")
    return digits


def parse_query(raw: str, *, remote: bool = False) -> Query:
    """`raw` as a Query; InvalidInput when it is blank, too long or holds nothing to search.
    For a remote agent (customers/masking.py) words match whole, never as prefixes."""
    text = (raw or "").strip()
    if _NUL in text:
        raise InvalidInput(_("The search must not contain NUL characters."))
    if not text:
        raise InvalidInput(_("Type something to search for."))
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            _("A search is at most %(count)d characters.") % {"count": MAX_QUERY_CHARS}
        )
    conversation = _CONVERSATION.match(text)
    if conversation:  # "#123" names a conversation: not a word or a phone number
        return Query(text, conversation_id=int(conversation.group(1)))
    digits = phone_digits(text)
    needed = PHONE_MIN_DIGITS_REMOTE if remote else PHONE_MIN_DIGITS
    phone = digits[::-1] if len(digits) >= needed else ""
    terms: dict[str, Term] = {}
    for unit in units(text):
        first = unit.words[0]
        if _HAN.match(first):
            if len(first) == 1:  # one character: the bigrams it starts
                terms.setdefault(first, Term(first, prefix=not remote))
            else:
                for bigram in unit.words:
                    terms.setdefault(bigram, Term(bigram))
            continue
        prefix = not remote and len(first) >= PREFIX_FROM
        terms.setdefault(first, Term(first, prefix=prefix))
    if len(terms) > MAX_QUERY_TERMS:
        raise InvalidInput(_("A search is at most %(count)d words.") % {"count": MAX_QUERY_TERMS})
    if not terms and not phone:
        raise InvalidInput(_("Type a word, a name, a phone number or an email address."))
    return Query(text, list(terms.values()), phone)
