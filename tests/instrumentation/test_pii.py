"""PII redaction (``driftline.instrumentation._core.pii``): what is redacted, what must stay (ordinary
numbers that merely look long), the two checksums, and linear time on hostile input."""

from __future__ import annotations

import random

import pytest

from driftline.instrumentation._core.pii import iban_valid, luhn_valid, redact

# -- checksums ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [
    "4111111111111111",  # Visa test number
    "4012888888881881",  # Visa
    "378282246310005",  # American Express
    "5555555555554444",  # Mastercard
    "6011111111111117",  # Discover
    "30569309025904",  # Diners Club (14 digits)
    "79927398713",  # the textbook Luhn example
])
def test_luhn_valid(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", [
    "4111111111111112",  # last digit off by one
    "378282246310006",
    "79927398710",
    "1234567812345678",
    "",  # nothing is not a valid number
    "4111-1111-1111-1111",  # separators are the caller's to strip
    "41111111111111a1",
    "٤١١١١١١١١١١١١١١١",  # Arabic-Indic digits: not ASCII, never read as 0..9 arithmetic
])
def test_luhn_invalid(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize("iban", [
    "GB82WEST12345698765432",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "GB82 WEST 1234 5698 7654 32",  # printed form
    "de89 3704 0044 0532 0130 00",  # lower case is accepted
])
def test_iban_valid(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize("iban", [
    "GB82WEST12345698765433",  # check fails
    "DE88370400440532013000",  # wrong check digits
    "DE8937040044053201300",  # a digit short of Germany's 22
    "GB82WEST123456987654320",  # a character over Britain's 22
    "GB82-WEST-1234-5698-7654-32",  # other separators: invalid, not an exception
    "GB82WEST1234569876543!",
    "1282WEST12345698765432",  # no country
    "GBXXWEST12345698765432",  # check digits must be digits
    "",
    "GB82",
])
def test_iban_invalid(iban: str) -> None:
    assert not iban_valid(iban)


# -- what is redacted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    # e-mail
    ("write to jane.doe@example.com today", "write to [REDACTED:email] today"),
    ("e-mail: j_smith+tag@sub.example-domain.io!", "e-mail: [REDACTED:email]!"),
    # payment cards, contiguous and in their printed groupings
    ("card 4111111111111111 ok", "card [REDACTED:card] ok"),
    ("card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok"),
    ("card 4111-1111-1111-1111 ok", "card [REDACTED:card] ok"),
    ("amex 378282246310005", "amex [REDACTED:card]"),
    ("amex 3782 822463 10005", "amex [REDACTED:card]"),
    ("discover 6011 1111 1111 1117.", "discover [REDACTED:card]."),
    ("diners 3056 930902 5904", "diners [REDACTED:card]"),
    ("thirteen digits: 4222 2222 2222 2", "thirteen digits: [REDACTED:card]"),
    ("card 4111 1111 1111 1111 003", "card [REDACTED:card]"),  # 19 digits, 4-4-4-4-3
    # IBANs, compact and printed, also when an upper-case word follows
    ("IBAN GB82WEST12345698765432", "IBAN [REDACTED:iban]"),
    ("IBAN DE89370400440532013000.", "IBAN [REDACTED:iban]."),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN [REDACTED:iban] please"),
    ("IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "IBAN [REDACTED:iban] BIC COBADEFFXXX"),
    # US social security numbers
    ("SSN 123-45-6789", "SSN [REDACTED:ssn]"),
    ("ssn: 078-05-1120.", "ssn: [REDACTED:ssn]."),
    # phones: international, North American, national with a trunk 0
    ("call +1 415 555 2671 now", "call [REDACTED:phone] now"),
    ("call (415) 555-2671 now", "call [REDACTED:phone] now"),
    ("call +44 20 7946 0958 now", "call [REDACTED:phone] now"),
    ("call +14155552671", "call [REDACTED:phone]"),
    ("call +1 (415) 555-2671", "call [REDACTED:phone]"),
    ("call +44 (0)20 7946 0958", "call [REDACTED:phone]"),
    ("call +33 1 23 45 67 89", "call [REDACTED:phone]"),
    ("call +49 30 12345678", "call [REDACTED:phone]"),
    ("call 0044 20 7946 0958", "call [REDACTED:phone]"),
    ("call 415-555-2671", "call [REDACTED:phone]"),
    ("call 415.555.2671", "call [REDACTED:phone]"),
    ("call 1-800-555-0199", "call [REDACTED:phone]"),
    ("call 020 7946 0958", "call [REDACTED:phone]"),
    ("call 07700 900123", "call [REDACTED:phone]"),
    ("tel:+14155552671", "tel:[REDACTED:phone]"),
])
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == (expected, 1)


def test_adjacent_ibans() -> None:
    """The first candidate is greedy and swallows the start of the second IBAN; both are found."""
    assert redact("GB82WEST12345698765432 DE89370400440532013000") == ("[REDACTED:iban] [REDACTED:iban]", 2)
    assert redact("DE89 3704 0044 0532 0130 00 GB82 WEST 1234 5698 7654 32") == (
        "[REDACTED:iban] [REDACTED:iban]", 2)


def test_redacts_every_kind_in_one_text_and_counts_them() -> None:
    text = ("Jane (jane@example.com, +44 20 7946 0958) paid with 378282246310005 from "
            "GB82WEST12345698765432; SSN 123-45-6789; also call (415) 555-2671.")

    assert redact(text) == (
        "Jane ([REDACTED:email], [REDACTED:phone]) paid with [REDACTED:card] from "
        "[REDACTED:iban]; SSN [REDACTED:ssn]; also call [REDACTED:phone].", 6)


def test_count_ignores_markers_already_in_the_text() -> None:
    assert redact("[REDACTED:email] and a@b.co") == ("[REDACTED:email] and [REDACTED:email]", 1)


# -- what must stay -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "ref 4111111111111112",  # 16 digits, Luhn-invalid
    "ref 4111 1111 1111 1112",
    "order #123456789012",
    "order ORD-2024-000123",
    "order A-12345-6789",
    "order 987654321",
    "date 2024-01-15",
    "at 2024-01-15 12:30",
    "at 2024-01-15T12:30:00Z",
    "on 01.02.2024",
    "price $1,299.99",
    "price €1.299,99",
    "total 1 234 567 890 EUR",
    "amount 1,234,567.89",
    "version 10.0.19041.1234",
    "ip 192.168.100.200",
    "ts 1700000000123",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "ISBN 978-3-16-148410-0",
    "lat 37.7749, lon -122.4194",
    "ids 1234 5678 9012 3456 7890",  # too many groups for a card
    "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6",
    "placeholder 0000 0000 0000 0000",  # Luhn-valid, but no card
    "SSN 000-12-3456",  # area 000 is never issued
    "SSN 666-12-3456",
    "SSN 900-12-3456",
    "SSN 123-00-6789",
    "SSN 123-45-0000",
    "room 415 555",
    "ext 555-2671",
    "IBAN GB82WEST12345698765433",  # checksum fails
    "IBAN DE89 3704 0044 0532 0130 0012",  # a digit too many for Germany: cut mid-group
    "code DE89370400440532013000abc",  # part of a longer token
    "x@localhost",
    "no pii here at all",
    "",
])
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == (text, 0)


def test_unicode_digits_are_not_read_as_numbers() -> None:
    text = "digits ٤١١١١١١١١١١١١١١١"
    assert redact(text) == (text, 0)


# -- cost --------------------------------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_200kb_of_digits_and_spaces() -> None:
    """Linear time: each pattern starts only at a token start and repeats a bounded number of times."""
    rng = random.Random(7)
    text = "".join(rng.choice("0123456789 ") for _ in range(200_000))

    out, count = redact(text)

    assert len(out) <= len(text) + 20 * count


@pytest.mark.timeout(10)
@pytest.mark.parametrize("text", [
    pytest.param("1" * 200_000, id="one-digit-run"),
    pytest.param(" ".join(["1234"] * 40_000), id="card-like-groups"),
    pytest.param("%" * 200_000 + "@", id="long-local-part-no-domain"),  # quadratic before the look-behind fix
    pytest.param("x@" + "a." * 100_000 + "1", id="long-domain"),
    pytest.param("+1 " * 70_000, id="phone-prefixes"),
    pytest.param("+1(" * 70_000, id="phone-parentheses"),
    pytest.param("DE89 " * 40_000, id="iban-prefixes"),
    pytest.param("1-" * 100_000, id="dashes"),
])
def test_hostile_inputs_finish(text: str) -> None:
    redact(text)
