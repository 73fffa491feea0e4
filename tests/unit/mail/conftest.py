"""Mail analysis tests. The fuzz test carries the `fuzz` marker (registered here, since the
marker list in pyproject.toml is not this package's): `pytest -m fuzz` runs only it,
`pytest -m "not fuzz"` everything else.

Spelling is counted with Debian's hunspell-nl dictionary (`scripts/test` installs it): tests
that count spelling errors use the `speller` fixture, which skips without the dictionary on a
laptop and fails in CI."""

from __future__ import annotations

import pytest

from services.ingest.mail.checks import DEFAULT_DICTIONARY, Speller, hunspell_speller
from tests.conftest import missing_peer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: feeds ≥ 10,000 mutated messages to analyze")


@pytest.fixture(scope="session")
def speller() -> Speller:
    found = hunspell_speller()
    if found is None:
        missing_peer(f"no Dutch Hunspell dictionary at {DEFAULT_DICTIONARY} (hunspell-nl)")
    assert found is not None
    return found
