"""Throw-away certificates for TLS tests, made with the ``openssl`` CLI (``cryptography`` is not in the
virtualenv): a CA, a server certificate for ``localhost`` / ``127.0.0.1`` and a client certificate, both
signed by the CA, and a second CA that signed nothing of ours (a client certificate from the wrong CA).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certs", "make_certs"]


@dataclass(frozen=True)
class Certs:
    """Paths of PEM files in one directory."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    """A client certificate signed by a CA the server does not trust."""
    rogue_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def _self_signed_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", f"/CN=driftline test {name}", "-keyout", key, "-out", cert,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def _signed(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr, ext = (directory / f"{name}.pem", directory / f"{name}-key.pem", directory / f"{name}.csr",
                           directory / f"{name}.ext")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    ext.write_text(extensions)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", "2",
             "-out", cert, "-extfile", ext)
    return cert, key


def make_certs(directory: Path) -> Certs:
    """Write a CA, server and client certificates into ``directory`` (a few hundred milliseconds)."""
    if shutil.which("openssl") is None:  # pragma: no cover - the CI image has it
        raise RuntimeError("the TLS tests need the openssl command")
    ca = _self_signed_ca(directory, "ca")
    server = _signed(directory, "localhost", ca, "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                                 "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    client = _signed(directory, "client", ca, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    rogue_ca = _self_signed_ca(directory, "rogue-ca")
    rogue = _signed(directory, "rogue", rogue_ca, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    return Certs(ca[0], server[0], server[1], client[0], client[1], rogue[0], rogue[1])
