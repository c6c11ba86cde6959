"""Asking a driver to move their car (一键挪车): one module per traffic-police system, and a fake."""
