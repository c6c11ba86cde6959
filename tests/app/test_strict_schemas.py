"""Strict text at every boundary, as rules over the code: so a plain String or a `$`-anchored pattern cannot come back.

Every field of every schema a route loads (body and query, through Nested, List and Dict) must be one
of the strict fields in app/schemas/strict.py; and no pattern anywhere in the project is applied with
`.match`, anchored with `$`, or written with Unicode `\\d`/`\\w` classes, and no `str.isdigit()` decides
what a digit is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app.operations import Operation
from app.routes import register_routes
from app.schemas.strict import PlainValue
from app.schemas.strict import StrictAwareDateTime
from app.schemas.strict import StrictBoolean
from app.schemas.strict import StrictDate
from app.schemas.strict import StrictInteger
from app.schemas.strict import StrictNumber
from app.schemas.strict import StrictText
from tests.conftest import ROOT

STRICT_LEAVES = (StrictText, StrictBoolean, StrictInteger, StrictNumber, StrictAwareDateTime, StrictDate, PlainValue)
CONTAINERS = (fields.Nested, fields.List, fields.Dict)
PROJECT = ("app", "config", "database", "identity", "city_services", "billing", "channels", "outbound", "errors.py")
PROJECT_FILES = ("text_rules.py", "wsgi.py", "worker.py")
# Redaction casts the wider net on purpose: masking an ID number typed in full-width digits is right
# (and the request log's quick test for "may hold a number" must be at least as wide).
WIDER_ON_PURPOSE = {Path("identity/masking.py"), Path("app/request_log.py")}


def load_schemas() -> list[tuple[str, Schema]]:
    """(where, schema) for the body and query schema of every route that declares an operation."""
    app = Flask("strict-schemas")
    register_routes(app)
    found = []
    for rule in app.url_map.iter_rules():
        described: Operation | None = getattr(app.view_functions[rule.endpoint], "operation", None)
        if described is None:
            continue
        for part, schema in (("body", described.body), ("query", described.query)):
            if schema is not None:
                found.append((f"{rule.rule} {part}", schema()))
    return found


def leaves(where: str, field: fields.Field) -> Iterator[tuple[str, fields.Field | None]]:
    """Every field a value passes through, looking inside containers; None for a Dict without key or value type."""
    yield where, field
    if isinstance(field, fields.Nested):
        schema = field.schema
        for name, inner in schema.fields.items():
            if not inner.dump_only:
                yield from leaves(f"{where}.{name}", inner)
    elif isinstance(field, fields.List):
        yield from leaves(f"{where}[]", field.inner)
    elif isinstance(field, fields.Dict):
        for part, inner in (("keys", field.key_field), ("values", field.value_field)):
            if inner is None:
                yield f"{where}.{part}", None
            else:
                yield from leaves(f"{where}.{part}", inner)


def loaded_fields() -> list[tuple[str, fields.Field | None]]:
    found = []
    for where, schema in load_schemas():
        for name, field in schema.fields.items():
            if not field.dump_only:
                found.extend(leaves(f"{where}: {name}", field))
    return found


def test_the_walk_sees_every_kind_of_field() -> None:
    seen = {type(field) for _, field in loaded_fields()}
    assert {StrictText, StrictBoolean, StrictInteger, StrictAwareDateTime, StrictDate, PlainValue} <= seen
    assert {fields.Nested, fields.List, fields.Dict} <= seen
    assert len(load_schemas()) >= 8


@pytest.mark.parametrize(("where", "field"), loaded_fields(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_loaded_field_is_strict(where: str, field: fields.Field | None) -> None:
    assert field is not None, f"{where} takes any value: give the Dict strict keys and values"
    assert isinstance(field, STRICT_LEAVES + CONTAINERS), f"{where} is a {type(field).__name__}, not a strict field"
    regexps = [v for v in field.validators if isinstance(v, validate.Regexp)]
    assert not regexps, f"{where} uses validate.Regexp, which matches only at the start; use StrictText(pattern=...)"


def source_files() -> list[Path]:
    files = [ROOT / name for name in PROJECT_FILES if (ROOT / name).exists()]
    for package in PROJECT:
        path = ROOT / package
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")) if path.is_dir() else [])
    return files


def pattern_problems(path: Path) -> list[str]:
    """How a file matches text loosely: `.match(`, `$` or Unicode classes in a pattern, or isdigit()."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        if name == "match":
            problems.append(f"line {node.lineno}: .match() anchors only at the start; use fullmatch")
        if name in ("isdigit", "isdecimal", "isnumeric"):
            problems.append(f"line {node.lineno}: {name}() takes every script's digits; match [0-9]")
        is_re_call = isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
        if is_re_call and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            pattern = node.args[0].value
            ascii_flag = any("ASCII" in ast.unparse(a) for a in node.args[1:] + [k.value for k in node.keywords])
            if "$" in pattern.replace("\\$", ""):
                problems.append(f"line {node.lineno}: `$` also matches before a trailing newline; use fullmatch")
            if any(c in pattern for c in ("\\d", "\\w", "\\D", "\\W")) and not ascii_flag:
                problems.append(f"line {node.lineno}: \\d and \\w take every script; write [0-9] or pass re.ASCII")
    return problems


def test_the_source_scan_sees_the_project_and_each_kind_of_loose_match(tmp_path: Path) -> None:
    assert len(source_files()) > 40
    example = tmp_path / "loose.py"
    example.write_text("import re\nA = re.compile(r'^\\d{6}$')\nA.match('1')\n'1'.isdigit()\n", encoding="utf-8")
    assert len(pattern_problems(example)) == 4


def test_patterns_match_whole_values_in_ascii() -> None:
    found = {
        str(path.relative_to(ROOT)): problems
        for path in source_files()
        if path.relative_to(ROOT) not in WIDER_ON_PURPOSE and (problems := pattern_problems(path))
    }
    assert found == {}


def test_the_text_rules_are_neutral_like_errors() -> None:
    from tests.test_architecture import OURS
    from tests.test_architecture import imports_of

    assert not imports_of(ROOT / "text_rules.py") & set(OURS)
