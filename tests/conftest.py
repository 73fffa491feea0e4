"""Shared test helpers.

A test that needs an outside program (PostgreSQL, the Tansu broker, Dovecot, Prometheus,
Chromium) may skip on a developer's laptop without it, but never in CI: with `CI` set
(as `.ci/run` does) a missing program is a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.runtime.broker import free_port


def kafka_io_threads() -> set[threading.Thread]:
    """The IO threads of kafka-python's clients in this process."""
    return {t for t in threading.enumerate() if t.name.startswith("kafka-io")}


def free_port_block(count: int) -> int:
    """The first of `count` consecutive ports that no one listens on now, below the kernel's
    range of ephemeral ports: a free port from that range (`free_port`) may have its
    neighbours taken at any moment by the client sockets of the processes under test."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32_768
    for base in range(low - 8_000, low - count, count):
        with contextlib.ExitStack() as bound:
            try:
                for port in range(base, base + count):
                    sock = bound.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return base
    raise OSError(f"no {count} consecutive free ports below {low}")


def missing_peer(reason: str) -> None:
    """Skip locally, fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"required test peer missing in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def serving(env: dict[str, str], log: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """`meetlat serve` with `env`, in a process of its own on a free port of `host`: its base
    URL on the loopback address once it answers. Afterwards it is stopped as Ctrl-C stops
    it, and must exit cleanly."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--host", host, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None, f"meetlat serve exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "meetlat serve did not answer within 60 s"
            try:
                with urllib.request.urlopen(f"{base}/openapi.json", timeout=5):
                    break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    assert serve.returncode == 0, log.read_text()[-3000:]
