"""Rendered catalogue bodies, kept per revision until a tile's state can next change, served with an ETag."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response
from flask import current_app
from flask import request

# Clients and CDNs may reuse a body this long (less when a tile's state changes sooner): an
# operator's change reaches a resident who keeps a copy within this many seconds.
MAX_AGE_SECONDS = 30


@dataclass(frozen=True)
class Page:
    """A rendered JSON body, its strong ETag, and the moment it stops being true (None: not before a change)."""

    body: bytes
    etag: str
    until: datetime | None

    def fresh_at(self, now: datetime) -> bool:
        """Whether the body still says what is true at this moment."""
        return self.until is None or now < self.until


class CataloguePages:
    """Bodies rendered at one catalogue revision; a new revision starts afresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision: int | None = None
        self._pages: dict[Hashable, Page] = {}

    def page(
        self, revision: int, key: Hashable, now: datetime, render: Callable[[], tuple[Any, datetime | None]]
    ) -> Page:
        """The body for this key at this revision and moment, rendered only when none is still true.

        :param render: gives the data to send and the moment it stops being true.
        """
        page = self._pages.get(key) if self._revision == revision else None
        if page is not None and page.fresh_at(now):
            return page
        data, until = render()
        body = current_app.json.response(data).get_data()
        page = Page(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', until)
        with self._lock:
            if self._revision is None or revision > self._revision:
                self._revision, self._pages = revision, {}
            if revision == self._revision:  # a request still holding an older snapshot keeps its page to itself
                self._pages[key] = page
        return page


def conditional_response(page: Page, now: datetime) -> Response:
    """200 with the body, or 304 when the caller already holds it; either way with ETag and Cache-Control."""
    max_age = MAX_AGE_SECONDS
    if page.until is not None:
        max_age = max(0, min(max_age, int((page.until - now).total_seconds())))
    headers = [("ETag", page.etag), ("Cache-Control", f"public, max-age={max_age}"), ("Vary", "Accept-Language")]
    # Most callers send no If-None-Match: skip parsing it then.
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(page.etag.strip('"')):
        return Response(status=304, headers=headers)
    return Response(page.body, content_type="application/json", headers=headers)
