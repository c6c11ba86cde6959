"""A requester's message reaches the owner without a phone, ID or other long number, however it is written."""

from __future__ import annotations

import pytest

from city_services.car_move.messages import contact_free


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("电话13800001111", "电话138****1111"),
        ("电话 138 0000 1111", "电话 138****1111"),
        ("电话138-0000-1111", "电话138****1111"),
        ("电话１３８００００１１１１", "电话138****1111"),
        ("电话１３８ ０００　０１１１１", "电话138****1111"),
        ("座机0571-8888 6666", "座机************"),
        ("QQ 12345678", "QQ ********"),
        ("身份证110105 19491231 002X", "身份证1101**********002X"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ", "身份证*****************Ｘ"),
        ("电话١٣٨٠٠٠٠١١١١", "电话138****1111"),
    ],
)
def test_numbers_that_reach_a_person_are_masked(message: str, shown: str) -> None:
    assert contact_free(message) == shown


@pytest.mark.parametrize(
    "message", ["挡住出口了，3号楼2单元", "请挪车！３号楼", "浙A12345 的车主请挪车", "15:30 前挪一下", "车位B-203", ""]
)
def test_words_about_the_car_are_left_as_they_are(message: str) -> None:
    assert contact_free(message) == message
