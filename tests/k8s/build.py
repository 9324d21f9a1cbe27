"""Build a real ``kube-apiserver`` (v1.20.2) once, into a cache directory outside the repository.

No Debian package ships ``kube-apiserver`` and nothing reachable here ships it as a binary, so the test
suite builds it from Debian bookworm's own ``kubernetes`` **source** package (REFERENCE.md section 5):

1. ``apt-get source kubernetes`` with a private apt configuration: ``deb-src`` lines derived from the
   machine's own ``deb`` entries, lists and archives under the cache directory (the system's apt setup
   is left untouched);
2. the vendored ``github.com/modern-go/reflect2`` 1.0.1 (``fatal error: fault`` under Go >= 1.18 on the
   first CRD request) is replaced by Debian's ``golang-github-modern-go-reflect2-dev`` 1.0.2;
3. ``make WHAT=cmd/kube-apiserver`` with ``GOPROXY=off GOFLAGS= CGO_ENABLED=0 KUBE_GIT_VERSION=v1.20.2``
   (Debian's ``golang-go`` 1.19; offline: everything is in ``vendor/``).

It takes 4-6 minutes on 2 cores and 2.1 GB of scratch disk (deleted afterwards); the result is one
~110 MB binary, ``<cache>/bin/kube-apiserver``, reused by every later run. A file lock makes parallel
test processes build it once.

Environment:
- ``PLANNER_TUI_KUBE_CACHE``: the cache directory (default ``~/.cache/planner-tui/kube-apiserver-v1.20.2``).
- ``CI=true``: a binary that cannot be built fails the tests (``conftest.py``), never skips them.

Run ``python -m tests.k8s.build`` to build (or check) it by hand; ``tests/run.sh`` does before pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

KUBE_VERSION = "v1.20.2"
CACHE_ENV = "PLANNER_TUI_KUBE_CACHE"
#: Debian packages the build and the clusters need (tests/run.sh installs them as root)
DEBIAN_PACKAGES = (
    "golang-go",
    "rsync",
    "dpkg-dev",
    "make",
    "golang-github-modern-go-reflect2-dev",
    "etcd-server",
    "openssl",
)
REFLECT2_SRC = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")
#: a cold build takes 260-370 s on 2 idle cores; leave room for a busy machine
BUILD_TIMEOUT_S = 1800.0
_INSTALL_HINT = "as root: apt-get install -y " + " ".join(DEBIAN_PACKAGES) + " (tests/run.sh does this)"


class KubeApiserverUnavailable(RuntimeError):
    """kube-apiserver could not be built (the message says which step failed and what to do)."""


def cache_dir() -> Path:
    """``$PLANNER_TUI_KUBE_CACHE`` or ``~/.cache/planner-tui/kube-apiserver-v1.20.2``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    return Path.home().absolute() / ".cache" / "planner-tui" / f"kube-apiserver-{KUBE_VERSION}"


def binary_path(cache: Path | None = None) -> Path:
    """Where the built binary lives (it may not exist yet)."""
    return (cache or cache_dir()) / "bin" / "kube-apiserver"


def build_log_path(cache: Path | None = None) -> Path:
    """The log of the last build (every command and its output)."""
    return (cache or cache_dir()) / "build.log"


def _verify(binary: Path) -> str | None:
    """None when ``binary --version`` reports :data:`KUBE_VERSION`."""
    if not binary.exists():
        return f"{binary} does not exist"
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{binary} --version failed: {exc}"
    if done.returncode != 0 or KUBE_VERSION not in done.stdout:
        return f"{binary} --version printed {(done.stdout + done.stderr).strip()[:200]!r}, expected {KUBE_VERSION}"
    return None


def missing_tools() -> list[str]:
    """The Debian packages the build needs that are not installed (by the files they provide)."""
    checks = {
        "golang-go": shutil.which("go"),
        "rsync": shutil.which("rsync"),
        "dpkg-dev": shutil.which("dpkg-source"),
        "make": shutil.which("make"),
        "golang-github-modern-go-reflect2-dev": (REFLECT2_SRC / "reflect2.go").exists() or None,
    }
    return [package for package, found in checks.items() if not found]


# --- a private apt configuration for `apt-get source` ------------------------------------------------


def _deb_entries() -> list[tuple[str, str, list[str], list[str]]]:
    """The machine's ``deb`` entries as (options, uri, suites, components); deb822 and one-line files."""
    entries: list[tuple[str, str, list[str], list[str]]] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            options = f"[signed-by={fields['signed-by']}] " if fields.get("signed-by", "").startswith("/") else ""
            for uri in fields.get("uris", "").split():
                entries.append((options, uri, fields.get("suites", "").split(), fields.get("components", "").split()))
    one_line = [Path("/etc/apt/sources.list")]
    one_line += sorted(sources.glob("*.list")) if sources.is_dir() else []
    for path in one_line:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)", line)
            if match:
                options = match.group(1) or ""
                entries.append((options, match.group(2), [match.group(3)], match.group(4).split()))
    # only Debian's own archives carry the kubernetes source package
    return [e for e in entries if "debian" in e[1] and "security" not in e[1] and e[2] and e[3]]


def _apt_options(apt_dir: Path) -> list[str]:
    return [
        "-o",
        f"Dir::Etc::SourceList={apt_dir / 'sources.list'}",
        "-o",
        f"Dir::Etc::SourceParts={apt_dir / 'sources.list.d'}",
        "-o",
        f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o",
        f"Dir::Cache={apt_dir / 'cache'}",
        "-o",
        "APT::Sandbox::User=root" if os.geteuid() == 0 else "Debug::NoDropPrivs=true",
        "-o",
        "Acquire::Retries=3",
    ]


def _write_apt_config(apt_dir: Path) -> None:
    entries = _deb_entries()
    if not entries:
        raise KubeApiserverUnavailable(
            "no Debian 'deb' entry found in /etc/apt/sources.list{,.d} to derive a deb-src line from; "
            "add one for Debian bookworm (deb http://deb.debian.org/debian bookworm main)"
        )
    lines = [
        f"deb-src {options}{uri} {suite} {' '.join(components)}"
        for options, uri, suites, components in entries
        for suite in suites
    ]
    for sub in ("sources.list.d", "lists/partial", "cache/archives/partial"):
        (apt_dir / sub).mkdir(parents=True, exist_ok=True)
    (apt_dir / "sources.list").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- the build ------------------------------------------------------------------------------------------


class _Runner:
    """Runs build commands with a shared deadline, logging each command and its output."""

    def __init__(self, log: Path, deadline: float) -> None:
        self.log = log
        self.deadline = deadline

    def __call__(self, step: str, cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise KubeApiserverUnavailable(f"building kube-apiserver took over {BUILD_TIMEOUT_S:.0f} s (at: {step})")
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"\n=== {step}: {' '.join(cmd)} (in {cwd})\n")
            out.flush()
            started = time.monotonic()
            try:
                done = subprocess.run(
                    cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=remaining, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise KubeApiserverUnavailable(f"building kube-apiserver: {step}: {exc} (log: {self.log})") from exc
            out.write(f"=== {step}: exit {done.returncode} after {time.monotonic() - started:.1f} s\n")
        if done.returncode != 0:
            tail = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise KubeApiserverUnavailable(
                f"building kube-apiserver: {step} ({' '.join(cmd)}) exited {done.returncode}; "
                f"full log: {self.log}\n{tail}"
            )


def _find_source_tree(work: Path) -> Path:
    trees = [p for p in work.iterdir() if p.is_dir() and p.name.startswith("kubernetes-")]
    if len(trees) != 1 or not (trees[0] / "vendor").is_dir():
        raise KubeApiserverUnavailable(f"apt-get source kubernetes left {trees} in {work}, expected one tree")
    return trees[0]


def _patch_reflect2(tree: Path) -> None:
    """Swap vendored reflect2 1.0.1 (crashes under Go >= 1.18) for Debian's 1.0.2 (same API)."""
    vendored = tree / "vendor" / "github.com" / "modern-go" / "reflect2"
    shutil.rmtree(vendored)
    shutil.copytree(REFLECT2_SRC, vendored, symlinks=False)


def _build(cache: Path) -> Path:
    missing = missing_tools()
    if missing:
        raise KubeApiserverUnavailable(f"building kube-apiserver needs Debian packages {missing}; {_INSTALL_HINT}")
    log = build_log_path(cache)
    log.write_text(f"building kube-apiserver {KUBE_VERSION} in {cache}\n", encoding="utf-8")
    work = cache / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run = _Runner(log, time.monotonic() + BUILD_TIMEOUT_S)
    apt_dir = cache / "apt"
    _write_apt_config(apt_dir)
    apt = ["apt-get", "-q", *_apt_options(apt_dir)]
    run("apt-get update (deb-src only, private lists)", [*apt, "update"], cwd=work)
    run("apt-get source kubernetes", [*apt, "source", "kubernetes"], cwd=work)
    tree = _find_source_tree(work)
    _patch_reflect2(tree)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "GOPATH": str(work / "gopath"),
        "GOCACHE": str(work / "gocache"),
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GO111MODULE": "",
        "CGO_ENABLED": "0",
        "KUBE_GIT_VERSION": KUBE_VERSION,
        "KUBE_GIT_TREE_STATE": "clean",
        "LANG": "C.UTF-8",
    }
    run("make WHAT=cmd/kube-apiserver", ["make", "WHAT=cmd/kube-apiserver"], cwd=tree, env=env)
    built = [p for p in (tree / "_output").rglob("kube-apiserver") if p.is_file() and os.access(p, os.X_OK)]
    if not built:
        raise KubeApiserverUnavailable(f"make finished but no kube-apiserver binary is under {tree / '_output'}")
    target = binary_path(cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(built[0], partial)
    partial.replace(target)  # atomic: a half-copied binary is never taken for a built one
    shutil.rmtree(work, ignore_errors=True)  # 2.1 GB of sources and Go cache
    return target


def ensure_kube_apiserver(cache: Path | None = None) -> Path:
    """The path of a kube-apiserver v1.20.2 binary, built on first use (4-6 min on 2 cores).

    Built under a file lock next to the cache directory, so parallel test processes build it once.
    Raises :class:`KubeApiserverUnavailable` with the failing step, the tail of the build log and what
    to do (install the Debian packages listed in :data:`DEBIAN_PACKAGES`).
    """
    cache = cache or cache_dir()
    binary = binary_path(cache)
    if _verify(binary) is None:
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(cache.parent / f".{cache.name}.lock"))
    try:
        with lock.acquire(timeout=BUILD_TIMEOUT_S):
            if _verify(binary) is None:  # another process built it while we waited
                return binary
            _build(cache)
    except Timeout as exc:
        raise KubeApiserverUnavailable(
            f"waited {BUILD_TIMEOUT_S:.0f} s for another process building kube-apiserver in {cache}"
        ) from exc
    problem = _verify(binary)
    if problem:
        raise KubeApiserverUnavailable(f"kube-apiserver was built in {cache} but {problem}")
    return binary


def main() -> int:
    """``python -m tests.k8s.build``: build (or find) the binary and print its path."""
    started = time.monotonic()
    try:
        binary = ensure_kube_apiserver()
    except KubeApiserverUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            f"fix the cause above, then run: python -m tests.k8s.build (build log: {build_log_path()}; "
            f"the Debian packages it needs, {_INSTALL_HINT})",
            file=sys.stderr,
        )
        return 1
    print(f"kube-apiserver {KUBE_VERSION}: {binary} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
