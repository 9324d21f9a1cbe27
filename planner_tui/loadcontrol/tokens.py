"""The simulated frontend's control token: where its file is, how it is written, read and checked.

The frontend makes a random token at start and writes it to ``<state dir>/sim/port-<PORT>/control.token``
(mode 0600 in a 0700 directory); every request that changes its state (the load profile, the workers'
pull/report/leave calls) must carry ``Authorization: Bearer <token>``. Clients on the same account
(``planner-tui sim load``, the dashboard's load key, the workers) find the file from the frontend's port.

Only the standard library and platformdirs are imported here (the sim processes stay small); the frontend
imports :mod:`planner_tui.config.paths` when it writes the file.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

#: overrides where the token file is (the frontend writes it there, clients read it there)
TOKEN_FILE_ENV = "PLANNER_TUI_SIM_TOKEN_FILE"
TOKEN_FILE_NAME = "control.token"
_STATE_DIR_ENV = "PLANNER_TUI_STATE_DIR"  # the same variable as planner_tui.config.paths.STATE_DIR_ENV


class AuthError(Exception):
    """A token file that cannot be written or read."""


def new_token() -> str:
    """A fresh random token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def _state_dir() -> Path:
    # planner_tui.config.paths.state_dir(), without importing planner_tui.config (pydantic) into replicas;
    # tests/sim/test_auth.py checks that both agree.
    override = os.environ.get(_STATE_DIR_ENV)
    path = Path(override) if override else platformdirs.user_state_path("planner-tui")
    return path.expanduser().absolute()


def token_path(port: int, override: str | Path | None = None) -> Path:
    """The token file of the frontend listening on ``port``: ``override``, ``$PLANNER_TUI_SIM_TOKEN_FILE``,
    else ``<state dir>/sim/port-<port>/control.token``."""
    chosen = override or os.environ.get(TOKEN_FILE_ENV)
    if chosen:
        return Path(chosen).expanduser().absolute()
    return _state_dir() / "sim" / f"port-{port}" / TOKEN_FILE_NAME


def token_path_for_url(base_url: str, override: str | Path | None = None) -> Path:
    """:func:`token_path` of the frontend at ``base_url`` (``http://127.0.0.1:21080``)."""
    parts = urlsplit(base_url)
    return token_path(parts.port or 80, override)


def write_token(path: Path, token: str) -> None:
    """Write ``token`` to ``path``: the file 0600, its directory 0700, whatever the umask."""
    from planner_tui.config.paths import open_private, private_dir

    try:
        private_dir(path.parent)
        fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(token + "\n")
    except OSError as exc:
        raise AuthError(f"cannot write the control token to {path}: {exc}") from None


def read_token(path: Path) -> str | None:
    """The token in ``path``; None when there is no such file (or it is empty)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError(f"cannot read the control token {path}: {exc}") from None
    return text or None


def remove_token(path: Path, token: str) -> None:
    """Delete ``path`` if it still holds ``token`` (a newer frontend on the port may have replaced it)."""
    try:
        if read_token(path) == token:
            path.unlink()
    except (AuthError, OSError):
        pass


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <token>`` (compared in constant time)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
