"""Payment notifications served ahead of Flask: the view's work and answer, without its per-request machinery.

A channel's notification is the request we must take fastest under load, and the one that must not
queue behind the rest (reliability.md §2.2). Flask's request and app contexts, hooks and response
objects were two fifths of its CPU. The lane takes a POST to /callbacks/<wechat-pay|alipay>/<merchant>
for a merchant we have, with a Content-Length within the body limit, and does what the Flask view
does (take_notification), answering with the headers and the request log line Flask's hooks would
add. Everything else goes on to Flask untouched: another method, an unknown merchant, a chunked
or oversized body. A failure is handed to Flask too, whose error handlers answer it as for any view.
"""

from __future__ import annotations

import io
import re
import time
from typing import TYPE_CHECKING

from flask import Flask
from flask import g
from werkzeug.datastructures import EnvironHeaders
from werkzeug.http import HTTP_STATUS_CODES

from app.http_headers import data_headers
from app.request_log import log_request
from app.request_log import request_id_for
from app.routes.payment_callbacks import take_notification
from billing.gateway import PaymentGateway

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

# Our merchant ids and app ids are digits (WeChat's mch_id, Alipay's app_id); any other path is Flask's to answer.
CALLBACK_PATH = re.compile(r"/callbacks/(?P<kind>wechat-pay|alipay)/(?P<merchant>[0-9A-Za-z_-]{1,64})")
CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
# A path's kind -> the channel and the endpoint Flask routes it to (app/routes/payment_callbacks.py).
CALLBACKS = {
    "wechat-pay": ("wechat", "payment_callbacks.wechat_pay"),
    "alipay": ("alipay", "payment_callbacks.alipay"),
}


class CallbackLane:
    """WSGI middleware: notifications for our merchants answered here, every other request passed on."""

    def __init__(self, app: Flask, rest: WSGIApplication) -> None:
        self.app = app
        self.rest = rest

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer a notification the lane takes; hand anything else to the rest of the app."""
        taken = self._taken(environ)
        if taken is None:
            return self.rest(environ, start_response)
        gateway, endpoint = taken
        started = time.perf_counter()
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        length = int(environ["CONTENT_LENGTH"])
        body = environ["wsgi.input"].read(length)
        if len(body) != length:
            # Cut short: Flask reads what came and refuses it as it refuses any body that stops early.
            environ["wsgi.input"] = io.BytesIO(body)
            return self.rest(environ, start_response)
        extensions = self.app.extensions
        try:
            with extensions["session_factory"]() as session:
                answer = take_notification(session, extensions, gateway, EnvironHeaders(environ), body)
        except Exception as error:  # noqa: BLE001 - answered by Flask's error handlers, which log it
            return self._failed(environ, start_response, error, request_id, started)
        start_response(
            f"{answer.status} {HTTP_STATUS_CODES[answer.status].upper()}",
            [
                ("Content-Type", answer.content_type),
                ("Content-Length", str(len(answer.body))),
                ("X-Request-Id", request_id),
                *data_headers(),
            ],
        )
        log_request(request_id, "POST", environ["PATH_INFO"], endpoint, answer.status, started)
        return [answer.body]

    def _taken(self, environ: WSGIEnvironment) -> tuple[PaymentGateway, str] | None:
        """The gateway and Flask endpoint of a notification the lane serves, or None."""
        if environ.get("REQUEST_METHOD") != "POST":
            return None
        path = CALLBACK_PATH.fullmatch(environ.get("PATH_INFO", ""))
        length = environ.get("CONTENT_LENGTH", "")
        if path is None or not CONTENT_LENGTH.fullmatch(length):
            return None
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        if limit is not None and int(length) > limit:
            return None  # Flask answers 413
        channel, endpoint = CALLBACKS[path["kind"]]
        gateway = self.app.extensions["channels"].merchant(channel, path["merchant"])
        return None if gateway is None else (gateway, endpoint)

    def _failed(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        error: Exception,
        request_id: str,
        started: float,
    ) -> Iterable[bytes]:
        """Flask's error handlers and after-request hooks answer a failure, as they would a view's."""
        with self.app.request_context(environ):
            g.request_id, g.started = request_id, started
            response = self.app.finalize_request(self.app.handle_user_exception(error))
        return response(environ, start_response)


def serve_callbacks_ahead(app: Flask) -> None:
    """Put the lane in front of the app's WSGI callable."""
    app.wsgi_app = CallbackLane(app, app.wsgi_app)  # type: ignore[method-assign]
