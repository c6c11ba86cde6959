"""The OpenAPI document lists every endpoint and every error code, and the code agrees with it."""

from __future__ import annotations

import ast

import pytest
from flask import Flask

from app.error_codes import ERROR_CODES
from app.errors import STATUS_BY_KIND
from app.openapi import error_codes_of
from tests.conftest import ROOT
from tests.conftest import Api

SOURCE_PACKAGES = ("app", "identity", "city_services", "channels", "config", "database", "outbound", "errors.py")
# Error classes and the kind each maps to, as declared in errors.py and app/errors.py.
KIND_OF = {
    "NotFound": "not_found",
    "Invalid": "invalid",
    "Conflict": "conflict",
    "Unauthenticated": "unauthenticated",
    "Forbidden": "forbidden",
    "TooManyRequests": "too_many_requests",
    "UpstreamUnavailable": "unavailable",
    "MalformedRequest": "malformed",
    "UnsupportedMediaType": "unsupported_media_type",
    "LoginRejected": "unauthenticated",
    "ChannelRateLimited": "too_many_requests",
    "RealNameUnavailable": "invalid",
    "UpstreamRejected": "invalid",
    "UpstreamRejected:invalid": "invalid",
    "UpstreamRejected:not_found": "not_found",
    "UpstreamRejected:conflict": "conflict",
}


def raised_codes() -> list[tuple[str, str, str]]:
    """(error class, code, file) for every error constructed with a literal code in the source."""
    found = []
    for package in SOURCE_PACKAGES:
        path = ROOT / package
        if not path.exists():
            continue
        for file in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in KIND_OF
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.append((_kind_name(node), node.args[0].value, str(file.relative_to(ROOT))))
    return found


def _kind_name(node: ast.Call) -> str:
    """The class name, or for an upstream's final answer the kind it is given (a literal, third or by name)."""
    if node.func.id != "UpstreamRejected":  # type: ignore[attr-defined]
        return node.func.id  # type: ignore[attr-defined,no-any-return]
    given = node.args[2] if len(node.args) > 2 else next((k.value for k in node.keywords if k.arg == "kind"), None)
    if given is None:
        return "UpstreamRejected:invalid"
    assert isinstance(given, ast.Constant), "UpstreamRejected takes its kind as a literal"
    return f"UpstreamRejected:{given.value}"


def test_source_raises_codes_at_all() -> None:
    assert len(raised_codes()) > 20


@pytest.mark.parametrize(("error_class", "code", "where"), raised_codes())
def test_every_raised_code_is_catalogued_with_the_status_of_its_kind(error_class: str, code: str, where: str) -> None:
    assert code in ERROR_CODES, f"{code} raised in {where} is missing from app/error_codes.py"
    assert ERROR_CODES[code][0] == STATUS_BY_KIND[KIND_OF[error_class]], f"{code} in {where}"


def test_every_route_is_documented_with_its_methods(app: Flask, api: Api) -> None:
    document = api.get("/api/v1/openapi.json")
    assert document["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        # The console's pages are HTML for people, not part of the JSON API the document describes.
        if rule.endpoint == "static" or rule.endpoint.startswith("console."):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in document["paths"], path
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (method, path)


def test_operations_list_their_error_codes_under_the_right_status(app: Flask, api: Api) -> None:
    document = api.get("/api/v1/openapi.json")
    patch = document["paths"]["/admin/api/cities/{city}/services/{service}/channels/{channel}"]["patch"]
    assert "catalogue.invalid_hours" in patch["responses"]["422"]["x-error-codes"]
    assert "catalogue.unknown_upstream" not in patch["responses"]["422"]["x-error-codes"]
    upstream = document["paths"]["/admin/api/cities/{city}/upstreams/{service}"]["patch"]
    assert {"catalogue.unknown_upstream", "catalogue.invalid_upstream_params", "catalogue.unsafe_upstream"} <= set(
        upstream["responses"]["422"]["x-error-codes"]
    )
    assert upstream["responses"]["404"]["x-error-codes"][:2] == [
        "catalogue.city_not_found",
        "catalogue.connection_not_found",
    ]
    assert "auth.city_out_of_scope" in patch["responses"]["403"]["x-error-codes"]
    assert "auth.required" in patch["responses"]["401"]["x-error-codes"]
    assert patch["security"] == [{"bearer": []}]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("OfferingChange")
    tiles = document["paths"]["/api/v1/cities/{city}/services"]["get"]
    assert [p["name"] for p in tiles["parameters"]] == ["city", "channel", "If-None-Match"]
    assert set(tiles["responses"]["200"]["headers"]) == {"ETag", "Cache-Control"}
    assert "304" in tiles["responses"] and "304" in document["paths"]["/api/v1/cities"]["get"]["responses"]
    assert "catalogue.city_not_found" in tiles["responses"]["404"]["x-error-codes"]
    for view in app.view_functions.values():
        described = getattr(view, "operation", None)
        if described is not None:
            assert set(error_codes_of(described)) <= set(ERROR_CODES)
    assert set(document["x-error-codes"]) == set(ERROR_CODES)


def test_schemas_come_from_marshmallow(api: Api) -> None:
    schemas = api.get("/api/v1/openapi.json")["components"]["schemas"]
    assert schemas["Tile"]["properties"]["state"]["enum"] == [
        "available",
        "maintenance",
        "off_hours",
        "unavailable",
        "degraded",
    ]
    assert set(schemas["Error"]["properties"]) == {"error"}


def test_docs_page_is_html_that_reads_the_document(api: Api) -> None:
    response = api.client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "openapi.json" in response.get_data(as_text=True)


def test_statuses_views_answer_themselves_are_documented(api: Api) -> None:
    paths = api.get("/api/v1/openapi.json")["paths"]
    readiness = paths["/readyz"]["get"]["responses"]
    assert readiness["503"]["content"] == readiness["200"]["content"]
    assert "identity.resident_changed" in paths["/api/v1/me"]["delete"]["responses"]["409"]["x-error-codes"]


def test_every_operation_documents_the_statuses_its_kind_implies(api: Api) -> None:
    for path, operations in api.get("/api/v1/openapi.json")["paths"].items():
        for method, described in operations.items():
            statuses = set(described["responses"])
            if "security" in described:
                assert {"401"} <= statuses, (method, path)
            if "requestBody" in described:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)
            if "{" in path:
                assert "request.route_not_found" in described["responses"]["404"]["x-error-codes"], (method, path)


def test_a_path_parameter_holding_a_slash_reaches_no_route(api: Api) -> None:
    body = api.get("/api/v1/cities/33%2F0100/services?channel=wechat", expected=404)
    assert body["error"]["code"] == "request.route_not_found"
