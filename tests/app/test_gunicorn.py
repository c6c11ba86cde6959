"""The demo's way of serving: gunicorn with threaded workers, one cache per worker, all kept current."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "gunicorn test password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(directory: Path, **environment: str) -> tuple[str, subprocess.Popen[bytes]]:
    """citytiles migrated, seeded and served by gunicorn with two workers, as `make demo` does."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'demo.db'}",
        "FLASK_APP": "wsgi",
        "PORT": str(port),
        "WEB_WORKERS": "2",
        "CITYTILES_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # A home of its own, so nothing gunicorn keeps per user is shared with another run.
        "HOME": str(directory),
        **environment,
    }
    env.pop("XDG_RUNTIME_DIR", None)
    for command in (["migrate"], ["seed-catalogue"], ["create-platform-admin", "--username", "admin"]):
        subprocess.run([BIN / "flask", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [BIN / "gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return base, server
        except requests.RequestException:
            time.sleep(0.2)
    server.kill()
    pytest.fail(f"gunicorn did not start: {server.stderr.read().decode() if server.stderr else ''}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn as Ctrl-C would, and wait for it."""
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A gunicorn of this test's own."""
    base, server = serve(tmp_path)
    yield base
    stop(server)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One gunicorn for the tests that change nothing in it."""
    base, server = serve(tmp_path_factory.mktemp("gunicorn"))
    yield base
    stop(server)


def car_move_states(base: str, times: int) -> set[str]:
    """Ask on fresh connections, so the requests spread over both workers."""
    states = set()
    for _ in range(times):
        tiles = requests.get(f"{base}/api/v1/cities/330100/services?channel=wechat", timeout=5).json()["tiles"]
        states.add(next(t["state"] for t in tiles if t["code"] == "car_move"))
    return states


def test_every_worker_sees_an_operator_change_on_its_next_request(served: str) -> None:
    assert car_move_states(served, 20) == {"available"}
    token = requests.post(
        f"{served}/admin/api/sessions", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=5
    ).json()["token"]
    changed = requests.patch(
        f"{served}/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"reason": "gunicorn check", "enabled": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert changed.status_code == 200
    assert car_move_states(served, 20) == {"unavailable"}


def test_errors_from_gunicorn_are_still_json(shared: str) -> None:
    response = requests.get(f"{shared}/no/such/page", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["code"] == "request.route_not_found"


def exchange(base: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a fresh connection and read the whole answer until the server closes it."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def chunked(body: bytes, size: int = 8192) -> bytes:
    """A body in HTTP/1.1 chunked transfer coding."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def post_chunked(base: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POST a JSON body without Content-Length, as a streaming client does."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return exchange(base, head.encode() + chunked(body))


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: tuple[int, str]) -> None:
    assert (status, json.loads(body)["error"]["code"]) == expected, body[:300]
    assert set(json.loads(body)["error"]) == {"code", "message", "details"}
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"


LOGIN = json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode()


def test_a_chunked_body_over_the_limit_is_refused_like_a_sized_one(shared: str) -> None:
    # The first 64 KB alone are a valid login: cut there and read, this body would log in.
    padded = LOGIN + b" " * (100 * 1024)
    assert_json_error(*post_chunked(shared, "/admin/api/sessions", padded), expected=(413, "request.too_large"))
    sized = requests.post(
        f"{shared}/admin/api/sessions", data=padded, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert (sized.status_code, sized.json()["error"]["code"]) == (413, "request.too_large")


def test_a_chunked_body_within_the_limit_is_read_whole(shared: str) -> None:
    status, _, body = post_chunked(shared, "/admin/api/sessions", LOGIN + b" " * (64 * 1024 - len(LOGIN)))
    assert status == 201 and json.loads(body)["token"]
    status, _, body = post_chunked(shared, "/admin/api/sessions", b'{"username": "admin"' + b" " * 20000 + b"}")
    assert status == 422 and set(json.loads(body)["error"]["details"]["fields"]) == {"password"}


def test_a_broken_chunk_is_a_malformed_request(shared: str) -> None:
    head = (
        "POST /admin/api/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    answer = exchange(shared, head.encode() + b"zz\r\n{}\r\n0\r\n\r\n")
    assert_json_error(*answer, expected=(400, "request.malformed"))


REFUSED_BY_GUNICORN = {
    "uri-too-long": (b"GET /api/v1/cities?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "header-too-large": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    "too-many-headers": (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(101)) + b"\r\n",
        431,
    ),
    "bad-request-line": (b"NOT AN HTTP REQUEST\r\n\r\n", 400),
    "bad-version": (b"GET /healthz HTTP/9.x\r\nHost: x\r\n\r\n", 400),
    "bad-header-name": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
    "bad-header-value": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n", 400),
    "unknown-transfer-coding": (
        b"POST /admin/api/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n",
        501,
    ),
}
CODE_BY_STATUS = {
    400: "request.malformed",
    414: "request.uri_too_long",
    431: "request.headers_too_large",
    501: "request.unsupported_transfer_coding",
}


@pytest.mark.parametrize("raw", list(REFUSED_BY_GUNICORN.values()), ids=list(REFUSED_BY_GUNICORN))
def test_what_gunicorn_refuses_itself_is_answered_in_the_one_json_shape(shared: str, raw: tuple[bytes, int]) -> None:
    request_bytes, status = raw
    assert_json_error(*exchange(shared, request_bytes), expected=(status, CODE_BY_STATUS[status]))


def test_two_instances_on_one_machine_each_serve_without_sharing_a_control_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    own_socket = tmp_path / "a" / "gunicorn.ctl"
    first, first_server = serve(tmp_path / "a", HOME=str(home), CONTROL_SOCKET=str(own_socket))
    second, second_server = serve(tmp_path / "b", HOME=str(home))
    try:
        for base in (first, second):
            assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        # Only the instance that asked for one has a control socket, at its own path; none at the shared default.
        deadline = time.monotonic() + 10
        while not own_socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert own_socket.exists()
        assert not (home / ".gunicorn").exists()
        stop(second_server)
        assert own_socket.exists() and requests.get(f"{first}/readyz", timeout=5).status_code == 200
    finally:
        for server in (first_server, second_server):
            if server.poll() is None:
                stop(server)


def worker_pids(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def tcp_connections(pid: int, port: int) -> int:
    """Established connections a process holds on the port, from its sockets' inodes and /proc/net/tcp."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
        count += local_port == port and state == "01" and inode in inodes
    return count


def test_a_burst_of_keep_alive_connections_is_shared_between_the_workers(tmp_path: Path) -> None:
    base, server = serve(tmp_path, WEB_THREADS="2")  # so each worker holds at most 3 connections
    port = int(base.rsplit(":", 1)[1])
    clients = []
    try:
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(6)]
        deadline = time.monotonic() + 10
        while (held := sorted(tcp_connections(pid, port) for pid in worker_pids(server.pid))) != [3, 3]:
            assert time.monotonic() < deadline, f"connections held per worker: {held}"
            time.sleep(0.05)
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for client in clients:
            client.close()
        stop(server)
