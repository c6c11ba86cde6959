"""A real citytiles server on loopback and Debian's Chromium driven by Playwright, one of each per test module."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.wiring import ChannelAdapters
from billing.fake import FakePaymentGateway
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from config import Settings
from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from migrations.metadata import target_metadata
from tests.billing.world import MERCHANT
from tests.conftest import ROOT
from tests.conftest import SEED
from tests.conftest import STAFF_PASSWORD
from tests.conftest import WECHAT_MINI_PROGRAM

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Screenshots of each main page, kept after the run (var/ is ignored by git).
ARTEFACTS = ROOT / "var" / "browser-artefacts"
PHONE = {"width": 375, "height": 812}
STAFF = (
    ("root", "platform_admin", (), ()),
    ("hz-ops", "city_operator", ("330100",), ()),
    ("sz-ops", "city_operator", ("440300",), ()),
    ("wx-maker", "channel_admin", (), ("wechat",)),
    ("wx-checker", "channel_admin", (), ("wechat",)),
)


@dataclass(frozen=True)
class Server:
    """The running server's base URL, the app behind it, and the fake WeChat Pay merchant it collects through."""

    base: str
    app: Flask
    wechat_pay: FakePaymentGateway


def require_chromium() -> None:
    """Skip without Chromium on a developer's machine; in CI the browser tests must run, so fail."""
    if CHROMIUM.exists() and shutil.which(str(CHROMIUM)):
        return
    message = f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """citytiles on an ephemeral port with a seeded SQLite database, its staff, a fake merchant and the wall clock."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'citytiles.db'}"
    engine = make_engine(url)
    target_metadata.create_all(engine)
    engine.dispose()
    settings = replace(Settings.from_env({}), app_env="test", database_url=url, catalogue_seed=SEED)
    wechat_pay = FakePaymentGateway("wechat", MERCHANT, lambda: datetime.now(UTC))
    app = create_app(settings, channels=ChannelAdapters(payments={WECHAT_MINI_PROGRAM: wechat_pay}))
    with make_session_factory(app.extensions["engine"])() as session:
        now = datetime.now(UTC)
        seed_catalogue(session, read_seed(SEED), now=now)
        with transaction(session):
            for username, role, cities, channels in STAFF:
                new = NewStaffMember(username, username.title(), STAFF_PASSWORD, role, cities, channels)
                create_staff_member(session, new, now=now)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{http.server_port}", app, wechat_pay)
    http.shutdown()
    thread.join(timeout=5)
    app.extensions["engine"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (no browser download of Playwright's own)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh browser context at phone width (no cookies from another test), on the server."""
    context = browser.new_context(viewport=PHONE, base_url=server.base, locale="zh-CN")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def keep_screenshot(page: Any, name: str) -> None:
    """Save the whole page as a test artefact."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
