"""Reading a graph file: TOML parsing and turning validation errors into one clear line each."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from planner_tui.config.document import parse_graph_document, read_graph_text
from planner_tui.config.errors import ConfigError, Problem
from planner_tui.config.graph import GraphConfig

_SIMPLE = {
    "missing": "required key is missing",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "finite_number": "expected a finite number",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


def load_graph(path: str | Path) -> GraphConfig:
    """Read and validate a graph file. Raises :class:`ConfigError` listing every problem found."""
    return parse_graph(read_graph_text(path), str(path))


def parse_graph(text: str, source: str = "<graph>") -> GraphConfig:
    """Validate graph-file TOML ``text``; ``source`` names it in error messages."""
    return validate_graph(parse_graph_document(text, source), source)


def validate_graph(data: dict[str, Any], source: str = "<graph>") -> GraphConfig:
    """Validate already-parsed graph data."""
    try:
        return GraphConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, problems_from(exc, GraphConfig)) from None


def problems_from(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One :class:`Problem` per pydantic error, phrased for a person editing the file."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "graph_problems":
            problems.extend(ctx["problems"])
            continue
        loc = tuple(err["loc"])
        problems.append(Problem(_clean_loc(loc), _message(err, loc, model)))
    return problems


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # pydantic adds union-member tags ("list[...]", "literal['auto']") to locations; drop them.
    return tuple(p for p in loc if isinstance(p, int) or not ("[" in p or p.startswith("function-")))


def _message(err: Any, loc: tuple[Any, ...], model: type[BaseModel]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        msg = "unknown key"
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
        elif allowed:
            msg += f"; expected one of: {', '.join(allowed)}"
        return msg
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        msg = f"must be {op} {ctx.get(key)}"
    elif kind in ("literal_error", "enum"):
        msg = f"expected one of {ctx.get('expected')}"
    elif kind == "too_short" and ctx.get("min_length") == 1:
        msg = "must not be empty"
    elif kind == "too_long":
        msg = f"at most {ctx.get('max_length')} entries, got {ctx.get('actual_length')}"
    elif kind in _SIMPLE:
        msg = _SIMPLE[kind]
    elif kind == "value_error":
        msg = str(ctx.get("error", err["msg"]))
    else:
        msg = err["msg"]
    if kind not in ("missing", "template") and " got " not in msg and isinstance(value, str | int | float | bool):
        msg += f", got {value!r}"
    return msg


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a table at ``loc`` accepts, found by walking the model's field types."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional wrappers from a type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def graph_json_schema() -> dict[str, Any]:
    """The JSON schema of the graph file."""
    schema = GraphConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "planner-tui graph file"
    return schema
