"""Benchmark: tiles from the warm cache versus rebuilt from the database on every request."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.catalogue_pages import CataloguePages  # noqa: E402
from city_services.catalogue import CatalogueCache  # noqa: E402
from city_services.seeding import read_seed  # noqa: E402
from city_services.seeding import seed_catalogue  # noqa: E402
from config import Settings  # noqa: E402
from migrations import upgrade_to_head  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
TILES = "/api/v1/cities/330100/services?channel=wechat"


def rate(client, path: str, before_each=None) -> float:  # type: ignore[no-untyped-def]
    """Requests per second for one path."""
    for _ in range(50):
        client.get(path)
    started = time.perf_counter()
    for _ in range(REQUESTS):
        if before_each:
            before_each()
        assert client.get(path).status_code == 200
    return REQUESTS / (time.perf_counter() - started)


def main() -> None:
    """Seed a scratch database and report the three rates and the ratio."""
    with tempfile.TemporaryDirectory() as scratch:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(scratch) / 'bench.db'}"
        upgrade_to_head(url)
        settings = replace(Settings.from_env({}), database_url=url, log_level="WARNING")
        app = create_app(settings)
        session = app.extensions["session_factory"]()
        seed_catalogue(session, read_seed(settings.catalogue_seed), now=app.extensions["clock"]())
        session.close()
        client = app.test_client()
        floor = rate(client, "/healthz")
        cached = rate(client, TILES)
        uncached = rate(
            client,
            TILES,
            lambda: app.extensions.update(catalogue_cache=CatalogueCache(), catalogue_pages=CataloguePages()),
        )
        app.extensions["engine"].dispose()
    print(f"database: {url.split(':')[0]}, {REQUESTS} requests each")
    print(f"  /healthz (framework floor): {floor:8.0f} req/s")
    print(f"  tiles, warm cache:          {cached:8.0f} req/s")
    print(f"  tiles, rebuilt each time:   {uncached:8.0f} req/s  (baseline)")
    print(f"  cached / baseline:          {cached / uncached:8.2f}x")


if __name__ == "__main__":
    main()
