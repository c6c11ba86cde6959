"""The README's commands run as written from a fresh clone, on any POSIX shell."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

README = "\n".join(
    (ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "sandbox/README.md", "bench/README.md")
)
TOOLS = ("flask", "gunicorn", "pytest", "alembic", "mypy", "ruff", "python")


def commands() -> list[str]:
    """Every line inside the README's sh blocks, and every inline `...` command."""
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", README)
    return [line for block in blocks for line in block.splitlines()] + inline


def test_project_tools_are_called_from_the_virtualenv() -> None:
    bare = [c for c in commands() if re.search(rf"(?<![/\w.-])({'|'.join(TOOLS)}) [a-z-]", c)]
    assert not bare, f"say .venv/bin/<tool> or a make target: {bare}"


def test_examples_run_on_the_python3_a_newcomer_has() -> None:
    # datetime.UTC is new in 3.11; macOS and older Ubuntu ship an older python3.
    assert not [c for c in commands() if "python3" in c and "d.UTC" in c]


def test_no_gnu_only_options() -> None:
    gnu_only = [c for c in commands() if re.search(r"\bdate\b[^|;]*\s-d\b|\bsed -i\b|\bgrep -P\b|\breadlink -f\b", c)]
    assert not gnu_only, gnu_only


def test_the_shell_examples_parse_in_a_posix_shell() -> None:
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        checked = subprocess.run(["sh", "-n"], input=block, text=True, capture_output=True, check=False)
        assert checked.returncode == 0, (block, checked.stderr)


def test_the_readme_names_every_flask_command_that_exists() -> None:
    for command in re.findall(r"\.venv/bin/flask ([a-z-]+)", README):
        known = subprocess.run(
            [str(ROOT / ".venv/bin/flask"), command, "--help"], cwd=ROOT, capture_output=True, check=False
        )
        assert known.returncode == 0, f"{command}: {known.stderr[-300:]!r}"
