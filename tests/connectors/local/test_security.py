"""circusd's control surface is the owner's alone: Unix sockets in a 0700 directory, no TCP or UDP
listener, and every directory and file the connector creates private whatever the umask."""

from __future__ import annotations

import os
import pwd
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.connectors.local.conftest import make_graph, worker


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Run the test with umask 000, the worst a user can have."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_circusd_listens_on_no_network_port(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("sec-net", {"decode": worker()}))
    handle = conn.supervisor.state.circusd
    assert handle is not None
    assert handle.endpoint.startswith("ipc://") and handle.pubsub_endpoint.startswith("ipc://")
    inet = psutil.Process(handle.pid).net_connections(kind="inet")
    # no control port on 127.0.0.1 and no multicast discovery on UDP 0.0.0.0:12027
    assert inet == [], f"circusd has network sockets: {inet}"
    for endpoint in (handle.endpoint, handle.pubsub_endpoint):
        sock = Path(endpoint.removeprefix("ipc://"))
        assert stat.S_ISSOCK(os.stat(sock).st_mode)
        assert mode(sock.parent) == 0o700
        assert os.stat(sock.parent).st_uid == os.getuid()


async def test_files_and_directories_are_private_with_an_open_umask(  # type: ignore[no-untyped-def]
    connect, state_root: Path, open_umask: None
) -> None:
    conn = await connect(make_graph("sec-modes", {"decode": worker()}))
    await conn.wait_until_stable(["decode"], 30)
    run_dir = conn.store.run_dir
    for directory in (state_root, state_root / "local", run_dir, conn.store.log_dir):
        assert mode(directory) == 0o700, f"{directory} is {oct(mode(directory))}"
    for file in (
        conn.store.path,
        run_dir / "circus.ini",
        run_dir / "circusd.out",
        state_root / "local" / "allocations.lock",
    ):
        assert mode(file) == 0o600, f"{file} is {oct(mode(file))}"
    logs = list(conn.store.log_dir.iterdir())
    assert logs, "the replica wrote no log"
    for file in logs:
        assert mode(file) & 0o037 == 0, f"{file} is {oct(mode(file))}"


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


def _connect_as(user: pwd.struct_passwd, path: str) -> str:
    """Try to connect to the Unix socket ``path`` as ``user`` (in a forked child); what happened."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become the other user, try, report, exit
        outcome = b"?"
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
            outcome = b"connected"
        except PermissionError:
            outcome = b"denied"
        except OSError as exc:
            outcome = f"error {exc}".encode()
        finally:
            os.write(write, outcome)
            os._exit(0)
    os.close(write)
    try:
        return os.read(read, 200).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)


async def test_another_user_cannot_command_circusd(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("sec-user", {"decode": worker()}))
    handle = conn.supervisor.state.circusd
    assert handle is not None
    control = handle.endpoint.removeprefix("ipc://")
    # Nobody but the owner may enter the socket directory.
    assert mode(Path(control).parent) & 0o077 == 0
    nobody = _nobody()
    if os.getuid() == 0 and nobody is not None:
        # As root (CI), really try it as user nobody, as the reported attack did.
        assert _connect_as(nobody, control) == "denied"
        assert _connect_as(nobody, handle.pubsub_endpoint.removeprefix("ipc://")) == "denied"
    # the owner still commands it
    reply = await conn.supervisor.call("list")
    assert reply.get("status") == "ok"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[]", "the document must be an object"),
        (b'{"namespace": "x", "graph": {}, "replicas": []}', "'replicas' must be an object"),
        (
            b'{"namespace": "x", "graph": {}, "replicas": {"x_a_0": {"component": "a", "index": 0, "gpus": "abc"}}}',
            "gpus",
        ),
        (b'{"namespace": "x", "graph": {}, "replicas": {"x_a_0": [1]}}', "a replica record must be an object"),
        (b'{"namespace": "x", "graph": {}, "desired": {"a": "many"}}', "invalid literal"),
        (b"\xff\xfe{", "can't decode"),
        (b'{"namespace": "x", "gra', "Unterminated string"),
    ],
)
def test_a_corrupt_state_file_gets_a_clear_message(tmp_path: Path, content: bytes, problem: str) -> None:
    """Reported: wrong shapes and bad bytes in the state file gave tracebacks."""
    from planner_tui.connectors.errors import ConnectorError
    from planner_tui.connectors.local.state_file import read_state_file

    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ConnectorError, match="unreadable: ") as info:
        read_state_file(path)
    assert problem in str(info.value) and "delete the file" in str(info.value)
    assert "Traceback" not in str(info.value) and "pydantic.dev" not in str(info.value)
