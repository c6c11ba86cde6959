"""The consent texts residents are shown, by version; consent is recorded against a version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import Invalid
from errors import NotFound
from identity.models import ConsentRecord

# purpose -> {version: text}. A new wording is a new version; old versions stay for the record.
CONSENT_TEXTS: dict[str, dict[str, str]] = {
    "real_name_verification": {
        "2026-11": (
            "为办理城市服务，您同意我们将您填写的姓名和身份证号与您在本渠道（微信或支付宝）的实名信息进行核验，"
            "并加密保存用于后续办事。您可随时删除个人信息。"
        ),
    },
}


def current_consent_text(purpose: str) -> tuple[str, str]:
    """The newest version of a purpose's consent text, as (version, text), for the front end to show."""
    versions = CONSENT_TEXTS.get(purpose)
    if not versions:
        raise NotFound("identity.unknown_consent_purpose", f"No consent text for {purpose!r}.", {"purpose": purpose})
    version = max(versions)
    return version, versions[version]


def check_consent_version(purpose: str, text_version: str) -> None:
    """Raise Invalid unless the version is one we published for the purpose."""
    if text_version not in CONSENT_TEXTS.get(purpose, {}):
        raise Invalid(
            "identity.unknown_consent_version",
            f"Unknown consent text version {text_version!r} for {purpose}.",
            {"versions": sorted(CONSENT_TEXTS.get(purpose, {}))},
        )


def record_consent(session: Session, resident_id: int, purpose: str, text_version: str, now: datetime) -> ConsentRecord:
    """Record that the resident agreed to a purpose under a known version of its text, once per version."""
    check_consent_version(purpose, text_version)
    # A retry agrees to nothing new: the first record of this version stays the record.
    given = session.scalar(
        select(ConsentRecord)
        .where(
            ConsentRecord.resident_id == resident_id,
            ConsentRecord.purpose == purpose,
            ConsentRecord.text_version == text_version,
        )
        .order_by(ConsentRecord.id)
        .limit(1)
    )
    if given is not None:
        return given
    record = ConsentRecord(resident_id=resident_id, purpose=purpose, text_version=text_version, given_at=now)
    session.add(record)
    return record
