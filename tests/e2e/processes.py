"""Watching the `meetlat` processes an end-to-end test starts, and their children."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def embedded_broker(process: subprocess.Popen[bytes]) -> int:
    """The pid of the embedded broker a `meetlat` process started, once started."""
    found: list[int] = []

    def started() -> bool:
        found[:] = [pid for pid, command in children(process.pid).items() if "tansu" in command]
        return bool(found)

    wait_for(started, 60, "the embedded broker")
    return found[0]


@contextmanager
def killed_if_left(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """The process, killed after the block if it is still running (a test that failed)."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> dict[int, str]:
    """The processes `pid` started (zombies included), with their command lines."""
    found = subprocess.run(["pgrep", "-a", "-P", str(pid)], capture_output=True, text=True)
    return {
        int(n): command
        for n, _, command in (line.partition(" ") for line in found.stdout.splitlines())
    }


def stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"
