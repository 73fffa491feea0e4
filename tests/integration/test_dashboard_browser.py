"""The dashboard in headless Chromium: pages load, the slide-24 charts and the quadrant are
there, the drill-down links national → Chamber → municipality work (and back through the
breadcrumbs). Screenshots are kept in tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from bs4 import BeautifulSoup

from services.reporting.api import create_app
from services.runtime.db import make_engine, upgrade
from services.runtime.settings import Settings
from tests.conftest import missing_peer

from .reporting_data import ReportingData, populate

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    missing_peer("headless Chromium (Debian package `chromium`) is not installed")
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ReportingData]]:
    folder = tmp_path_factory.mktemp("dashboard")
    engine = make_engine(f"sqlite:///{folder / 'meetlat.db'}")
    upgrade(engine)
    data = populate(engine, municipalities=24, seed=9)
    settings = Settings(data_dir=folder, database_url=str(engine.url))
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, engine), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline, "dashboard server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", data
    running.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def browse(url: str, screenshot: str | None = None) -> BeautifulSoup:
    """The page's DOM after Chromium loaded it (and a full-page screenshot when asked)."""
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    if screenshot:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / screenshot
        subprocess.run(
            [*base, "--window-size=1280,2600", f"--screenshot={target}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
        assert target.stat().st_size > 10_000
    page = BeautifulSoup(dom, "html.parser")
    assert page.find("h1") is not None, dom[:500]
    return page


def charts(page: BeautifulSoup) -> list[BeautifulSoup]:
    return [f for f in page.select("figure.chart svg") if f.select("rect.bar, polyline")]


def test_drill_down_national_chamber_municipality(server: tuple[str, ReportingData]) -> None:
    base, data = server
    national = browse(f"{base}/dashboard", "dashboard-national.png")
    assert "Landelijk rapport" in national.find("h1").get_text()
    assert len(charts(national)) >= 3  # Chambers compared (2), distributions, trends
    assert national.select("section[data-section=quadrant] .quadrant")
    assert national.select("figure[data-chart=lines] polyline")  # wave trends
    chamber_link = national.select_one(
        f'table.chambers a[href^="/dashboard/chamber/{data.chamber}"]'
    )
    assert chamber_link is not None

    chamber = browse(base + chamber_link["href"], "dashboard-chamber.png")
    assert chamber.find("h1").get_text().strip() == chamber_link.get_text().strip()
    assert charts(chamber)
    municipality_link = chamber.select_one(
        f'table.members a[href^="/dashboard/municipality/{data.named}"]'
    )
    assert municipality_link is not None
    bar_link = chamber.select_one(f'figure a[data-drill=municipality][href*="{data.named}"]')
    assert bar_link is not None  # the bars of the chart drill down too

    municipality = browse(base + municipality_link["href"], "dashboard-municipality.png")
    assert municipality_link.get_text().strip() in municipality.find("h1").get_text()
    assert [s["data-section"] for s in municipality.select("section[data-section]")] == [
        str(i) for i in range(1, 8)
    ]
    position = municipality.select("section[data-section='5'] figure.chart svg")
    assert position and all(svg.select("line[data-line=norm]") for svg in position)
    assert municipality.select("section[data-section='6'] article.call")
    # breadcrumbs lead back up
    crumbs = [a["href"] for a in municipality.select("nav.crumbs a")]
    assert crumbs[:2] == ["/dashboard", f"/dashboard/chamber/{data.chamber}"]
    back = browse(base + crumbs[1])
    assert back.find("h1").get_text() == chamber.find("h1").get_text()
