"""The sandbox is an outside peer: it shares no code with citytiles and does not lean on the SDKs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "sandbox"
FORBIDDEN = {
    "app",
    "config",
    "identity",
    "channels",
    "city_services",
    "billing",
    "database",
    "errors",
    "wsgi",
    "wechatpy",
    "alipay",
    "wechatpayv3",
}


def imported_top_levels(source: str) -> set[str]:
    """Top-level module names a source file imports, absolute imports only."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and _called_name(node) in ("import_module", "__import__"):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value.split(".")[0])
    return names


def _called_name(call: ast.Call) -> str:
    return getattr(call.func, "attr", getattr(call.func, "id", ""))


def test_the_checker_sees_forbidden_imports() -> None:
    assert imported_top_levels("import config\nfrom channels.wechat import x\nimportlib.import_module('alipay')") == {
        "config",
        "channels",
        "alipay",
    }


def test_no_sandbox_module_imports_the_project_or_the_sdks() -> None:
    sources = sorted(SANDBOX.rglob("*.py"))
    assert len(sources) >= 10, "expected the sandbox package"
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_top_levels(path.read_text()) & FORBIDDEN) for path in sources
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_the_sandbox_loads_no_project_module() -> None:
    probe = (
        "import sys, sandbox.server, sandbox.__main__\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
