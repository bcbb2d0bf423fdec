"""Tools as typed functions: schema derived from the signature, arguments validated, failures turned into text."""

from __future__ import annotations

import inspect
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, get_type_hints
from zoneinfo import ZoneInfo

MAX_QUERY_CHARS = 500
TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def utc_now() -> datetime:
    """The real clock: an aware datetime in UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ToolContext:
    """Who is asking, and the clock they live by; injected into tools that declare a `ctx` parameter."""

    user_id: str
    session_id: str = ""
    timezone: str = "UTC"
    clock: Callable[[], datetime] = utc_now

    def now(self) -> datetime:
        """The current time in the user's timezone."""
        return self.clock().astimezone(ZoneInfo(self.timezone))


class ToolInputError(ValueError):
    """The query does not fit the tool's arguments; the message is written for the model to read."""


@dataclass(frozen=True)
class Tool:
    """A callable component the model reaches with `<name>query</name>`."""

    name: str
    function: Callable[..., Any]
    description: str
    parameters: dict
    example: str = ""
    wants_context: bool = False

    @property
    def query_parameter(self) -> str:
        """The single string argument the model's query fills."""
        return next(iter(self.parameters["properties"]))

    def validate(self, query: str) -> str:
        """Return the cleaned query or raise ToolInputError."""
        if not isinstance(query, str):
            raise ToolInputError(f"{self.name} expects text, got {type(query).__name__}")
        query = " ".join(query.split())
        if not query and self.query_parameter in self.parameters.get("required", []):
            raise ToolInputError(f"empty query; {self.name} needs {self.query_parameter}")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolInputError(f"query is {len(query)} characters; {self.name} accepts at most {MAX_QUERY_CHARS}")
        return query

    def __call__(self, query: str, ctx: ToolContext | None = None) -> str:
        """Validate the query, call the function and return its result as text."""
        kwargs: dict[str, Any] = {self.query_parameter: self.validate(query)}
        if self.wants_context:
            if ctx is None:
                raise ToolInputError(f"{self.name} needs to know who is asking")
            kwargs["ctx"] = ctx
        result = self.function(**kwargs)
        return result if isinstance(result, str) else str(result)


def _doc_parts(doc: str) -> tuple[str, dict[str, str], str]:
    """Split a docstring into (summary, {arg: description}, example query)."""
    lines = inspect.cleandoc(doc).splitlines()
    summary = lines[0].strip() if lines else ""
    args: dict[str, str] = {}
    example = ""
    section = ""
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.endswith(":") and stripped[:-1] in ("Args", "Example"):
            section = stripped[:-1]
            continue
        if section == "Args" and ":" in stripped:
            name, _, text = stripped.partition(":")
            args[name.strip()] = text.strip()
        elif section == "Example" and stripped and not example:
            example = stripped
    return summary, args, example


def tool(function: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a Tool from a typed function (or bound method) with a docstring.

    The function takes exactly one string argument, the query, and optionally `ctx: ToolContext`.
    """

    def build(fn: Callable[..., Any]) -> Tool:
        tool_name = name or fn.__name__
        if not TOOL_NAME.match(tool_name):
            raise ValueError(f"tool name {tool_name!r} must match {TOOL_NAME.pattern}")
        if not fn.__doc__:
            raise ValueError(f"tool {tool_name} needs a docstring: it becomes the model's description")
        hints = get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "ctx")]
        if len(params) != 1:
            raise ValueError(f"tool {tool_name} must take exactly one query argument, has {[p.name for p in params]}")
        param = params[0]
        kind = hints.get(param.name, str)
        if kind is not str:
            raise ValueError(f"tool {tool_name}: the query argument {param.name} must be annotated as str")
        summary, arg_docs, example = _doc_parts(fn.__doc__)
        schema = {
            "type": "object",
            "properties": {param.name: {"type": _JSON_TYPES[kind], "description": arg_docs.get(param.name, "")}},
            "required": [param.name] if param.default is inspect.Parameter.empty else [],
        }
        wants_ctx = "ctx" in inspect.signature(fn).parameters
        return Tool(tool_name, fn, summary, schema, example=example, wants_context=wants_ctx)

    return build(function) if function is not None else build


@dataclass
class ToolOutcome:
    """What one call produced: the text the model sees, whether it succeeded, and how long it took."""

    text: str
    ok: bool
    seconds: float


@dataclass
class ToolRegistry:
    """Tag name to tool; runs calls with a timeout and turns every failure into text for the model."""

    tools: dict[str, Tool] = field(default_factory=dict)
    timeout: float = 20.0

    @classmethod
    def of(cls, tools: Iterable[Tool], *, timeout: float = 20.0) -> "ToolRegistry":
        """Build a registry from tools, refusing duplicate names."""
        registry = cls(timeout=timeout)
        for item in tools:
            registry.add(item)
        return registry

    def add(self, item: Tool) -> None:
        """Register one tool."""
        if item.name in self.tools:
            raise ValueError(f"two tools are called {item.name}")
        self.tools[item.name] = item

    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self.tools)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __getitem__(self, name: str) -> Tool:
        return self.tools[name]

    def run(self, name: str, query: str, ctx: ToolContext) -> ToolOutcome:
        """Call a tool in a worker thread; an exception or timeout becomes an `Error: ...` result."""
        started = time.perf_counter()
        if name not in self.tools:
            known = ", ".join(self.tools) or "none"
            return ToolOutcome(f"Error: there is no tool called {name}. Tools: {known}.", False, 0.0)
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self.tools[name](query, ctx)
            except ToolInputError as exc:
                box["error"] = f"Error: {exc}"
            except Exception as exc:  # a tool failure is an observation for the model, not a crash
                box["error"] = f"Error: {name} failed: {type(exc).__name__}: {exc}"

        worker = threading.Thread(target=work, name=f"tool-{name}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        seconds = time.perf_counter() - started
        if worker.is_alive():
            return ToolOutcome(f"Error: {name} did not answer within {self.timeout:g} seconds.", False, seconds)
        if "error" in box:
            return ToolOutcome(box["error"], False, seconds)
        return ToolOutcome(box["result"], True, seconds)
