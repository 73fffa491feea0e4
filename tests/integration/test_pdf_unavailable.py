"""Reports on a machine where WeasyPrint cannot load Pango (Debian's Pango packages are not
installed): a PDF is refused with what to install, through the CLI and the API, and every
other format still works.

The machine under test has Pango, so each check runs in a fresh process in which cffi cannot
open it: a `sitecustomize` makes `FFI.dlopen` of a Pango library raise cffi's own OSError,
which WeasyPrint's import then meets exactly as it would without the package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.runtime.db import make_engine, upgrade

from .reporting_data import ReportingData, populate

REPO = Path(__file__).resolve().parents[2]

NO_PANGO = """
import cffi

_dlopen = cffi.FFI.dlopen


def dlopen(self, name, *args, **kwargs):
    if "pango" in str(name):
        raise OSError(
            f"cannot load library {name!r}: {name}: cannot open shared object file: "
            "No such file or directory"
        )
    return _dlopen(self, name, *args, **kwargs)


cffi.FFI.dlopen = dlopen
"""

API_REQUESTS = """
import json, sys
from fastapi.testclient import TestClient
from services.reporting.api import create_app
from services.runtime.db import make_engine
from services.runtime.settings import Settings

settings = Settings()
with TestClient(create_app(settings, make_engine(settings.sqlalchemy_url))) as client:
    answers = {}
    for fmt in ("pdf", "html"):
        response = client.get("/api/reports/national", params={"format": fmt})
        answers[fmt] = [response.status_code, response.headers["content-type"], response.text]
json.dump(answers, sys.stdout)
"""


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], ReportingData]:
    """The environment of a process without Pango, over a database with a snapshot."""
    folder = tmp_path_factory.mktemp("no-pango")
    engine = make_engine(f"sqlite:///{folder / 'meetlat.db'}")
    upgrade(engine)
    data = populate(engine, municipalities=4, seed=3)
    engine.dispose()
    shim = folder / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_PANGO)
    env = {
        **os.environ,
        "PYTHONPATH": f"{shim}{os.pathsep}{REPO}",
        "MEETLAT_DATA_DIR": str(folder),
        "MEETLAT_DATABASE_URL": "",
        "COLUMNS": "400",  # (rich wraps what it prints to a narrower terminal)
    }
    return env, data


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, timeout=120
    )


def meetlat(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return run(env, "-m", "services.cli", *args)


def says_what_to_install(message: str) -> bool:
    return (
        "PDF reports need Pango and HarfBuzz" in message
        and "cannot load library 'libpango" in message
        and "apt-get install libpango-1.0-0 libpangoft2-1.0-0" in message
    )


def test_the_shim_keeps_weasyprint_from_loading_pango(
    machine: tuple[dict[str, str], ReportingData],
) -> None:
    env, _ = machine
    imported = run(env, "-c", "import weasyprint")
    assert imported.returncode == 1
    assert b"OSError: cannot load library 'libpango" in imported.stderr


def test_the_cli_refuses_a_pdf_and_says_what_to_install(
    machine: tuple[dict[str, str], ReportingData], tmp_path: Path
) -> None:
    env, data = machine
    one = meetlat(env, "report", "municipality", data.named, "-f", "pdf", "-o", "-")
    assert one.returncode == 1, one.stderr.decode()
    assert one.stdout == b""  # (WeasyPrint's own hint is not written where the report goes)
    assert says_what_to_install(one.stderr.decode()), one.stderr.decode()
    assert "Traceback" not in one.stderr.decode()

    folder = tmp_path / "all"
    every = meetlat(env, "report", "all", "-f", "html", "-f", "pdf", "-o", str(folder))
    assert every.returncode == 1, every.stderr.decode()
    assert says_what_to_install(every.stderr.decode()), every.stderr.decode()
    assert not folder.exists()  # refused before any report was rendered or written

    html = meetlat(env, "report", "all", "-f", "html", "-o", str(folder))
    assert html.returncode == 0, html.stderr.decode()
    assert (folder / "national.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_the_api_answers_501_for_a_pdf_and_serves_html(
    machine: tuple[dict[str, str], ReportingData],
) -> None:
    env, _ = machine
    requests = run(env, "-c", API_REQUESTS)
    assert requests.returncode == 0, requests.stderr.decode()
    answers = json.loads(requests.stdout)
    status, content_type, body = answers["pdf"]
    assert (status, content_type) == (501, "application/json")
    assert says_what_to_install(json.loads(body)["detail"]), body
    status, content_type, body = answers["html"]
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<!DOCTYPE html>" in body
