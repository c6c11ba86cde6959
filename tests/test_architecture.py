"""The dependency rules of DESIGN §2, checked over every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUSINESS = ("identity", "city_services", "billing", "chat")
SDKS = ("wechatpy", "wechatpayv3", "alipay")
OURS = (
    "app",
    "config",
    "database",
    "identity",
    "city_services",
    "billing",
    "chat",
    "channels",
    "outbound",
    "errors",
    "text_rules",
    "migrations",
    "wsgi",
    "worker",
)


def imports_of(path: Path) -> set[str]:
    """Top-level names of every module a file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def files_in(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


@pytest.mark.parametrize("package", BUSINESS)
def test_business_packages_never_import_the_web_layer_channels_or_sdks(package: str) -> None:
    forbidden = {"flask", "werkzeug", "app", "channels", "marshmallow", *SDKS}
    for path in files_in(package):
        assert not imports_of(path) & forbidden, path


def test_billing_never_imports_city_services() -> None:
    for path in files_in("billing"):
        assert "city_services" not in imports_of(path), path


def test_only_wiring_imports_channels() -> None:
    for package in ("app", "identity", "city_services", "billing", "chat", "config", "database"):
        for path in files_in(package):
            if path != ROOT / "app" / "wiring.py":
                assert "channels" not in imports_of(path), path


def test_only_app_imports_flask() -> None:
    for package in ("config", "database", "identity", "city_services", "billing", "channels", "migrations", "outbound"):
        for path in files_in(package):
            assert "flask" not in imports_of(path), path


def test_sandbox_imports_nothing_of_ours_and_nothing_of_ours_imports_it() -> None:
    for path in files_in("sandbox"):
        assert not imports_of(path) & set(OURS), path
    for package in OURS:
        for path in files_in(package) or [ROOT / f"{package}.py"]:
            if path.exists():
                assert "sandbox" not in imports_of(path), path


def test_infrastructure_does_not_reach_up_into_business_packages() -> None:
    for package in ("config", "database", "outbound"):
        for path in files_in(package):
            assert not imports_of(path) & {"app", *BUSINESS, "channels"}, path


def test_the_rules_see_real_imports() -> None:
    assert "flask" in imports_of(ROOT / "app" / "__init__.py")
    assert "database" in imports_of(ROOT / "city_services" / "models.py")
