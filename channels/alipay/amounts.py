"""Alipay's money: yuan strings with exactly two decimals at the edge, integer fen inside."""

from __future__ import annotations

import re

# Applied with fullmatch: digits, a point, two digits ("25.00"); never a float, a sign or an exponent.
_YUAN = re.compile(r"[0-9]{1,12}\.[0-9]{2}")


def yuan(fen: int) -> str:
    """Fen as Alipay reads an amount: "25.00" (a float could reach it as 25.0 or 0.30000000000000004)."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
        raise ValueError("an amount is a whole number of fen, 0 or more")
    return f"{fen // 100}.{fen % 100:02d}"


def fen_of(text: object) -> int | None:
    """An Alipay amount in fen, exactly; None for anything that is not yuan with two decimals."""
    if not isinstance(text, str) or _YUAN.fullmatch(text) is None:
        return None
    whole, cents = text.split(".")
    return int(whole) * 100 + int(cents)
