"""Settings come from the environment at call time; production refuses unsafe configuration."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from app import create_app
from config import Settings
from config import UnsafeConfiguration
from config.settings import DEFAULT_SECRET_KEY
from config.settings import is_public_https

SAFE_PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "k" * 48,
    "PII_KEYS": "prod1:cHJvZHVjdGlvbi1waWkta2V5LW9mLTMyLWJ5dGVzISE=",
    "PII_ACTIVE_KEY": "prod1",
    "PII_LOOKUP_KEY": "cHJvZHVjdGlvbi1sb29rdXAta2V5LTMyLWJ5dGVzISE=",
    "DATABASE_URL": "postgresql+psycopg://citytiles@db.internal.example.com/citytiles",
    "WECHAT_API_BASE_URL": "https://api.weixin.qq.com",
    "ALIPAY_GATEWAY_URL": "https://openapi.alipay.com/gateway.do",
    "PUBLIC_URL": "https://citytiles.example.com",
}
PRODUCTION_SEED = """
[[services]]
code = "housing_fund"
name_zh = "公积金查询"
name_en = "Housing fund"
category = "housing"
icon = "housing-fund"

[[cities]]
code = "330100"
name_zh = "杭州市"
name_en = "Hangzhou"

  [[cities.offerings]]
  service = "housing_fund"
  channels = ["wechat", "alipay"]
  enabled = true

  [[cities.upstreams]]
  service = "housing_fund"
  adapter = "{adapter}"
  params = {params}
"""
PUBLIC_FUND = (
    '{ base_url = "https://gjj.hangzhou.gov.cn/api", appid = "HZGJJ-CT-0001", '
    + 'jgh = "330100", secret_env = "HANGZHOU_GJJ_HMAC_KEY" }'
)
# Where the adapters read their secrets from in these tests.
SECRETS = {"HANGZHOU_GJJ_HMAC_KEY": "a-real-key-from-the-centre"}


def write_seed(tmp_path: Path, adapter: str = "hangzhou_gjj", params: str = PUBLIC_FUND) -> str:
    path = tmp_path / "cities.toml"
    path.write_text(PRODUCTION_SEED.format(adapter=adapter, params=params), encoding="utf-8")
    return str(path)


def test_defaults_are_a_working_development_setup() -> None:
    settings = Settings.from_env({})
    assert settings.app_env == "development"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("var/citytiles.db")
    assert settings.redis_url is None
    assert settings.secret_key == DEFAULT_SECRET_KEY


def test_environment_overrides_each_setting() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/test",
            "REDIS_URL": "redis://127.0.0.1:6379/1",
            "STAFF_TOKEN_MINUTES": "30",
            "MAX_BODY_BYTES": "1024",
            "LOG_LEVEL": "debug",
            "WECHAT_API_BASE_URL": "http://127.0.0.1:8700",
        }
    )
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1/test"
    assert settings.redis_url == "redis://127.0.0.1:6379/1"
    assert (settings.staff_token_minutes, settings.max_body_bytes, settings.log_level) == (30, 1024, "DEBUG")
    assert settings.channels.wechat_api_base_url == "http://127.0.0.1:8700"


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings.from_env({"SECRET_KEY": "super-secret-value", "DATABASE_URL": "postgresql://u:pw@h/db"})
    assert "super-secret-value" not in repr(settings) and "pw@" not in repr(settings)


def write_channel_apps(tmp_path: Path) -> str:
    path = tmp_path / "channels.toml"
    path.write_text(
        '[[wechat]]\napp_id = "wx7c1b5d1e2f3a4b50"\nkind = "mini_program"\nsecret_env = "WECHAT_MINI_SECRET"\n',
        encoding="utf-8",
    )
    return str(path)


def test_safe_production_configuration_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_MINI_SECRET", "0123456789abcdef0123456789abcdef")
    environ = {
        **SAFE_PRODUCTION,
        "CATALOGUE_SEED": write_seed(tmp_path),
        "CHANNEL_APPS_FILE": write_channel_apps(tmp_path),
    }
    app = create_app(Settings.from_env(environ), environ=SECRETS)
    assert app.extensions["settings"].is_production
    assert list(app.extensions["channels"].logins) == ["wx7c1b5d1e2f3a4b50"]


def test_production_refuses_a_channel_app_without_its_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WECHAT_MINI_SECRET", raising=False)
    environ = {
        **SAFE_PRODUCTION,
        "CATALOGUE_SEED": write_seed(tmp_path),
        "CHANNEL_APPS_FILE": write_channel_apps(tmp_path),
    }
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(Settings.from_env(environ), environ=SECRETS)
    assert "WECHAT_MINI_SECRET" in str(refused.value)


def test_development_leaves_out_an_app_whose_secret_is_missing(tmp_path: Path) -> None:
    app = create_app(Settings.from_env({"CHANNEL_APPS_FILE": write_channel_apps(tmp_path)}))
    assert app.extensions["channels"].logins == {}
    assert "WECHAT_MINI_SECRET" in app.extensions["channels"].problems[0]


def test_production_refuses_every_unsafe_setting_naming_each(tmp_path: Path) -> None:
    environ = {
        "APP_ENV": "production",
        "WECHAT_API_BASE_URL": "http://127.0.0.1:8700",
        "ALIPAY_GATEWAY_URL": "https://sandbox.example.com/gateway.do",
        "CATALOGUE_SEED": write_seed(
            tmp_path, params=PUBLIC_FUND.replace("https://gjj.hangzhou.gov.cn", "http://10.0.0.5")
        ),
        "CHANNEL_APPS_FILE": str(tmp_path / "no-channel-apps.toml"),
    }
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(Settings.from_env(environ), environ={})
    message = str(refused.value)
    assert len(refused.value.problems) == 8
    for needle in (
        "PUBLIC_URL is not a public HTTPS URL (sandbox or plain HTTP): http://127.0.0.1:8000",
        "SECRET_KEY",
        "PII_KEYS",
        "SQLite",
        "WECHAT_API_BASE_URL",
        "ALIPAY_GATEWAY_URL",
        "330100/housing_fund upstream base_url is not a public HTTPS URL: http://10.0.0.5/api",
        "330100/housing_fund secret_env names HANGZHOU_GJJ_HMAC_KEY, which is not set or blank",
    ):
        assert needle in message


@pytest.mark.parametrize(
    ("adapter", "params", "problem"),
    [
        ("fake", "{}", "330100/housing_fund uses the fake upstream adapter"),
        ("hangzhou_gjj", PUBLIC_FUND.replace("https://", "http://"), "base_url is not a public HTTPS URL"),
        ("hangzhou_gjj", PUBLIC_FUND.replace("gjj.hangzhou.gov.cn", "127.0.0.1:8700"), "not a public HTTPS URL"),
        ("hangzhou_gjj", PUBLIC_FUND.replace("gjj.hangzhou.gov.cn", "sandbox.gjj.example"), "not a public HTTPS"),
        ("hangzhou_gjj", PUBLIC_FUND.replace("HANGZHOU_GJJ_HMAC_KEY", "BLANK_KEY"), "BLANK_KEY, which is not set"),
        ("hangzhou_gjj", PUBLIC_FUND.replace("HANGZHOU_GJJ_HMAC_KEY", "NO_SUCH_KEY"), "NO_SUCH_KEY, which is not set"),
    ],
)
def test_production_refuses_each_unfit_seeded_connection(
    tmp_path: Path, adapter: str, params: str, problem: str
) -> None:
    environ = {**SAFE_PRODUCTION, "CATALOGUE_SEED": write_seed(tmp_path, adapter, params)}
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(Settings.from_env(environ), environ={**SECRETS, "BLANK_KEY": "  "})
    assert [p for p in refused.value.problems if "330100" in p] == [
        next(p for p in refused.value.problems if problem in p)
    ]


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://api.weixin.qq.com", True),
        ("http://api.weixin.qq.com", False),
        ("https://127.0.0.1:8700", False),
        ("https://localhost", False),
        ("https://192.168.1.10", False),
        ("https://sandbox.citytiles.example", False),
        ("not a url", False),
    ],
)
def test_public_https_check(url: str, public: bool) -> None:
    assert is_public_https(url) is public


def test_production_refuses_unsafe_upstreams_an_operator_stored(tmp_path: Path) -> None:
    from dataclasses import replace

    from city_services.models import UpstreamConnection
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue
    from database import transaction
    from database.engine import make_engine
    from database.engine import make_session_factory
    from migrations import upgrade_to_head

    url = f"sqlite:///{tmp_path / 'stored.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        seed_catalogue(session, read_seed(Path(write_seed(tmp_path))), now=datetime(2026, 11, 18, tzinfo=UTC))
        with transaction(session):
            connection = session.query(UpstreamConnection).one()
            connection.adapter, connection.params = "fake", {}
    engine.dispose()
    settings = replace(
        Settings.from_env({**SAFE_PRODUCTION, "CATALOGUE_SEED": write_seed(tmp_path)}),
        database_url=url,
        channel_apps_file=tmp_path / "none.toml",
    )
    # SQLite is itself refused in production; only the stored upstream is under test here.
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(settings, environ=SECRETS)
    assert [p for p in refused.value.problems if "330100" in p] == [
        "330100/housing_fund uses the fake upstream adapter, which stands in for the real system"
    ]
    # Parameters that no longer fit their adapter (as a migration may leave them) are refused too.
    engine = make_engine(url)
    with make_session_factory(engine)() as session, transaction(session):
        connection = session.query(UpstreamConnection).one()
        connection.adapter, connection.params = "hangzhou_gjj", {"institution_code": "A30-330100"}
    engine.dispose()
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(settings, environ=SECRETS)
    assert [p for p in refused.value.problems if "330100" in p] == [
        "330100/housing_fund (hangzhou_gjj): These upstream parameters are not valid: "
        "params.appid, params.base_url, params.institution_code, params.jgh, params.secret_env."
    ]


@pytest.mark.parametrize("value", ["Production", " PRODUCTION "])
def test_app_env_is_read_case_insensitively(value: str) -> None:
    assert Settings.from_env({"APP_ENV": value}).is_production


def test_an_unknown_app_env_is_refused() -> None:
    with pytest.raises(UnsafeConfiguration):
        Settings.from_env({"APP_ENV": "prod"})


def test_production_refuses_the_development_pii_key_among_others(tmp_path: Path) -> None:
    from config.settings import DEFAULT_PII_KEYS

    environ = {
        **SAFE_PRODUCTION,
        "PII_KEYS": f"{DEFAULT_PII_KEYS},{SAFE_PRODUCTION['PII_KEYS']}",
        "CATALOGUE_SEED": write_seed(tmp_path),
    }
    with pytest.raises(UnsafeConfiguration) as refused:
        create_app(Settings.from_env(environ), environ=SECRETS)
    assert "PII_KEYS" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost./",
        "https://127.1/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://a.localhost/",
        "https://100.64.0.1/",
    ],
)
def test_disguised_local_addresses_are_not_public(url: str) -> None:
    assert not is_public_https(url)
