"""Redaction of common PII in captured content, before anything leaves the process.

Detected, in this order (an earlier kind's marker is never re-read by a later pattern):

- e-mail addresses;
- IBANs, validated with the ISO 13616 mod-97 check and, for the countries of the SWIFT IBAN
  registry, the country's fixed length (so an IBAN followed by another upper-case word, such as
  ``... 0130 00 BIC COBADEFFXXX``, is still found);
- payment-card numbers: 13–19 digits, contiguous or in the printed groupings (4-4-4-4[-3],
  4-6-5, 4-6-4, 4-4-4-1..4) with one consistent separator, validated with the Luhn checksum
  (ISO/IEC 7812-1);
- US social security numbers ``AAA-GG-SSSS`` (SSA rules: no 000/666/9xx area, 00 group, 0000 serial);
- phone numbers in recognisable shapes only: international (``+`` or ``00`` and country code), NANP
  (``(415) 555-2671``, ``415-555-2671``) and trunk-prefix national (``020 7946 0958``),
  with 9–15 digits.

Checksums and shapes keep ordinary numbers (order ids, dates and times, versions, amounts,
timestamps) from being redacted. Every pattern is anchored by look-behinds to the start of a
token and has bounded repetition, so matching is linear in the text length (no catastrophic
backtracking on long runs of digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_EMAIL = re.compile(
    # The look-behind covers the whole local-part class, so a match starts only where a run of
    # local-part characters starts: one attempt per run keeps long runs without "@" linear.
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    re.ASCII,
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}", re.ASCII)
_CARD = re.compile(
    r"(?<!\w)(?<!\d[ -])"
    r"(?:\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?!\w)(?![ -]\d)",
    re.ASCII,
)
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])", re.ASCII)
_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"\+(?:\d{7,15}|\d{1,3}(?:[ .-]?\(\d{1,4}\))?[ .-]?\d{1,5}(?:[ .-]\d{1,8}){0,5})"  # international
    r"|00[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?[ .-]\d{1,5}(?:[ .-]\d{1,8}){1,5}"  # international, 00 prefix
    r"|(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}"  # NANP
    r"|0[1-9]\d{0,3}(?:[ .-]\d{2,8}){1,4}"  # national, with a trunk prefix 0
    r")(?![\w-])(?![.:]\d)",
    re.ASCII,
)

# Lengths from the SWIFT IBAN registry; countries not listed get the generic 15–34 check.
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", re.ASCII)
_ASCII_DIGITS = re.compile(r"\d+", re.ASCII)
_ANY_DIGIT = re.compile(r"\d", re.ASCII)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) checksum over a non-empty string of ASCII digits (False for anything else)."""
    if not _ASCII_DIGITS.fullmatch(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """ISO 13616 check: shape, the country's registered length, then mod 97 == 1.

    Spaces and lower case are accepted (printed forms); any other character makes it invalid.
    The mod-97 step moves the first four characters to the end and reads letters as 10..35.
    """
    s = candidate.replace(" ", "").upper()
    if not _IBAN_SHAPE.fullmatch(s):
        return False
    expected = _IBAN_LENGTHS.get(s[:2])
    if expected is not None and len(s) != expected:
        return False
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _iban_prefix_end(text: str, length: int) -> int:
    """Index in ``text`` just after its first ``length`` non-space characters (-1 if fewer)."""
    seen = 0
    for i, ch in enumerate(text):
        if ch != " ":
            seen += 1
            if seen == length:
                return i + 1
    return -1


def _continues(text: str, index: int) -> bool:
    """Whether ``text[index]`` is an ASCII letter or digit (a token goes on there)."""
    return index < len(text) and text[index].isascii() and text[index].isalnum()


def _iban_end(m: re.Match[str]) -> int:
    """End (in the searched text) of the valid IBAN that starts where ``m`` does, or -1.

    The candidate is greedy and may have swallowed the next upper-case word or IBAN; for a
    registered country it is cut at the country's length, and the cut must fall where a token ends.
    """
    found = m.group(0)
    expected = _IBAN_LENGTHS.get(found[:2])
    if expected is None:
        ok = iban_valid(found) and not _continues(m.string, m.end())
        return m.end() if ok else -1
    cut = _iban_prefix_end(found, expected)
    if cut < 0 or _continues(m.string, m.start() + cut) or not iban_valid(found[:cut]):
        return -1
    return m.start() + cut


def _digit_count(text: str) -> int:
    return sum(1 for c in text if "0" <= c <= "9")


def redact(text: str) -> tuple[str, int]:
    """Return ``text`` with PII replaced by ``[REDACTED:<kind>]`` markers, and the number replaced."""
    has_at = "@" in text
    has_digit = _ANY_DIGIT.search(text) is not None  # in C: most text has no digit to pay for
    if not has_at and not has_digit:
        return text, 0
    count = 0

    def marker(kind: str) -> str:
        nonlocal count
        count += 1
        return f"[REDACTED:{kind}]"

    def card(m: re.Match[str]) -> str:
        digits = m.group(0).replace(" ", "").replace("-", "")
        # One repeated digit (0000 0000 0000 0000) passes Luhn but is a placeholder, not a card.
        real = 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits)
        return marker("card") if real else m.group(0)

    def phone(m: re.Match[str]) -> str:
        return marker("phone") if 9 <= _digit_count(m.group(0)) <= 15 else m.group(0)

    def ibans(value: str) -> str:
        # A search loop rather than sub(): after an IBAN cut short of its greedy candidate, the
        # search must resume right after the IBAN (the rest of the candidate may hold another).
        pieces: list[str] = []
        pos = last = 0
        while (m := _IBAN.search(value, pos)) is not None:
            end = _iban_end(m)
            if end < 0:
                pos = m.start() + 1
                continue
            pieces += (value[last:m.start()], marker("iban"))
            pos = last = end
        pieces.append(value[last:])
        return "".join(pieces)

    out = text
    if has_at:
        out = _EMAIL.sub(lambda m: marker("email"), out)
    if has_digit:
        out = ibans(out)
        steps: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
            (_CARD, card),
            (_SSN, lambda m: marker("ssn")),
            (_PHONE, phone),
        )
        for pattern, fn in steps:
            out = pattern.sub(fn, out)
    return out, count

