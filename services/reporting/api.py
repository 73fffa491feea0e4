"""The HTTP API and dashboard (FastAPI; OpenAPI docs at /docs).

- `/api/snapshots` — list (GET) and take (POST) snapshots; `/api/snapshots/{id}/figures` the
  figures of a snapshot, filtered by scope, a page at a time (the next page's address in a
  `Link` header); `/api/snapshots/{a}/diff/{b}` what changed and why.
- `/api/reports/national|chamber/{id}|municipality/{code}?format=html|pdf|csv|json` — every
  report in every format, from a snapshot (default the newest).
- `/dashboard` — server-rendered pages, national → Chamber → municipality, with the slide-24
  charts, the quadrant and the wave trends; no JavaScript at all (a Content-Security-Policy
  forbids scripts, so even a mistake in escaping could not run one).
- `/metrics` — Prometheus: API request latency, reports rendered by format, snapshot duration.
- `/api/events` — the event intake (`services/ingest/intake_api.py`), served here so that one
  server answers the research team and the producers of events.

With an API token set (MEETLAT_API_TOKEN), the two writes (putting in events, taking a
snapshot) ask for it as a bearer token; reading figures, reports and the dashboard does not.

A database that cannot be reached (restarting, failing over) is a 503 with `Retry-After`, not a
500: the request was fine and will work again. A PDF where the libraries WeasyPrint loads are
not installed is a 501 that names them. The API answers errors in JSON; the dashboard
answers them with a page.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from prometheus_client import make_asgi_app
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.benchmarks import NATION_ID
from schemas.events import MAX_WAVE, ONE_LINE
from schemas.reference import ReferenceData
from services.ingest.intake_api import EventIntake, document_request_body
from services.reporting.charts import Bar
from services.reporting.diff import ScopeChange, diff_snapshots
from services.reporting.figures import FigureQuery, FigureRow, RowKey
from services.reporting.metrics import API_SECONDS, render_counted
from services.reporting.render import MEDIA_TYPES, Format, PdfUnavailable, render_error_page
from services.reporting.reports import Kind, ReportSet, file_name
from services.reporting.source import load_report_set, sync_contact_texts
from services.reporting.store import MAX_LABEL, MAX_REQUEST_ID, BenchmarkStore
from services.runtime.db import DATABASE_UNAVAILABLE, database_failure
from services.runtime.settings import Settings
from services.runtime.web import Problem, writer_checks, writer_responses

# A wave as in the event contract; without one, the campaign's newest.
WaveQuery = Annotated[int | None, Query(ge=1, le=MAX_WAVE, description="Default the newest.")]

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 5

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


class DashboardLinks:
    """Links between dashboard pages (of one snapshot, when one was chosen)."""

    def __init__(self, snapshot_id: int | None = None) -> None:
        self.query = f"?snapshot={snapshot_id}" if snapshot_id is not None else ""

    def municipality(self, code: str) -> str:
        return f"/dashboard/municipality/{code}{self.query}"

    def chamber(self, chamber_id: str) -> str:
        return f"/dashboard/chamber/{chamber_id}{self.query}"

    def national(self) -> str:
        return f"/dashboard{self.query}"

    def bar(self, bar: Bar) -> str:
        if bar.link_kind == "municipality":
            return self.municipality(bar.key)
        if bar.link_kind == "chamber":
            return self.chamber(bar.key)
        return ""


class SnapshotOut(BaseModel):
    """An immutable snapshot of the figures."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    taken_at: datetime
    label: str
    position: list[dict[str, Any]] = Field(
        description="The benchmarks topic's offset per partition that the figures reflect."
    )
    figure_count: int
    content_sha256: str = Field(
        description=(
            "SHA-256 of the figures: of the SHA-256 of each figure set (one scope in one "
            "campaign wave, its figures as canonical JSON), in canonical order."
        )
    )


class DiffOut(BaseModel):
    """What changed between two snapshots, scope by scope, and why."""

    before_id: int
    after_id: int
    scopes: list[ScopeChange]
    figures_changed: int
    by_reason: dict[str, int]


FIGURES_PAGE = 10_000  # figures per page, unless asked otherwise
MAX_FIGURES_PAGE = 100_000

_ROW_KEY: TypeAdapter[RowKey] = TypeAdapter(RowKey, config=ConfigDict(strict=True))


def _cursor(key: RowKey) -> str:
    """The `after` of the next page: the last figure's key, as URL-safe base64 of JSON."""
    return base64.urlsafe_b64encode(_ROW_KEY.dump_json(key)).decode("ascii")


def _cursor_key(cursor: str) -> RowKey:
    """The key a cursor holds; a 422 in FastAPI's own form (as for any bad query) if none."""
    try:
        return _ROW_KEY.validate_json(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, ValidationError):  # binascii.Error and UnicodeError are ValueErrors
        problem = "not a cursor from a Link header of this API; start without it"
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "after"), "msg": problem, "input": cursor}]
        ) from None


def _not_found(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"model": Problem, "description": f"No such {what}."}}


# Every route may answer 503 while the database cannot be reached.
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Problem,
        "description": "The database cannot be reached at the moment; try again shortly.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        },
    }
}

_REPORT_CONTENT = {
    "html": {"schema": {"type": "string"}},
    "pdf": {"schema": {"type": "string", "format": "binary"}},
    "csv": {"schema": {"type": "string"}},
    "json": {"schema": {"type": "object"}},
}
_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report in the format asked for.",
        "content": {MEDIA_TYPES[fmt]: content for fmt, content in _REPORT_CONTENT.items()},
    },
    **_not_found("snapshot, campaign wave or scope"),
    501: {
        "model": Problem,
        "description": "PDF asked for where the libraries WeasyPrint loads (Pango, HarfBuzz) "
        "are not installed; the detail names them.",
    },
}


class _API(FastAPI):
    """FastAPI, with the event contract of the intake and the scopes of the reference data
    in its OpenAPI document."""

    def __init__(self, reference: ReferenceData, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            document_request_body(document, self.reference.municipalities)
            _document_scopes(document, self.reference)
        return super().openapi()


def _document_scopes(openapi: dict[str, Any], reference: ReferenceData) -> None:
    """The municipalities (the intake's `Municipality`) and Chambers a report's path names."""
    openapi["components"]["schemas"]["Chamber"] = {
        "type": "string",
        "description": "A Chamber of Commerce region of the reference data.",
        "enum": sorted(reference.chambers),
    }
    named = {"code": "Municipality", "chamber_id": "Chamber"}
    for path in openapi["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "path" and parameter["name"] in named:
                    parameter["schema"] = {
                        "$ref": f"#/components/schemas/{named[parameter['name']]}"
                    }


def create_app(settings: Settings, engine: Engine) -> FastAPI:
    reference = ReferenceData.load(settings.chamber_map)
    intake = EventIntake(settings, engine, reference.municipalities)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        intake.publishing.close()

    app = _API(
        reference,
        title="Meetlat",
        description="Snapshots, figures and reports of the mystery-guest measurement, and the "
        "intake of events.",
        version="1",
        responses=_UNAVAILABLE,
        lifespan=lifespan,
    )
    app.include_router(intake.router)
    store = BenchmarkStore(engine)
    cache: dict[tuple[int, str | None, int | None], ReportSet] = {}
    lock = threading.Lock()

    def reports(snapshot: int | None, campaign: str | None, wave: int | None) -> ReportSet:
        with lock:
            if sync_contact_texts(engine):
                cache.clear()  # new texts: rebuild
            try:
                info = store.snapshot(snapshot)
            except KeyError:
                raise HTTPException(404, f"no snapshot {snapshot or ''}".strip()) from None
            key = (info.id, campaign, wave)
            if key not in cache:
                try:
                    cache[key], _ = load_report_set(settings, engine, info.id, campaign, wave)
                except LookupError as exc:
                    raise HTTPException(404, str(exc)) from None
            return cache[key]

    @app.middleware("http")
    async def timed(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        API_SECONDS.labels(request.method, path, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        if response.headers.get("content-type", "").startswith("text/html") and not path.startswith(
            "/docs"
        ):
            response.headers["Content-Security-Policy"] = CSP
        return response

    # Errors: JSON for the API (FastAPI's own form), a page for the dashboard.

    def for_dashboard(request: Request) -> bool:
        return request.url.path.startswith("/dashboard")

    def allowed_methods(path: str) -> str:
        methods = {
            method
            for route in app.routes
            if isinstance(route, APIRoute) and route.path_regex.match(path)
            for method in route.methods or ()
        }
        return ", ".join(sorted(methods))

    def error(
        request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        if for_dashboard(request):
            page = render_error_page(status, detail)
            return HTMLResponse(page, status_code=status, headers=headers)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path (GET of
            # /api/snapshots, say); HTTP wants every method the resource supports.
            exc.headers = {**(exc.headers or {}), "Allow": allowed_methods(request.url.path)}
        if not for_dashboard(request):
            return await http_exception_handler(request, exc)
        return error(request, exc.status_code, str(exc.detail), exc.headers)

    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not for_dashboard(request):
            return await request_validation_exception_handler(request, exc)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in exc.errors()
        )
        return error(request, 422, problems)

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DBAPIError)
        log.warning(
            "%s %s: the database is unavailable (%s)",
            request.method,
            request.url.path,
            database_failure(exc),
        )
        return error(
            request,
            503,
            "the database is unavailable at the moment; try again shortly",
            {"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, database_unavailable)

    app.mount("/metrics", make_asgi_app())

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    # ------------------------------------------------------------ snapshots and figures

    @app.get("/api/snapshots", summary="Every snapshot, oldest first")
    def list_snapshots() -> list[SnapshotOut]:
        return [SnapshotOut.model_validate(s) for s in store.snapshots()]

    @app.post(
        "/api/snapshots",
        status_code=201,
        summary="Take a snapshot now",
        responses=writer_responses(settings.api_token),
        dependencies=writer_checks(settings.api_token),
    )
    def take_snapshot(
        label: Annotated[
            str, Query(max_length=MAX_LABEL, pattern=ONE_LINE, description="One line of text.")
        ] = "",
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=MAX_REQUEST_ID,
                pattern=ONE_LINE,
                description="Retry-safe: a key that already made a snapshot returns it.",
            ),
        ] = None,
    ) -> SnapshotOut:
        return SnapshotOut.model_validate(store.take_snapshot(label, idempotency_key))

    @app.get(
        "/api/snapshots/{snapshot_id}/figures",
        summary="The figures of a snapshot, a page at a time",
        description=(
            "The figures the filters select, in canonical order (scope kind, scope id, "
            "campaign, wave, breakdown, metric), at most `limit` per page. When more follow, "
            'a `Link` header gives the next page\'s address (`rel="next"`), with the same '
            "filters and an `after` cursor; the last page has none."
        ),
        responses={
            **_not_found("snapshot"),
            200: {
                "headers": {
                    "Link": {
                        "description": 'The next page (`<…>; rel="next"`), when more follow.',
                        "schema": {"type": "string"},
                    }
                }
            },
        },
    )
    def figures(
        request: Request,
        response: Response,
        snapshot_id: int,
        scope_kind: Literal["municipality", "chamber", "nation"] | None = None,
        scope_id: str | None = None,
        campaign: str | None = None,
        wave: WaveQuery = None,
        breakdown: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_FIGURES_PAGE)] = FIGURES_PAGE,
        after: Annotated[
            str | None,
            Query(
                max_length=2_000,
                pattern=r"^[A-Za-z0-9_-]+={0,2}$",
                description="From the `Link` header of the page before (opaque).",
            ),
        ] = None,
    ) -> list[FigureRow]:
        start = None if after is None else _cursor_key(after)
        wanted = FigureQuery(scope_kind, scope_id, campaign, wave, breakdown)
        try:
            rows, last = store.figures_page(snapshot_id, limit, start, wanted)
        except KeyError:
            raise HTTPException(404, f"no snapshot {snapshot_id}") from None
        if last is not None:
            following = request.url.include_query_params(after=_cursor(last))
            response.headers["Link"] = f'<{following}>; rel="next"'
        return rows

    @app.get(
        "/api/snapshots/{before}/diff/{after}",
        summary="What changed, and why",
        responses=_not_found("snapshot"),
    )
    def diff(before: int, after: int) -> DiffOut:
        try:
            a, b = store.changed_figures(before, after)
        except KeyError as exc:
            raise HTTPException(404, f"no snapshot {exc}") from None
        result = diff_snapshots(before, a, after, b)
        return DiffOut(
            before_id=result.before_id,
            after_id=result.after_id,
            scopes=result.scopes,
            figures_changed=result.figures_changed,
            by_reason=result.by_reason(),
        )

    # ------------------------------------------------------------ reports

    def report_response(
        kind: Kind,
        scope_id: str,
        fmt: Format,
        snapshot: int | None,
        campaign: str | None,
        wave: int | None,
    ) -> Response:
        chosen = reports(snapshot, campaign, wave)
        try:
            data = render_counted(chosen, kind, scope_id, fmt, DashboardLinks(snapshot))
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except PdfUnavailable as exc:
            raise HTTPException(501, str(exc)) from None
        headers = {}
        if fmt in ("pdf", "csv"):
            headers["Content-Disposition"] = (
                f'attachment; filename="{file_name(kind, scope_id, fmt)}"'
            )
        return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)

    fmt_query = Query("html", alias="format", description="html, pdf, csv or json")

    @app.get(
        "/api/reports/national",
        summary="The national report",
        response_class=Response,
        responses=_REPORT_RESPONSES,
    )
    def national(
        fmt: Format = fmt_query,
        snapshot: int | None = None,
        campaign: str | None = None,
        wave: WaveQuery = None,
    ) -> Response:
        return report_response("national", NATION_ID, fmt, snapshot, campaign, wave)

    @app.get(
        "/api/reports/chamber/{chamber_id}",
        summary="A Chamber's report",
        response_class=Response,
        responses=_REPORT_RESPONSES,
    )
    def chamber(
        chamber_id: str,
        fmt: Format = fmt_query,
        snapshot: int | None = None,
        campaign: str | None = None,
        wave: WaveQuery = None,
    ) -> Response:
        return report_response("chamber", chamber_id, fmt, snapshot, campaign, wave)

    @app.get(
        "/api/reports/municipality/{code}",
        summary="A municipality's report",
        response_class=Response,
        responses=_REPORT_RESPONSES,
    )
    def municipality(
        code: str,
        fmt: Format = fmt_query,
        snapshot: int | None = None,
        campaign: str | None = None,
        wave: WaveQuery = None,
    ) -> Response:
        return report_response("municipality", code.upper(), fmt, snapshot, campaign, wave)

    # ------------------------------------------------------------ dashboard

    def page(kind: Kind, scope_id: str, snapshot: int | None) -> Response:
        chosen = reports(snapshot, None, None)
        try:
            html = render_counted(
                chosen, kind, scope_id, "html", DashboardLinks(snapshot), nav=True
            )
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        return Response(html, media_type=MEDIA_TYPES["html"])

    @app.get("/dashboard", include_in_schema=False)
    def dashboard(snapshot: int | None = None) -> Response:
        return page("national", NATION_ID, snapshot)

    @app.get("/dashboard/chamber/{chamber_id}", include_in_schema=False)
    def dashboard_chamber(chamber_id: str, snapshot: int | None = None) -> Response:
        return page("chamber", chamber_id, snapshot)

    @app.get("/dashboard/municipality/{code}", include_in_schema=False)
    def dashboard_municipality(code: str, snapshot: int | None = None) -> Response:
        return page("municipality", code.upper(), snapshot)

    return app
