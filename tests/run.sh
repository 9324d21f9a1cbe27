#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs it.
#   bash tests/run.sh [pytest args]
# Debian packages (real servers and a C compiler for the fake NVML library) are installed with
# apt-get when missing and running as root; Python packages with pip into the current environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# Debian packages the tests use: gcc builds the fake libnvidia-ml.so; prometheus is a real server;
# etcd-server, openssl and the rest build and run a real kube-apiserver for tests/k8s (tests/k8s/build.py).
APT_PACKAGES=(gcc libc6-dev prometheus
  etcd-server openssl golang-go golang-github-modern-go-reflect2-dev rsync dpkg-dev make)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing Debian packages ${missing[*]} (run as root to install them)" >&2
  fi
fi

"$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test]'
# Dynamo 1.6.1 in its own venv outside the repository (tests/dynamo; ~10-20 s once, then cached under
# ~/.cache/planner-tui or $PLANNER_TUI_DYNAMO_VENV). Built here so a failure shows before the suite;
# the tests' fixture builds it the same way (under a file lock) when run on their own.
"$PYTHON" -c 'from tests.dynamo.harness import ensure_dynamo; print("dynamo venv:", ensure_dynamo().parent.parent)' \
  || { [ "${CI:-}" = true ] && exit 1; echo "warning: the Dynamo venv could not be built; tests/dynamo will skip" >&2; }
# kube-apiserver v1.20.2 for tests/k8s, built once from Debian's kubernetes source package (3-6 min on 2
# cores, 2.1 GB of scratch disk), then cached under ~/.cache/planner-tui or $PLANNER_TUI_KUBE_CACHE.
"$PYTHON" -m tests.k8s.build \
  || { [ "${CI:-}" = true ] && exit 1; echo "warning: kube-apiserver could not be built; tests/k8s will skip" >&2; }
exec "$PYTHON" -m pytest "$@"
