"""The framework's floor: a bare Flask app answering a small JSON body, served like citytiles."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> dict[str, str]:
    """The least a Flask view can do."""
    return {"hello": "world"}
