"""The sandbox's credentials: generated on first start into the state directory, reused later.

State-directory layout (paths relative to `state_dir`):

    wechat/<app_id>.secret             AppSecret of each configured WeChat app: 32 hex chars, the
                                       format WeChat issues. citytiles' demo configuration reads it.
    alipay/platform_private_key.pem    Alipay's platform private key (PKCS#8 PEM). Signs every
                                       gateway response. Never leaves the sandbox.
    alipay/app_public_key.pem          The app public key "uploaded" to the open platform; the
                                       gateway verifies request signatures with it. It is shared by
                                       every configured Alipay app (Alipay allows one key pair for
                                       several apps). Replace it to use your own app key pair.
    public/alipay_public_key.pem       The platform public key (SubjectPublicKeyInfo PEM) that
                                       citytiles uses to verify gateway responses.
    public/alipay_app_private_key.pem  The demo app private key (PKCS#1 "RSA PRIVATE KEY" PEM) that
                                       citytiles signs gateway requests with. Written only when the
                                       sandbox generated the app key pair itself.

    wechat/<app_id>.token, .aes_key    An official account's server token and EncodingAESKey: see
                                       sandbox/official_account_keys.py.
    outpatient/...                     The outpatient systems' shared secrets (zheyi_his API key,
                                       shenzhen_health_platform app secret): see sandbox/outpatient_keys.py.

Every PEM has header lines and 64-column lines, which python-alipay-sdk requires.
A file that exists is never regenerated, so restarts keep every credential.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

_PRIVATE = 0o600
_PUBLIC = 0o644


@dataclass(frozen=True)
class KeyPaths:
    """Where each credential lives inside the state directory."""

    state_dir: Path

    def wechat_secret(self, app_id: str) -> Path:
        """File holding a WeChat app's AppSecret."""
        return self.state_dir / "wechat" / f"{app_id}.secret"

    @property
    def alipay_platform_private_key(self) -> Path:
        """Alipay platform private key (sandbox only)."""
        return self.state_dir / "alipay" / "platform_private_key.pem"

    @property
    def alipay_app_public_key(self) -> Path:
        """App public key the gateway verifies requests with."""
        return self.state_dir / "alipay" / "app_public_key.pem"

    @property
    def alipay_public_key(self) -> Path:
        """Platform public key for citytiles."""
        return self.state_dir / "public" / "alipay_public_key.pem"

    @property
    def alipay_app_private_key(self) -> Path:
        """Demo app private key for citytiles."""
        return self.state_dir / "public" / "alipay_app_private_key.pem"


@dataclass(frozen=True)
class SandboxKeys:
    """Loaded credentials, ready for signing and checking."""

    paths: KeyPaths
    wechat_secrets: dict[str, str]
    alipay_platform_key: rsa.RSAPrivateKey
    alipay_public_key_pem: str
    alipay_app_public_key: rsa.RSAPublicKey
    alipay_app_private_key_pem: str | None


def load_or_create_keys(state_dir: Path, wechat_app_ids: list[str]) -> SandboxKeys:
    """Read every credential from state_dir, generating the ones that are missing."""
    paths = KeyPaths(Path(state_dir))
    wechat_secrets = {
        app_id: _write_once(paths.wechat_secret(app_id), secrets.token_hex(16).encode(), _PRIVATE).decode().strip()
        for app_id in wechat_app_ids
    }

    platform_pem = _write_once(paths.alipay_platform_private_key, _new_private_key_pem(pkcs1=False), _PRIVATE)
    platform_key = serialization.load_pem_private_key(platform_pem, password=None)
    public_pem = _public_pem(platform_key.public_key())
    # Derived from the private key on every start, so the two halves can never drift apart.
    _write_if_changed(paths.alipay_public_key, public_pem, _PUBLIC)

    app_private_pem: str | None = None
    if not paths.alipay_app_public_key.exists():
        # No app public key was "uploaded": generate the demo pair and hand its private half out.
        generated = _write_once(paths.alipay_app_private_key, _new_private_key_pem(pkcs1=True), _PRIVATE)
        generated_key = serialization.load_pem_private_key(generated, password=None)
        _write_once(paths.alipay_app_public_key, _public_pem(generated_key.public_key()), _PUBLIC)
    if paths.alipay_app_private_key.exists():
        app_private_pem = paths.alipay_app_private_key.read_text()
    app_public_key = serialization.load_pem_public_key(paths.alipay_app_public_key.read_bytes())

    return SandboxKeys(
        paths=paths,
        wechat_secrets=wechat_secrets,
        alipay_platform_key=platform_key,  # type: ignore[arg-type]
        alipay_public_key_pem=public_pem.decode(),
        alipay_app_public_key=app_public_key,  # type: ignore[arg-type]
        alipay_app_private_key_pem=app_private_pem,
    )


def sign_rsa2(private_key: rsa.RSAPrivateKey, text: str) -> str:
    """Alipay RSA2: SHA256withRSA (PKCS#1 v1.5) over the UTF-8 text, base64 without newlines."""
    signature = private_key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_rsa2(public_key: rsa.RSAPublicKey, text: str, signature: str) -> bool:
    """Whether signature is a valid RSA2 signature of text under public_key."""
    try:
        raw = base64.b64decode(signature, validate=False)
        public_key.verify(raw, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _new_private_key_pem(pkcs1: bool) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # PKCS#1 for the key citytiles loads: it is the format Alipay's key tool and SDK docs show.
    fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def _public_pem(public_key: rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_once(path: Path, data: bytes, mode: int) -> bytes:
    """Create path with data unless it exists; return what the file holds afterwards."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, data, mode)
    try:
        # link() is atomic and refuses to overwrite: two first starts racing keep one winner.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def _write_if_changed(path: Path, data: bytes, mode: int) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(_write_temp(path, data, mode), path)


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return tmp
