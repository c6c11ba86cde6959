"""Password hashes: scrypt with its parameters stored beside the hash, compared in constant time."""

from __future__ import annotations

import base64
import hashlib

import pytest

from identity.passwords import hash_password
from identity.passwords import password_matches


def test_a_hash_records_scheme_parameters_salt_and_a_32_byte_digest() -> None:
    scheme, n, r, p, salt, digest = hash_password("correct horse battery staple").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    expected = hashlib.scrypt(b"correct horse battery staple", salt=base64.b64decode(salt), n=16384, r=8, p=1, dklen=32)
    assert base64.b64decode(digest) == expected


def test_each_hash_has_its_own_salt_and_matches_only_its_password() -> None:
    first, second = hash_password("correct horse battery staple"), hash_password("correct horse battery staple")
    assert first != second
    assert password_matches("correct horse battery staple", first) and password_matches(
        "correct horse battery staple", second
    )
    assert not password_matches("correct horse battery stapl", first)
    assert not password_matches("", first)


def test_a_hash_made_with_other_parameters_still_verifies() -> None:
    # Parameters are read from the stored hash, so they can be raised later without breaking old hashes.
    salt = b"s" * 16
    digest = hashlib.scrypt(b"old password!", salt=salt, n=2**10, r=4, p=2, dklen=24)
    stored = f"scrypt$1024$4$2${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert password_matches("old password!", stored)
    assert not password_matches("old password?", stored)


@pytest.mark.parametrize(
    "stored", ["", "scrypt$16384$8$1$c2FsdA==", "bcrypt$16384$8$1$c2FsdA==$ZGlnZXN0", "a$b$c$d$e$f$g"]
)
def test_unreadable_or_foreign_hashes_never_match(stored: str) -> None:
    assert password_matches("anything at all", stored) is False
