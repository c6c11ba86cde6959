"""The sandbox as one Flask app, and ways to run it: in a background thread (tests) or standalone."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from sandbox.alipay import create_alipay_blueprint
from sandbox.alipay_bill import create_alipay_bill_blueprint
from sandbox.bill_helpers import create_bill_helpers_blueprint
from sandbox.chat_helpers import create_chat_helpers_blueprint
from sandbox.control import create_control_blueprint
from sandbox.guangdong_traffic_police import create_guangdong_traffic_police_blueprint
from sandbox.hangzhou_gjj import create_hangzhou_gjj_blueprint
from sandbox.outpatient_helpers import create_outpatient_helpers_blueprint
from sandbox.pay_helpers import create_pay_helpers_blueprint
from sandbox.proxy import create_proxy_blueprint
from sandbox.settings import SandboxConfig
from sandbox.shenzhen_gjj import create_shenzhen_gjj_blueprint
from sandbox.shenzhen_health import create_shenzhen_health_blueprint
from sandbox.subscription_helpers import create_subscription_helpers_blueprint
from sandbox.upstream_control import create_upstream_control_blueprint
from sandbox.wechat import create_wechat_blueprint
from sandbox.wechat_bill import create_wechat_bill_blueprint
from sandbox.wechat_oauth import create_wechat_oauth_blueprint
from sandbox.wechat_official_account import create_wechat_official_account_blueprint
from sandbox.wechat_pay import create_wechat_pay_blueprint
from sandbox.world import World
from sandbox.world import build_world
from sandbox.zhejiang_traffic_police import create_zhejiang_traffic_police_blueprint
from sandbox.zheyi_his import create_zheyi_his_blueprint


def create_sandbox(config: SandboxConfig) -> Flask:
    """Build the sandbox app: load or create its keys, then mount every emulated API and helper."""
    world = build_world(config)
    app = Flask(__name__, static_folder=None)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox_world"] = world
    for blueprint in (
        create_wechat_blueprint(world),
        create_wechat_oauth_blueprint(world),
        create_wechat_official_account_blueprint(world),
        create_alipay_blueprint(world),
        create_alipay_bill_blueprint(world),
        create_control_blueprint(world),
        create_proxy_blueprint(world),
        create_hangzhou_gjj_blueprint(world),
        create_shenzhen_gjj_blueprint(world),
        create_zhejiang_traffic_police_blueprint(world),
        create_guangdong_traffic_police_blueprint(world),
        create_upstream_control_blueprint(world),
        create_subscription_helpers_blueprint(world),
        create_outpatient_helpers_blueprint(world),
        create_zheyi_his_blueprint(world),
        create_shenzhen_health_blueprint(world),
        create_wechat_pay_blueprint(world),
        create_wechat_bill_blueprint(world),
        create_pay_helpers_blueprint(world),
        create_bill_helpers_blueprint(world),
        create_chat_helpers_blueprint(world),
    ):
        app.register_blueprint(blueprint)
    return app


def sandbox_world(app: Flask) -> World:
    """The state behind a sandbox app (for in-process inspection)."""
    return app.extensions["sandbox_world"]


class PathOnlyRequestHandler(WSGIRequestHandler):
    """Logs method and path but never the query string, which carries secrets, signatures, ID numbers."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "").split("?", 1)[0]
        self.log("info", '"%s %s" %s %s', getattr(self, "command", "-"), path, code, size)


def make_sandbox_server(config: SandboxConfig, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A threaded WSGI server for the sandbox, bound but not yet serving (port 0 picks a free one)."""
    return make_server(host, port, create_sandbox(config), threaded=True, request_handler=PathOnlyRequestHandler)


def serve_in_thread(config: SandboxConfig, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Callable[[], None]]:
    """Serve the sandbox from a daemon thread; return its base URL and a function that stops it."""
    app = create_sandbox(config)
    server = make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        sandbox_world(app).pay_clock.stop()  # no notification outlives its sandbox

    return f"http://{host}:{server.server_port}", stop
