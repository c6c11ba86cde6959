"""The OpenAPI document and a page that reads it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import jsonify
from flask import make_response
from flask import render_template

from app.openapi import build_openapi
from app.operations import operation

blueprint = Blueprint("docs", __name__, url_prefix="/api/v1")


@blueprint.get("/openapi.json")
@operation(summary="This OpenAPI 3 document", tag="docs")
def openapi_document() -> Any:
    """The OpenAPI 3 document, built once per process."""
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = build_openapi(current_app)
    return jsonify(current_app.extensions["openapi"])


@blueprint.get("/docs")
@operation(summary="A readable HTML page over the OpenAPI document", tag="docs")
def docs_page() -> Response:
    """A readable page over the OpenAPI document, with no outside assets."""
    return make_response(render_template("api_docs.html"))
