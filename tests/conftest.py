"""Shared fixtures: settings, both databases, the app, its client, a clock and staff members."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.wiring import ChannelAdapters
from config import Settings
from config.settings import ChannelSettings
from database.engine import make_engine
from database.engine import make_session_factory
from identity.fake_channels import FakeChannel
from identity.fake_channels import FakeLogin
from identity.fake_channels import FakePhones
from identity.fake_channels import FakeRealNames
from migrations import upgrade_to_head
from migrations.metadata import target_metadata

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "config" / "cities.toml"
STAFF_PASSWORD = "correct horse battery staple"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets its own PostgreSQL database and Redis db, as a separate CI job would."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    number = int(worker.removeprefix("gw"))
    if os.environ.get("TEST_DATABASE_URL"):
        os.environ["TEST_DATABASE_URL"] = database_of_worker(os.environ["TEST_DATABASE_URL"], worker)
    if os.environ.get("TEST_REDIS_URL"):
        base = make_url(os.environ["TEST_REDIS_URL"].replace("redis://", "postgresql://", 1))
        index = int(base.database or 0) + 1 + number
        os.environ["TEST_REDIS_URL"] = f"redis://{base.host or '127.0.0.1'}:{base.port or 6379}/{index}"


def database_of_worker(url: str, worker: str) -> str:
    """The worker's own database beside the given one, created on first use."""
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def require_service(variable: str) -> str:
    """The URL of a service tests need; skip without it locally, fail without it in CI."""
    url = os.environ.get(variable)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{variable} is not set; in CI every PostgreSQL and Redis test must run")
    pytest.skip(f"{variable} is not set")


class Clock:
    """A clock tests can set and move; the app reads it instead of the wall clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    """Wednesday 2026-11-18 10:00 in Hangzhou."""
    return Clock(datetime(2026, 11, 18, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database emptied and migrated to head once per test run."""
    url = require_service("TEST_DATABASE_URL")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_to_head(url)
    yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema: an embedded SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'citytiles.db'}"
        engine = make_engine(url)
        target_metadata.create_all(engine)
        engine.dispose()
        return url
    return request.getfixturevalue("empty_postgres_url")


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> str:
    """The PostgreSQL test database with every table emptied, for tests that need PostgreSQL only."""
    engine = create_engine(postgres_url)
    tables = ", ".join(t.name for t in target_metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings on the parametrised database."""
    return replace(Settings.from_env({}), app_env="test", database_url=database_url, catalogue_seed=SEED)


WECHAT_MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
WECHAT_OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
ALIPAY_MINI_PROGRAM = "2021004100000001"


@pytest.fixture
def fake_wechat() -> FakeChannel:
    """A simulated WeChat whose users and login codes tests control."""
    return FakeChannel("wechat")


@pytest.fixture
def fake_alipay() -> FakeChannel:
    """A simulated Alipay."""
    return FakeChannel("alipay")


@pytest.fixture
def fake_channels(fake_wechat: FakeChannel, fake_alipay: FakeChannel) -> ChannelAdapters:
    """The demo's three channel apps over fakes."""
    return ChannelAdapters(
        logins={
            WECHAT_MINI_PROGRAM: FakeLogin(fake_wechat, WECHAT_MINI_PROGRAM),
            WECHAT_OFFICIAL_ACCOUNT: FakeLogin(fake_wechat, WECHAT_OFFICIAL_ACCOUNT),
            ALIPAY_MINI_PROGRAM: FakeLogin(fake_alipay, ALIPAY_MINI_PROGRAM),
        },
        verifiers={"wechat": FakeRealNames(fake_wechat), "alipay": FakeRealNames(fake_alipay)},
        phones={WECHAT_MINI_PROGRAM: FakePhones(fake_wechat)},
    )


@pytest.fixture
def app(settings: Settings, clock: Clock, fake_channels: ChannelAdapters) -> Iterator[Flask]:
    """The application on the test database, reading the test clock, with fake channels."""
    application = create_app(settings, clock=clock, channels=fake_channels)
    application.testing = True
    yield application
    application.extensions["engine"].dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session on the app's database, for arranging and checking state."""
    db = make_session_factory(app.extensions["engine"])()
    yield db
    db.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client."""
    return app.test_client()


@pytest.fixture
def seeded(app: Flask, session: Session, clock: Clock) -> None:
    """The demo catalogue from config/cities.toml."""
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue

    seed_catalogue(session, read_seed(SEED), now=clock())


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox: its base URL, state directory, and its test helpers."""

    base: str
    state_dir: Path

    def helper(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call a /_sandbox/ helper and return its JSON."""
        response = requests.request(method, f"{self.base}/_sandbox/{path}", timeout=10, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def wechat_code(self, app_id: str = "wx7c1b5d1e2f3a4b50", **person: Any) -> dict[str, Any]:
        """A login code for a simulated WeChat user (scope snsapi_userinfo for the official account)."""
        if app_id == "wx9a8b7c6d5e4f3a20":
            person.setdefault("scope", "snsapi_userinfo")
        return self.helper("POST", "wechat/login-code", json={"app_id": app_id, **person})

    def alipay_code(self, **person: Any) -> dict[str, Any]:
        """An auth code for a simulated Alipay user."""
        return self.helper("POST", "alipay/auth-code", json={"app_id": "2021004100000001", **person})

    def channel_settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        """Settings whose channel apps and base URLs are this sandbox's."""
        apps = (
            (ROOT / "config" / "channels.toml").read_text(encoding="utf-8").replace("var/sandbox", str(self.state_dir))
        )
        (tmp_path / "channels.toml").write_text(apps, encoding="utf-8")
        settings = replace(
            Settings.from_env({}),
            channel_apps_file=tmp_path / "channels.toml",
            channels=ChannelSettings(self.base, f"{self.base}/gateway.do", wechat_pay_base_url=self.base),
            channel_timeout_seconds=2.0,
        )
        return replace(settings, **overrides)

    def service_settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        """Channel settings, plus the demo seed's upstream connections and secrets pointed at this sandbox."""
        seed = (ROOT / "config" / "cities.toml").read_text(encoding="utf-8").replace("http://127.0.0.1:8700", self.base)
        (tmp_path / "cities.toml").write_text(seed, encoding="utf-8")
        secrets = (ROOT / "config" / "upstream_secrets.toml").read_text(encoding="utf-8")
        (tmp_path / "upstream_secrets.toml").write_text(
            secrets.replace('"var/sandbox', f'"{self.state_dir}'), encoding="utf-8"
        )
        return self.channel_settings(
            tmp_path,
            catalogue_seed=tmp_path / "cities.toml",
            upstream_secret_files=tmp_path / "upstream_secrets.toml",
            **overrides,
        )


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The channel sandbox, on loopback in a thread, for the whole run."""
    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig

    state_dir = tmp_path_factory.mktemp("sandbox-state")
    base, stop = serve_in_thread(SandboxConfig(state_dir=state_dir))
    yield Sandbox(base, state_dir)
    stop()


@pytest.fixture
def clean_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox with no faults left over from another test."""
    sandbox.helper("DELETE", "faults")
    yield sandbox
    sandbox.helper("DELETE", "faults")


def forget_outbound_state(url: str) -> None:
    """Drop every breaker and call figure citytiles keeps in this Redis: tests reuse the demo's connection names."""
    import redis

    server = redis.Redis.from_url(url)
    keys = [*server.scan_iter(match="citytiles:breaker:*"), *server.scan_iter(match="citytiles:calls:*")]
    if keys:
        server.delete(*keys)
    server.close()


@pytest.fixture
def redis_settings(settings: Settings) -> Iterator[Settings]:
    """The test settings with the test Redis, left without breakers or call figures afterwards."""
    url = require_service("TEST_REDIS_URL")
    yield replace(settings, redis_url=url)
    forget_outbound_state(url)


@pytest.fixture
def real_app(clean_sandbox: Sandbox, settings: Settings, clock: Clock, tmp_path: Path) -> Iterator[Flask]:
    """citytiles with its real channel adapters pointed at the sandbox, on the test database."""
    configured = clean_sandbox.channel_settings(tmp_path)
    application = create_app(
        replace(
            settings,
            channel_apps_file=configured.channel_apps_file,
            channels=configured.channels,
            channel_timeout_seconds=configured.channel_timeout_seconds,
        ),
        clock=clock,
    )
    yield application
    application.extensions["engine"].dispose()


@pytest.fixture
def real_api(real_app: Flask) -> Api:
    """The test client of real_app."""
    return Api(real_app.test_client())


def check_error_shape(body: Any) -> None:
    """The one error shape: a code, a message a person can read, and a details object."""
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"].strip(), body
    assert isinstance(error["details"], dict), body


class Api:
    """Calls the API like a client would and checks the status in one line."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def call(self, method: str, path: str, *, token: str | None = None, expected: int = 200, **kwargs: Any) -> Any:
        """Send a request and return the parsed JSON body (None when there is none)."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == expected, (response.status_code, response.get_data(as_text=True))
        body = response.get_json(silent=True)
        if response.status_code >= 400 and isinstance(body, dict) and "error" in body:
            check_error_shape(body)
        return body

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.call("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    """The API helper."""
    return Api(client)


@pytest.fixture
def make_staff(session: Session, clock: Clock, api: Api) -> Any:
    """Create a staff member and log them in; returns their token."""
    from database import transaction
    from identity.staff import NewStaffMember
    from identity.staff import create_staff_member

    def make(username: str, role: str, cities: tuple[str, ...] = (), channels: tuple[str, ...] = ()) -> str:
        with transaction(session):
            create_staff_member(
                session,
                NewStaffMember(username, username.title(), STAFF_PASSWORD, role, cities, channels),
                now=clock(),
            )
        body = api.post("/admin/api/sessions", json={"username": username, "password": STAFF_PASSWORD}, expected=201)
        token: str = body["token"]
        return token

    return make
