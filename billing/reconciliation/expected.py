"""The day's paid payments as the bill should state them, so that plain payment lines that agree pass in bulk.

Each of the merchant's payments paid that day is kept by its out_trade_no with its amount and the
agreed fee written as the bill writes them ("25.00", "0.15"). A plain line (billing/wechat_blocks.py)
that is the first to name one of them, with exactly that amount and fee, is a line the line-by-line
matching would find nothing wrong with: it passes, counted in bulk. Every payment is taken out as
a line names it, so a second line for it never passes. Every other line (a second one, another
day's or an unknown payment, one stated otherwise) goes through the line-by-line matching, which
says what is wrong with it. What no line named is what the bill left out.

A million payments take about 115 MB here, read in slices of the day as comma-joined text: a row
per payment cost more in Python than the whole comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from itertools import repeat
from operator import eq

from billing.wechat_blocks import PlainRun


class Stated(dict[str, tuple[str, str]]):
    """An amount in fen (as text) -> that amount and its agreed fee, as the bill writes them; made once per amount."""

    def __init__(self, fee_of: Callable[[int], int]) -> None:
        super().__init__()
        self._fee_of = fee_of
        # (amount, fee) as stated -> the same in fen.
        self.fen: dict[tuple[str, str], tuple[int, int]] = {}

    def learn(self, amount_texts: Iterable[str]) -> None:
        """Make those of the amounts not known yet: a big day has tens of thousands, so all at once, in C."""
        new = list(set(amount_texts).difference(self))
        amounts = list(map(int, new))
        fees = list(map(self._fee_of, amounts))
        stated = list(zip(_yuan(amounts), _yuan(fees), strict=True))
        self.update(zip(new, stated, strict=True))
        self.fen.update(zip(stated, zip(amounts, fees, strict=True), strict=True))


class ExpectedPayments:
    """The day's paid payments by out_trade_no, each as the bill should state it, until a line names it."""

    def __init__(self, fee_of: Callable[[int], int]) -> None:
        self._stated = Stated(fee_of)
        self._payments: dict[str, tuple[str, str]] = {}
        # The payments named by a line that did not pass (few): told apart from those a plain line passed.
        self._named: set[str] = set()
        # Count, amounts and fees of the day's payments not named by a line that did not pass: less the
        # unnamed ones at the end, what passed (counted so, as a line at a time cost more than the rest).
        self._count = self._paid_fen = self._fee_fen = 0

    def add_joined(self, numbers: str, amounts: str, totals: tuple[int, int, int]) -> None:
        """Add payments as comma-joined out_trade_nos (none with a comma) and amounts, with their count and sums."""
        count, paid_fen, fee_fen = totals
        split_amounts = amounts.split(",")
        self._stated.learn(split_amounts)
        self._payments.update(zip(numbers.split(","), map(self._stated.__getitem__, split_amounts), strict=True))
        self._count, self._paid_fen, self._fee_fen = (
            self._count + count,
            self._paid_fen + paid_fen,
            self._fee_fen + fee_fen,
        )

    def add(self, rows: Iterable[tuple[str, int]]) -> None:
        """Add payments given as (out_trade_no, amount_fen)."""
        for number, amount in rows:
            self._stated.learn([str(amount)])
            stated = self._payments[number] = self._stated[str(amount)]
            self._count_in(stated, 1)

    def pass_run(self, run: PlainRun) -> list[tuple[int, bool]]:
        """Pass the run's lines that agree; the others' indexes, each with whether its payment may have passed before.

        A payment is taken out as a line names it, in the run's order: a second line for it finds it
        gone, and does not pass.
        """
        numbers = run.numbers()
        expected = list(map(self._payments.pop, numbers, repeat(None)))
        agreeing = list(map(eq, expected, run.amounts_and_fees()))
        if False not in agreeing:
            return []
        return [
            (index, self._named_now(numbers[index], expected[index]))
            for index, agrees in enumerate(agreeing)
            if not agrees
        ]

    def name(self, number: str) -> bool:
        """Take the payment out as named by a line that did not pass; whether it may have passed before."""
        return self._named_now(number, self._payments.pop(number, None))

    def _named_now(self, number: str, held: tuple[str, str] | None) -> bool:
        if held is None:  # gone already: passed, or named, or never one of the day's
            return number not in self._named
        self._named.add(number)
        self._count_in(held, -1)
        return False

    def passed(self) -> tuple[int, int, int]:
        """The lines passed: how many, their amounts and their fees, in fen (once every line is read)."""
        count, paid_fen, fee_fen = self._count, self._paid_fen, self._fee_fen
        for held in self._payments.values():
            amount, fee = self._stated.fen[held]
            count, paid_fen, fee_fen = count - 1, paid_fen - amount, fee_fen - fee
        return count, paid_fen, fee_fen

    def unnamed(self) -> list[str]:
        """The out_trade_nos of the payments no line named."""
        return list(self._payments)

    def _count_in(self, stated: tuple[str, str], times: int) -> None:
        amount, fee = self._stated.fen[stated]
        self._count, self._paid_fen, self._fee_fen = (
            self._count + times,
            self._paid_fen + times * amount,
            self._fee_fen + times * fee,
        )


def _yuan(fens: list[int]) -> Iterator[str]:
    """Fen as the bill writes yuan ("25.00", "0.15"), each."""
    return map("%d.%02d".__mod__, map(divmod, fens, repeat(100)))
