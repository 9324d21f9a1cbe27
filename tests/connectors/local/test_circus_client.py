"""The asyncio circus client against a real circusd: concurrency, errors, timeouts."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local.circus_client import CircusClient, CircusCommandError
from planner_tui.connectors.local.circusd import Circusd, CircusdHandle
from tests.connectors.local.conftest import alive


@pytest.fixture
async def circusd(tmp_path: Path) -> AsyncIterator[CircusdHandle]:
    runner = Circusd(tmp_path / "run")
    handle = await runner.start()
    yield handle
    await runner.stop(handle)
    assert not alive(handle.pid)


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (circusd itself only listens on Unix sockets)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_concurrent_calls_each_get_their_own_reply(circusd: CircusdHandle) -> None:
    client = CircusClient(circusd.endpoint, timeout=20)
    try:
        sleeper = {"cmd": sys.executable, "args": ["-c", "import time; time.sleep(60)"]}
        added = await asyncio.gather(
            *(
                client.call("add", name=f"w{i}", **sleeper, options={"respawn": False}, start=True, waiting=True)
                for i in range(8)
            )
        )
        pids = [reply["started"][0] for reply in added]
        assert client.busy_retries > 0  # circusd refused some adds with errno 5 while busy; all succeeded
        assert len(set(pids)) == 8 and all(alive(p) for p in pids)
        listed = await asyncio.gather(*(client.call("list", name=f"w{i}") for i in range(8)))
        assert [reply["pids"] for reply in listed] == [[p] for p in pids]
        statuses = await client.call("status")
        assert statuses["statuses"] == {f"w{i}": "active" for i in range(8)}
        await asyncio.gather(*(client.call("rm", name=f"w{i}", waiting=True) for i in range(8)))
        assert not any(alive(p) for p in pids)
    finally:
        await client.close()


async def test_an_error_reply_names_the_command_and_the_endpoint(circusd: CircusdHandle) -> None:
    client = CircusClient(circusd.endpoint, timeout=5)
    try:
        with pytest.raises(CircusCommandError) as error:
            await client.call("start", name="no-such-watcher", match="simple")
        assert "'start'" in str(error.value) and circusd.endpoint in str(error.value)
        assert "no-such-watcher" in error.value.reason
    finally:
        await client.close()


async def test_no_answer_raises_connector_error_in_time() -> None:
    endpoint = f"tcp://127.0.0.1:{free_loopback_port()}"  # nothing listens there
    client = CircusClient(endpoint, timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(ConnectorError, match=f"circus command 'status' to {endpoint} got no answer"):
            await client.call("status")
    finally:
        await client.close()
    assert loop.time() - started < 3
