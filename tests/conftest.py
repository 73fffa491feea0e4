"""Shared test helpers.

A test that needs an outside program (PostgreSQL, the Tansu broker, Dovecot, Prometheus,
Chromium) may skip on a developer's laptop without it, but never in CI: with `CI` set
(as `.ci/run` does) a missing program is a failure.
"""

from __future__ import annotations

import os

import pytest


def missing_peer(reason: str) -> None:
    """Skip locally, fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"required test peer missing in CI: {reason}")
    pytest.skip(reason)
