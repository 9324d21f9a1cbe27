"""Who may call the Global Planner: per-namespace bearer tokens from a private TOML file.

The service's token file (``--token-file``) maps each caller namespace to its token, and may name
viewers, who may read the service's status (its dashboard) but scale nothing::

    [namespaces]
    app-ns-1 = "kq3...43 characters..."

    [viewers]
    ops = "Zt1..."

The file must be the caller's own and unreadable by anyone else (mode 0600): a file others can read
is refused with the ``chmod`` that fixes it. A token is at least :data:`MIN_TOKEN_CHARS` long and
unique in the file. A caller presents ``Authorization: Bearer <token>``; the token names its
namespace, and a request claiming any other ``caller_namespace`` is refused. Every entry is compared
(as SHA-256 digests, with :func:`hmac.compare_digest`), so the time taken says nothing about which
entry matched or how much of a token was right.

A planner's own token file (``[connector] token_file``) holds just its token (see
:mod:`planner_tui.connectors.delegate`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner_tui.config.paths import write_private_text
from planner_tui.config.secrets import SecretFileError, read_private_text

#: the shortest token accepted (new_token makes 43 characters)
MIN_TOKEN_CHARS = 24
#: names of namespaces and viewers: Dynamo namespaces are letters, digits, '-', '_' and '.'
CALLER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
_TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII without spaces (it travels in a header)


class TokenFileError(Exception):
    """A token file that cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: a namespace that may scale, or a viewer that may only read."""

    name: str
    role: Literal["namespace", "viewer"]


def new_token() -> str:
    """A fresh random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _read_text(path: Path) -> str:
    try:
        return read_private_text(path)
    except SecretFileError as exc:
        raise TokenFileError(str(exc)) from None


def _token_problem(token: object) -> str | None:
    if not isinstance(token, str):
        return f"expected a string token, got {type(token).__name__}"
    if len(token) < MIN_TOKEN_CHARS:
        return (
            f"the token is {len(token)} characters; use at least {MIN_TOKEN_CHARS} (`planner-tui global-planner token`)"
        )
    if not _TOKEN_RE.match(token):
        return "a token is printable ASCII without spaces"
    return None


class TokenTable:
    """The callers a service accepts, by token; built with :meth:`load` or :meth:`from_mapping`."""

    def __init__(self, namespaces: dict[str, str], viewers: dict[str, str] | None = None) -> None:
        entries: list[tuple[bytes, Caller]] = []
        for role, table in (("namespace", namespaces), ("viewer", viewers or {})):
            for name, token in table.items():
                entries.append((_digest(token), Caller(name, role)))  # type: ignore[arg-type]
        self._entries = tuple(entries)
        self.namespaces = frozenset(namespaces)

    @classmethod
    def from_mapping(cls, data: object, source: str) -> TokenTable:
        """Validate the parsed TOML of a token file; :class:`TokenFileError` lists every problem."""
        problems: list[str] = []
        if not isinstance(data, dict):
            raise TokenFileError(f"{source}: expected a TOML document")
        unknown = sorted(set(data) - {"namespaces", "viewers"})
        if unknown:
            problems.append(f"unknown table(s) {', '.join(unknown)}: only [namespaces] and [viewers]")
        tables: dict[str, dict[str, str]] = {}
        seen: dict[bytes, str] = {}
        for table in ("namespaces", "viewers"):
            raw = data.get(table, {})
            if not isinstance(raw, dict):
                problems.append(f'{table}: expected a table of name = "token"')
                continue
            tables[table] = {}
            for name, token in raw.items():
                if not CALLER_NAME_RE.match(name):
                    problems.append(f"{table}.{name}: a name is letters, digits, '.', '_' and '-' (at most 253)")
                    continue
                problem = _token_problem(token)
                if problem is not None:
                    problems.append(f"{table}.{name}: {problem}")
                    continue
                digest = _digest(token)
                if digest in seen:
                    problems.append(f"{table}.{name}: the same token as {seen[digest]}; give every caller its own")
                    continue
                seen[digest] = f"{table}.{name}"
                tables[table][name] = token
        if not problems and not tables.get("namespaces"):
            problems.append("[namespaces] is empty: no caller could scale anything")
        if problems:
            raise TokenFileError("\n".join(f"{source}: {p}" for p in problems))
        return cls(tables["namespaces"], tables.get("viewers"))

    @classmethod
    def load(cls, path: str | Path) -> TokenTable:
        """Read and validate a service token file (0600, the caller's own)."""
        path = Path(path).expanduser()
        text = _read_text(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TokenFileError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_mapping(data, str(path))

    def identify(self, authorization: str | None) -> Caller | None:
        """The caller an ``Authorization: Bearer <token>`` header names, or None (compared in constant time)."""
        if not authorization:
            return None
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        digest = _digest(given.strip())
        found: Caller | None = None
        for candidate, caller in self._entries:  # every entry, whichever matches
            if hmac.compare_digest(digest, candidate):
                found = caller
        return found


def _toml_string(value: str) -> str:
    # names and tokens are printable ASCII (checked), for which a JSON string is a TOML basic string
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def add_token(service_file: str | Path, role: Literal["namespace", "viewer"], name: str, token: str) -> None:
    """Add (or replace) ``name``'s token in a service token file, written atomically as 0600."""
    path = Path(service_file).expanduser()
    if not CALLER_NAME_RE.match(name):
        raise TokenFileError(f"{name!r} is not a namespace or viewer name (letters, digits, '.', '_', '-')")
    tables: dict[str, dict[str, str]] = {"namespaces": {}, "viewers": {}}
    if path.exists():
        TokenTable.load(path)  # the file as it is must be valid (and private) before it is changed
        data = tomllib.loads(_read_text(path))
        for key in tables:
            tables[key].update(data.get(key, {}))
    tables["namespaces" if role == "namespace" else "viewers"][name] = token
    TokenTable.from_mapping(tables, str(path))  # what is written is a valid file
    lines = ["# planner-tui Global Planner tokens (keep this file 0600)"]
    for key, entries in tables.items():
        if entries:
            lines += ["", f"[{key}]", *(f"{_toml_string(n)} = {_toml_string(t)}" for n, t in sorted(entries.items()))]
    write_private_text(path, "\n".join(lines) + "\n")
