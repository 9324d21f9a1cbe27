"""The sim's control token and loopback-only listening, against real frontend and worker processes."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from planner_tui.config.paths import state_dir
from planner_tui.sim import auth
from planner_tui.sim.http import HttpServer, ListenError
from tests.sim.conftest import SimGraph, free_port, wait_for


def sim_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner_tui", "sim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_load_change_needs_the_token_written_0600_even_with_umask_000(sim: SimGraph) -> None:
    frontend = sim.start_frontend("--profile", "constant", "--rps", "4", umask=0)
    sim.start_worker("worker")  # the workers' calls carry the token they read from the same file
    wait_for(lambda: sim.stats()["completed"] >= 3, 40, "the worker to complete requests")

    token_file = sim.token_file()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(token_file.parent.parent.stat().st_mode) == 0o700
    token = token_file.read_text().strip()
    assert len(token) >= 40

    url = frontend.url + "/control/profile"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
        refused = httpx.post(url, json={"kind": "constant", "rps": 30}, headers=headers, timeout=5)
        assert refused.status_code == 401, headers
        assert "needs the frontend's control token" in refused.json()["error"]
        assert str(token_file) in refused.json()["error"]
    scale = httpx.post(frontend.url + "/control/scale", json={"factor": 9}, timeout=5)
    pull = httpx.post(frontend.url + "/sim/pull", json={"worker": "thief", "role": "decode", "want": 99}, timeout=5)
    report = httpx.post(frontend.url + "/sim/report", json={"worker": "w", "role": "decode"}, timeout=5)
    leave = httpx.post(frontend.url + "/sim/leave", json={"worker": "w", "role": "decode"}, timeout=5)
    assert [r.status_code for r in (scale, pull, report, leave)] == [401] * 4
    stats = sim.stats()
    assert stats["target_rps"] == 4.0 and "thief" not in {w["name"] for w in stats["workers"].values()}
    assert frontend.value("planner_tui_sim_target_requests_per_second") == 4.0  # read-only endpoints stay open
    assert frontend.health() == 200

    changed = sim_cli("load", "--url", frontend.url, "constant", "--rps", "6")  # reads the token file
    assert changed.returncode == 0, changed.stderr
    assert sim.stats()["target_rps"] == 6.0

    wrong = sim.tmp_path / "other.token"
    wrong.write_text("not-the-token\n")
    refused_cli = sim_cli("load", "--url", frontend.url, "--token-file", str(wrong), "--scale", "2")
    assert refused_cli.returncode == 1
    assert "needs the frontend's control token" in refused_cli.stderr and "Traceback" not in refused_cli.stderr
    missing_cli = sim_cli("load", "--url", frontend.url, "--token-file", str(sim.tmp_path / "none"), "--scale", "2")
    assert missing_cli.returncode == 1 and f"no token file at {sim.tmp_path / 'none'}" in missing_cli.stderr
    assert sim.stats()["target_rps"] == 6.0

    assert sim.stop(frontend) == 0
    assert not token_file.exists()  # removed when the frontend stops


@pytest.mark.parametrize(
    "args",
    [
        ["frontend", "--host", "0.0.0.0"],
        ["worker", "--role", "decode", "--host", "::"],
        ["frontend", "--host", "example.invalid"],
    ],
)
def test_a_non_loopback_host_is_refused_without_allow_remote(args: list[str]) -> None:
    port = free_port()
    result = sim_cli(*args, "--port", str(port), timeout=20)  # a regression would listen until killed
    assert result.returncode == 2
    assert "is not a loopback address" in result.stderr and "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens


async def test_the_server_itself_refuses_a_non_loopback_host() -> None:
    server = HttpServer({}, "0.0.0.0", 0)
    with pytest.raises(ListenError, match=r"refusing to listen on .0\.0\.0\.0.*--allow-remote"):
        await server.start()
    loopback = HttpServer({}, "127.0.0.1", 0)
    await loopback.start()
    await loopback.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert auth.is_loopback(host) is loopback


def test_bearer_tokens_compare_exactly() -> None:
    token = auth.new_token()
    assert auth.bearer_matches(f"Bearer {token}", token)
    assert auth.bearer_matches(f"bearer  {token}", token)
    for header in (None, "", token, f"Bearer {token}x", f"Bearer {token[:-1]}", "Bearer ", f"Token {token}"):
        assert not auth.bearer_matches(header, token), header
    assert auth.new_token() != token


def test_the_token_path_follows_the_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert auth.token_path(21080) == state_dir() / "sim" / "port-21080" / "control.token"
    assert auth.token_path_for_url("http://127.0.0.1:21081/") == state_dir() / "sim" / "port-21081" / "control.token"
    monkeypatch.delenv("PLANNER_TUI_STATE_DIR")
    assert auth.token_path(1).parent.parent.parent == state_dir()  # the XDG default, as planner-tui's own
    monkeypatch.setenv(auth.TOKEN_FILE_ENV, str(tmp_path / "t"))
    assert auth.token_path(1) == tmp_path / "t"
    assert auth.token_path(1, "~/x") == Path(os.path.expanduser("~/x"))
