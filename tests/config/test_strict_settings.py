"""Numbers in the environment are ASCII numbers and nothing else."""

from __future__ import annotations

import pytest

from config import Settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STAFF_TOKEN_MINUTES", "４８０"),
        ("STAFF_TOKEN_MINUTES", "480\n"),
        ("RESIDENT_TOKEN_MINUTES", " 1440"),
        ("MAX_BODY_BYTES", "0"),
        ("MAX_BODY_BYTES", "-1"),
        ("MAX_BODY_BYTES", "1_000"),
        ("CHANNEL_TIMEOUT_SECONDS", "nan"),
        ("CHANNEL_TIMEOUT_SECONDS", "inf"),
        ("CHANNEL_TIMEOUT_SECONDS", "1e999"),
        ("CHANNEL_TIMEOUT_SECONDS", "0"),
        ("CHANNEL_TIMEOUT_SECONDS", "２.５"),
    ],
)
def test_numbers_from_the_environment_are_ascii_and_whole(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_plain_numbers_are_read() -> None:
    settings = Settings.from_env(
        {"STAFF_TOKEN_MINUTES": "30", "CHANNEL_TIMEOUT_SECONDS": "2.5", "MAX_BODY_BYTES": "1024"}
    )
    assert (settings.staff_token_minutes, settings.channel_timeout_seconds, settings.max_body_bytes) == (30, 2.5, 1024)
