"""The redaction corpus: what a customer may type, and what must be masked or left alone.

Shared by the unit tests (tests/core/test_redaction.py) and the tests that send it through
every inbound path (widget socket, SMS webhook, email, API). Each entry is (text, secrets):
`secrets` are the raw values that must appear nowhere once the text was received; an empty
tuple means the text must be stored exactly as typed (an invalid checksum, an order number).
"""

from __future__ import annotations

# Valid PANs in ten formats (Luhn-valid test numbers of the card schemes).
VALID_CARDS: list[tuple[str, str]] = [
    ("Visa, spaces 4/4/4/4", "4111 1111 1111 1111"),
    ("Mastercard, no separator", "5555555555554444"),
    ("Visa, dashes", "4000-0566-5566-5556"),
    ("Discover, dots", "6011.1111.1111.1117"),
    ("Amex 4/6/5", "3782 822463 10005"),
    ("JCB, mixed separators", "3530 1113-3330.0000"),
    ("Diners 14 digits 4/6/4", "3056 930902 5904"),
    ("Visa 13 digits", "4222222222222"),
    ("Visa 19 digits", "4000 0000 0000 0000 006"),
    ("UnionPay 16, no-break spaces", "6200\u00a00000\u00a00000\u00a00005"),
]

# The same shapes with a wrong check digit: order numbers, not cards.
INVALID_CARDS: list[tuple[str, str]] = [
    ("Visa, spaces", "4111 1111 1111 1112"),
    ("Mastercard, no separator", "5555555555554445"),
    ("Visa, dashes", "4000-0566-5566-5557"),
    ("Discover, dots", "6011.1111.1111.1118"),
    ("Amex 4/6/5", "3782 822463 10006"),
    ("JCB", "3530 1113 3330 0001"),
    ("Diners 14", "30569309025905"),
    ("13 digits", "4222222222223"),
    ("19 digits", "4000 0000 0000 0000 007"),
    ("starts with 0 (Luhn-valid, no card scheme)", "0000 0000 0000 0000"),
]

# (country, valid, invalid): each id with a correct and a wrong check.
NATIONAL_IDS: list[tuple[str, str, str]] = [
    ("Norwegian fødselsnummer", "15038512363", "15038512364"),
    ("Norwegian D-number", "55038512357", "55038512358"),
    ("Estonian isikukood", "37605030299", "37605030298"),
    ("Estonian isikukood, born 2005", "60505051230", "60505051231"),
    ("Chinese resident id, check X", "11010519491231002X", "110105194912310021"),
    ("Chinese resident id, check digit", "110101198001010010", "110101198001010011"),
]
# A NIF is masked where the text names it; a bare 9-digit number is a phone or an order.
NIF_VALID, NIF_INVALID = "123456789", "123456788"

IBANS: list[tuple[str, str]] = [
    ("Norway, grouped", "NO93 8601 1117 947"),
    ("Germany, compact", "DE89370400440532013000"),
    ("United Kingdom, letters in the account", "GB82 WEST 1234 5698 7654 32"),
    ("Portugal", "PT50 0002 0123 1234 5678 9015 4"),
    ("Estonia, lower case", "ee38 2200 2210 2014 5685"),
]
INVALID_IBANS = ["NO93 8601 1117 948", "GB82 WEST 1234 5698 7654 33"]

# One-time codes in a text that announces one, in the desk's languages.
OTPS: list[tuple[str, str, str]] = [
    ("en", "Your verification code is 482913, what now?", "482913"),
    ("nb", "Koden din er 7391, men den virker ikke", "7391"),
    ("zh-hans", "我收到的验证码是 558204，怎么用？", "558204"),
    ("zh-hant", "驗證碼：660317 無法使用", "660317"),
    ("et", "Sinu kood on 904417, mis nüüd?", "904417"),
    ("pt", "O seu código de verificação é 318806.", "318806"),
]


def corpus() -> list[tuple[str, tuple[str, ...]]]:
    """Every text of the corpus with the raw values it must not leave behind."""
    texts: list[tuple[str, tuple[str, ...]]] = []
    for name, card in VALID_CARDS:
        texts.append((f"My card ({name}) is {card}, please charge it", (card,)))
    texts.append(("Card 4111 1111 1111 1111 cvv 737", ("4111 1111 1111 1111", "737")))
    texts.append(("5555 5555 5555 4444 exp 09/27 CVC: 8391", ("5555 5555 5555 4444", "8391")))
    for _, card in INVALID_CARDS:
        texts.append((f"My order number is {card}", ()))
    for _, valid, invalid in NATIONAL_IDS:
        texts.append((f"My id is {valid}", (valid,)))
        texts.append((f"Reference {invalid}", ()))
    texts.append((f"O meu NIF é {NIF_VALID}", (NIF_VALID,)))
    texts.append((f"O meu NIF é {NIF_INVALID}", ()))
    for _, iban in IBANS:
        texts.append((f"Refund to {iban} please", (iban,)))
    for iban in INVALID_IBANS:
        texts.append((f"Refund to {iban} please", ()))
    for _, text, code in OTPS:
        texts.append((text, (code,)))
    return texts


def compact(value: str) -> str:
    """A raw value without its separators: how it could also appear in a stored payload."""
    return "".join(ch for ch in value if ch.isalnum())
