"""The PII vault: sealed at rest, bound to its field, rotatable, with keyed lookups."""

from __future__ import annotations

import base64

import pytest

from identity.vault import Vault
from identity.vault import VaultError

K1 = base64.b64encode(b"1" * 32).decode()
K2 = base64.b64encode(b"2" * 32).decode()
LOOKUP = base64.b64encode(b"L" * 32).decode()


def vault(keys: str = f"k1:{K1}", active: str = "k1") -> Vault:
    return Vault.from_settings(keys, active, LOOKUP)


def test_seal_and_open_round_trip_without_plaintext_in_the_ciphertext() -> None:
    sealed = vault().seal("resident.id_number", "11010519491231002X")
    assert sealed.startswith("v1:k1:") and "11010519491231002X" not in sealed
    assert vault().open("resident.id_number", sealed) == "11010519491231002X"


def test_each_seal_is_different() -> None:
    assert vault().seal("f", "same") != vault().seal("f", "same")


def test_a_ciphertext_cannot_be_moved_to_another_field() -> None:
    sealed = vault().seal("resident.phone", "13812345678")
    with pytest.raises(VaultError):
        vault().open("resident.id_number", sealed)


def test_tampering_is_detected() -> None:
    sealed = vault().seal("f", "13812345678")
    raw = bytearray(base64.b64decode(sealed.split(":", 2)[2]))
    raw[-1] ^= 1
    with pytest.raises(VaultError):
        vault().open("f", "v1:k1:" + base64.b64encode(bytes(raw)).decode())


def test_rotation_keeps_old_ciphertexts_readable_and_marks_them() -> None:
    old = vault().seal("f", "张三")
    rotated = vault(f"k1:{K1},k2:{K2}", "k2")
    assert rotated.open("f", old) == "张三"
    assert rotated.needs_resealing(old)
    assert not rotated.needs_resealing(rotated.seal("f", "张三"))
    with pytest.raises(VaultError):
        vault(f"k2:{K2}", "k2").open("f", old)


def test_lookup_is_stable_keyed_and_per_field() -> None:
    assert vault().lookup("f", "x") == vault().lookup("f", "x")
    assert vault().lookup("f", "x") != vault().lookup("g", "x")
    other = Vault.from_settings(f"k1:{K1}", "k1", K2)
    assert other.lookup("f", "x") != vault().lookup("f", "x")


@pytest.mark.parametrize(("keys", "active"), [(f"k1:{K1}", "k9"), ("k1:" + base64.b64encode(b"short").decode(), "k1")])
def test_bad_key_configuration_is_refused(keys: str, active: str) -> None:
    with pytest.raises(ValueError):
        vault(keys, active)


def test_a_short_lookup_key_is_refused() -> None:
    with pytest.raises(ValueError):
        Vault.from_settings(f"k1:{K1}", "k1", "")


@pytest.mark.parametrize("size", [0, 16, 31])
def test_a_lookup_key_shorter_than_32_bytes_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="PII_LOOKUP_KEY"):
        Vault.from_settings(f"k1:{K1}", "k1", base64.b64encode(b"L" * size).decode())


@pytest.mark.parametrize("size", [32, 64])
def test_a_lookup_key_of_32_bytes_or_more_is_taken(size: int) -> None:
    key = b"L" * size
    assert Vault.from_settings(f"k1:{K1}", "k1", base64.b64encode(key).decode()).lookup_key == key


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_sealing_keys_must_be_exactly_32_bytes(size: int) -> None:
    other = base64.b64encode(bytes([7]) * size).decode()
    with pytest.raises(ValueError, match="PII_KEYS"):
        vault(f"k1:{K1},k2:{other}", "k1")


def test_several_keys_with_spaces_and_empty_items_are_parsed() -> None:
    parsed = vault(f" k1:{K1} ,, k2:{K2} ,", "k2")
    assert parsed.keys == {"k1": b"1" * 32, "k2": b"2" * 32} and parsed.active_key_id == "k2"
    assert parsed.seal("f", "x").startswith("v1:k2:")


def test_lookups_never_change_for_the_same_key_purpose_and_value() -> None:
    # Stored lookups must keep matching across releases: HMAC-SHA256(key, purpose NUL value), hex.
    assert vault().lookup("resident.id_number", "11010519491231002X") == (
        "da8be8293ba8268af05ec814c3090e299ad5be89bbb953da503dd99d5da842ec"
    )


def test_a_ciphertext_is_version_key_id_and_base64_of_a_12_byte_nonce_and_the_sealed_text() -> None:
    version, key_id, encoded = vault().seal("f", "13812345678").split(":")
    raw = base64.b64decode(encoded)
    assert (version, key_id) == ("v1", "k1")
    assert len(raw) == 12 + len("13812345678") + 16  # nonce, ciphertext, GCM tag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert AESGCM(b"1" * 32).decrypt(raw[:12], raw[12:], b"f") == b"13812345678"


@pytest.mark.parametrize(
    "ciphertext",
    [
        "v2:k1:" + base64.b64encode(b"x" * 40).decode(),
        "v1:k9:" + base64.b64encode(b"x" * 40).decode(),
        "v1",
        "v1:k1:%%%",
    ],
)
def test_ciphertexts_of_another_format_or_key_are_refused(ciphertext: str) -> None:
    with pytest.raises(VaultError):
        vault().open("f", ciphertext)


def test_needs_resealing_refuses_what_is_not_a_ciphertext() -> None:
    with pytest.raises(VaultError):
        vault().needs_resealing("v1:k1")
