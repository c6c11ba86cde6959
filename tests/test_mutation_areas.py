"""`make mutation` runs by area: together the areas mutate exactly what pyproject.toml says guards the product."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_areas_cover_the_modules_pyproject_names_and_nothing_else() -> None:
    spec = importlib.util.spec_from_file_location("mutation_areas", ROOT / "mutation" / "areas.py")
    assert spec is not None and spec.loader is not None
    areas = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(areas)
    named = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]["only_mutate"])
    covered = {pattern for mutate, _tests, _redis in areas.AREAS.values() for pattern in mutate}
    # identity/* covers the allowances module the services area also runs with its own tests.
    assert covered - {"identity/allowances.py"} == named - {"identity/allowances.py"}
    for _mutate, tests, _redis in areas.AREAS.values():
        for path in tests:
            assert path.startswith("-") or not path.startswith("tests") or (ROOT / path).exists(), path
