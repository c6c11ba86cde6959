"""Plant each named one-line bug in a scratch copy of the tree and check the tests written for it fail.

mutmut mutates function bodies only; module-level rules (regexes, permission tables, limits) and the
bugs an outside check found in issue 6 are planted here by hand, one at a time, never in the work tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("app", "channels", "city_services", "config", "database", "identity", "migrations", "sandbox", "tests")
COPIED_FILES = ("errors.py", "wsgi.py", "alembic.ini", "pyproject.toml")

# (what the bug does, file, original text, buggy text, tests that must catch it)
BUGS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "erasing one resident revokes every resident's tokens",
        "identity/tokens.py",
        ".where(AccessToken.resident_id == resident_id, AccessToken.revoked_at.is_(None))",
        ".where(AccessToken.revoked_at.is_(None))",
        "tests/app/test_erasure_and_linking.py",
    ),
    (
        "a unionid merges residents verified with different ID numbers",
        "identity/residents.py",
        "and survivor.id_number_lookup != merged.id_number_lookup",
        "and False",
        "tests/app/test_erasure_and_linking.py",
    ),
    (
        "an operator of several cities is checked against the first only",
        "identity/roles.py",
        "city not in staff.cities",
        "city != staff.cities[0]",
        "tests/identity/test_roles.py",
    ),
    (
        "a city operator may manage staff",
        "identity/roles.py",
        '"city_operator": frozenset({"catalogue.view", "catalogue.change", "audit.read"})',
        '"city_operator": frozenset({"catalogue.view", "catalogue.change", "audit.read", "staff.manage"})',
        "tests/identity/test_roles.py",
    ),
    (
        "inactive staff can log in",
        "identity/staff.py",
        "staff is None or not staff.active or not matches",
        "staff is None or not matches",
        "tests/app/test_inactive_staff.py",
    ),
    (
        "an inactive staff member's token still works",
        "identity/staff.py",
        "if staff is None or not staff.active:\n        raise Unauthenticated",
        "if staff is None:\n        raise Unauthenticated",
        "tests/app/test_inactive_staff.py",
    ),
    (
        "15-digit ID numbers are left unmasked",
        "identity/masking.py",
        r"|(?<!\d)(\d{15})(?!\d)",
        "",
        "tests/identity/test_masking.py",
    ),
    (
        "19x mobile numbers are left unmasked",
        "identity/masking.py",
        r"(1[3-9]\d)",
        r"(1[3-8]\d)",
        "tests/identity/test_masking.py",
    ),
    (
        "a lookup key shorter than 32 bytes is accepted",
        "identity/vault.py",
        "if len(lookup) < 32:",
        "if len(lookup) < 16:",
        "tests/identity/test_vault.py",
    ),
    (
        "a sealing key of another size is accepted",
        "identity/vault.py",
        "len(key) != 32",
        "len(key) < 16",
        "tests/identity/test_vault.py",
    ),
    (
        "Sunday is dropped from opening hours",
        "city_services/availability.py",
        "if local.isoweekday() not in self.weekdays:",
        "if local.weekday() not in self.weekdays:",
        "tests/city_services/test_weekdays.py",
    ),
    (
        "a seeded offering without weekdays loses Sunday",
        "city_services/seeding.py",
        'hours.get("weekdays", "1234567")',
        'hours.get("weekdays", "123456")',
        "tests/city_services/test_weekdays.py",
    ),
    (
        "weekday 7 is refused",
        "city_services/offering_rules.py",
        'r"^[1-7]{1,7}$"',
        'r"^[1-6]{1,7}$"',
        "tests/city_services/test_weekdays.py",
    ),
)


def main() -> int:
    env = {**os.environ, "TEST_DATABASE_URL": "", "TEST_REDIS_URL": "", "CI": ""}
    missed = 0
    with tempfile.TemporaryDirectory(prefix="citytiles-bugs-") as scratch:
        for name in COPIED:
            shutil.copytree(ROOT / name, Path(scratch) / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in COPIED_FILES:
            shutil.copy2(ROOT / name, Path(scratch) / name)
        for bug, file, original, buggy, tests in BUGS:
            path = Path(scratch) / file
            source = path.read_text(encoding="utf-8")
            if source.count(original) != 1:
                print(f"STALE   {bug}: {file} no longer holds the original text once; update mutation/named_bugs.py")
                missed += 1
                continue
            path.write_text(source.replace(original, buggy), encoding="utf-8")
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()],
                    cwd=scratch,
                    env=env,
                    capture_output=True,
                    text=True,
                )
            finally:
                path.write_text(source, encoding="utf-8")
            caught = done.returncode == 1
            missed += not caught
            print(f"{'caught' if caught else 'MISSED':7} {bug}")
    print(f"named bugs: {len(BUGS) - missed} caught / {len(BUGS)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
