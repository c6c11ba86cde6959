"""Settings read from the environment at call time, and the seed catalogue's location."""

from __future__ import annotations

from config.settings import Settings
from config.settings import UnsafeConfiguration

__all__ = ["Settings", "UnsafeConfiguration"]
