"""The framework's floor: a bare Flask app answering a small JSON body, served like citytiles."""

from flask import Flask

app = Flask(__name__)


@app.route("/", methods=["GET", "POST"])
def hello() -> dict[str, str]:
    """The least a Flask view can do (POST too, as the notification benchmark's floor)."""
    return {"hello": "world"}
