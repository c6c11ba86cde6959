"""HTTP sessions for upstream adapters: pooled per connection, never reading proxies from the environment."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def http_session(pool_size: int) -> requests.Session:
    """A session keeping up to pool_size connections alive (match the connection's bulkhead)."""
    session = requests.Session()
    # An HTTP(S)_PROXY in a worker's environment must not silently reroute calls carrying ID numbers.
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
