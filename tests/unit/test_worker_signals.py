"""A stop signal while `meetlat worker` starts, before faust handles signals
(services.runtime.worker.StartUpSignals), with real signals sent to this process."""

from __future__ import annotations

import contextlib
import signal

import pytest

from services.runtime.worker import StartUpSignals, StopRequested


def test_before_faust_starts_a_signal_stops_the_start_up() -> None:
    with StartUpSignals().installed() as signals, pytest.raises(StopRequested) as stopped:
        signal.raise_signal(signal.SIGTERM)
    assert stopped.value.code == 0
    assert signals.received == [signal.SIGTERM]


def test_a_swallowed_signal_stops_the_start_up_where_faust_would_begin() -> None:
    with StartUpSignals().installed() as signals:
        # (as Python does with what a garbage-collector callback raises)
        with contextlib.suppress(StopRequested):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(StopRequested):
            signals.stop_if_requested()  # (where per-service workers are started)
        with pytest.raises(StopRequested):
            signals.hold()


def test_while_faust_starts_signals_are_held_then_handed_to_its_handlers() -> None:
    got: list[int] = []
    with StartUpSignals().installed() as signals:
        signals.hold()
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
        assert signals.received == [signal.SIGINT, signal.SIGTERM]
        for sig in (signal.SIGINT, signal.SIGTERM):  # (faust's handlers, installed now)
            signal.signal(sig, lambda signum, _frame: got.append(signum))
        signals.hand_over()
    assert got == [signal.SIGINT, signal.SIGTERM]
    assert signals.received == []


def test_the_handlers_before_are_restored() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with StartUpSignals().installed() as signals:
        assert signal.getsignal(signal.SIGINT) is signals
    assert {sig: signal.getsignal(sig) for sig in before} == before
