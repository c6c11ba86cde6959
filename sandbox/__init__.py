"""The outside world on loopback: WeChat's API and Alipay's gateway, emulated for the real SDKs.

This package is an honest outside peer. It imports nothing from citytiles and nothing from the
channel SDKs; it speaks the wire protocols itself. Start it with `python -m sandbox`, or in a
thread from tests with `sandbox.server.serve_in_thread(config)`.
"""
