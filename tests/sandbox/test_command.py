"""`python -m sandbox` serves the same app from the command line."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_python_m_sandbox_serves_and_writes_its_state(tmp_path: Path) -> None:
    environment = {**os.environ, "SANDBOX_PORT": "0", "NO_PROXY": "127.0.0.1"}
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--state-dir",
        str(tmp_path / "state"),
        "--citytiles-url",
        "http://127.0.0.1:1",
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        assert selector.select(timeout=30), "the sandbox printed nothing"
        first_line = process.stdout.readline()  # type: ignore[union-attr]
        base = first_line.split()[1]
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")

        session = requests.Session()
        session.trust_env = False
        assert session.get(base + "/_sandbox/config", timeout=5).json()["citytiles_url"] == "http://127.0.0.1:1"
        assert (tmp_path / "state" / "public" / "alipay_public_key.pem").is_file()
    finally:
        process.terminate()
        process.wait(timeout=10)
