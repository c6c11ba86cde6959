"""Masking in free text (log defence in depth): both ID number generations, every mobile prefix."""

from __future__ import annotations

import pytest

from identity.masking import mask_account_number
from identity.masking import mask_id_number
from identity.masking import mask_name
from identity.masking import mask_phone
from identity.masking import redact


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("id=330102199001011234", "id=3301**********1234"),
        ("id=11010519491231002X.", "id=1101**********002X."),
        ("id=11010519491231002x", "id=1101**********002x"),
        # First-generation cards (15 digits, two-digit year) are still in circulation.
        ("old card 110105491231002 on file", "old card 1101*******1002 on file"),
        ("110105491231002", "1101*******1002"),
    ],
)
def test_both_id_number_generations_are_masked_in_text(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_every_mobile_prefix_is_masked_in_text(prefix: str) -> None:
    assert redact(f"tel {prefix}912345678;") == f"tel {prefix}9****5678;"
    assert redact(f"{prefix}912345678") == f"{prefix}9****5678"


@pytest.mark.parametrize(
    "text",
    [
        "order 20261122000123456789",  # longer digit runs are not ID numbers
        "1101054912310021",  # 16 digits: neither generation
        "12912345678",  # no mobile starts with 12
        "10912345678",
        "139123456789",  # 12 digits: not a mobile
        "tel 1391234567",  # 10 digits
        "ts=1700000000123",
    ],
)
def test_numbers_that_are_neither_stay_as_they_are(text: str) -> None:
    assert redact(text) == text


def test_an_id_number_and_a_mobile_in_one_text_are_both_masked() -> None:
    assert redact("13812345678/110105491231002/19912345678") == "138****5678/1101*******1002/199****5678"


def test_masks_keep_only_what_recognises() -> None:
    assert mask_id_number("110105491231002") == "1101*******1002"
    assert mask_phone("19912345678") == "199****5678"
    assert mask_phone("+8613812345678") == "+86*******5678"
    assert mask_phone("1234567") == "*******"
    assert mask_phone("12345678") == "123*5678"
    assert mask_name("张") == "张*"
    assert mask_name("张三丰") == "张**"


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("330100123456780001", "**************0001"),
        ("123456", "****3456"),  # at least four stars, so a short number does not show its length
        ("12345", "****2345"),
        ("1234", "****"),  # four or fewer: nothing shown
        ("123", "***"),
        ("", ""),
    ],
)
def test_an_account_number_shows_only_its_last_four(number: str, masked: str) -> None:
    assert mask_account_number(number) == masked
