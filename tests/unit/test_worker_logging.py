"""The workers' logging: faust's terminal spinner would turn every debug call in faust and
aiokafka into a log record (services.runtime.worker.faust_worker)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import faust
import pytest

from services.runtime.settings import Settings
from services.runtime.worker import faust_worker


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, as it was before the test."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def _configure(worker: faust.Worker) -> None:
    worker._setup_logging()  # what the worker does first when it starts


def test_a_worker_logs_at_its_level_without_turning_on_debug_records(
    root_logger: logging.Logger,
) -> None:
    app = faust.App("logging-test", broker="kafka://127.0.0.1:9")
    settings = Settings(log_level="warn")

    # faust's own default: the spinner sets the root logger to DEBUG
    _configure(faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False))
    assert logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)

    _configure(faust_worker(app, settings, redirect_stdouts=False))
    assert root_logger.level == logging.WARNING
    assert not logging.getLogger("aiokafka").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("faust.topics").isEnabledFor(logging.INFO)
    assert logging.getLogger("services").isEnabledFor(logging.WARNING)
