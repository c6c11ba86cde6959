"""What every upstream connection's parameters share, and reading them strictly from stored or sent JSON.

Each adapter module declares `Params`, a frozen dataclass built on one of the bases here; its fields
say what the adapter takes and within which bounds, and its `production_problems` is the one place
that says what production refuses. Secrets never appear: a parameter ending in `_env` names the
environment variable that carries one.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import get_type_hints
from urllib.parse import urlsplit

from config.settings import is_public_https
from errors import Invalid
from outbound.policy import CallPolicy
from text_rules import matches
from text_rules import text_problem

INVALID = "catalogue.invalid_upstream_params"
# Environment variable names as POSIX shells write them.
ENV_NAME = r"[A-Z][A-Z0-9_]{0,63}"
# An http(s) origin and path in ASCII: no user or password (a secret would be stored in clear), no query.
_URL = re.compile(
    r"https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9._~%!&'()*+,;=:@/-]{0,400})?",
    re.ASCII,
)
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_TEXT_LENGTH = 512
# More than any adapter declares; what is not declared is refused by name anyway.
MAX_PARAMS = 32
# Unknown names reported at most, so a large body does not make a larger answer.
MAX_REPORTED = 10

P = TypeVar("P", bound="CallLimits")

if TYPE_CHECKING:
    from city_services.upstream_link import UpstreamLink


def whole_number(default: int, *, low: int, high: int) -> Any:
    """A whole-number parameter within [low, high]; JSON true/false and 5.0 are not whole numbers."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high})


def decimal_number(default: float, *, low: float, high: float) -> Any:
    """A finite number within [low, high]; 5 is read as 5.0, true is not a number."""
    return dataclasses.field(default=default, metadata={"low": low, "high": high})


def text(pattern: str, *, example: str) -> Any:
    """A required text parameter the whole of which matches the pattern (applied with fullmatch, ASCII classes)."""
    return dataclasses.field(metadata={"pattern": re.compile(pattern, re.ASCII), "example": example})


def secret_variable(*, example: str) -> Any:
    """The name of the environment variable holding a secret; the secret itself is never a parameter."""
    return dataclasses.field(
        metadata={"pattern": re.compile(ENV_NAME, re.ASCII), "secret_env": True, "example": example}
    )


def url(*, example: str) -> Any:
    """A required http(s) URL without credentials, query or fragment."""
    return dataclasses.field(metadata={"pattern": _URL, "check": _url_problem, "example": example})


def _url_problem(value: str) -> str | None:
    """What the pattern cannot say: a port of 0 or past 65535."""
    try:
        port = urlsplit(value).port
    except ValueError:
        return "The port is not a port number."
    return "The port is not a port number." if port == 0 else None


@dataclass(frozen=True, kw_only=True)
class CallLimits:
    """How calls to one connection are limited; every adapter's parameters include these."""

    timeout_seconds: float = decimal_number(5.0, low=0.1, high=60.0)
    max_concurrent_calls: int = whole_number(8, low=1, high=256)
    failure_threshold: int = whole_number(5, low=1, high=100)
    reset_seconds: float = decimal_number(30.0, low=1.0, high=3600.0)
    read_retries: int = whole_number(1, low=0, high=3)

    def policy(self) -> CallPolicy:
        """The limits outbound calls to this connection run under."""
        return CallPolicy(
            timeout_seconds=self.timeout_seconds,
            max_concurrent_calls=self.max_concurrent_calls,
            failure_threshold=self.failure_threshold,
            reset_seconds=self.reset_seconds,
            read_retries=self.read_retries,
        )

    def production_problems(self, environ: Mapping[str, str]) -> list[str]:
        """Why production must not run with these parameters; empty when it may. Each base says."""
        raise NotImplementedError(f"{type(self).__qualname__} must say what production refuses")

    def connect(self, link: UpstreamLink) -> Any:
        """The adapter these parameters configure, speaking its service's provider port. Each adapter says."""
        raise NotImplementedError(f"{type(self).__qualname__} has no adapter to connect")


@dataclass(frozen=True, kw_only=True)
class FakeConnection(CallLimits):
    """An in-process stand-in for a real system: demos and tests only."""

    def production_problems(self, environ: Mapping[str, str]) -> list[str]:
        """The fake answers from memory, not from the city's system: never in production."""
        return ["uses the fake upstream adapter, which stands in for the real system"]


@dataclass(frozen=True, kw_only=True)
class HttpConnection(CallLimits):
    """A real system reached over HTTP at base_url."""

    base_url: str = url(example="https://api.example.gov.cn/v1")

    def production_problems(self, environ: Mapping[str, str]) -> list[str]:
        """A public HTTPS base_url, and every secret it names present in the environment."""
        problems = []
        if not is_public_https(self.base_url):
            problems.append(f"upstream base_url is not a public HTTPS URL: {self.base_url}")
        for field in dataclasses.fields(self):
            name = getattr(self, field.name)
            if field.metadata.get("secret_env") and not environ.get(name, "").strip():
                problems.append(f"{field.name} names {name}, which is not set or blank")
        return problems


def read_params(kind: type[P], raw: object) -> P:
    """Parameters from JSON, strictly: no unknown or missing names, no coercion, bounds and patterns whole.

    Raises Invalid (catalogue.invalid_upstream_params) whose details.fields names every parameter at fault.
    """
    if not isinstance(raw, Mapping):
        raise Invalid(
            INVALID,
            "Upstream parameters (params) are a JSON object of names and values.",
            {"fields": {"params": ["Not an object."]}},
        )
    declared = {field.name: field for field in dataclasses.fields(kind)}
    problems: dict[str, list[str]] = {}
    unknown = [key for key in raw if key not in declared]
    takes = f"{kind_name(kind)} takes {', '.join(declared)}."
    for key in unknown[:MAX_REPORTED]:
        if matches(_PARAM_NAME, key):
            problems[f"params.{key}"] = [f"Unknown parameter; {takes}"]
        else:
            # A name that is not a plain word is not echoed back.
            problems["params"] = [f"Parameter names are lower-case ASCII words; {takes}"]
    values: dict[str, Any] = {}
    # Annotations are strings here; resolved per read, which only operators and start-up do.
    types = get_type_hints(kind)
    for name, field in declared.items():
        if name not in raw:
            if field.default is dataclasses.MISSING:
                problems[f"params.{name}"] = ["Missing; this adapter needs it."]
            continue
        value, problem = _read_value(types[name], field.metadata, raw[name])
        if problem is not None:
            problems[f"params.{name}"] = [problem]
        else:
            values[name] = value
    if problems:
        named = ", ".join(sorted(problems))
        raise Invalid(INVALID, f"These upstream parameters are not valid: {named}.", {"fields": problems})
    return kind(**values)


def params_document(params: CallLimits) -> dict[str, Any]:
    """Parameters as the JSON object stored and shown: every field, defaults filled in."""
    return dataclasses.asdict(params)


def kind_name(kind: type) -> str:
    """An adapter's name as its module says it: city_services.housing_fund.hangzhou_gjj → hangzhou_gjj."""
    return kind.__module__.rpartition(".")[2]


def _read_value(expected: type, rules: Mapping[str, Any], value: object) -> tuple[Any, str | None]:
    """(value as the field holds it, None) or (None, why it is refused)."""
    if expected is str:
        if not isinstance(value, str):
            return None, "Not text."
        problem = text_problem(value, max_length=MAX_TEXT_LENGTH)
        if problem is not None:
            return None, problem
        if not matches(rules["pattern"], value):
            return None, f"Not in the expected form, e.g. {rules['example']}."
        check: Callable[[str], str | None] | None = rules.get("check")
        problem = check(value) if check is not None else None
        return (None, problem) if problem else (value, None)
    # bool is an int to Python; to a parameter it is neither count nor duration.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "Not a number."
    if expected is int and not isinstance(value, int):
        return None, "Not a whole number."
    if isinstance(value, float) and not math.isfinite(value):
        return None, "Not a finite number."
    if not rules["low"] <= value <= rules["high"]:
        return None, f"Must lie between {rules['low']} and {rules['high']}."
    return (float(value) if expected is float else value), None
