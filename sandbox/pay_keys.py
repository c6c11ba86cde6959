"""WeChat Pay merchant credentials (API v3, "WeChat Pay public key" mode): generated on first start, reused later.

State-directory layout for each configured merchant (paths relative to `state_dir`):

    wechat_pay/<mch_id>/apiclient_public_key.pem   The merchant API key's public half (SubjectPublicKeyInfo).
                                                   The sandbox verifies every request's Authorization with it.
                                                   Replace it to use your own merchant key pair.
    wechat_pay/<mch_id>/wechatpay_private_key.pem  The "WeChat Pay public key"'s private half (PKCS#8). Signs
                                                   every answer and notification. Never leaves the sandbox.
    wechat_pay/<mch_id>/apiv3_key                  The APIv3 key: 32 ASCII letters and digits, shared with
                                                   citytiles (notification resources are encrypted with it).
    public/wechat_pay/<mch_id>/apiclient_key.pem   The merchant API private key (PKCS#8 "PRIVATE KEY" PEM, as
                                                   apiclient_key.pem is), for wechatpayv3's private_key. Written
                                                   only when the sandbox generated the merchant pair itself.
    public/wechat_pay/<mch_id>/apiclient_serial_no The merchant API certificate serial (40 upper-case hex
                                                   characters), for cert_serial_no.
    public/wechat_pay/<mch_id>/pub_key.pem         The WeChat Pay public key (SubjectPublicKeyInfo, as pub_key.pem
                                                   is), for wechatpayv3's public_key.
    public/wechat_pay/<mch_id>/pub_key_id          Its id, PUB_KEY_ID_ and 32 digits, for public_key_id.

Text files have no trailing newline. A file that exists is never regenerated.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.keys import _new_private_key_pem
from sandbox.keys import _public_pem
from sandbox.keys import _write_if_changed
from sandbox.keys import _write_once

_PRIVATE = 0o600
_PUBLIC = 0o644
_APIV3_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class WeChatPayPaths:
    """Where one merchant's credentials live inside the state directory."""

    state_dir: Path
    mch_id: str

    @property
    def merchant_public_key(self) -> Path:
        """Merchant API public key (sandbox only)."""
        return self.state_dir / "wechat_pay" / self.mch_id / "apiclient_public_key.pem"

    @property
    def wechatpay_private_key(self) -> Path:
        """Private half of the WeChat Pay public key (sandbox only)."""
        return self.state_dir / "wechat_pay" / self.mch_id / "wechatpay_private_key.pem"

    @property
    def apiv3_key(self) -> Path:
        """The APIv3 key, shared with citytiles."""
        return self.state_dir / "wechat_pay" / self.mch_id / "apiv3_key"

    @property
    def merchant_private_key(self) -> Path:
        """Merchant API private key, for citytiles."""
        return self.state_dir / "public" / "wechat_pay" / self.mch_id / "apiclient_key.pem"

    @property
    def merchant_serial_no(self) -> Path:
        """Merchant API certificate serial, for citytiles."""
        return self.state_dir / "public" / "wechat_pay" / self.mch_id / "apiclient_serial_no"

    @property
    def wechatpay_public_key(self) -> Path:
        """The WeChat Pay public key, for citytiles."""
        return self.state_dir / "public" / "wechat_pay" / self.mch_id / "pub_key.pem"

    @property
    def public_key_id(self) -> Path:
        """The WeChat Pay public key's id, for citytiles."""
        return self.state_dir / "public" / "wechat_pay" / self.mch_id / "pub_key_id"


@dataclass(frozen=True)
class WeChatPayKeys:
    """One merchant's loaded credentials."""

    mch_id: str
    paths: WeChatPayPaths
    merchant_public_key: rsa.RSAPublicKey
    merchant_private_key_pem: str | None  # None when the merchant pair was supplied from outside
    merchant_serial_no: str
    apiv3_key: str
    wechatpay_private_key: rsa.RSAPrivateKey
    wechatpay_public_key_pem: str
    public_key_id: str


def load_or_create_wechat_pay_keys(state_dir: Path, mch_ids: list[str]) -> dict[str, WeChatPayKeys]:
    """Every merchant's credentials from state_dir, generating the ones that are missing."""
    return {mch_id: _merchant_keys(WeChatPayPaths(Path(state_dir), mch_id)) for mch_id in mch_ids}


def _merchant_keys(paths: WeChatPayPaths) -> WeChatPayKeys:
    if not paths.merchant_public_key.exists():
        # No merchant certificate was "applied for": generate the pair and hand its private half out.
        generated = _write_once(paths.merchant_private_key, _new_private_key_pem(pkcs1=False), _PRIVATE)
        generated_key = serialization.load_pem_private_key(generated, password=None)
        _write_once(paths.merchant_public_key, _public_pem(generated_key.public_key()), _PUBLIC)  # type: ignore[arg-type]
    merchant_private_pem = paths.merchant_private_key.read_text() if paths.merchant_private_key.exists() else None
    merchant_public_key = serialization.load_pem_public_key(paths.merchant_public_key.read_bytes())

    wechatpay_pem = _write_once(paths.wechatpay_private_key, _new_private_key_pem(pkcs1=False), _PRIVATE)
    wechatpay_key = serialization.load_pem_private_key(wechatpay_pem, password=None)
    public_pem = _public_pem(wechatpay_key.public_key())  # type: ignore[arg-type]
    # Derived from the private half on every start, so the two can never drift apart.
    _write_if_changed(paths.wechatpay_public_key, public_pem, _PUBLIC)

    apiv3 = "".join(secrets.choice(_APIV3_ALPHABET) for _ in range(32))
    serial = secrets.token_hex(20).upper()
    key_id = "PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(32))
    return WeChatPayKeys(
        mch_id=paths.mch_id,
        paths=paths,
        merchant_public_key=merchant_public_key,  # type: ignore[arg-type]
        merchant_private_key_pem=merchant_private_pem,
        merchant_serial_no=_write_once(paths.merchant_serial_no, serial.encode(), _PUBLIC).decode().strip(),
        apiv3_key=_write_once(paths.apiv3_key, apiv3.encode(), _PRIVATE).decode().strip(),
        wechatpay_private_key=wechatpay_key,  # type: ignore[arg-type]
        wechatpay_public_key_pem=public_pem.decode(),
        public_key_id=_write_once(paths.public_key_id, key_id.encode(), _PUBLIC).decode().strip(),
    )
