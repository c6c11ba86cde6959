"""`make mutation` runs by area: together the areas mutate exactly what pyproject.toml says guards the product."""

from __future__ import annotations

import fnmatch
import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def files(patterns: list[str], skipped: list[str]) -> set[str]:
    """The source files the patterns name that mutmut mutates."""
    named = {path.relative_to(ROOT).as_posix() for pattern in patterns for path in ROOT.glob(pattern)}
    return {name for name in named if not any(fnmatch.fnmatch(name, pattern) for pattern in skipped)}


def test_the_areas_cover_the_modules_pyproject_names_and_nothing_else() -> None:
    spec = importlib.util.spec_from_file_location("mutation_areas", ROOT / "mutation" / "areas.py")
    assert spec is not None and spec.loader is not None
    areas = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(areas)
    mutmut = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    covered = [pattern for mutate, _tests, _redis in areas.AREAS.values() for pattern in mutate]
    assert files(covered, mutmut["do_not_mutate"]) == files(mutmut["only_mutate"], mutmut["do_not_mutate"])
    for _mutate, tests, _redis in areas.AREAS.values():
        for path in tests:
            assert path.startswith("-") or not path.startswith("tests") or (ROOT / path).exists(), path
