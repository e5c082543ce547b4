"""Redaction of common PII in captured content, before anything leaves the process.

Detected: e-mail addresses; payment-card numbers (13–19 digits, validated with the Luhn
checksum, ISO/IEC 7812-1); IBANs (validated with the ISO 13616 mod-97 check); US social
security numbers (area/group/serial rules of the SSA: no 000/666/9xx area, 00 group, 0000
serial); phone numbers (E.164 ``+`` form or common national forms with ≥ 9 digits).
Checksums keep ordinary long numbers (order ids, timestamps) from being redacted.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){2,4}(?![\w])")


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) checksum over a string of digits."""
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
    """ISO 13616 check: move the first four characters to the end, letters → 10..35, mod 97 == 1."""
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", m.group(0))
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else m.group(0)


def _iban(m: re.Match[str]) -> str:
    return "[REDACTED:iban]" if iban_valid(m.group(0)) else m.group(0)


def _phone(m: re.Match[str]) -> str:
    text = m.group(0)
    digits = sum(c.isdigit() for c in text)
    if digits < 9 or digits > 15:
        return text
    # A plain run of digits with no separators and no "+" is more likely an id than a phone.
    if text.isdigit():
        return text
    return "[REDACTED:phone]"


def redact(text: str) -> tuple[str, int]:
    """Return ``text`` with PII replaced by ``[REDACTED:<kind>]`` markers, and the number replaced."""
    has_digit = any(c.isdigit() for c in text)
    if "@" not in text and not has_digit:
        return text, 0
    count = 0
    out = text
    if "@" in out:
        out, n = _EMAIL.subn("[REDACTED:email]", out)
        count += n
    if has_digit:
        for pattern, repl in ((_SSN, "[REDACTED:ssn]"),):
            out, n = pattern.subn(repl, out)
            count += n
        for pattern, fn in ((_CARD, _card), (_IBAN, _iban), (_PHONE, _phone)):
            before = out
            out = pattern.sub(fn, out)
            if out != before:
                count += out.count("[REDACTED:") - before.count("[REDACTED:")
    return out, count
