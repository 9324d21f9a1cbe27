"""A real Dynamo 1.6.1 graph for tests: the venv, a local mocker model, the graph file and a load driver.

Nothing here mocks Dynamo: :func:`ensure_dynamo` installs the real ``ai-dynamo`` and ``ai-dynamo-runtime``
wheels into a virtual environment of their own, cached outside the repository (REFERENCE.md section 8:
a plain ``pip install ai-dynamo`` fails, so ``ai-dynamo`` goes in with ``--no-deps``); :func:`write_model`
writes the directory the mocker reads (no weights, no download); :func:`dynamo_graph` is a planner-tui
graph running ``python -m dynamo.frontend`` and prefill and decode ``python -m dynamo.mocker`` processes
under the local connector; :class:`LoadDriver` sends OpenAI chat completions to the frontend.

Environment:
- ``PLANNER_TUI_DYNAMO_VENV``: the venv directory (default ``~/.cache/planner-tui/dynamo-1.6.1``).
- ``CI=true``: a venv that cannot be built fails the tests (see ``conftest.py``), never skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from filelock import FileLock

from planner_tui.config import GraphConfig, validate_graph

DYNAMO_VERSION = "1.6.1"
VENV_ENV = "PLANNER_TUI_DYNAMO_VENV"
MODEL_NAME = "mock-llama"
#: pip steps that build the venv (REFERENCE.md section 8)
INSTALL_STEPS: tuple[tuple[str, ...], ...] = (
    ("--no-deps", f"ai-dynamo=={DYNAMO_VERSION}"),
    (f"ai-dynamo-runtime=={DYNAMO_VERSION}", "msgspec", "packaging", "pyyaml", "tokenizers"),
)
BUILD_TIMEOUT_S = 600.0


class DynamoUnavailable(RuntimeError):
    """The Dynamo venv could not be built or does not import ``dynamo.mocker``."""


def venv_dir() -> Path:
    """Where the Dynamo venv lives: ``$PLANNER_TUI_DYNAMO_VENV`` or ``~/.cache/planner-tui/dynamo-1.6.1``."""
    configured = os.environ.get(VENV_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return Path.home().absolute() / ".cache" / "planner-tui" / f"dynamo-{DYNAMO_VERSION}"


def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def _verify(python: Path) -> str | None:
    """None when ``python`` imports ``dynamo.mocker`` and ``dynamo.frontend`` at the pinned version."""
    if not python.exists():
        return f"{python} does not exist"
    code = (
        "import importlib.metadata as m, dynamo.mocker, dynamo.frontend; "
        "print(m.version('ai-dynamo'), m.version('ai-dynamo-runtime'))"
    )
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} -c 'import dynamo.mocker' failed: {exc}"
    if done.returncode != 0:
        return f"{python} cannot import dynamo.mocker: {done.stderr.strip()[-800:]}"
    versions = done.stdout.split()
    if versions != [DYNAMO_VERSION, DYNAMO_VERSION]:
        return f"{python} has ai-dynamo/ai-dynamo-runtime {versions}, expected {DYNAMO_VERSION}"
    return None


def ensure_dynamo(venv: Path | None = None) -> Path:
    """The interpreter of a venv with Dynamo 1.6.1, built on first use (~10-20 s, ~310 MB).

    A file lock next to the venv makes parallel test processes build it once; a venv that does not
    import ``dynamo.mocker`` is rebuilt. Raises :class:`DynamoUnavailable` with pip's output.
    """
    venv = venv or venv_dir()
    python = venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv.parent / f".{venv.name}.lock"), timeout=BUILD_TIMEOUT_S):
        if _verify(python) is None:
            return python
        deadline = time.monotonic() + BUILD_TIMEOUT_S
        steps: list[list[str]] = [[sys.executable, "-m", "venv", "--clear", str(venv)]]
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        steps += [[*pip, *step] for step in INSTALL_STEPS]
        for cmd in steps:
            try:
                done = subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=max(1.0, deadline - time.monotonic()),
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise DynamoUnavailable(f"building the Dynamo venv in {venv}: {' '.join(cmd)}: {exc}") from exc
            if done.returncode != 0:
                raise DynamoUnavailable(
                    f"building the Dynamo venv in {venv}: {' '.join(cmd)} exited {done.returncode}:\n"
                    f"{(done.stdout + done.stderr).strip()[-2000:]}"
                )
        problem = _verify(python)
        if problem:
            raise DynamoUnavailable(f"the Dynamo venv in {venv} was built but {problem}")
        return python


# --- the mocker's model directory (one definition, in examples/dynamo/make_model.py) -------------------


def _load_make_model() -> Any:
    path = Path(__file__).resolve().parents[2] / "examples" / "dynamo" / "make_model.py"
    spec = importlib.util.spec_from_file_location("planner_tui_examples_dynamo_make_model", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_make_model = _load_make_model()
VOCAB_SIZE: int = _make_model.VOCAB_SIZE
write_model: Callable[[Path], Path] = _make_model.write_model


# --- the graph ----------------------------------------------------------------------------------------


def free_port_range(size: int = 40, start: int = 22000, stop: int = 32700) -> tuple[int, int]:
    """``size`` consecutive loopback ports that are free now, from a pid-dependent offset.

    Below 32768: Dynamo 1.6.1 reads ``DYN_SYSTEM_PORT`` as a signed 16-bit integer and exits on a
    higher port ("invalid value unsigned int `47876`, expected i16 for key SYSTEM_PORT").
    """
    first = start + (os.getpid() * 97 + int(time.monotonic() * 1000)) % (stop - start - size)
    for _ in range(200):
        busy = False
        for port in range(first, first + size):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    busy = True
                    break
        if not busy:
            return first, first + size - 1
        first = start + (first - start + size * 7) % (stop - start - size)
    raise RuntimeError("no free port range found")


def dynamo_env(kv_dir: Path, home: Path) -> dict[str, str]:
    """The environment every Dynamo process of one graph needs (REFERENCE.md section 8)."""
    return {
        "DYN_DISCOVERY_BACKEND": "file",
        "DYN_FILE_KV": str(kv_dir.absolute()),
        "DYN_REQUEST_PLANE": "tcp",
        "DYN_EVENT_PLANE": "zmq",
        "DYN_TCP_RPC_HOST": "127.0.0.1",
        "DYN_EVENT_PLANE_HOST": "127.0.0.1",
        "DYN_TCP_RESPONSE_STREAM_HOST": "127.0.0.1",
        "DYN_SYSTEM_HOST": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "HOME": str(home.absolute()),
        "DYN_LOG": "warn",
    }


@dataclass(frozen=True)
class GraphOptions:
    """The knobs of :func:`dynamo_graph`."""

    prefill: tuple[int, int, int] = (1, 1, 3)  # min, initial, max replicas
    decode: tuple[int, int, int] = (1, 1, 3)
    #: small so the decode KV cache fills on a CPU (blocks of ``block_size`` tokens per replica)
    decode_blocks: int = 64
    prefill_blocks: int = 256
    block_size: int = 16
    speedup_ratio: float = 1.0
    #: the mocker's batch limit: requests above it wait (``vllm:num_requests_waiting``)
    max_num_seqs: int = 256
    worker_health_endpoint_status: bool = True  # DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS='["generate"]'
    planner: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=lambda: {"interval_s": 0.5})


def _mocker_args(model_dir: Path, mode: str, blocks: int, options: GraphOptions) -> list[str]:
    return [
        "-m",
        "dynamo.mocker",
        "--model-path",
        str(model_dir),
        "--model-name",
        MODEL_NAME,
        "--disaggregation-mode",
        mode,
        "--num-gpu-blocks-override",
        str(blocks),
        "--block-size",
        str(options.block_size),
        "--max-num-seqs",
        str(options.max_num_seqs),
        "--speedup-ratio",
        str(options.speedup_ratio),
    ]


def dynamo_graph(
    namespace: str,
    python: Path,
    model_dir: Path,
    work_dir: Path,
    options: GraphOptions | None = None,
) -> GraphConfig:
    """A planner-tui graph: a Dynamo frontend (fixed port) + prefill and decode mockers, no GPUs.

    ``work_dir`` holds this graph's file-discovery directory (``kv``) and ``home``; every worker
    replica gets its own ``DYN_SYSTEM_PORT`` (its ``/metrics`` and ``/health``).
    """
    options = options or GraphOptions()
    kv_dir, home = work_dir / "kv", work_dir / "home"
    kv_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    env = dynamo_env(kv_dir, home)
    worker_env = {**env, "DYN_SYSTEM_PORT": "{port}"}
    if options.worker_health_endpoint_status:
        worker_env["DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS"] = '["generate"]'
    first, last = free_port_range(41)  # the frontend's fixed port, then 40 for worker replicas

    def worker(role: str, bounds: tuple[int, int, int], blocks: int) -> dict[str, Any]:
        low, initial, high = bounds
        return {
            "role": role,
            "command": str(python),
            "args": _mocker_args(model_dir, role, blocks, options),
            "env": worker_env,
            "min_replicas": low,
            "initial_replicas": initial,
            "max_replicas": high,
            "metrics_url": "http://127.0.0.1:{port}/metrics",
            "health_url": "http://127.0.0.1:{port}/health",
            "depends_on": ["frontend"],
            "graceful_timeout_s": 10.0,
        }

    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": [], "port_range": [first + 1, last]},
            "planner": {"mode": "auto", "policy": "load", "max_gpu_budget": -1, **options.planner},
            "metrics": dict(options.metrics),
            "components": {
                "frontend": {
                    "role": "frontend",
                    "command": str(python),
                    "args": ["-m", "dynamo.frontend", "--http-host", "127.0.0.1", "--http-port", "{port}"],
                    "env": env,
                    "port": first,
                    "min_replicas": 1,
                    "max_replicas": 1,
                    "metrics_url": "http://127.0.0.1:{port}/metrics",
                    "health_url": "http://127.0.0.1:{port}/health",
                    "graceful_timeout_s": 10.0,
                },
                "prefill": worker("prefill", options.prefill, options.prefill_blocks),
                "decode": worker("decode", options.decode, options.decode_blocks),
            },
        }
    )


def frontend_url(graph: GraphConfig) -> str:
    """``http://127.0.0.1:PORT`` of the graph's frontend."""
    return f"http://127.0.0.1:{graph.components['frontend'].port}"


# --- waiting on observable state ----------------------------------------------------------------------


async def wait_for(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Await ``check()`` (sync or async) until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def get_text(url: str, timeout: float = 2.0) -> str | None:
    """The body of a 200 answer from ``url``, else None."""
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


async def chat(
    client: httpx.AsyncClient, base_url: str, max_tokens: int = 16, prompt: str = "hello world"
) -> httpx.Response:
    """One non-streaming OpenAI chat completion."""
    return await client.post(
        f"{base_url}/v1/chat/completions",
        json={
            "model": MODEL_NAME,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "stream": False,
        },
    )


async def wait_graph_serving(base_url: str, timeout: float = 60.0) -> None:
    """Until the frontend answers one chat completion with 200 (every role registered and routing)."""

    async def one() -> bool:
        try:
            async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
                response = await chat(client, base_url, max_tokens=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    await wait_for(one, timeout, f"{base_url} to answer a chat completion", interval=0.2)


# --- load ---------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a :class:`LoadDriver` saw."""

    ok: int = 0
    failed: list[str] = field(default_factory=list)  # "status: body start" or the exception
    latencies_s: list[float] = field(default_factory=list)


class LoadDriver:
    """``concurrency`` clients, each sending chat completions back to back until :meth:`stop`.

    Loopback only, no proxy from the environment. ``async with LoadDriver(...)`` starts and stops it.
    """

    def __init__(
        self,
        base_url: str,
        concurrency: int,
        max_tokens: int = 64,
        prompt: str = "hello world please write a story",
        request_timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url
        self.concurrency = concurrency
        self.max_tokens = max_tokens
        self.prompt = prompt
        self.result = LoadResult()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._client = httpx.AsyncClient(
            timeout=request_timeout_s,
            trust_env=False,
            limits=httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4),
        )

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return self._in_flight

    _in_flight = 0

    async def _client_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._in_flight += 1
            try:
                response = await chat(self._client, self.base_url, self.max_tokens, self.prompt)
            except httpx.HTTPError as exc:
                self.result.failed.append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                self._in_flight -= 1
            problem = self.problem(response)
            if problem is None:
                self.result.ok += 1
                self.result.latencies_s.append(time.monotonic() - started)
            else:
                self.result.failed.append(problem)

    def problem(self, response: httpx.Response) -> str | None:
        """Why an answer counts as failed (None: it succeeded); a non-200 by default."""
        if response.status_code != 200:
            return f"{response.status_code}: {response.text[:200]}"
        return None

    def start(self) -> None:
        """Start the clients."""
        self._tasks = [asyncio.create_task(self._client_loop()) for _ in range(self.concurrency)]

    async def stop(self, drain_timeout_s: float = 60.0) -> LoadResult:
        """Send no new request; wait for those in flight (cancelled after ``drain_timeout_s``)."""
        self._stop.set()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=drain_timeout_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self.result.failed.append("cancelled: still in flight at the drain deadline")
        await self._client.aclose()
        return self.result

    async def __aenter__(self) -> LoadDriver:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
