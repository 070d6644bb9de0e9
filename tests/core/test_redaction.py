"""Redaction: what is masked, what is left as typed, and how (core/redaction.py)."""

from __future__ import annotations

import logging
import time

import pytest

from teamline.core.redaction import (
    CARD_MASK,
    IBAN_MASK,
    NATIONAL_ID_MASK,
    OTP_MASK,
    Kind,
    RedactingFilter,
    chinese_id_valid,
    estonian_id_valid,
    iban_valid,
    luhn_valid,
    norwegian_id_valid,
    portuguese_nif_valid,
    redact,
    redact_data,
    redact_found,
)
from tests.redaction_corpus import (
    IBANS,
    INVALID_CARDS,
    INVALID_IBANS,
    NATIONAL_IDS,
    NIF_INVALID,
    NIF_VALID,
    OTPS,
    VALID_CARDS,
    compact,
    corpus,
)


@pytest.mark.parametrize(("name", "card"), VALID_CARDS, ids=[n for n, _ in VALID_CARDS])
def test_a_card_number_in_any_spacing_keeps_only_its_last_four_digits(name: str, card: str) -> None:
    masked = redact(f"Here: {card}. Thanks!")
    last4 = compact(card)[-4:]
    assert masked == f"Here: {CARD_MASK.format(last4=last4)}. Thanks!"
    assert masked.endswith(f"•••• {last4}. Thanks!")


@pytest.mark.parametrize(("name", "number"), INVALID_CARDS, ids=[n for n, _ in INVALID_CARDS])
def test_an_order_number_that_fails_the_luhn_check_is_left_as_typed(name: str, number: str) -> None:
    text = f"My order number is {number}"
    assert redact(text) == text


def test_a_card_number_typed_in_full_width_digits_is_masked_too() -> None:
    assert redact("卡号４１１１ １１１１ １１１１ １１１１") == "卡号•••• •••• •••• 1111"
    invalid = "卡号４１１１ １１１１ １１１１ １１１２"
    assert redact(invalid) == invalid


def test_the_mask_is_the_one_agents_know_the_card_by() -> None:
    assert redact("4111111111111111") == "•••• •••• •••• 1111"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111 cvv 123", "•••• •••• •••• 1111 cvv •••"),
        ("4111 1111 1111 1111, CVC: 1234", "•••• •••• •••• 1111, CVC: •••"),
        ("4111 1111 1111 1111 security code 123", "•••• •••• •••• 1111 security code •••"),
        ("4111 1111 1111 1111 123", "•••• •••• •••• 1111 •••"),
        ("4111 1111 1111 1111 exp 12/27 737", "•••• •••• •••• 1111 exp 12/27 •••"),
        ("卡号4111111111111111，安全码 456", "卡号•••• •••• •••• 1111，安全码 •••"),
    ],
)
def test_a_security_code_right_after_a_card_number_is_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_number_after_a_card_that_is_no_security_code_stays() -> None:
    text = "4111 1111 1111 1111 and I was charged 250 kroner"
    assert redact(text) == "•••• •••• •••• 1111 and I was charged 250 kroner"
    assert redact("Room 123, cvv is not a thing here") == "Room 123, cvv is not a thing here"


@pytest.mark.parametrize(
    ("name", "valid", "invalid"), NATIONAL_IDS, ids=[n for n, *_ in NATIONAL_IDS]
)
def test_a_national_id_is_masked_only_when_its_check_holds(
    name: str, valid: str, invalid: str
) -> None:
    assert redact(f"id {valid}.") == f"id {NATIONAL_ID_MASK}."
    assert redact(f"id {invalid}.") == f"id {invalid}."


def test_a_norwegian_number_written_six_and_five_is_masked() -> None:
    assert redact("fnr 150385 12363") == f"fnr {NATIONAL_ID_MASK}"


def test_a_chinese_id_with_a_lower_case_x_is_masked() -> None:
    assert redact("身份证号11010519491231002x") == f"身份证号{NATIONAL_ID_MASK}"


def test_a_portuguese_nif_is_masked_where_the_text_names_it() -> None:
    assert redact(f"O meu NIF é {NIF_VALID}") == f"O meu NIF é {NATIONAL_ID_MASK}"
    assert redact(f"contribuinte n.º {NIF_VALID}") == f"contribuinte n.º {NATIONAL_ID_MASK}"
    assert redact(f"O meu NIF é {NIF_INVALID}") == f"O meu NIF é {NIF_INVALID}"
    # A bare 9-digit number is far more often a phone number or an order.
    assert redact(f"Liguem para {NIF_VALID}") == f"Liguem para {NIF_VALID}"


def test_checksums_follow_their_definitions() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert norwegian_id_valid("15038512363") and not norwegian_id_valid("32038512363")
    assert estonian_id_valid("37605030299") and not estonian_id_valid("17605030299")
    assert chinese_id_valid("11010519491231002X") and not chinese_id_valid("11010519491331002X")
    assert portuguese_nif_valid("123456789") and not portuguese_nif_valid("023456789")
    assert iban_valid("NO9386011117947") and not iban_valid("NO938601111794")


@pytest.mark.parametrize(("name", "iban"), IBANS, ids=[n for n, _ in IBANS])
def test_an_iban_with_or_without_spaces_is_masked(name: str, iban: str) -> None:
    assert redact(f"Refund to {iban} please") == f"Refund to {IBAN_MASK} please"


@pytest.mark.parametrize("iban", INVALID_IBANS)
def test_an_iban_that_fails_mod_97_is_left_as_typed(iban: str) -> None:
    assert redact(f"Refund to {iban}") == f"Refund to {iban}"


@pytest.mark.parametrize(("language", "text", "code"), OTPS, ids=[lang for lang, *_ in OTPS])
def test_a_one_time_code_in_a_text_that_announces_it_is_masked(
    language: str, text: str, code: str
) -> None:
    masked = redact(text)
    assert code not in masked
    assert masked == text.replace(code, OTP_MASK)


@pytest.mark.parametrize(
    "text",
    [
        "My zip code is 90210",
        "Order 4821 arrived broken",
        "I paid 1500 kroner on 12.03.2026",
        "Ring meg på +47 912 34 567",
        "The code for order 12345 is wrong",
        "código postal 1000",
        "message from the short code '26777'",
        "Your PUK code is 12345678",
        "PUK-koden din er 87654321",
    ],
)
def test_numbers_that_are_no_code_stay(text: str) -> None:
    assert redact(text) == text


def test_every_kind_can_be_switched_off_on_its_own() -> None:
    text = "4111111111111111 NO9386011117947 15038512363 your code is 482913"
    assert redact(text, [Kind.CARD]) == (
        "•••• •••• •••• 1111 NO9386011117947 15038512363 your code is 482913"
    )
    assert redact(text, [Kind.IBAN]).split()[1:3] == ["IBAN", "••••"]
    assert NATIONAL_ID_MASK in redact(text, [Kind.NATIONAL_ID])
    assert redact(text, [Kind.OTP]).endswith(OTP_MASK)
    assert redact(text, []) == text


def test_redacting_twice_changes_nothing() -> None:
    for text, _ in corpus():
        once = redact(text)
        assert redact(once) == once


def test_the_whole_corpus_leaves_no_raw_value_behind() -> None:
    for text, secrets in corpus():
        masked, found = redact_found(text)
        if not secrets:
            assert masked == text and found == []
        for secret in secrets:
            assert secret not in masked, (text, masked)
        assert len(found) == len(secrets)


def test_structured_content_is_masked_except_its_identifiers() -> None:
    content = {
        "subject": "Card 4111 1111 1111 1111",
        "sender": {"kind": "messenger", "value": "4111111111111111"},
        "email": {"message_id": "<4111111111111111@mail>", "subject": "IBAN NO9386011117947"},
        "items": ["fnr 15038512363", 4111111111111111],
    }
    masked = redact_data(content)
    assert masked["subject"] == "Card •••• •••• •••• 1111"
    assert masked["sender"] == content["sender"]
    assert masked["email"]["message_id"] == "<4111111111111111@mail>"
    assert masked["email"]["subject"] == f"IBAN {IBAN_MASK}"
    assert masked["items"] == [f"fnr {NATIONAL_ID_MASK}", "•••• •••• •••• 1111"]
    assert redact_data({"count": 4111111111111112, "ok": True}) == {
        "count": 4111111111111112,
        "ok": True,
    }
    assert redact_data({"text": "nothing here"}) is not None


def test_a_log_line_never_prints_a_value_that_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("teamline.test.redaction")
    handler_filter = RedactingFilter()
    record = logger.makeRecord(
        logger.name,
        logging.WARNING,
        __file__,
        1,
        "provider said %s",
        ("card 4111111111111111",),
        None,
    )
    assert handler_filter.filter(record)
    assert record.getMessage() == "provider said card •••• •••• •••• 1111"


def test_a_line_whose_formatter_reads_its_arguments_still_formats_masked() -> None:
    # uvicorn's access line: the formatter takes the request line from record.args.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("198.51.100.7:5000", "GET", "/webhooks/twilio/x/?Body=4111111111111111", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and len(record.args) == 5
    assert record.getMessage().endswith('?Body=•••• •••• •••• 1111 HTTP/1.1" 200')


def test_the_server_logs_through_the_same_filter() -> None:
    from teamline.core.management.commands.serve import _log_config

    config = _log_config()
    assert config["filters"]["redact"]["()"] == "teamline.core.redaction.RedactingFilter"
    assert config["handlers"] and all(
        handler["filters"] == ["redact"] for handler in config["handlers"].values()
    )
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["access"]


def test_the_configured_log_handlers_mask_what_they_print() -> None:
    from django.conf import settings

    handlers = settings.LOGGING["handlers"]
    assert all("redact" in handler.get("filters", []) for handler in handlers.values())
    assert settings.LOGGING["filters"]["redact"]["()"] == "teamline.core.redaction.RedactingFilter"


@pytest.mark.parametrize(
    "text",
    [
        " ".join(t for t, _ in corpus())[:10_000],
        ("1 2 " * 2_500)[:10_000],
        "4" * 10_000,
        ("your code is 1234 " * 600)[:10_000],
        ("NO93 " * 2_000)[:10_000],
    ],
    ids=["corpus", "digit groups", "one long number", "many codes", "IBAN starts"],
)
def test_the_longest_message_is_redacted_in_well_under_a_second_whatever_it_holds(
    text: str,
) -> None:
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 1.0
