"""Print the mutation score of the last `mutmut run`: killed / total, per file and overall.

Two kinds of survivor are shown apart and left out of the adjusted score: those listed in
mutation/EQUIVALENT.md (judged equivalent: no test could tell them from the original), and wording-only
ones, where the one change is a prose message (a literal with a space in it) wrapped in XX, re-cased or
replaced by None. Error codes and keys have no spaces, so their mutants always count; the wording of a
message is not pinned by tests (the shape check in tests/conftest.py still refuses an empty or missing
message on every API error). Every other survivor is listed so it gets a test or a line in that file.
Exits 1 when the adjusted score is below the minimum or the run did not finish.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import sys
import tokenize
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DETECTED = {"killed", "timeout", "caught by type check"}


def status_of(exit_code: int | None) -> str:
    """mutmut's reading of a mutant's test exit code (mutmut/stats.py)."""
    known = {
        1: "killed",
        3: "killed",
        0: "survived",
        5: "no tests",
        33: "no tests",
        34: "skipped",
        37: "caught by type check",
    }
    if exit_code is None:
        return "not checked"
    if exit_code in (36, 24, -24, 152, 255):
        return "timeout"
    return known.get(exit_code, "suspicious")


def _tokens(source: str) -> list[tuple[int, str]]:
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]


def _prose(literal: str) -> str | None:
    """The text of a string literal that reads as prose (has a space), else None."""
    try:
        text = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        text = literal  # an f-string: its raw text is enough to tell prose
    return text if isinstance(text, str) and " " in text else None


def wording_only(functions: dict[str, str], mutant: str) -> bool:
    """Whether the mutant only rewords a prose message (XX-wrapped, re-cased, or None)."""
    function = mutant.rpartition(".")[2]
    original = functions.get(function.rpartition("__mutmut_")[0] + "__mutmut_orig")
    mutated = functions.get(function)
    if original is None or mutated is None:
        return False
    before, after = _tokens(original), _tokens(mutated)
    if len(before) != len(after):
        return False
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    # The first difference is the function's own name.
    if len(changed) != 2 or changed[1][0][0] != tokenize.STRING:
        return False
    old, new = changed[1]
    text = _prose(old[1])
    if text is None:
        return False
    if new == (tokenize.NAME, "None"):
        return True
    if new[0] != tokenize.STRING:
        return False
    return new[1].replace("XX", "").lower() == old[1].lower()


def functions_of(path: Path) -> dict[str, str]:
    """Each function's source in a mutated file, by name, with its body dedented."""
    source = path.read_text(encoding="utf-8")
    found = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
            segment = ast.get_source_segment(source, node) or ""
            found[node.name] = "\n".join(line.strip() for line in segment.splitlines())
    return found


def equivalents(path: Path) -> set[str]:
    """Mutant names listed in the equivalents file (a backticked name at the start of a list item)."""
    if not path.exists():
        return set()
    return set(re.findall(r"^- `([\w.]+__mutmut_\d+)`", path.read_text(encoding="utf-8"), flags=re.MULTILINE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimum", type=float, default=90.0, help="lowest acceptable adjusted score, in percent")
    args = parser.parse_args()
    metas = sorted((ROOT / "mutants").rglob("*.py.meta"))
    if not metas:
        print("No mutation results: run `make mutation` first.")
        return 1
    judged = equivalents(ROOT / "mutation" / "EQUIVALENT.md")
    overall: Counter[str] = Counter()
    survivors: list[str] = []
    listed = worded = 0
    print(f"{'file':32} {'killed':>7} {'total':>6} {'score':>7}")
    for meta in metas:
        results = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if not results:
            continue
        statuses = {name: status_of(code) for name, code in results.items()}
        counts = Counter(statuses.values())
        overall.update(counts)
        detected = sum(counts[s] for s in DETECTED)
        name = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        functions = functions_of(ROOT / "mutants" / name)
        print(f"{name:32} {detected:7} {len(results):6} {100 * detected / len(results):6.1f}%")
        for mutant, status in sorted(statuses.items()):
            if status not in DETECTED:
                if status == "not checked":
                    continue
                if mutant in judged:
                    listed += 1
                elif wording_only(functions, mutant):
                    worded += 1
                else:
                    survivors.append(f"{mutant}: {status}")
    total = sum(overall.values())
    detected = sum(overall[s] for s in DETECTED)
    checked = total - overall["not checked"]
    print()
    print(f"mutation score: {detected} killed / {checked} checked = {100 * detected / max(checked, 1):.1f}%")
    print(f"  survivors judged equivalent (mutation/EQUIVALENT.md): {listed}")
    print(f"  survivors that only reword a prose message: {worded}")
    counted = checked - listed - worded
    adjusted = 100 * detected / counted if counted else 100.0
    print(f"adjusted score: {detected} killed / {counted} = {adjusted:.1f}%")
    if overall["not checked"]:
        print(f"{overall['not checked']} mutants were not checked: the run did not finish.")
    if survivors:
        print(f"\n{len(survivors)} survivors need a test or a line in mutation/EQUIVALENT.md (`mutmut show NAME`):")
        print("\n".join(f"  {s}" for s in survivors))
    return 0 if adjusted >= args.minimum and not overall["not checked"] else 1


if __name__ == "__main__":
    sys.exit(main())
