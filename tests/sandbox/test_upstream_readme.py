"""sandbox/README.md is what adapters are written from: its worked examples, codes and demo records hold."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from sandbox import guangdong_traffic_police
from sandbox import hangzhou_gjj
from sandbox import shenzhen_gjj
from sandbox import zhejiang_traffic_police
from sandbox.server import create_sandbox
from sandbox.server import sandbox_world
from sandbox.settings import SandboxConfig
from tests.sandbox.upstream_callers import hangzhou_sign

README = (Path(__file__).resolve().parents[2] / "sandbox" / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of one `### title...` section, up to the next heading."""
    found = re.search(rf"^### {re.escape(title)}.*?$(.*?)(?=^##)", README + "\n##", flags=re.S | re.M)
    assert found, title
    return found.group(1)


def worked_example(title: str) -> dict[str, str]:
    """The `key: value` lines of the section's first text block."""
    block = re.search(r"```text\n(.*?)```", section(title), flags=re.S)
    assert block, title
    return {
        key.strip(): value.strip() for key, _, value in (line.partition(":") for line in block.group(1).splitlines())
    }


def test_the_hangzhou_signing_example() -> None:
    example = worked_example("hangzhou_gjj")
    params = dict(pair.split("=", 1) for pair in example["parameters"].split(" "))

    assert hangzhou_gjj.string_to_sign(params) == example["string to sign"]
    assert hangzhou_sign(example["secret"], params) == example["sign"]


def test_the_guangdong_signing_example() -> None:
    example = worked_example("guangdong_traffic_police")
    body = example["body"].encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == example["body sha256"]

    canonical = guangdong_traffic_police.canonical_request(
        "POST",
        guangdong_traffic_police.PREFIX + "/api/vehicle/owner-check",
        example["timestamp"],
        example["nonce"],
        body,
    )
    assert guangdong_traffic_police.sign(example["secret"], canonical) == example["signature"]


@pytest.mark.parametrize(
    ("title", "codes"),
    [
        ("hangzhou_gjj", [f"`{code}`" for code in hangzhou_gjj.MESSAGES]),
        ("shenzhen_gjj", [f"`{code}`" for code in shenzhen_gjj.ERRORS]),
        ("zhejiang_traffic_police", [f"| {code} |" for code in zhejiang_traffic_police.MESSAGES]),
        ("guangdong_traffic_police", [f"| {ret} |" for ret in guangdong_traffic_police.ERRORS]),
    ],
)
def test_every_error_code_is_documented(title: str, codes: list[str]) -> None:
    text = section(title)
    assert [code for code in codes if code not in text] == []


def test_the_documented_demo_records_exist(tmp_path: Path) -> None:
    world = sandbox_world(create_sandbox(SandboxConfig(state_dir=tmp_path)))
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \| (.+?) \|$", section("Demo records"), flags=re.M)
    assert len(rows) == 8
    for system, who, what in rows:
        found: Any
        if system.endswith("_gjj"):
            name, id_number = re.fullmatch(r"(\S+), `([0-9X]{18})`", who).groups()  # type: ignore[union-attr]
            found = world.housing_fund.accounts.find(system, id_number)
            assert found is not None and found.name == name and f"`{found.account_number}`" in what, who
        else:
            plate, kind = re.fullmatch(r"(\S+) \(type ([0-9]{2})\)", who).groups()  # type: ignore[union-attr]
            found = world.car_move.records.vehicle(system, plate)
            assert found is not None and found.plate_type == kind, who
