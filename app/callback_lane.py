"""Payment notifications served ahead of Flask: the view's work and answer, without its per-request machinery.

A channel's notification is the request we must take fastest under load, and the one that must not
queue behind the rest (reliability.md §2.2). Flask's request and app contexts, hooks and response
objects were two fifths of its CPU. The lane takes a POST to /callbacks/<wechat-pay|alipay>/<merchant>
for a merchant we have, with a Content-Length within the body limit, and does what the Flask view
does (take_notification), answering with the headers and the request log line Flask's hooks would
add. Everything else goes on to Flask untouched: another method, an unknown merchant, a chunked
or oversized body, a cookie. A failure is handed to Flask too, whose error handlers answer it as for
any view, and so is a body that stops early or cannot be read, for Flask's reader to judge.
"""

from __future__ import annotations

import io
import re
import time
from typing import TYPE_CHECKING
from typing import Any

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
# Framing and state the lane does not deal in (a chunked body, a console session to refresh): Flask's.
HANDED_ON = ("HTTP_TRANSFER_ENCODING", "HTTP_COOKIE")
# Statuses whose answers carry no body, so no Content-Length (RFC 9110 §8.6; Werkzeug leaves it off).
WITHOUT_LENGTH = frozenset({204, *range(100, 200)})
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
        try:
            body = environ["wsgi.input"].read(length)
        except Exception as error:  # noqa: BLE001 - the client went away: Flask's reader makes it a 400
            environ["wsgi.input"] = Unreadable(error)
            return self.rest(environ, start_response)
        if len(body) != length:
            # Cut short: Flask is handed what came, and refuses it or (when the server marks the
            # input terminated, as gunicorn does) reads it as the whole body, as it would have alone.
            environ["wsgi.input"] = io.BytesIO(body)
            return self.rest(environ, start_response)
        extensions = self.app.extensions
        try:
            with extensions["session_factory"]() as session:
                answer = take_notification(session, extensions, gateway, EnvironHeaders(environ), body)
        except Exception as error:  # noqa: BLE001 - answered by Flask's error handlers, which log it
            return self._failed(environ, start_response, error, request_id, started)
        headers = [("Content-Type", answer.content_type)]
        if answer.status not in WITHOUT_LENGTH:
            headers.append(("Content-Length", str(len(answer.body))))
        headers += [("X-Request-Id", request_id), *data_headers()]
        start_response(f"{answer.status} {HTTP_STATUS_CODES[answer.status].upper()}", headers)
        log_request(request_id, "POST", environ["PATH_INFO"], endpoint, answer.status, started)
        return [answer.body]

    def _taken(self, environ: WSGIEnvironment) -> tuple[PaymentGateway, str] | None:
        """The gateway and Flask endpoint of a notification the lane serves, or None."""
        if environ.get("REQUEST_METHOD") != "POST" or any(name in environ for name in HANDED_ON):
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
            # As Flask.full_dispatch_request and wsgi_app do: a handler or hook that fails in turn is a 500.
            try:
                response = self.app.finalize_request(self.app.handle_user_exception(error))
            except Exception as failure:  # noqa: BLE001
                response = self.app.handle_exception(failure)
        return response(environ, start_response)


class Unreadable(io.RawIOBase):
    """A request body whose reading failed: reading it again fails the same way, for Flask to answer."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def readinto(self, buffer: Any) -> int:
        """Fail as the first read did."""
        raise self.error


def serve_callbacks_ahead(app: Flask) -> None:
    """Put the lane in front of the app's WSGI callable."""
    app.wsgi_app = CallbackLane(app, app.wsgi_app)  # type: ignore[method-assign]
