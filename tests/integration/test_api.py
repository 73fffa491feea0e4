"""The reporting API over a real SQL database: snapshots, figures, diffs, reports in every
format, the dashboard and metrics — and no staff name in any response."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from schemas.reference import ReferenceData
from services.reporting.api import create_app
from services.reporting.figures import FigureRow
from services.reporting.source import sync_contact_texts
from services.reporting.store import BenchmarkStore
from services.reporting.text_store import StoredText
from services.runtime.db import make_engine, upgrade
from services.runtime.settings import Settings
from tests.unit.reporting.corpus import SECRETS

from .reporting_data import ReportingData, populate


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, ReportingData]]:
    folder: Path = tmp_path_factory.mktemp("api")
    engine = make_engine(f"sqlite:///{folder / 'meetlat.db'}")
    upgrade(engine)
    data = populate(engine)
    yield engine, data
    engine.dispose()


@pytest.fixture(scope="module")
def client(
    database: tuple[Engine, ReportingData], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    engine, _ = database
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), database_url=str(engine.url))
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


def no_secrets(text: str, where: str) -> None:
    leaked = [s for s in SECRETS if s.lower() in text.lower()]
    assert leaked == [], f"{where} leaks {leaked}"


def test_snapshots_and_figures(client: TestClient, database: tuple[Engine, ReportingData]) -> None:
    engine, data = database
    listed = client.get("/api/snapshots").json()
    assert [s["id"] for s in listed][:1] == [data.snapshot_id]
    rows = client.get(
        f"/api/snapshots/{data.snapshot_id}/figures",
        params={"scope_kind": "municipality", "scope_id": data.named, "wave": 2},
    ).json()
    expected = [
        r
        for r in BenchmarkStore(engine).snapshot_figures(data.snapshot_id)
        if (r.scope_kind, r.scope_id, r.wave) == ("municipality", data.named, 2)
    ]
    assert [(r["breakdown"], r["metric"], r["value"], r["label"]) for r in rows] == [
        (r.breakdown, r.metric, r.value, r.label) for r in expected
    ]
    assert client.get("/api/snapshots/999/figures").status_code == 404


def test_figures_page_by_page_with_link_headers(
    client: TestClient, database: tuple[Engine, ReportingData]
) -> None:
    engine, data = database
    path = f"/api/snapshots/{data.snapshot_id}/figures"
    every = BenchmarkStore(engine).snapshot_figures(data.snapshot_id)
    wanted = [r for r in every if (r.scope_kind, r.wave) == ("chamber", 2)]
    assert len(wanted) > 10

    def follow(url: str, params: dict[str, str | int] | None) -> tuple[list[dict], int]:
        rows: list[dict] = []
        for pages in itertools.count(1):
            response = client.get(url, params=params)
            assert response.status_code == 200, response.text
            rows.extend(response.json())
            link = response.headers.get("link")
            if link is None:
                return rows, pages
            match = re.fullmatch(r'<(http://testserver)(/[^>]+)>; rel="next"', link)
            assert match, link
            url, params = match[2], None  # the link carries the filters and the cursor
        raise AssertionError("unreachable")

    rows, pages = follow(path, {"scope_kind": "chamber", "wave": 2, "limit": 7})
    assert pages == -(-len(wanted) // 7)
    assert [FigureRow(**r) for r in rows] == wanted
    first = client.get(path, params={"scope_kind": "chamber", "wave": 2})
    assert "link" not in first.headers  # all of them fit the default page
    assert [FigureRow(**r) for r in first.json()] == wanted

    for params in ({"limit": 0}, {"limit": 100_001}, {"after": "!"}):
        refused = client.get(path, params=params)
        assert refused.status_code == 422, (params, refused.text)
    for cursor in ("bm90IGEgY3Vyc29y", "WyJhIl0=", "YQ"):  # "not a cursor", ["a"], bad padding
        refused = client.get(path, params={"after": cursor})
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["query", "after"] and "not a cursor" in problem["msg"]
    spec = client.get("/openapi.json").json()
    documented = spec["paths"]["/api/snapshots/{snapshot_id}/figures"]["get"]["responses"]
    assert "Link" in documented["200"]["headers"]


def test_take_snapshot_and_diff(client: TestClient, database: tuple[Engine, ReportingData]) -> None:
    _, data = database
    taken = client.post("/api/snapshots", params={"label": "again"})
    assert taken.status_code == 201
    again = taken.json()["id"]
    diff = client.get(f"/api/snapshots/{data.snapshot_id}/diff/{again}").json()
    assert diff["figures_changed"] == 0 and diff["scopes"] == []
    # a retried request with the same Idempotency-Key gets the same snapshot back
    keyed = [
        client.post("/api/snapshots", params={"label": "k"}, headers={"Idempotency-Key": "k-1"})
        for _ in range(2)
    ]
    assert [r.status_code for r in keyed] == [201, 201]
    assert keyed[0].json()["id"] == keyed[1].json()["id"] != again


@pytest.mark.parametrize("fmt", ["html", "pdf", "csv", "json"])
def test_reports_in_every_format(
    client: TestClient, database: tuple[Engine, ReportingData], fmt: str
) -> None:
    _, data = database
    for path in (
        "/api/reports/national",
        f"/api/reports/chamber/{data.chamber}",
        f"/api/reports/municipality/{data.named}",
    ):
        response = client.get(path, params={"format": fmt, "snapshot": data.snapshot_id})
        assert response.status_code == 200, (path, response.text[:200])
        assert response.headers["content-type"].startswith(
            {
                "html": "text/html",
                "pdf": "application/pdf",
                "csv": "text/csv",
                "json": "application/json",
            }[fmt]
        )
        if fmt == "pdf":
            assert response.content.startswith(b"%PDF")
        else:
            no_secrets(response.text, f"{path} {fmt}")
    assert client.get("/api/reports/municipality/GM9999").status_code == 404
    assert client.get("/api/reports/national", params={"format": "docx"}).status_code == 422


def test_bad_requests_get_a_clear_answer_not_a_server_error(
    client: TestClient, database: tuple[Engine, ReportingData]
) -> None:
    _, data = database
    unknown = client.get("/api/reports/national", params={"campaign": "mg-1999"})
    assert unknown.status_code == 404  # was a 500 (max() of no waves)
    assert "no campaign 'mg-1999' in the snapshot (it holds mg-" in unknown.json()["detail"]
    for wave in (0, 100):  # wave 0 was taken for "the newest"
        refused = client.get("/api/reports/national", params={"wave": wave})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
            "query",
            "wave",
        ]
    for snapshot_id in (2**31, 2**63, 10**20):  # were 500s: no query PostgreSQL or SQLite takes
        assert client.get(f"/api/snapshots/{snapshot_id}/figures").status_code == 404
        assert (
            client.get(f"/api/snapshots/{data.snapshot_id}/diff/{snapshot_id}").status_code == 404
        )
    for label in ("a\x00b", "x" * 201):  # a NUL was a 500 on PostgreSQL, as was a long label
        refused = client.post("/api/snapshots", params={"label": label})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
            "query",
            "label",
        ]


def test_municipality_report_over_api_has_deidentified_texts(
    client: TestClient, database: tuple[Engine, ReportingData]
) -> None:
    _, data = database
    document = client.get(
        f"/api/reports/municipality/{data.named}", params={"format": "json"}
    ).json()
    calls = document["content"]["calls"]
    assert calls and all("[PERSOON-" in c["report"] for c in calls)
    no_secrets(str(document), "json")


def test_stored_texts_hold_no_names(database: tuple[Engine, ReportingData]) -> None:
    engine, data = database
    sync_contact_texts(engine)
    assert sync_contact_texts(engine) == 0  # idempotent
    with engine.connect() as conn:
        texts = list(conn.scalars(select(StoredText.text)))
    assert len(texts) == sum(
        1 for e in data.events if e.type in ("call.assessed", "mail.replied", "mail.assessed")
    )
    for text in texts:
        no_secrets(text, "contact_text")


def test_dashboard_pages_and_docs(
    client: TestClient, database: tuple[Engine, ReportingData]
) -> None:
    _, data = database
    national = client.get("/dashboard")
    assert national.status_code == 200
    assert "script-src" not in national.headers["content-security-policy"]
    assert national.headers["content-security-policy"].startswith("default-src 'none'")
    assert f'href="/dashboard/chamber/{data.chamber}"' in national.text
    chamber = client.get(f"/dashboard/chamber/{data.chamber}")
    assert f'href="/dashboard/municipality/{data.named}"' in chamber.text
    page = client.get(f"/dashboard/municipality/{data.named}")
    assert page.status_code == 200 and "<svg" in page.text
    for response in (national, chamber, page):
        no_secrets(response.text, "dashboard")
    assert client.get("/dashboard/chamber/nowhere").status_code == 404
    spec = client.get("/openapi.json").json()
    assert {"/api/snapshots", "/api/reports/national", "/api/reports/municipality/{code}"} <= set(
        spec["paths"]
    )
    # the scopes a report may name are those of the reference data
    reference = ReferenceData.load()
    schemas = spec["components"]["schemas"]
    assert schemas["Chamber"]["enum"] == sorted(reference.chambers)
    assert schemas["Municipality"]["enum"] == sorted(reference.municipalities)
    for scope, component in (
        ("municipality/{code}", "Municipality"),
        ("chamber/{chamber_id}", "Chamber"),
    ):
        parameters = spec["paths"][f"/api/reports/{scope}"]["get"]["parameters"]
        [in_path] = [p for p in parameters if p["in"] == "path"]
        assert in_path["schema"] == {"$ref": f"#/components/schemas/{component}"}
    assert data.chamber in reference.chambers
    assert client.get("/docs").status_code == 200


def test_dashboard_errors_are_pages_and_api_errors_json(client: TestClient) -> None:
    for path, status, says in (
        ("/dashboard/chamber/<b>nowhere", 404, "&lt;b&gt;nowhere"),
        ("/dashboard/elsewhere/x", 404, "Not Found"),
        ("/dashboard?snapshot=2147483000", 404, "no snapshot 2147483000"),
        ("/dashboard?snapshot=laatste", 422, "query.snapshot: Input should be a valid integer"),
    ):
        page = client.get(path)
        assert page.status_code == status, path
        assert page.headers["content-type"].startswith("text/html"), path
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert says in page.text and "<b>" not in page.text, page.text
        assert 'href="/dashboard"' in page.text
    api = client.get("/api/reports/chamber/nowhere")
    assert api.status_code == 404 and "nowhere" in api.json()["detail"]
    invalid = client.get("/api/reports/national", params={"wave": 0})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["query", "wave"]
    # a method the path does not support: Allow names all the methods it does
    for path, allowed in (("/api/snapshots", "GET, POST"), ("/api/snapshots/1/figures", "GET")):
        refused = client.delete(path)
        assert refused.status_code == 405 and refused.headers["allow"] == allowed, path


def test_metrics(client: TestClient) -> None:
    client.get("/api/snapshots")
    text = client.get("/metrics/").text
    assert (
        'meetlat_api_request_seconds_count{method="GET",route="/api/snapshots",status="200"}'
        in text
    )
    assert "meetlat_reports_rendered_total" in text
    assert "meetlat_snapshot_seconds_count" in text
