"""A throwaway certificate authority for a test cluster, made with the ``openssl`` command line.

The API server's serving certificate, its client certificate towards kubelets, the fake kubelet's
serving certificate and the service-account signing key all come from here. Keys are ECDSA P-256 (fast
to make; Go and Python's ``ssl`` accept them); every certificate names ``127.0.0.1`` and ``localhost``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
_DAYS = "3650"


class PkiError(RuntimeError):
    """openssl is missing or failed (the message has its output)."""


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise PkiError("the openssl command is missing; as root: apt-get install -y openssl")
    try:
        done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PkiError(f"openssl {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise PkiError(f"openssl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-1000:]}")


def _config(path: Path, common_name: str, extensions: Sequence[str], organizations: Sequence[str] = ()) -> Path:
    text = "\n".join(
        [
            "[req]",
            "distinguished_name = dn",
            "prompt = no",
            "[dn]",
            *(f"{i}.O = {org}" for i, org in enumerate(organizations)),  # a client certificate's groups
            f"CN = {common_name}",
            "[ext]",
            *extensions,
            "",
        ]
    )
    path.write_text(text, encoding="utf-8")
    return path


class CertificateAuthority:
    """A CA in ``directory`` (``ca.crt``, ``ca.key``) that issues leaf certificates next to it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert = directory / "ca.crt"
        self.key = directory / "ca.key"

    @classmethod
    def create(cls, directory: Path, common_name: str = "planner-tui-test-ca") -> CertificateAuthority:
        """Make a new self-signed CA in ``directory`` (created 0700)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        ca = cls(directory)
        config = _config(
            directory / "ca.cnf",
            common_name,
            ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign,digitalSignature"],
        )
        _openssl(
            "req", "-x509", *_EC, "-keyout", ca.key.name, "-out", ca.cert.name, "-days", _DAYS,
            "-config", config.name, "-extensions", "ext", cwd=directory,
        )  # fmt: skip
        os.chmod(ca.key, 0o600)
        return ca

    def issue(
        self,
        name: str,
        common_name: str | None = None,
        organizations: Sequence[str] = (),
        ips: Sequence[str] = ("127.0.0.1",),
        dns: Sequence[str] = ("localhost",),
    ) -> tuple[Path, Path]:
        """A certificate and key (``{name}.crt``, ``{name}.key``) for server and client use."""
        subject_cn = common_name or name
        sans = [f"IP:{ip}" for ip in ips] + [f"DNS:{host}" for host in dns]
        extensions = [
            "basicConstraints = CA:FALSE",
            "keyUsage = critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage = serverAuth,clientAuth",
        ]
        if sans:
            extensions.append("subjectAltName = " + ",".join(sans))
        config = _config(self.directory / f"{name}.cnf", subject_cn, extensions, organizations)
        cert, key, csr = (self.directory / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
        _openssl("req", "-new", *_EC, "-keyout", key.name, "-out", csr.name, "-config", config.name,
                 cwd=self.directory)  # fmt: skip
        _openssl(
            "x509", "-req", "-in", csr.name, "-CA", self.cert.name, "-CAkey", self.key.name, "-CAcreateserial",
            "-out", cert.name, "-days", _DAYS, "-extfile", config.name, "-extensions", "ext", cwd=self.directory,
        )  # fmt: skip
        os.chmod(key, 0o600)
        return cert, key


def service_account_keys(directory: Path) -> tuple[Path, Path]:
    """An ECDSA key pair (``sa.key``, ``sa.pub``) the API server signs service-account tokens with."""
    key, pub = directory / "sa.key", directory / "sa.pub"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key.name, cwd=directory)
    _openssl("ec", "-in", key.name, "-pubout", "-out", pub.name, cwd=directory)
    os.chmod(key, 0o600)
    return key, pub
