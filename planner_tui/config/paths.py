"""Where planner-tui keeps state (state files, logs, audit logs) and user configuration."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

import platformdirs

STATE_DIR_ENV = "PLANNER_TUI_STATE_DIR"
CONFIG_DIR_ENV = "PLANNER_TUI_CONFIG_DIR"


def state_dir() -> Path:
    """The state directory: ``$PLANNER_TUI_STATE_DIR``, else the XDG state dir (``~/.local/state``)."""
    override = os.environ.get(STATE_DIR_ENV)
    path = Path(override) if override else platformdirs.user_state_path("planner-tui")
    return path.expanduser().absolute()


def config_dir() -> Path:
    """The user config directory: ``$PLANNER_TUI_CONFIG_DIR``, else the XDG config dir."""
    override = os.environ.get(CONFIG_DIR_ENV)
    path = Path(override) if override else platformdirs.user_config_path("planner-tui")
    return path.expanduser().absolute()


def demo_graph_path() -> Path:
    """The embedded demo graph, used when no ``--graph`` is given (``examples/demo.toml``)."""
    return Path(str(resources.files("planner_tui.config").joinpath("demo.toml")))


#: mode of every directory planner-tui creates for state, run files, logs and audit logs
PRIVATE_DIR_MODE = 0o700
#: mode of every file planner-tui creates there
PRIVATE_FILE_MODE = 0o600


class UnsafePathError(OSError):
    """A private path exists but belongs to another user (someone could read or replace what is in it)."""


def private_dir(path: Path | str) -> Path:
    """Create ``path`` (and missing parents) as a directory only its owner can use, whatever the umask.

    Directories this call creates get mode 0700. An existing ``path`` owned by this user is narrowed
    to 0700; one owned by another user raises :class:`UnsafePathError` naming the owner and the fix.
    """
    path = Path(path)
    missing = []
    cursor = path
    while not cursor.exists():
        missing.append(cursor)
        if cursor.parent == cursor:
            break
        cursor = cursor.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, PRIVATE_DIR_MODE)
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    st = os.stat(path)
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UnsafePathError(
            f"{path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
            f"choose another directory with ${STATE_DIR_ENV} or remove it"
        )
    if st.st_mode & 0o777 != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def open_private(path: Path | str, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """``os.open`` of ``path`` with mode 0600 whatever the umask (an existing file is narrowed too)."""
    fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a 0600 temporary file beside it (its directory made private
    when missing), fsynced, then renamed over it; never a half-written file, nothing left on failure."""
    if not path.parent.exists():
        private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: Unix socket paths are limited to 107 bytes; socket directories are kept well under it
_SOCKET_DIR_BUDGET = 60


def runtime_dir() -> Path:
    """This user's directory for control sockets: ``$XDG_RUNTIME_DIR/planner-tui``, else
    ``<tmp>/planner-tui-<uid>``; 0700, and refused if another user owns it.
    """
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base) and os.path.isdir(base) and len(base) < _SOCKET_DIR_BUDGET - 30:
        return private_dir(Path(base) / "planner-tui")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return private_dir(Path(tempfile.gettempdir()) / f"planner-tui-{uid}")


def socket_dir(key: str) -> Path:
    """A private directory for the sockets of one graph, named by a hash of ``key`` (short and stable).

    ``key`` identifies the graph (its state directory and namespace), so graphs in different state
    directories never share sockets, and the path stays short enough for ``AF_UNIX``.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return private_dir(runtime_dir() / digest)
