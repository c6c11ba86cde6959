"""The README's walk-through for adding an upstream, followed for a third fund centre's dialect (Ningbo).

One module (tests/walkthrough/ningbo_gjj.py, the README's example), one dict entry (the registry,
for the test), one catalogue line (a third city in the seed); then the housing fund contract runs
over it and a resident looks their account up through the API.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from app import create_app
from city_services.housing_fund import provider as port
from city_services.upstreams import HOUSING_FUND_ADAPTERS
from city_services.upstreams import read_connection_params
from errors import UpstreamUnavailable
from tests.conftest import ROOT
from tests.conftest import WECHAT_MINI_PROGRAM as MINI
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox
from tests.contracts import test_housing_fund_providers as contract
from tests.walkthrough import ningbo_gjj
from tests.walkthrough.centre import NingboCentre

NINGBO = "330200"
KEY_VARIABLE = "NINGBO_GJJ_API_KEY"


@pytest.fixture
def centre() -> Iterator[tuple[NingboCentre, str]]:
    """The emulated Ningbo centre on loopback, in a thread, and its base URL."""
    ningbo = NingboCentre()
    server = make_server("127.0.0.1", 0, ningbo, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ningbo, f"http://127.0.0.1:{server.server_port}/nbgjj/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 2, the one dict entry: the registry lists the adapter (undone after the test)."""
    monkeypatch.setitem(HOUSING_FUND_ADAPTERS, "ningbo_gjj", ningbo_gjj.Params)


@pytest.fixture
def system(registered: None, centre: tuple[NingboCentre, str]) -> contract.System:
    """Step 4: the Ningbo adapter, built from the registry as the app builds it, as a contract subject."""
    ningbo, base_url = centre
    params = read_connection_params(
        "housing_fund", "ningbo_gjj", {"base_url": base_url, "api_key_env": KEY_VARIABLE, "read_retries": 0}
    )
    adapter = params.connect(contract.link_to({KEY_VARIABLE: ningbo.api_key}))

    def open_account(person: port.Person, **account: Any) -> None:
        ningbo.open(person.id_number, person.name, **account)

    def fail(mode: str) -> None:
        ningbo.mode = mode

    return contract.System("ningbo_gjj", adapter, open_account, fail)


# The housing fund contract, every check of it, over the third centre.
test_an_account_is_read_exactly = contract.test_an_account_is_read_exactly
test_records_page_newest_first_to_the_end = contract.test_records_page_newest_first_to_the_end
test_a_cursor_the_centre_did_not_issue_is_refused = contract.test_a_cursor_the_centre_did_not_issue_is_refused
test_a_loan_and_no_loan = contract.test_a_loan_and_no_loan
test_no_account = contract.test_no_account
test_a_name_the_centre_did_not_register = contract.test_a_name_the_centre_did_not_register
test_a_sealed_or_frozen_account_is_an_answer = contract.test_a_sealed_or_frozen_account_is_an_answer
test_a_closed_account_is_an_answer_or_a_conflict = contract.test_a_closed_account_is_an_answer_or_a_conflict
test_a_centre_down_or_busy_is_unavailable = contract.test_a_centre_down_or_busy_is_unavailable


def test_every_check_of_the_contract_runs_over_the_third_centre() -> None:
    checks = {
        name
        for name, check in vars(contract).items()
        if name.startswith("test_") and "system" in inspect.signature(check).parameters
    }
    assert checks and all(globals().get(name) is getattr(contract, name) for name in checks), checks


def test_a_wrong_key_is_unavailable(registered: None, centre: tuple[NingboCentre, str]) -> None:
    params = ningbo_gjj.Params(base_url=centre[1], api_key_env=KEY_VARIABLE, read_retries=0)
    adapter = params.connect(contract.link_to({KEY_VARIABLE: "not-the-key"}))
    with pytest.raises(UpstreamUnavailable):
        adapter.account(contract.new_person())


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>busy</html>",
        b'{"zhuangtai": "chenggong"}',
        b'{"zhuangtai": "chenggong", "shuju": {"zhanghao": "1", "zhanghuzhuangtai": "zhengchang", "yue": "12.3"}}',
        b'{"zhuangtai": "chenggong", "shuju": {"zhanghao": "1", "zhanghuzhuangtai": "ZC", "yue": "12.30"}}',
        b'{"zhuangtai": "weizhi"}',
    ],
)
def test_an_answer_not_in_the_dialect_is_unavailable_and_logged(
    system: contract.System, centre: tuple[NingboCentre, str], answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    centre[0].garbage = answer
    person = contract.new_person()
    with pytest.raises(UpstreamUnavailable):
        system.provider.account(person)
    assert any(r.getMessage() == "unusable upstream answer" for r in caplog.records)
    assert person.id_number not in caplog.text


def test_the_readme_example_is_the_module_the_test_runs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Adding an upstream adapter", 1)[1].split("\n## ", 1)[0]
    # A block inside a list item is indented; its code is the lines with that indent taken off.
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", section, flags=re.S | re.M)
    examples = [
        "".join(line.removeprefix(indent) for line in code.splitlines(keepends=True)) for indent, code in blocks
    ]
    module = Path(ningbo_gjj.__file__).read_text(encoding="utf-8")
    assert examples and all(len(example.splitlines()) >= 40 for example in examples), (
        "the walk-through shows its module"
    )
    for example in examples:
        assert example in module, "README's example and tests/walkthrough/ningbo_gjj.py have drifted apart"
    assert "tests/contracts/test_adding_an_upstream.py" in section


# Step 3, the one catalogue line, and a resident looking their account up through the API.

CATALOGUE_LINE = """
[[cities]]
code = "330200"
name_zh = "宁波市"
name_en = "Ningbo"

  [[cities.offerings]]
  service = "housing_fund"
  channels = ["wechat", "alipay"]
  enabled = true

  [[cities.upstreams]]
  service = "housing_fund"
  adapter = "ningbo_gjj"
    [cities.upstreams.params]
    base_url = "{base_url}"
    api_key_env = "NINGBO_GJJ_API_KEY"
"""


@pytest.fixture
def app(
    registered: None,
    centre: tuple[NingboCentre, str],
    clean_sandbox: Sandbox,
    database_url: str,
    clock: Clock,
    tmp_path: Path,
) -> Iterator[Flask]:
    """citytiles with the demo seed plus Ningbo, the key read from a file as the demo reads the sandbox's."""
    ningbo, base_url = centre
    settings = clean_sandbox.service_settings(tmp_path, database_url=database_url, app_env="test")
    with settings.catalogue_seed.open("a", encoding="utf-8") as seed:
        seed.write(CATALOGUE_LINE.format(base_url=base_url))
    (tmp_path / "ningbo_gjj.api_key").write_text(ningbo.api_key, encoding="ascii")
    with settings.upstream_secret_files.open("a", encoding="utf-8") as named:
        named.write(f'\n{KEY_VARIABLE} = "{tmp_path / "ningbo_gjj.api_key"}"\n')
    application = create_app(settings, clock=clock)
    application.testing = True
    yield application
    application.extensions["engine"].dispose()


def test_a_resident_in_the_third_city_reads_their_account_from_its_centre(
    app: Flask, session: Session, api: Api, clean_sandbox: Sandbox, centre: tuple[NingboCentre, str], clock: Clock
) -> None:
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue

    seed_catalogue(session, read_seed(app.extensions["settings"].catalogue_seed), now=clock())
    person = contract.new_person("郑十一")
    centre[0].open(person.id_number, person.name, balance_fen=3_141_593, monthly_fen=250_002)
    claim = {"real_name": person.name, "id_number": person.id_number}
    login = {"channel": "wechat", "app_id": MINI, "code": clean_sandbox.wechat_code(MINI, **claim)["code"]}
    token = api.post("/api/v1/sessions", json=login, expected=201)["token"]
    verify = {"name": person.name, "id_number": person.id_number, "consent_version": "2026-11"}
    api.post("/api/v1/me/real-name", json=verify, token=token)

    account = api.get(f"/api/v1/cities/{NINGBO}/housing-fund/account", token=token)
    assert (account["status"], account["balance_fen"], account["monthly"]["total_fen"]) == (
        "normal",
        3_141_593,
        250_002,
    )
    assert account["account_number"].endswith(person.id_number[-4:]) and account["last_deposit_on"] == "2026-12-15"
    [entry] = api.get("/api/v1/me/data-access", token=token)["entries"]
    assert (entry["city"], entry["upstream"], entry["outcome"]) == (NINGBO, "ningbo_gjj", "ok")
    centre[0].mode = "down"
    response = api.client.get(
        f"/api/v1/cities/{NINGBO}/housing-fund/loan", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"]["code"] == "upstream.unavailable"
