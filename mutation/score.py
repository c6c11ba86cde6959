"""Print the mutation score of the last `mutmut run`: killed / total, per file and overall.

Survivors listed in mutation/EQUIVALENT.md (judged equivalent: no test could tell them from the
original) are shown apart and left out of the adjusted score; every other survivor is listed so it
gets a test or a line in that file. Exits 1 when the adjusted score is below the minimum.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
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
    listed = 0
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
        print(f"{name:32} {detected:7} {len(results):6} {100 * detected / len(results):6.1f}%")
        for mutant, status in sorted(statuses.items()):
            if status not in DETECTED:
                if status == "not checked":
                    continue
                if mutant in judged:
                    listed += 1
                else:
                    survivors.append(f"{mutant}: {status}")
    total = sum(overall.values())
    detected = sum(overall[s] for s in DETECTED)
    print()
    print(f"mutation score: {detected} killed / {total} total = {100 * detected / total:.1f}%")
    adjusted = 100 * detected / (total - listed) if total > listed else 100.0
    print(
        f"judged equivalent (mutation/EQUIVALENT.md): {listed}; "
        f"adjusted: {detected} / {total - listed} = {adjusted:.1f}%"
    )
    if overall["not checked"]:
        print(f"{overall['not checked']} mutants were not checked: the run did not finish.")
    if survivors:
        print(f"\n{len(survivors)} survivors need a test or a line in mutation/EQUIVALENT.md (`mutmut show NAME`):")
        print("\n".join(f"  {s}" for s in survivors))
    return 0 if adjusted >= args.minimum and not overall["not checked"] else 1


if __name__ == "__main__":
    sys.exit(main())
