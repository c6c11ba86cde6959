"""schemathesis over the whole API, signed in as a resident and as a platform admin: no server error, and
no status, content type or body the OpenAPI document does not describe."""

from __future__ import annotations

import os
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy.orm import Session

from app import create_app
from app.wiring import ChannelAdapters
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from config import Settings
from identity.fake_channels import FakeChannel
from tests.conftest import STAFF_PASSWORD
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox

pytestmark = pytest.mark.usefixtures("seeded")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Enough to reach every documented answer of each operation; the whole run stays well under a minute.
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 12}
SHARPENED = 25
# FUZZ_SCALE=10 searches ten times longer, before a release or after changing a schema.
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
# The demo's city, service, channel and consent purpose, for path parameters that reach real rows.
KNOWN = {
    "city": "330100",
    "service": "car_move",
    "channel": "wechat",
    "purpose": "real_name_verification",
    "request_id": "cm_0123456789abcdef0123",
    "hospital_id": "ZY01",
    "department_id": "ZY01-XHNK",
    "appointment_id": "ap00000000000000000000",
    "payment_id": "py00000000000000000000",
    "run_id": "rc00000000000000000000",
    "discrepancy_id": "dc00000000000000000000",
    "mch_id": "1900000109",
    "app_id": "2021004100000001",
    # The fuzzing admin itself: a platform admin has no scope and may not disable itself, so the
    # staff routes reach their refusals without ending the session the fuzz runs on.
    "username": "root",
}
OFFERING = "/admin/api/cities/330100/services/car_move/channels/wechat"
NEW_STAFF = {
    "username": "operator",
    "display_name": "Operator",
    "password": "a long enough password",
    "role": "city_operator",
    "cities": ["330100"],
    "reason": "new colleague",
}
# Calls that end the session they were made with: a new token is needed after them.
SIGNING_OUT = {
    ("DELETE", "/api/v1/sessions/current"),
    ("DELETE", "/api/v1/me"),
    ("DELETE", "/admin/api/sessions/current"),
}


@pytest.fixture(name="settings")
def sandbox_settings(database_url: str, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The demo seed's upstream connections pointed at the test sandbox, so city services answer as they would."""
    return replace(sandbox.service_settings(tmp_path), app_env="test", database_url=database_url)


@pytest.fixture
def seeded(app: Flask, session: Session, clock: Clock) -> None:
    """The demo catalogue, with its upstream connections at the test sandbox."""
    seed_catalogue(session, read_seed(app.extensions["settings"].catalogue_seed), now=clock())


class Credentials:
    """A live resident token and a live platform-admin token, renewed when a call has spent one."""

    def __init__(self, api: Api, fake_wechat: FakeChannel, make_staff: Any) -> None:
        self.api = api
        self.fake_wechat = fake_wechat
        self.residents = 0
        self.tokens = {"staff": make_staff("root", "platform_admin"), "resident": self.log_in_resident()}

    def log_in_resident(self) -> str:
        """A new resident through the WeChat mini-program."""
        self.residents += 1
        code, _ = self.fake_wechat.issue_code(f"o-fuzz-{self.residents}")
        body = self.api.post(
            "/api/v1/sessions", json={"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": code}, expected=201
        )
        return str(body["token"])

    def log_in_staff(self) -> str:
        """A new session of the platform admin."""
        body = self.api.post("/admin/api/sessions", json={"username": "root", "password": STAFF_PASSWORD}, expected=201)
        return str(body["token"])

    def headers_for(self, path: str) -> dict[str, str]:
        """The bearer token of the operation's audience; operations without auth ignore it."""
        return {"Authorization": f"Bearer {self.tokens[audience_of(path)]}"}

    def after(self, method: str, path: str, status: int) -> None:
        """Renew a token the call has revoked."""
        if (method, path) in SIGNING_OUT and status == 204:
            audience = audience_of(path)
            self.tokens[audience] = self.log_in_staff() if audience == "staff" else self.log_in_resident()


def audience_of(path: str) -> str:
    """Staff use the admin API, residents everything else."""
    return "staff" if path.startswith("/admin/") else "resident"


@dataclass(frozen=True)
class Run:
    """One batch of generated requests to an operation."""

    mode: GenerationMode
    path_parameters: dict[str, str] = field(default_factory=dict)
    sharpened: bool = False

    @property
    def examples(self) -> int:
        """How many requests the batch sends."""
        return (SHARPENED if self.sharpened else EXAMPLES[self.mode]) * SCALE


def runs_for(definition: dict[str, Any], path_parameters: set[str]) -> list[Run]:
    """Valid requests; invalid ones where something can be broken; then both again on the demo's own rows."""
    takes_input = "requestBody" in definition or any(p.get("in") == "query" for p in definition.get("parameters", []))
    runs = [Run(GenerationMode.POSITIVE)]
    if takes_input or "security" in definition:
        runs.append(Run(GenerationMode.NEGATIVE))
    known = {name: KNOWN[name] for name in path_parameters}
    if known:
        # Random path parameters mostly reach a 404; the demo's own reach the code behind it.
        runs += [Run(run.mode, known) for run in runs]
    if takes_input:
        runs.append(Run(GenerationMode.POSITIVE, known, sharpened=True))
    return runs


def test_every_operation_answers_only_what_the_document_says(
    app: Flask, api: Api, fake_wechat: FakeChannel, make_staff: Any
) -> None:
    credentials = Credentials(api, fake_wechat, make_staff)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures: list[str] = []
    # The admin API comes first: what an operator stores, the resident endpoints must then still serve.
    for result in schema.get_all_operations():
        operation = result.ok()
        for run in runs_for(operation.definition.raw, {p.name for p in operation.path_parameters}):
            try:
                fuzz(operation, run, credentials)
            except Exception as failure:
                failures.append(f"{operation.label} {run}: {failure}")
    assert not failures, "\n\n".join(failures)


def fuzz(operation: Any, run: Run, credentials: Credentials) -> None:
    """Send one batch of generated requests to an operation and check every answer."""
    cases = operation.as_strategy(generation_mode=run.mode, path_parameters=run.path_parameters or None)

    @given(case=cases, data=st.data())
    @settings(
        max_examples=run.examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any, data: st.DataObject) -> None:
        if run.sharpened:
            sharpen(case, data)
        response = case.call_and_validate(headers=credentials.headers_for(case.path), checks=CHECKS)
        credentials.after(case.method, case.path, response.status_code)

    call()


def test_readiness_answers_as_documented_when_the_database_is_down(
    settings: Settings, clock: Clock, fake_channels: ChannelAdapters, tmp_path: Path
) -> None:
    down = create_app(
        replace(settings, database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}"),
        clock=clock,
        channels=fake_channels,
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", down)
    case = schema["/readyz"]["GET"].Case()
    response = case.call_and_validate(checks=[status_code_conformance, response_schema_conformance])
    assert response.status_code == 503 and response.json()["checks"] == {"database": "down"}
    down.extensions["engine"].dispose()


# What an attacker adds to a valid value: Python's `$` matches before a trailing newline, and `\\d`
# matches digits of every script.
EDGES = ("\n", "\u0663", "\r\n")


def sharpen(case: Any, data: st.DataObject) -> None:
    """Make one text value of a valid request almost valid, the way attackers find lax checks."""
    places = [
        *text_places(case.body),
        *text_places(case.query),
        *text_places(case.path_parameters),
    ]
    if places:
        container, key = data.draw(st.sampled_from(places))
        container[key] += data.draw(st.sampled_from(EDGES))


def text_places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) holding a string inside a JSON-like value."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    places: list[tuple[Any, Any]] = []
    for key, inner in items:
        places += [(value, key)] if isinstance(inner, str) else text_places(inner)
    return places


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", OFFERING, {"reason": "r", "hours": {"opens_at": "08:30\n", "closes_at": "17:30"}}),
        (
            "PATCH",
            OFFERING,
            {"reason": "r", "hours": {"opens_at": "08:30", "closes_at": "17:30", "weekdays": "12345\n"}},
        ),
        ("PATCH", OFFERING, {"reason": "r", "hours": {"opens_at": "0\u0668:30", "closes_at": "17:30"}}),
        ("GET", "/admin/api/audit-log?city=330100%0A", None),
        ("POST", "/admin/api/staff", {**NEW_STAFF, "username": "admin\n"}),
        ("POST", "/admin/api/staff", {**NEW_STAFF, "cities": ["\uff13\uff13\uff10\uff11\uff10\uff10"]}),
    ],
    ids=["time-newline", "weekdays-newline", "time-arabic-digit", "city-newline", "username-newline", "city-fullwidth"],
)
def test_what_sharpened_requests_found_is_refused_as_invalid(
    api: Api, make_staff: Any, method: str, path: str, body: Any
) -> None:
    token = make_staff("root", "platform_admin")
    answer = api.call(method, path, token=token, json=body, expected=422)
    assert answer["error"]["code"] == "request.invalid"
    assert api.get("/api/v1/cities/330100/services?channel=wechat")["tiles"]
