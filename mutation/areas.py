"""Run mutmut over one area of the code with the tests that guard it, in a copy of the tree, and score it.

One run over everything checks each mutant against every test that reaches its function: for
outbound/ and the city services that is the whole API suite over the sandbox, many hours on two
cores. Each area here runs with its own tests instead (unit, contract and its own API tests), so
its score is a lower bound on what the whole suite kills, and a run takes minutes to an hour.

    .venv/bin/python mutation/areas.py outbound [city_services identity ...]

Each area runs in var/mutation/<area> (its `mutants/` stays there for `mutmut show`, run from that
folder); the area's [tool.mutmut] selection replaces the one in pyproject.toml there.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
SERVICES = [
    "identity/allowances.py",
    "city_services/service_gate.py",
    "city_services/notices.py",
    "city_services/housing_fund/service.py",
    "city_services/car_move/service.py",
    "city_services/car_move/owners.py",
    "city_services/car_move/rules.py",
    "city_services/car_move/plates.py",
    "city_services/car_move/messages.py",
    "city_services/outpatient/service.py",
    "city_services/outpatient/limits.py",
]
SERVICE_TESTS = [
    "tests/city_services",
    "tests/identity/test_allowances.py",
    "tests/app/test_car_move_api.py",
    "tests/app/test_car_move_limits.py",
    "tests/app/test_outpatient_api.py",
    "tests/app/test_housing_fund_api.py",
    "tests/app/test_notices.py",
]
MONEY = ["billing/*", "city_services/outpatient/fees.py", "city_services/outpatient/cancel_terms.py"]
MONEY_TESTS = [
    "tests/billing",
    "tests/city_services/test_outpatient_fees.py",
    "tests/app/test_payment_callbacks.py",
    "tests/app/test_admin_payments.py",
    "tests/app/test_idempotency.py",
    "tests/app/test_figures_api.py",  # the refunds in a city's figures (billing/refund_totals.py)
    "tests/contracts/test_bill_downloads.py",  # reading a downloaded bill (billing/bills.py)
]
RECONCILIATION = ["billing/reconciliation/*", "city_services/outpatient/fulfilment.py"]
RECONCILIATION_TESTS = [
    "tests/billing/test_reconciliation_matching.py",
    "tests/billing/test_reconciliation_runs.py",
    "tests/billing/test_reconciliation_found.py",
    "tests/billing/test_reconciliation_plain_runs.py",
    "tests/billing/test_reconciliation_export.py",
    "tests/billing/test_reconciliation_review.py",
    "tests/app/test_admin_reconciliation.py",
    "tests/city_services/test_outpatient_fees.py",
]
# Every request reaches these (tokens, the vault, the counters): a survivor among them re-runs every test
# that reaches it, so they run in an area of their own and finish in a session.
ACCESS = [
    "identity/vault.py",
    "identity/tokens.py",
    "identity/attempt_counts.py",
    "identity/attempts.py",
    "identity/passwords.py",
    "identity/residents.py",
    "identity/staff.py",
]
PEOPLE = [
    "identity/allowances.py",
    "identity/audit.py",
    "identity/consent.py",
    "identity/id_numbers.py",
    "identity/masking.py",
    "identity/merging.py",
    "identity/people.py",
    "identity/phones.py",
    "identity/profiles.py",
    "identity/real_name.py",
    "identity/roles.py",
    "identity/rotation.py",
]
# Identity's unit and contract tests and the API tests of sign-in, sessions, real names, staff, roles,
# erasure and races; the city services' and payments' API tests reach identity only on their way in.
IDENTITY_TESTS = [
    "tests/identity",
    "tests/contracts/test_attempt_counters.py",
    "tests/contracts/test_channel_login.py",
    "tests/contracts/test_real_names.py",
    "tests/channels",
    "tests/database",
    *(
        f"tests/app/test_{name}.py"
        for name in (
            "real_name",
            "real_name_limits",
            "resident_sessions",
            "staff_sessions",
            "login_limits",
            "inactive_staff",
            "erasure_and_linking",
            "races",
            "lost_races",
            "admin_roles",
            "admin_catalogue",
            "admin_upstreams",
            "strict_boundaries",
            "strict_fields",
            "request_log",
            "http_headers",
            "notices",
            "cli",
        )
    ),
    "tests/city_services/test_notices.py",
]
# Those of them that sign in, count attempts and erase: every API test reaches tokens and the vault, so a
# survivor there would re-run them all; these tests alone finish the area in well under an hour.
ACCESS_TESTS = [
    "tests/identity",
    "tests/contracts/test_attempt_counters.py",
    *(
        f"tests/app/test_{name}.py"
        for name in (
            "login_limits",
            "staff_sessions",
            "resident_sessions",
            "inactive_staff",
            "erasure_and_linking",
            "lost_races",
        )
    ),
]
# area -> (files to mutate, the tests that guard them, whether its tests need the test Redis)
# Chat: the push checks (signatures, age, hostile XML) of both channels and each message taken in once.
CHAT = ["chat/*", "channels/wechat/chat.py", "channels/alipay/chat.py"]
CHAT_TESTS = ["tests/chat"]
AREAS: dict[str, tuple[list[str], list[str], bool]] = {
    "identity": (PEOPLE, IDENTITY_TESTS, False),
    "access": (ACCESS, ACCESS_TESTS, False),
    # Its Redis tests each use their own key prefix, so two mutants may run them at once.
    "outbound": (
        ["outbound/*"],
        ["tests/outbound", "tests/contracts/test_breaker_stores.py", "tests/city_services/test_degradation.py"],
        True,
    ),
    "city_services": (SERVICES, SERVICE_TESTS, False),
    "billing": (MONEY, MONEY_TESTS, False),
    "reconciliation": (RECONCILIATION, RECONCILIATION_TESTS, False),
    "chat": (CHAT, CHAT_TESTS, False),
    # The notifications served ahead of Flask: which requests the lane takes, and answering as Flask would.
    "callbacks": (
        ["app/callback_lane.py"],
        ["tests/app/test_callback_lane.py", "tests/app/test_payment_callbacks.py"],
        False,
    ),
}


def toml_list(values: list[str]) -> str:
    """A TOML array of strings."""
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def with_selection(pyproject: str, mutate: list[str], tests: list[str]) -> str:
    """pyproject.toml with the area's files to mutate and tests to run."""
    for key, values in (("only_mutate", mutate), ("pytest_add_cli_args_test_selection", [*tests, "-m", "not slow"])):
        pyproject, found = re.subn(rf"(?ms)^{key} = \[.*?\]", f"{key} = {toml_list(values)}", pyproject, count=1)
        if not found:
            raise SystemExit(f"pyproject.toml has no {key}")
    return pyproject


def copy_tree(area: str) -> Path:
    """The tracked and new files of the work tree, copied to var/mutation/<area>."""
    target = ROOT / "var" / "mutation" / area
    shutil.rmtree(target, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run(area: str, children: int) -> int:
    """Mutate one area in its copy; the score's exit status (0 when at least the minimum and finished)."""
    mutate, tests, needs_redis = AREAS[area]
    copy = copy_tree(area)
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(with_selection(pyproject.read_text(encoding="utf-8"), mutate, tests), encoding="utf-8")
    redis_url = os.environ.get("MUTATION_REDIS_URL", "redis://127.0.0.1:6379/12") if needs_redis else ""
    env = {**os.environ, "TEST_DATABASE_URL": "", "TEST_REDIS_URL": redis_url, "CI": ""}
    print(f"== {area}: mutating {', '.join(mutate)} in {copy}", flush=True)
    subprocess.run([str(BIN / "mutmut"), "run", "--max-children", str(children)], cwd=copy, env=env, check=False)
    return subprocess.run([str(BIN / "python"), "mutation/score.py"], cwd=copy, check=False).returncode


def main() -> int:
    """Run each named area in turn; non-zero when any scored below the minimum or did not finish."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", nargs="+", choices=sorted(AREAS))
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args()
    return max(run(area, args.max_children) for area in args.areas)


if __name__ == "__main__":
    sys.exit(main())
