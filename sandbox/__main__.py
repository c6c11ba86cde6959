"""Run the sandbox: python -m sandbox --host 127.0.0.1 --port 8700 --state-dir var/sandbox."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sandbox.server import make_sandbox_server
from sandbox.settings import SandboxConfig


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Command-line options; SANDBOX_PORT and CITYTILES_URL give the defaults."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="WeChat and Alipay, emulated on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8700")))
    parser.add_argument("--state-dir", type=Path, default=Path("var/sandbox"))
    parser.add_argument("--citytiles-url", default=os.environ.get("CITYTILES_URL", "http://127.0.0.1:8000"))
    # Car-move tickets advance by themselves so a demo shows the owner answering; 0 leaves it to the helper.
    parser.add_argument("--car-move-step-seconds", type=float, default=20.0)
    # Payment notifications are retried on the channels' schedules divided by this (60: hours become minutes).
    parser.add_argument("--notify-compression", type=_positive, default=60.0)
    return parser.parse_args(argv)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError("must be a number above 0")
    return value


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox in the foreground until Ctrl-C."""
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    config = SandboxConfig(
        state_dir=options.state_dir,
        citytiles_url=options.citytiles_url,
        car_move_step_seconds=max(options.car_move_step_seconds, 0.0),
        notify_compression=options.notify_compression,
    )
    server = make_sandbox_server(config, options.host, options.port)
    base = f"http://{options.host}:{server.server_port}"
    print(f"sandbox: {base}  (super-app page: {base}/_sandbox/)", flush=True)
    print(f"sandbox: credentials in {config.state_dir.resolve()} (public halves in public/)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
