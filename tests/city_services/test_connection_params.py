"""Each adapter's Params: read strictly from JSON, yielding the call policy, saying what production refuses."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from city_services.connection_params import CallLimits
from city_services.connection_params import FakeConnection
from city_services.connection_params import HttpConnection
from city_services.connection_params import kind_name
from city_services.connection_params import params_document
from city_services.connection_params import read_params
from city_services.upstreams import UPSTREAM_ADAPTERS
from city_services.upstreams import read_connection_params
from errors import Invalid
from outbound.policy import CallPolicy

EVERY_ADAPTER = [(service, adapter) for service, adapters in UPSTREAM_ADAPTERS.items() for adapter in adapters]
REAL_ADAPTERS = [(service, adapter) for service, adapter in EVERY_ADAPTER if adapter != "fake"]
PUBLIC = "https://gjj.hangzhou.gov.cn/open/v2"
FUND = {"base_url": PUBLIC, "appid": "HZGJJ-CT-0001", "jgh": "330100", "secret_env": "HANGZHOU_GJJ_HMAC_KEY"}


def example_params(service: str, adapter: str) -> dict[str, Any]:
    """Every required parameter of an adapter, as its fields' own examples give them."""
    kind = UPSTREAM_ADAPTERS[service][adapter]
    return {f.name: f.metadata["example"] for f in dataclasses.fields(kind) if f.default is dataclasses.MISSING}


def refusal(raw: object, service: str = "housing_fund", adapter: str = "hangzhou_gjj") -> dict[str, list[str]]:
    """details.fields of the refusal, which must be catalogue.invalid_upstream_params."""
    with pytest.raises(Invalid) as refused:
        read_connection_params(service, adapter, raw)
    assert refused.value.code == "catalogue.invalid_upstream_params"
    fields: dict[str, list[str]] = refused.value.details["fields"]
    assert all(name in refused.value.message for name in fields)
    return fields


def test_every_service_offers_the_fake_and_its_two_real_systems() -> None:
    assert {service: list(adapters) for service, adapters in UPSTREAM_ADAPTERS.items()} == {
        "housing_fund": ["fake", "hangzhou_gjj", "shenzhen_gjj"],
        "car_move": ["fake", "zhejiang_traffic_police", "guangdong_traffic_police"],
        "outpatient": ["fake", "zheyi_his", "shenzhen_health_platform"],
    }


@pytest.mark.parametrize(("service", "adapter"), EVERY_ADAPTER)
def test_each_adapter_declares_frozen_params_in_its_own_module(service: str, adapter: str) -> None:
    kind = UPSTREAM_ADAPTERS[service][adapter]
    assert kind.__module__ == f"city_services.{service}.{adapter}" and kind.__name__ == "Params"
    assert kind_name(kind) == adapter
    params = read_connection_params(service, adapter, example_params(service, adapter))
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.timeout_seconds = 1.0  # type: ignore[misc]
    # Production's verdict exists for every adapter: the base alone would raise.
    assert isinstance(params.production_problems({}), list)
    assert issubclass(kind, FakeConnection if adapter == "fake" else HttpConnection)


@pytest.mark.parametrize(("service", "adapter"), REAL_ADAPTERS)
def test_secrets_are_named_by_environment_variable_never_given(service: str, adapter: str) -> None:
    names = [f.name for f in dataclasses.fields(UPSTREAM_ADAPTERS[service][adapter])]
    secret_names = [n for n in names if n.endswith("_env")]
    assert secret_names, f"{adapter} names no secret"
    assert not [n for n in names if ("secret" in n or "key" in n) and not n.endswith("_env")]


def test_parameters_yield_the_outbound_call_policy() -> None:
    raw = {**FUND, "timeout_seconds": 2, "max_concurrent_calls": 3, "failure_threshold": 4, "reset_seconds": 60}
    params = read_connection_params("housing_fund", "hangzhou_gjj", {**raw, "read_retries": 0})
    assert params.policy() == CallPolicy(
        timeout_seconds=2.0, max_concurrent_calls=3, failure_threshold=4, reset_seconds=60.0, read_retries=0
    )
    assert isinstance(params.policy().timeout_seconds, float)
    # Left out, the limits are CallPolicy's own defaults.
    assert read_connection_params("car_move", "fake", {}).policy() == CallPolicy()


def test_the_stored_document_is_every_field_and_reads_back_the_same() -> None:
    params = read_connection_params("housing_fund", "hangzhou_gjj", FUND)
    document = params_document(params)
    assert document == {
        "timeout_seconds": 5.0,
        "max_concurrent_calls": 8,
        "failure_threshold": 5,
        "reset_seconds": 30.0,
        "read_retries": 1,
        **FUND,
    }
    assert read_connection_params("housing_fund", "hangzhou_gjj", document) == params


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        ({"timeout_seconds": True}, "timeout_seconds", "Not a number."),
        ({"max_concurrent_calls": True}, "max_concurrent_calls", "Not a number."),
        ({"max_concurrent_calls": 8.0}, "max_concurrent_calls", "Not a whole number."),
        ({"max_concurrent_calls": "8"}, "max_concurrent_calls", "Not a number."),
        ({"timeout_seconds": "5"}, "timeout_seconds", "Not a number."),
        ({"timeout_seconds": None}, "timeout_seconds", "Not a number."),
        ({"timeout_seconds": float("nan")}, "timeout_seconds", "Not a finite number."),
        ({"timeout_seconds": float("inf")}, "timeout_seconds", "Not a finite number."),
        ({"timeout_seconds": 0}, "timeout_seconds", "Must lie between 0.1 and 60.0."),
        ({"timeout_seconds": 60.5}, "timeout_seconds", "Must lie between 0.1 and 60.0."),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls", "Must lie between 1 and 256."),
        ({"failure_threshold": 10**4000}, "failure_threshold", "Must lie between 1 and 100."),
        ({"reset_seconds": -1}, "reset_seconds", "Must lie between 1.0 and 3600.0."),
        ({"read_retries": 4}, "read_retries", "Must lie between 0 and 3."),
        ({"jgh": 330100}, "jgh", "Not text."),
        ({"jgh": ""}, "jgh", "Must not be blank."),
        ({"jgh": "A30-330100\n"}, "jgh", "Control or invisible characters are not allowed (U+000A)."),
        ({"jgh": "Ａ30-330100"}, "jgh", "Not in the expected form, e.g. 330100."),
        ({"jgh": "A30 330100"}, "jgh", "Not in the expected form, e.g. 330100."),
        ({"jgh": "A" * 33}, "jgh", "Not in the expected form, e.g. 330100."),
        ({"jgh": "A" * 513}, "jgh", "Length must be between 1 and 512."),
        (
            {"secret_env": "hangzhou_gjj_hmac_key"},
            "secret_env",
            "Not in the expected form, e.g. HANGZHOU_GJJ_HMAC_KEY.",
        ),
        ({"secret_env": "HANGZHOU-GJJ"}, "secret_env", "Not in the expected form, e.g. HANGZHOU_GJJ_HMAC_KEY."),
        (
            {"base_url": "ftp://gjj.hangzhou.gov.cn"},
            "base_url",
            "Not in the expected form, e.g. https://api.example.gov.cn/v1.",
        ),
        (
            {"base_url": "https://user:pw@gjj.hangzhou.gov.cn/"},
            "base_url",
            "Not in the expected form, e.g. https://api.example.gov.cn/v1.",
        ),
        ({"base_url": f"{PUBLIC}?key=1"}, "base_url", "Not in the expected form, e.g. https://api.example.gov.cn/v1."),
        ({"base_url": f"{PUBLIC}#x"}, "base_url", "Not in the expected form, e.g. https://api.example.gov.cn/v1."),
        ({"base_url": "https://gjj.hangzhou.gov.cn:99999/"}, "base_url", "The port is not a port number."),
        ({"base_url": "https://gjj.hangzhou.gov.cn:0/"}, "base_url", "The port is not a port number."),
        (
            {"base_url": "https://gjj.hangzhou.gov.cn/\u202e"},
            "base_url",
            "Control or invisible characters are not allowed (U+202E).",
        ),
    ],
)
def test_values_are_taken_as_sent_never_coerced(change: dict[str, Any], field: str, why: str) -> None:
    assert refusal({**FUND, **change}) == {f"params.{field}": [why]}


def test_missing_and_unknown_names_are_each_named() -> None:
    takes = (
        "hangzhou_gjj takes timeout_seconds, max_concurrent_calls, failure_threshold, reset_seconds, read_retries, "
        "base_url, appid, jgh, secret_env."
    )
    assert refusal({"base_url": PUBLIC, "institution_code": "A30", "Secret Key": "x"}) == {
        "params.institution_code": [f"Unknown parameter; {takes}"],
        # A name that is not a plain word is not echoed back.
        "params": [f"Parameter names are lower-case ASCII words; {takes}"],
        "params.appid": ["Missing; this adapter needs it."],
        "params.jgh": ["Missing; this adapter needs it."],
        "params.secret_env": ["Missing; this adapter needs it."],
    }
    # Another adapter's parameters do not fit this one.
    assert set(refusal(FUND, "housing_fund", "shenzhen_gjj")) == {
        "params.appid",
        "params.jgh",
        "params.secret_env",
        "params.client_id",
        "params.client_secret_env",
    }
    assert set(refusal({"base_url": PUBLIC}, "car_move", "fake")) == {"params.base_url"}


@pytest.mark.parametrize("raw", [None, [], "base_url=x", 5, [["base_url", PUBLIC]]])
def test_parameters_are_an_object(raw: object) -> None:
    assert refusal(raw) == {"params": ["Not an object."]}


@pytest.mark.parametrize(
    ("service", "adapter", "change", "field"),
    [
        ("car_move", "zhejiang_traffic_police", {"region": "粤B"}, "region"),
        ("car_move", "zhejiang_traffic_police", {"region": "浙M"}, "region"),
        ("car_move", "zhejiang_traffic_police", {"region": "浙a"}, "region"),
        ("car_move", "zhejiang_traffic_police", {"region": "浙A "}, "region"),
        ("outpatient", "zheyi_his", {"api_key_env": "zheyi_key"}, "api_key_env"),
        ("outpatient", "shenzhen_health_platform", {"app_id": "szjk demo"}, "app_id"),
        ("housing_fund", "shenzhen_gjj", {"client_id": "客户"}, "client_id"),
        ("car_move", "guangdong_traffic_police", {"credentials_env": "1KEY"}, "credentials_env"),
    ],
)
def test_each_systems_own_parameters_are_matched_whole(service: str, adapter: str, change: dict, field: str) -> None:
    good = example_params(service, adapter)
    read_connection_params(service, adapter, good)
    assert list(refusal({**good, **change}, service, adapter)) == [f"params.{field}"]


def test_an_unknown_adapter_names_the_ones_there_are() -> None:
    with pytest.raises(Invalid) as refused:
        read_connection_params("housing_fund", "zhejiang_traffic_police", {})
    assert refused.value.code == "catalogue.unknown_upstream"
    assert refused.value.details == {"adapter": ["fake", "hangzhou_gjj", "shenzhen_gjj"]}
    with pytest.raises(Invalid) as refused:
        read_connection_params("parking", "fake", {})
    assert refused.value.details == {"adapter": []}


@pytest.mark.parametrize(("service", "adapter"), REAL_ADAPTERS)
def test_production_takes_a_public_https_system_whose_secrets_are_set(service: str, adapter: str) -> None:
    raw = {**example_params(service, adapter), "base_url": "https://api.example.gov.cn/v1"}
    params = read_connection_params(service, adapter, raw)
    secrets = {value: "issued-by-the-system" for name, value in raw.items() if name.endswith("_env")}
    assert params.production_problems(secrets) == []
    [(secret, variable)] = [(n, v) for n, v in raw.items() if n.endswith("_env")]
    assert params.production_problems({}) == [f"{secret} names {variable}, which is not set or blank"]
    assert params.production_problems({variable: " \t"}) == [f"{secret} names {variable}, which is not set or blank"]


@pytest.mark.parametrize(
    "base_url",
    [
        "http://gjj.hangzhou.gov.cn/v1",
        "https://127.0.0.1:8700/upstreams/hangzhou-gjj",
        "http://127.0.0.1:8700/upstreams/hangzhou-gjj",
        "https://localhost/v1",
        "https://10.0.0.5/v1",
        "https://[::1]/v1",
        "https://sandbox.gjj.example/v1",
        "https://0x7f000001/v1",
    ],
)
def test_production_refuses_an_upstream_that_is_not_public_https(base_url: str) -> None:
    params = read_connection_params("housing_fund", "hangzhou_gjj", {**FUND, "base_url": base_url})
    assert params.production_problems({"HANGZHOU_GJJ_HMAC_KEY": "k"}) == [
        f"upstream base_url is not a public HTTPS URL: {base_url}"
    ]


@pytest.mark.parametrize("service", list(UPSTREAM_ADAPTERS))
def test_production_refuses_every_fake(service: str) -> None:
    params = read_connection_params(service, "fake", {})
    assert params.production_problems({}) == ["uses the fake upstream adapter, which stands in for the real system"]


def test_a_new_kind_of_params_must_say_what_production_refuses() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Careless(CallLimits):
        """Built on the bare limits, saying nothing about production."""

    params = read_params(Careless, {"timeout_seconds": 1})
    with pytest.raises(NotImplementedError):
        params.production_problems({})
