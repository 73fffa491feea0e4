"""Which addresses `meetlat serve` may listen on without an API token."""

from __future__ import annotations

import pytest

from services.runtime.web import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.0.3", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "", "10.0.0.4", "meetlat.example.org", "localhost.example.org"]
)
def test_addresses_others_reach(host: str) -> None:
    assert not is_loopback(host)
