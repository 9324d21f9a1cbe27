"""Secrets kept in files: a file holding a secret must be the user's own and private (0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: a secret file is small; this bounds what reading one may cost
MAX_SECRET_FILE_BYTES = 1024 * 1024


class SecretFileError(Exception):
    """A secret file that cannot be used; the message names the file, the problem and the fix."""


def check_private(path: Path) -> None:
    """Refuse a file another user owns or that group or others may read or write."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SecretFileError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise SecretFileError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretFileError(f"token file {path} is not a regular file")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SecretFileError(f"token file {path} belongs to uid {st.st_uid}, not to you; use a file of your own")
    if st.st_mode & 0o077:
        raise SecretFileError(
            f"token file {path} is readable or writable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 600 {path}`"
        )


def read_private_text(path: str | Path) -> str:
    """The text of a private file (checked with :func:`check_private`), at most 1 MiB of UTF-8."""
    path = Path(path).expanduser()
    check_private(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretFileError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        raise SecretFileError(f"token file {path} is larger than {MAX_SECRET_FILE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretFileError(f"token file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
