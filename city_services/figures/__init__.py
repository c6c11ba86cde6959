"""Figures per city × service × channel: counted in memory on the hot path, kept per hour, read per period."""
