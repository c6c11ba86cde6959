"""Credentials are generated on first start, written where citytiles reads them, and reused."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

from alipay import AliPay
from cryptography.hazmat.primitives import serialization
from wechatpayv3 import WeChatPay
from wechatpayv3 import WeChatPayType

from sandbox.server import create_sandbox
from sandbox.settings import SandboxConfig

MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
MERCHANT = "1900000109"


def snapshot(state_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(state_dir)): p.read_bytes() for p in sorted(state_dir.rglob("*")) if p.is_file()}


def test_first_start_writes_the_documented_layout(tmp_path: Path) -> None:
    create_sandbox(SandboxConfig(state_dir=tmp_path))

    # The city upstream systems' credentials (upstreams/) have their own test in test_upstream_helpers.py.
    assert {path for path in snapshot(tmp_path) if not path.startswith("upstreams/")} == {
        f"wechat/{MINI_PROGRAM}.secret",
        f"wechat/{OFFICIAL_ACCOUNT}.secret",
        f"wechat/{OFFICIAL_ACCOUNT}.token",
        f"wechat/{OFFICIAL_ACCOUNT}.aes_key",
        "alipay/platform_private_key.pem",
        "alipay/app_public_key.pem",
        "public/alipay_public_key.pem",
        "public/alipay_app_private_key.pem",
        "outpatient/zheyi_his.api_key",
        "outpatient/shenzhen_health_platform/szjk_citytiles_demo.secret",
        f"wechat_pay/{MERCHANT}/apiclient_public_key.pem",
        f"wechat_pay/{MERCHANT}/wechatpay_private_key.pem",
        f"wechat_pay/{MERCHANT}/apiv3_key",
        f"public/wechat_pay/{MERCHANT}/apiclient_key.pem",
        f"public/wechat_pay/{MERCHANT}/apiclient_serial_no",
        f"public/wechat_pay/{MERCHANT}/pub_key.pem",
        f"public/wechat_pay/{MERCHANT}/pub_key_id",
    }
    secret = (tmp_path / "wechat" / f"{MINI_PROGRAM}.secret").read_text()
    assert len(secret) == 32 and int(secret, 16) >= 0
    assert stat.S_IMODE((tmp_path / "alipay" / "platform_private_key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "outpatient" / "zheyi_his.api_key").stat().st_mode) == 0o600
    for secret_file in ("apiv3_key", "wechatpay_private_key.pem"):
        assert stat.S_IMODE((tmp_path / "wechat_pay" / MERCHANT / secret_file).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "public" / "wechat_pay" / MERCHANT / "apiclient_key.pem").stat().st_mode) == 0o600


def test_the_official_account_has_a_server_token_and_an_encoding_aes_key(tmp_path: Path) -> None:
    body = create_sandbox(SandboxConfig(state_dir=tmp_path)).test_client().get("/_sandbox/credentials").json
    token_file, aes_key_file = (tmp_path / "wechat" / f"{OFFICIAL_ACCOUNT}.{name}" for name in ("token", "aes_key"))
    token, aes_key = token_file.read_text(), aes_key_file.read_text()

    assert re.fullmatch(r"[A-Za-z0-9]{32}", token) and re.fullmatch(r"[A-Za-z0-9]{43}", aes_key)
    assert len(base64.b64decode(aes_key + "=")) == 32  # AES-256, as WeChat's safe mode reads it
    assert {stat.S_IMODE(path.stat().st_mode) for path in (token_file, aes_key_file)} == {0o600}
    [account] = [entry for entry in body["wechat"] if entry["app_id"] == OFFICIAL_ACCOUNT]
    assert (account["token"], account["aes_key"], account["original_id"]) == (token, aes_key, "gh_3f5a7c9e1b2d")
    assert (account["token_file"], account["aes_key_file"]) == (str(token_file), str(aes_key_file))
    [mini_program] = [entry for entry in body["wechat"] if entry["app_id"] == MINI_PROGRAM]
    assert "token" not in mini_program  # a mini-program has no message server here
    assert body["alipay"]["kinds"] == {"2021004100000001": "mini_program", "2021004100000002": "life_account"}


def test_pems_have_headers_and_wrapped_lines_and_the_sdk_accepts_them(tmp_path: Path) -> None:
    create_sandbox(SandboxConfig(state_dir=tmp_path))
    public = (tmp_path / "public" / "alipay_public_key.pem").read_text()
    private = (tmp_path / "public" / "alipay_app_private_key.pem").read_text()

    assert public.startswith("-----BEGIN PUBLIC KEY-----\n") and public.rstrip().endswith("-----END PUBLIC KEY-----")
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert max(len(line) for line in (public + private).splitlines()) <= 64
    AliPay(appid="2021004100000001", app_private_key_string=private, alipay_public_key_string=public, sign_type="RSA2")


def test_second_start_reuses_every_credential(tmp_path: Path) -> None:
    first = create_sandbox(SandboxConfig(state_dir=tmp_path))
    before = snapshot(tmp_path)
    second = create_sandbox(SandboxConfig(state_dir=tmp_path))

    assert snapshot(tmp_path) == before
    credentials = [app.test_client().get("/_sandbox/credentials").json for app in (first, second)]
    assert credentials[0] == credentials[1]


def test_credentials_endpoint_matches_the_files(tmp_path: Path) -> None:
    body = create_sandbox(SandboxConfig(state_dir=tmp_path)).test_client().get("/_sandbox/credentials").json

    secrets = {entry["app_id"]: entry["secret"] for entry in body["wechat"]}
    assert secrets[MINI_PROGRAM] == (tmp_path / "wechat" / f"{MINI_PROGRAM}.secret").read_text()
    assert body["alipay"]["alipay_public_key_pem"] == (tmp_path / "public" / "alipay_public_key.pem").read_text()
    assert body["alipay"]["app_private_key_pem"] == (tmp_path / "public" / "alipay_app_private_key.pem").read_text()


def test_a_separate_state_dir_gets_different_keys(tmp_path: Path) -> None:
    create_sandbox(SandboxConfig(state_dir=tmp_path / "a"))
    create_sandbox(SandboxConfig(state_dir=tmp_path / "b"))

    a, b = ((tmp_path / name / "public" / "alipay_public_key.pem").read_bytes() for name in "ab")
    assert a != b


def test_wechat_pay_credentials_have_their_formats_and_the_sdk_accepts_them(tmp_path: Path) -> None:
    body = create_sandbox(SandboxConfig(state_dir=tmp_path)).test_client().get("/_sandbox/credentials").json
    public = tmp_path / "public" / "wechat_pay" / MERCHANT
    [merchant] = body["wechat_pay"]

    apiv3 = (tmp_path / "wechat_pay" / MERCHANT / "apiv3_key").read_text()
    serial = (public / "apiclient_serial_no").read_text()
    key_id = (public / "pub_key_id").read_text()
    private = (public / "apiclient_key.pem").read_text()
    assert len(apiv3) == 32 and apiv3.isascii() and apiv3.isalnum()
    assert re.fullmatch(r"[0-9A-F]{40}", serial) and re.fullmatch(r"PUB_KEY_ID_[0-9]{32}", key_id)
    assert private.startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, as wechatpayv3 wraps it
    assert (merchant["mch_id"], merchant["apiv3_key"], merchant["merchant_serial_no"]) == (MERCHANT, apiv3, serial)
    assert (merchant["public_key_id"], merchant["merchant_private_key_pem"]) == (key_id, private)
    assert merchant["public_key_pem"] == (public / "pub_key.pem").read_text()
    assert set(merchant["app_ids"]) == {MINI_PROGRAM, OFFICIAL_ACCOUNT}
    assert re.fullmatch(r"2088[0-9]{12}", body["alipay"]["seller_ids"]["2021004100000001"])
    # The sandbox verifies with the public half of the key it handed out.
    handed_out = serialization.load_pem_private_key(private.encode(), password=None).public_key()
    kept = serialization.load_pem_public_key(
        (tmp_path / "wechat_pay" / MERCHANT / "apiclient_public_key.pem").read_bytes()
    )
    assert handed_out.public_numbers() == kept.public_numbers()  # type: ignore[union-attr]
    WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MERCHANT,
        private_key=private,
        cert_serial_no=serial,
        appid=MINI_PROGRAM,
        apiv3_key=apiv3,
        public_key=merchant["public_key_pem"],
        public_key_id=key_id,
    )
