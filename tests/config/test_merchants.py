"""Merchants are configuration: the demo's collect at the sandbox; production refuses one it cannot use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from app import create_app
from config import Settings
from config import UnsafeConfiguration
from config.merchants import WeChatPayMerchant
from tests.config.test_settings import SAFE_PRODUCTION
from tests.config.test_settings import SECRETS
from tests.config.test_settings import write_seed
from tests.conftest import Sandbox

MINI, OA, ALIPAY, MERCHANT = "wx7c1b5d1e2f3a4b50", "wx9a8b7c6d5e4f3a20", "2021004100000001", "1900000109"
APIV3_KEY = "A1b2C3d4E5f6G7h8J9k0L1m2N3p4Q5r6"
MERCHANT_APPS = f"""
[[wechat]]
app_id = "{MINI}"
kind = "mini_program"
secret_env = "WECHAT_MINI_SECRET"

[[wechat_pay]]
mch_id = "{MERCHANT}"
app_ids = ["{MINI}"]
merchant_serial = "3775B6A45ACD588826D15E583A95F5DD00000000"
merchant_private_key_env = "WECHAT_PAY_PRIVATE_KEY"
apiv3_key_env = "WECHAT_PAY_APIV3_KEY"
wechatpay_public_key_env = "WECHAT_PAY_PUBLIC_KEY"
wechatpay_public_key_id = "PUB_KEY_ID_0119000001092025112300000000000001"
"""


def pem_pair() -> tuple[str, str]:
    """A fresh RSA key: its PKCS#8 private half and SubjectPublicKeyInfo public half, as WeChat Pay issues them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


@pytest.fixture(scope="module")
def merchant_keys() -> tuple[str, str]:
    return pem_pair()


@pytest.fixture
def merchant_env(monkeypatch: pytest.MonkeyPatch, merchant_keys: tuple[str, str]) -> Iterator[None]:
    private, public = merchant_keys
    monkeypatch.setenv("WECHAT_MINI_SECRET", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("WECHAT_PAY_PRIVATE_KEY", private)
    monkeypatch.setenv("WECHAT_PAY_PUBLIC_KEY", public)
    monkeypatch.setenv("WECHAT_PAY_APIV3_KEY", APIV3_KEY)
    yield


def channel_apps(tmp_path: Path, text: str = MERCHANT_APPS) -> str:
    path = tmp_path / "channels.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def production(tmp_path: Path, **changes: str) -> dict[str, str]:
    return {
        **SAFE_PRODUCTION,
        "CATALOGUE_SEED": write_seed(tmp_path),
        "CHANNEL_APPS_FILE": channel_apps(tmp_path),
        **changes,
    }


@pytest.fixture
def demo_app(clean_sandbox: Sandbox, tmp_path: Path) -> Iterator[Flask]:
    """citytiles built from the demo's channel apps file, at the test sandbox."""
    settings = replace(
        clean_sandbox.service_settings(tmp_path), app_env="test", database_url=f"sqlite:///{tmp_path / 'demo.db'}"
    )
    app = create_app(settings)
    yield app
    app.extensions["engine"].dispose()


def test_the_demo_collects_for_both_wechat_apps_and_the_alipay_app(demo_app: Flask) -> None:
    channels = demo_app.extensions["channels"]
    assert channels.problems == ()
    wechat, alipay = channels.payments[MINI], channels.payments[ALIPAY]
    assert channels.payments[OA] is wechat
    assert (wechat.name, wechat.channel, wechat.merchant_id) == ("wechat_pay_v3", "wechat", MERCHANT)
    assert (alipay.name, alipay.channel, alipay.merchant_id) == ("alipay_trade", "alipay", ALIPAY)
    # Notifications find their gateway by the merchant in the callback's path.
    assert channels.merchant("wechat", MERCHANT) is wechat and channels.merchant("alipay", ALIPAY) is alipay


def test_production_starts_with_a_merchant_whose_secrets_are_set(tmp_path: Path, merchant_env: None) -> None:
    environ = production(tmp_path)
    app = create_app(Settings.from_env(environ), environ=SECRETS)
    assert app.extensions["channels"].payments[MINI].merchant_id == MERCHANT


def test_production_refuses_a_merchant_without_its_secret(
    tmp_path: Path, merchant_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_PAY_APIV3_KEY")
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(Settings.from_env(production(tmp_path)), environ=SECRETS)
    assert refused.value.problems == [f"environment variable WECHAT_PAY_APIV3_KEY for merchant {MERCHANT} is not set"]


def test_production_refuses_a_sandbox_pay_url(tmp_path: Path, merchant_env: None) -> None:
    environ = production(tmp_path, WECHAT_PAY_BASE_URL="http://127.0.0.1:8700")
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(Settings.from_env(environ), environ=SECRETS)
    assert refused.value.problems == [
        "WECHAT_PAY_BASE_URL is not a public HTTPS URL (sandbox or plain HTTP): http://127.0.0.1:8700"
    ]


def test_development_leaves_out_a_merchant_it_cannot_use_naming_the_field_not_the_value(
    tmp_path: Path, merchant_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_PAY_APIV3_KEY", "too-short-to-be-a-key")
    app = create_app(Settings.from_env({"CHANNEL_APPS_FILE": channel_apps(tmp_path)}))
    channels = app.extensions["channels"]
    assert MINI in channels.logins and channels.payments == {}
    assert channels.problems == (f"wechat_pay merchant {MERCHANT}: malformed apiv3_key",)
    assert "too-short" not in " ".join(channels.problems)


def test_a_merchant_for_an_app_not_served_is_a_configuration_error(tmp_path: Path, merchant_env: None) -> None:
    text = MERCHANT_APPS.replace(f'app_ids = ["{MINI}"]', 'app_ids = ["wx0000000000000000"]')
    with pytest.raises(ValueError, match="app_ids"):
        create_app(Settings.from_env({"CHANNEL_APPS_FILE": channel_apps(tmp_path, text)}))


def test_a_paying_alipay_app_names_its_seller(clean_sandbox: Sandbox, tmp_path: Path) -> None:
    settings = clean_sandbox.channel_settings(tmp_path)
    text = settings.channel_apps_file.read_text(encoding="utf-8").replace('seller_id = "2088721000000017"\n', "")
    settings.channel_apps_file.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="seller_id"):
        create_app(replace(settings, database_url=f"sqlite:///{tmp_path / 'demo.db'}"))


def test_merchant_secrets_stay_out_of_repr(merchant_keys: tuple[str, str]) -> None:
    private, public = merchant_keys
    merchant = WeChatPayMerchant(
        MERCHANT, (MINI,), "3775B6A45ACD588826D15E583A95F5DD00000000", "PUB_KEY_ID_01", private, APIV3_KEY, public
    )
    assert APIV3_KEY not in repr(merchant) and "PRIVATE KEY" not in repr(merchant)
