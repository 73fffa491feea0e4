"""The `meetlat` command."""

from __future__ import annotations

import asyncio
import inspect
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from schemas.events import MAX_WAVE
from services.runtime.settings import Settings

if TYPE_CHECKING:  # the commands import their heavy modules lazily, to start fast
    from sqlalchemy import Engine

    from services.ingest.archive import EventArchive
    from services.ingest.mail_service import MailConfig
    from services.ingest.mail_sources import Source
    from services.reporting.reports import Kind, ReportSet
    from services.runtime.topics import Topics


class _IngestGroup(TyperGroup):
    """`meetlat ingest FILE` (events) and `meetlat ingest mail …`: anything that is not a
    subcommand's name is the file of the default `file` command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click.Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["file", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    help="Meetlat: continuous mystery-guest measurement of municipal service to entrepreneurs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
schema_app = typer.Typer(help="The wire contract's JSON Schema.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
model_app = typer.Typer(help="Scoring models (meetlat).", no_args_is_help=True)
mail_app = typer.Typer(help="The mystery mailer's mail.", no_args_is_help=True)
ingest_app = typer.Typer(
    cls=_IngestGroup,
    help="Ingest events from a file (`meetlat ingest FILE`) or the mystery mailer's mail "
    "(`meetlat ingest mail`).",
    no_args_is_help=True,
)
snapshot_app = typer.Typer(help="Immutable snapshots of the figures.")
wave_app = typer.Typer(help="Campaign waves.", no_args_is_help=True)
report_app = typer.Typer(
    help="Reports (slide 20) from a snapshot: HTML, PDF, CSV, JSON.", no_args_is_help=True
)
app.add_typer(schema_app, name="schema")
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
app.add_typer(mail_app, name="mail")
app.add_typer(ingest_app, name="ingest")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(report_app, name="report")
app.add_typer(wave_app, name="wave")

console = Console()
err = Console(stderr=True)

# Exit status of `meetlat ingest FILE` when it ingested the valid lines and dead-lettered others.
INGEST_PARTLY_REJECTED = 3


def _plain(value: object) -> str:
    """`value` as text that rich prints as it is: reasons and errors quote the input, and a
    `[` in it would be read as markup (an unmatched `[/x]` is an error of its own)."""
    return escape(str(value))


# Settings whose value is not echoed in an error: they may hold a password.
_SECRET_SETTINGS = frozenset({"database_url", "broker_url", "imap_password", "api_token"})


def _settings() -> Settings:
    """The settings; a bad MEETLAT_ variable is named with what is wrong, and exit code 2."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            got = "" if field in _SECRET_SETTINGS else f" (got {error['input']!r})"
            err.print(f"[red]MEETLAT_{field.upper()}[/]: {_plain(message + got)}")
        raise typer.Exit(2) from None


def _database(settings: Settings) -> Engine:
    """The database, migrated to the newest schema; when it cannot be reached, what and
    where (password hidden), and exit code 1."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from services.runtime.db import database_failure, make_engine, upgrade

    engine = make_engine(settings.sqlalchemy_url)
    try:
        upgrade(engine)
    except OperationalError as exc:
        where = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
        reason = database_failure(exc)
        err.print(f"[red]cannot use the database at {_plain(where)}[/]: {_plain(reason)}")
        raise typer.Exit(1) from None
    return engine


@contextmanager
def _progress() -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        yield progress


@dataclass
class _Edge:
    """What a command that publishes needs: the broker, the SQL archive and the topics."""

    broker_url: str
    archive: EventArchive
    topics: Topics


def _edge(settings: Settings) -> _Edge:
    from kafka.errors import KafkaError

    from services.ingest.archive import EventArchive
    from services.runtime.topics import Topics, ensure_topics

    broker_url = _broker_url(settings)
    engine = _database(settings)
    topics = Topics.for_settings(settings)
    try:
        ensure_topics(
            broker_url,
            topics.specs(settings.partitions),
            settings.replication_factor,
            _connect_timeout(settings),
        )
    except KafkaError as exc:
        _broker_unreachable(settings, broker_url, exc)
    return _Edge(broker_url, EventArchive(engine), topics)


def _broker_url(settings: Settings) -> str:
    broker_url = settings.reachable_broker_url()
    if not broker_url:
        err.print(
            "[red]No broker[/]: set MEETLAT_BROKER_URL, or start `meetlat worker` with the same "
            "MEETLAT_DATA_DIR first (its embedded broker's URL is found there), or use "
            "`meetlat demo` for a self-contained run."
        )
        raise typer.Exit(2)
    return broker_url


def _connect_timeout(settings: Settings) -> float:
    # a worker's embedded broker runs on this machine: it answers at once, or it is gone
    return 30.0 if settings.broker_url else 5.0


def _broker_unreachable(settings: Settings, broker_url: str, exc: Exception) -> NoReturn:
    found = (
        ""
        if settings.broker_url
        else f" (read from {settings.broker_url_file}: is the `meetlat worker` that wrote it "
        "still running?)"
    )
    err.print(
        f"[red]cannot reach the broker at {_plain(broker_url)}[/]{_plain(found)}: {_plain(exc)}"
    )
    raise typer.Exit(1)


@app.command()
def worker(
    service: Annotated[
        list[str] | None,
        typer.Option("--service", "-s", help="Run only these services (repeatable); default all."),
    ] = None,
) -> None:
    """Run a pipeline worker until Ctrl-C. Without MEETLAT_BROKER_URL it starts the embedded
    broker and replays the SQL event archive into it (the embedded broker keeps nothing)."""
    from kafka.errors import KafkaError

    from services.runtime.app import SERVICES
    from services.runtime.broker import BrokerError
    from services.runtime.metrics import MetricsPortUnavailable
    from services.runtime.worker import run_worker

    settings = _settings()
    _database(settings).dispose()  # one that cannot be reached is named before the broker starts
    try:
        run_worker(settings, tuple(service) if service else SERVICES)
    except KafkaError as exc:  # (kafka-python: only the set-up, topics and restore, uses it)
        _broker_unreachable(settings, settings.broker_url or "the embedded broker", exc)
    except MetricsPortUnavailable as exc:
        err.print(
            f"[red]{_plain(exc)}[/] (MEETLAT_METRICS_PORT; with a worker process per service, "
            "each service after the first takes the next port)"
        )
        raise typer.Exit(1) from None
    except BrokerError as exc:  # (the embedded one did not start)
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(1) from None


@ingest_app.command("file")
def ingest_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV file.")],
    fmt: Annotated[Literal["auto", "jsonl", "csv"], typer.Option("--format")] = "auto",
    heartbeat: Annotated[
        bool,
        typer.Option(
            help="Afterwards, vouch that everything up to now has been ingested (advances event "
            "time, so reply and callback deadlines can be decided)."
        ),
    ] = True,
) -> None:
    """Validate a file of events, archive the valid ones in SQL and publish them; invalid lines
    are reported with their line number and sent to the dead-letter topic (exit status 3)."""
    from schemas.reference import ReferenceData
    from services.ingest.parsing import parse_csv, parse_jsonl
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import ingest, publish_heartbeat

    settings = _settings()
    edge = _edge(settings)
    kind = fmt if fmt != "auto" else ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    known = set(ReferenceData.load(settings.chamber_map).municipalities)
    publisher = KafkaPublisher(edge.broker_url)
    parse = parse_csv if kind == "csv" else parse_jsonl
    total = sum(1 for _ in path.open("rb"))
    with path.open("rb") as lines, _progress() as progress:
        task = progress.add_task(f"ingest {path.name}", total=total)
        report = ingest(
            parse(lines, path.name, known),
            edge.archive,
            publisher,
            edge.topics,
            progress=lambda n: progress.advance(task, n),
        )
    if heartbeat:
        source = f"ingest:{path.name}"
        publish_heartbeat(edge.archive, publisher, edge.topics, source, datetime.now(UTC))
    publisher.close()
    for rejected in report.rejected:
        err.print(f"[red]{_plain(rejected.source)}:{rejected.line}[/]: {_plain(rejected.reason)}")
    console.print(
        f"{report.records} records: {report.accepted} accepted ({report.newly_archived} new in the "
        f"archive), {report.deadlettered} dead-lettered to {edge.topics.deadletter}"
    )
    if report.deadlettered:
        # Everything valid went through; a distinct status lets a scheduled import notice the
        # rest (1 means nothing could be done, e.g. no broker).
        raise typer.Exit(INGEST_PARTLY_REJECTED)


@app.command()
def deadletter(
    service: Annotated[
        str | None,
        typer.Option(help="Only what this service refused (ingest, scoring, aggregation, …)."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only this kind of reason (invalid_event, conflicting_event, "
            "contradicts_contact, mail_never_sent, …)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per dead letter (JSON Lines).")
    ] = False,
    values: Annotated[
        bool,
        typer.Option(
            "--values",
            help="Only the original bytes, one record per line: a file to correct and "
            "`meetlat ingest` again.",
        ),
    ] = False,
) -> None:
    """Read the dead-letter topic: every record a service refused, with the reason, the
    service and where it came from (a file's line, a topic's partition and offset)."""
    from kafka.errors import KafkaError

    from services.runtime.clients import read_to_end
    from services.runtime.deadletter import DeadLetter
    from services.runtime.topics import Topics

    if as_json and values:
        err.print("[red]--json or --values[/]: one of them")
        raise typer.Exit(2)
    settings = _settings()
    broker_url = _broker_url(settings)
    topic = Topics.for_settings(settings).deadletter
    found: list[DeadLetter] = []
    try:
        records = read_to_end(
            broker_url,
            topic,
            "meetlat-deadletter-reader",
            connect_timeout_s=_connect_timeout(settings),
        )
        for record in records:
            letter = DeadLetter.of(record)
            if (service is None or letter.service == service) and (
                kind is None or letter.kind == kind
            ):
                found.append(letter)
    except KafkaError as exc:
        _broker_unreachable(settings, broker_url, exc)
    found.sort(key=lambda letter: (letter.at, letter.partition, letter.offset))
    if values:
        for letter in found:
            line = letter.as_line()
            if line is None:
                err.print(
                    f"[yellow]left out[/] {topic}/{letter.partition}@{letter.offset}: its bytes "
                    "hold a line break and are not JSON"
                )
                continue
            sys.stdout.buffer.write(line + b"\n")
        sys.stdout.buffer.flush()
        return
    if as_json:
        for letter in found:
            sys.stdout.write(json.dumps(letter.to_json(), ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{len(found)} dead letters on {topic}")
    for column in ("at", "service", "kind", "source", "reason"):
        table.add_column(column, overflow="fold")
    for letter in found:
        table.add_row(
            f"{letter.at:%Y-%m-%d %H:%M:%S}",
            letter.service,
            letter.kind,
            _plain(letter.source),
            _plain(letter.reason),
        )
    console.print(table)


@app.command()
def replay() -> None:
    """Re-publish every archived event to the observations topic (idempotent downstream)."""
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import replay as replay_archive

    edge = _edge(_settings())
    publisher = KafkaPublisher(edge.broker_url)
    with _progress() as progress:
        task = progress.add_task("replay", total=edge.archive.count())
        count = replay_archive(
            edge.archive, publisher, edge.topics, progress=lambda n: progress.advance(task, n)
        )
    publisher.close()
    console.print(f"re-published {count} archived events to {edge.topics.observations}")


@app.command()
def recompute(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL event file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print contact scores and benchmarks as JSON.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes to use (default: one per core for 20,000 events or more); "
            "the result does not depend on it.",
        ),
    ] = None,
) -> None:
    """The batch oracle: score and aggregate an event file with the pipeline's own domain
    functions, without Kafka."""
    from schemas.reference import ReferenceData
    from services.recompute import recompute_jsonl
    from services.runtime.app import load_models

    settings = _settings()
    reference = ReferenceData.load(settings.chamber_map)
    models, active = load_models(settings)
    result, skipped = recompute_jsonl(
        path.read_bytes(), path.name, models.by_key, active, reference, workers=workers
    )
    for rejected in skipped:
        err.print(f"[yellow]skipped[/] {_plain(rejected)}")
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"{len(result.scores)} contacts scored")
    for column in ("scope", "name", "phone", "mail", "n"):
        table.add_column(column)
    for b in result.benchmarks:
        if b.scope_kind == "municipality":
            continue
        phone, mail = b.breakdowns.get("channel=phone"), b.breakdowns.get("channel=mail")
        table.add_row(
            f"{b.scope_kind} {b.campaign}/{b.wave}",
            b.name,
            "–" if phone is None or phone.mean is None else f"{phone.mean:.2f}",
            "–" if mail is None or mail.mean is None else f"{mail.mean:.2f}",
            str(b.contacts),
        )
    console.print(table)


@snapshot_app.callback(invoke_without_command=True)
def snapshot(
    ctx: typer.Context,
    label: Annotated[str, typer.Option(help="A label, e.g. 'wave 1 closed'.")] = "",
    every: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Keep taking one every SECONDS until Ctrl-C (a schedule); a turn in which the "
            "stream position has not moved since the last snapshot takes none.",
        ),
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            help="Retry-safe: a request id that already made a snapshot returns that one "
            "(without --every).",
        ),
    ] = None,
) -> None:
    """Take an immutable snapshot of all figures in SQL, at the stream position they reflect
    (`meetlat snapshot diff A B` compares two)."""
    if ctx.invoked_subcommand is not None:
        return
    import time

    from services.reporting.store import BenchmarkStore
    from services.runtime.db import DATABASE_UNAVAILABLE, database_failure

    engine = _database(_settings())
    store = BenchmarkStore(engine)

    def turn() -> None:
        taken = store.snapshots()
        last = taken[-1] if taken else None
        position = [
            {"topic": t, "partition": p, "offset": o}
            for (t, p), o in sorted(store.positions().items())
        ]
        if every is None or last is None or last.position != position:
            try:
                info = store.take_snapshot(label, request_id if every is None else None)
            except ValueError as exc:
                err.print(f"[red]{_plain(exc)}[/]")
                raise typer.Exit(2) from None
            console.print(
                f"snapshot {info.id}: {info.figure_count} figures at position {info.position}, "
                f"sha256 {info.content_sha256[:16]}"
            )

    if every is None:
        turn()
        return
    while True:
        try:
            turn()
        except DATABASE_UNAVAILABLE as exc:  # the schedule outlasts an outage
            err.print(
                f"[yellow]no snapshot this turn: the database is unavailable "
                f"({_plain(database_failure(exc))}); trying again in {every:g} s[/]"
            )
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            return


@snapshot_app.command("diff")
def snapshot_diff(
    before: Annotated[int, typer.Argument(help="The older snapshot id.")],
    after: Annotated[int, typer.Argument(help="The newer snapshot id.")],
    every: Annotated[bool, typer.Option("--all", help="List every changed figure.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
) -> None:
    """Which figures changed between two snapshots, and why: new contacts in a sample, or late
    revisions of contacts already counted (late callbacks and replies, corrections)."""
    import dataclasses

    from services.reporting.diff import diff_snapshots
    from services.reporting.store import BenchmarkStore

    engine = _database(_settings())
    store = BenchmarkStore(engine)
    try:
        rows_before, rows_after = store.changed_figures(before, after)
    except KeyError as exc:
        err.print(f"[red]no snapshot {_plain(exc)}[/]; `meetlat snapshots` lists them")
        raise typer.Exit(2) from None
    result = diff_snapshots(before, rows_before, after, rows_after)
    if as_json:
        sys.stdout.write(
            json.dumps(dataclasses.asdict(result), ensure_ascii=False, indent=1) + "\n"
        )
        return
    table = Table(
        "scope",
        "wave",
        "contacts",
        "figures changed",
        "why",
        title=f"snapshot {before} → {after}",
    )
    for scope in result.scopes:
        table.add_row(
            f"{scope.scope_kind} {scope.name or scope.scope_id}",
            f"{scope.campaign}/{scope.wave}",
            f"{scope.contacts_before if scope.contacts_before is not None else '–'} → "
            f"{scope.contacts_after if scope.contacts_after is not None else '–'}",
            str(len(scope.changes)),
            ", ".join(f"{reason} {n}" for reason, n in sorted(scope.reasons.items())),
        )
    console.print(table)
    if every:
        figures = Table("scope", "breakdown", "metric", "before", "after", "why")
        for scope in result.scopes:
            for c in scope.changes:
                figures.add_row(
                    f"{c.scope_kind} {c.scope_id} {c.campaign}/{c.wave}",
                    c.breakdown,
                    c.metric,
                    str(c.before),
                    str(c.after),
                    c.reason,
                )
        console.print(figures)
    reasons = ", ".join(f"{n} {reason}" for reason, n in result.by_reason().items())
    console.print(
        f"{result.figures_changed} figures changed in {len(result.scopes)} scopes"
        + (f" ({reasons})" if reasons else "")
    )


ReportFormat = Literal["html", "pdf", "csv", "json"]


def _reports(snapshot_id: int | None, campaign: str | None, wave: int | None) -> ReportSet:
    from services.reporting.source import load_report_set
    from services.scoring.catalogue import UnknownModelError

    settings = _settings()
    engine = _database(settings)
    try:
        with _progress() as progress:
            task = progress.add_task("de-identify texts", total=None)
            reports, _ = load_report_set(
                settings,
                engine,
                snapshot_id,
                campaign,
                wave,
                progress=lambda n: progress.advance(task, n),
            )
    except UnknownModelError:
        raise  # a setting to correct (see main)
    except KeyError:
        missing = "no snapshot yet" if snapshot_id is None else f"no snapshot {snapshot_id}"
        err.print(
            f"[red]{missing}[/]: `meetlat snapshot` takes one, `meetlat snapshots` lists them"
        )
        raise typer.Exit(2) from None
    except LookupError as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(2) from None
    return reports


_SNAPSHOT = typer.Option("--snapshot", help="Snapshot id; default the newest.")
_CAMPAIGN = typer.Option(help="Campaign; default the newest with national figures.")
_WAVE = typer.Option(min=1, max=MAX_WAVE, help="Wave; default the campaign's newest.")


def _write_one(
    kind: Kind, scope_id: str, fmt: ReportFormat, out: Path | None, reports: ReportSet
) -> None:
    from services.reporting.metrics import render_counted
    from services.reporting.render import PdfUnavailable
    from services.reporting.reports import file_name

    try:
        data = render_counted(reports, kind, scope_id, fmt)
    except LookupError as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(2) from None
    except PdfUnavailable as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(1) from None
    if out is not None and str(out) == "-":
        sys.stdout.buffer.write(data)
        return
    target = out or (_settings().data_dir / "reports" / file_name(kind, scope_id, fmt))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    console.print(f"wrote {target} ({len(data):,} bytes)")


_FORMAT = typer.Option("--format", "-f", help="html, pdf, csv or json.")
_OUT = typer.Option("--out", "-o", help="Output file ('-' = stdout); default in the data dir.")


@report_app.command("municipality")
def report_municipality(
    code: Annotated[str, typer.Argument(help="CBS code, e.g. GM0344.")],
    fmt: Annotated[ReportFormat, _FORMAT] = "html",
    out: Annotated[Path | None, _OUT] = None,
    snapshot_id: Annotated[int | None, _SNAPSHOT] = None,
    campaign: Annotated[str | None, _CAMPAIGN] = None,
    wave: Annotated[int | None, _WAVE] = None,
) -> None:
    """A municipality's report: figures, what goes well, what to improve and how, other
    findings, position, every call report and every mail reviewed (slide 20)."""
    _write_one("municipality", code.upper(), fmt, out, _reports(snapshot_id, campaign, wave))


@report_app.command("chamber")
def report_chamber(
    chamber_id: Annotated[str, typer.Argument(help="Chamber id, e.g. midden-nederland.")],
    fmt: Annotated[ReportFormat, _FORMAT] = "html",
    out: Annotated[Path | None, _OUT] = None,
    snapshot_id: Annotated[int | None, _SNAPSHOT] = None,
    campaign: Annotated[str | None, _CAMPAIGN] = None,
    wave: Annotated[int | None, _WAVE] = None,
) -> None:
    """A Chamber's report: its municipalities compared, against the national figures."""
    _write_one("chamber", chamber_id, fmt, out, _reports(snapshot_id, campaign, wave))


@report_app.command("national")
def report_national(
    fmt: Annotated[ReportFormat, _FORMAT] = "html",
    out: Annotated[Path | None, _OUT] = None,
    snapshot_id: Annotated[int | None, _SNAPSHOT] = None,
    campaign: Annotated[str | None, _CAMPAIGN] = None,
    wave: Annotated[int | None, _WAVE] = None,
) -> None:
    """The national report: Chambers compared, distribution, quadrant, wave trends."""
    _write_one("national", "NL", fmt, out, _reports(snapshot_id, campaign, wave))


@report_app.command("all")
def report_all(
    fmt: Annotated[list[str] | None, _FORMAT] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder; default <data dir>/reports.")
    ] = None,
    snapshot_id: Annotated[int | None, _SNAPSHOT] = None,
    campaign: Annotated[str | None, _CAMPAIGN] = None,
    wave: Annotated[int | None, _WAVE] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-j", min=1, help="Rendering processes; default one per core."),
    ] = None,
) -> None:
    """Every report (national, every Chamber, every municipality) in the given formats
    (repeatable; default html), rendered in parallel with a progress bar. HTML files link to
    each other."""
    from services.reporting.batch import render_all
    from services.reporting.render import FORMATS, PdfUnavailable
    from services.reporting.reports import file_name

    formats = [f for f in FORMATS if f in (fmt or ["html"])]
    unknown = [f for f in fmt or [] if f not in FORMATS]
    if unknown:
        err.print(f"[red]unknown format {', '.join(unknown)}[/]; use {', '.join(FORMATS)}")
        raise typer.Exit(2)
    reports = _reports(snapshot_id, campaign, wave)
    jobs = [(kind, scope_id, f) for kind, scope_id in reports.all_reports() for f in formats]
    try:
        rendered = render_all(reports, jobs, workers)  # forks the workers before the progress bar
    except PdfUnavailable as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(1) from None
    folder = out or _settings().data_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    with _progress() as progress:
        task = progress.add_task("reports", total=len(jobs))
        for (kind, scope_id, f), data in rendered:
            (folder / file_name(kind, scope_id, f)).write_bytes(data)
            progress.advance(task)
    console.print(f"{len(jobs)} reports in {folder}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default MEETLAT_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default MEETLAT_API_PORT.")] = None,
) -> None:
    """Serve the reporting API (OpenAPI docs at /docs), the dashboard (/dashboard) and the
    metrics (/metrics) until Ctrl-C. With MEETLAT_API_TOKEN set, putting in events and taking
    a snapshot ask for it; without it, only a loopback address is served."""
    import uvicorn

    from services.reporting.api import create_app
    from services.runtime.app import load_models
    from services.runtime.web import is_loopback

    settings = _settings()
    host = host or settings.api_host
    port = port or settings.api_port
    if settings.api_token is None and not is_loopback(host):
        err.print(
            f"[red]meetlat serve: not listening on {_plain(host)} without an API token[/]: "
            "whoever reached it could put in events and take snapshots; set "
            "MEETLAT_API_TOKEN, or listen on 127.0.0.1"
        )
        raise typer.Exit(2)
    engine = _database(settings)
    load_models(settings)  # a model that cannot be used stops here, not in every report
    console.print(f"dashboard on http://{host}:{port}/dashboard, API docs on /docs")
    uvicorn.run(create_app(settings, engine), host=host, port=port, log_level="warning")


@app.command()
def snapshots() -> None:
    """List the snapshots taken so far."""
    from services.reporting.store import BenchmarkStore

    engine = _database(_settings())
    table = Table("id", "taken at (UTC)", "label", "figures", "sha256")
    for info in BenchmarkStore(engine).snapshots():
        table.add_row(
            str(info.id),
            f"{info.taken_at:%Y-%m-%d %H:%M:%S}",
            info.label,
            str(info.figure_count),
            info.content_sha256[:16],
        )
    console.print(table)


@app.command()
def demo(
    municipalities: Annotated[
        int | None,
        typer.Option(min=1, max=342, help="Only a reproducible sample of N municipalities."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the generated campaign.")] = 2026,
    waves: Annotated[
        int, typer.Option(min=1, max=9, help="Measurement waves (2+: a remeasurement).")
    ] = 1,
    surveys: Annotated[
        int, typer.Option(min=0, help="KTO survey responses per municipality and wave.")
    ] = 12,
    out: Annotated[Path, typer.Option(help="Output folder (events, database, reports).")] = Path(
        "meetlat-data/demo"
    ),
) -> None:
    """Generate a national campaign and stream it through the live pipeline on the embedded
    broker; snapshot, compare with the batch oracle, write reports, print a summary."""
    from services.demo.campaign import CampaignSpec
    from services.demo.run import run_demo

    settings = _settings()
    if not settings.database_url:
        # The demo is self-contained: its own fresh SQLite database in its output folder.
        for stale in out.glob("meetlat.db*"):
            stale.unlink()
        if (out / "reports").exists():
            shutil.rmtree(out / "reports")
    settings = settings.model_copy(update={"data_dir": out})
    spec = CampaignSpec(seed=seed, municipalities=municipalities, surveys_per_municipality=surveys)
    result = asyncio.run(run_demo(settings, spec, out, console, waves))
    if not result.matches_oracle:
        for line in result.mismatches[:20]:
            err.print(f"[red]mismatch[/] {_plain(line)}")
        raise typer.Exit(1)


@model_app.command("check")
def model_check(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Model YAML file.")],
) -> None:
    """Validate a scoring model file; problems are listed by criterion."""
    from schemas.scoring_model import ModelError
    from services.scoring.catalogue import load_model_file

    try:
        model = load_model_file(path)
    except ModelError as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(1) from None
    console.print(f"{path}: {model.key} is valid ({len(model.criteria)} criteria)")


@model_app.command("show")
def model_show(
    choice: Annotated[
        str | None, typer.Argument(help="A YAML file, 'id' or 'id@version'; default: active.")
    ] = None,
) -> None:
    """Print a scoring model (default: the active one) as a table."""
    from services.runtime.app import load_models
    from services.scoring.catalogue import MODEL_COLUMNS, model_rows

    settings = _settings()
    models, active = load_models(settings)
    model = models.resolve(choice) if choice else active
    table = Table(title=f"{model.title} — {model.key}", show_lines=False)
    for column in MODEL_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in model_rows(model):
        table.add_row(*row)
    console.print(table)
    console.print(
        f"self-callback correction −{model.corrections.self_callback:g}; unanswered mail after "
        f"{model.mail_reply_deadline_hours:g} h scores {model.unanswered_mail_score:g}; "
        f"bands: red < {model.sufficient:g} ≤ yellow < {model.norm:g} ≤ green"
    )


@app.command()
def rescore(
    model: Annotated[str, typer.Option("--model", help="Target model: 'id@version' or a file.")],
    municipality: Annotated[
        str | None, typer.Option(help="Only the contacts of this municipality (CBS code).")
    ] = None,
) -> None:
    """Explicitly rescore archived contacts with another scoring model: publishes a rescore
    request per contact, which the scorer turns into new revisions (history is never rescored
    silently)."""
    from services.ingest.parsing import Accepted
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import ingest, rescore_requests
    from services.scoring.catalogue import ModelCatalogue

    settings = _settings()
    target = ModelCatalogue(settings.models_dir).resolve(model)
    if target.key not in ModelCatalogue(settings.models_dir):  # what the workers can resolve
        err.print(
            f"[red]{_plain(target.key)}[/] is not in the workers' catalogue: put the file in "
            "MEETLAT_MODELS_DIR so every worker knows it, then retry."
        )
        raise typer.Exit(2)
    edge = _edge(settings)
    requests = rescore_requests(edge.archive, target.key, datetime.now(UTC), municipality)
    publisher = KafkaPublisher(edge.broker_url)
    outcomes = (Accepted("rescore", 0, r, r.model_dump_json().encode()) for r in requests)
    report = ingest(outcomes, edge.archive, publisher, edge.topics)
    publisher.close()
    console.print(f"requested rescoring of {report.accepted} contacts with {target.key}")


@wave_app.command("close")
def wave_close(
    campaign: Annotated[str, typer.Argument(help="The campaign, e.g. 'mg-2026'.")],
    wave: Annotated[int, typer.Argument(min=1, max=99, help="The wave to close.")],
    at: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"],
            help="Event time up to which everything is in (default: now); every reply and "
            "callback deadline before it is decided.",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the worker.")] = 600,
) -> None:
    """Close a campaign wave: a heartbeat tells the scorer that event time has reached AT, and
    once the worker has processed everything an immutable snapshot labelled '<campaign> wave
    <n> closed' is taken. Retry-safe: closing a wave again returns the snapshot already made."""
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import publish_heartbeat
    from services.reporting.store import BenchmarkStore
    from services.runtime.worker import pipeline_groups, wait_for_groups

    settings = _settings()
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    edge = _edge(settings)
    store = BenchmarkStore(edge.archive.engine)
    source = f"close:{campaign}:{wave}"
    closed = store.snapshot_of_request(f"wave-closed:{source}")
    if closed is not None:
        console.print(f"{campaign} wave {wave} was already closed: snapshot {closed.id} ")
        return
    publisher = KafkaPublisher(edge.broker_url)
    publish_heartbeat(edge.archive, publisher, edge.topics, source, moment)
    publisher.close()
    with console.status("waiting until the worker has processed everything"):
        wait_for_groups(edge.broker_url, pipeline_groups(settings, edge.topics), 0.5, timeout)
    info = store.take_snapshot(f"{campaign} wave {wave} closed", request_id=f"wave-closed:{source}")
    console.print(
        f"{campaign} wave {wave} closed at {moment.isoformat()}: snapshot {info.id} with "
        f"{info.figure_count} figures at position {info.position}"
    )


@mail_app.command("analyze")
def mail_analyze(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .eml file.")],
    persona: Annotated[
        str | None, typer.Option(help="The name the mystery mailer signed with.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
) -> None:
    """Analyse one message as ingest would: reply, auto-reply or bounce; quoted history
    stripped; salutation, leaked forward, spelling, jargon and address checks. (Without the
    sent mails to thread against, the match is reported as unmatched.)"""
    from services.ingest.mail.analyze import analysis_json, analyze

    analysis = analyze(path.read_bytes(), [], persona, datetime.now(UTC))
    document = analysis_json(analysis)
    if as_json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n")
        return
    table = Table("field", "value", title=str(path))
    for key, value in document.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False, default=str)[:200])
    console.print(table)


def _mail_config(settings: Settings) -> MailConfig:
    from services.ingest.mail_service import MailConfig

    return MailConfig(
        mailer_address=settings.mail_address,
        persona=settings.mail_persona,
        campaign=settings.mail_campaign,
        wave=settings.mail_wave,
    )


def _imap_source(settings: Settings, url: str) -> Source:
    from services.ingest.mail_sources import ImapAccount, ImapSource
    from services.ingest.mail_store import MailStore

    try:
        account = ImapAccount.from_url(url)
    except ValueError as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(2) from None
    try:
        password = settings.imap_secret()
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]cannot read MEETLAT_IMAP_PASSWORD_FILE[/]: {_plain(exc)}")
        raise typer.Exit(2) from None
    if password is None:
        err.print(
            "[red]No IMAP password[/]: set MEETLAT_IMAP_PASSWORD or MEETLAT_IMAP_PASSWORD_FILE"
        )
        raise typer.Exit(2)
    engine = _database(settings)
    store = MailStore(engine)
    return ImapSource(
        account,
        password,
        checkpoint=store.checkpoint,
        save_checkpoint=store.save_checkpoint,
        folders=tuple(settings.imap_folders),
        sent_folder=settings.imap_sent_folder,
    )


@ingest_app.command("mail")
def ingest_mail_command(
    imap: Annotated[
        str | None,
        typer.Option(help="IMAP account URL, e.g. imaps://user@host/ (default MEETLAT_IMAP_URL)."),
    ] = None,
    maildir: Annotated[
        Path | None, typer.Option(exists=True, file_okay=False, help="A Maildir.")
    ] = None,
    mbox: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="An mbox file.")
    ] = (None),
    eml: Annotated[
        Path | None, typer.Option(exists=True, file_okay=False, help="A folder of .eml files.")
    ] = None,
    poll: Annotated[
        bool, typer.Option(help="IMAP: keep polling every MEETLAT_MAIL_POLL_SECONDS.")
    ] = False,
    metrics_port: Annotated[
        int, typer.Option(help="While polling, serve Prometheus /metrics here (0: off).")
    ] = 0,
    heartbeat: Annotated[
        bool, typer.Option(help="Afterwards, vouch that everything up to now is ingested.")
    ] = True,
) -> None:
    """Ingest the mystery mailer's mail: sent mystery mails (the Sent folder, or mails with
    X-Meetlat-* headers) become mail.sent events; replies and auto-replies are threaded to
    them and become their events; bounces are recorded as undeliverable; what matches no sent
    mail goes to the holding pen (`meetlat mail unmatched`). Raw messages are archived in
    SQL first; a re-run adds nothing twice."""
    import time

    from services.ingest.mail_service import MailIngestReport, ingest_mail
    from services.ingest.mail_sources import EmlSource, MaildirSource, MailSourceError, MboxSource
    from services.ingest.mail_store import MailStore
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import publish_heartbeat
    from services.runtime.metrics import MAIL_LAST_POLL, MetricsPortUnavailable, serve_metrics

    settings = _settings()
    url = imap or (settings.imap_url if not (maildir or mbox or eml) else None)
    chosen = [x for x in (url, maildir, mbox, eml) if x]
    if len(chosen) != 1:
        err.print(
            "[red]Give exactly one source[/]: --imap URL | --maildir DIR | --mbox FILE | --eml DIR"
        )
        raise typer.Exit(2)
    if poll and not url:
        err.print("[red]--poll is for IMAP[/]")
        raise typer.Exit(2)
    source: Source
    if url:
        source = _imap_source(settings, url)
    elif maildir:
        source = MaildirSource(maildir)
    elif mbox:
        source = MboxSource(mbox)
    else:
        assert eml is not None
        source = EmlSource(eml)
    edge = _edge(settings)
    store = MailStore(edge.archive.engine)
    config = _mail_config(settings)
    if poll:
        try:
            serve_metrics(metrics_port)
        except MetricsPortUnavailable as exc:
            err.print(f"[red]{_plain(exc)}[/] (--metrics-port)")
            raise typer.Exit(1) from None

    def once() -> MailIngestReport:
        publisher = KafkaPublisher(edge.broker_url)
        try:
            with _progress() as progress:
                task = progress.add_task(f"mail from {source.kind}", total=None)
                report = ingest_mail(
                    source.fetch(),
                    store,
                    edge.archive,
                    publisher,
                    edge.topics,
                    config,
                    commit=source.commit,
                    progress=lambda n: progress.advance(task, n),
                )
            if heartbeat:
                publish_heartbeat(
                    edge.archive, publisher, edge.topics, f"mail:{source.kind}", datetime.now(UTC)
                )
        finally:
            publisher.close()
        MAIL_LAST_POLL.set(time.time())
        for problem in report.problems:
            err.print(f"[yellow]{problem}[/]")
        console.print(
            f"{report.fetched} fetched ({report.duplicates} seen before): {report.sent} sent, "
            f"{report.replies} replies, {report.auto_replies} auto-replies, {report.bounces} "
            f"bounces, {report.unmatched} unmatched, {report.quarantined} quarantined, "
            f"{report.incomplete} incomplete sent mails; {report.resolved} resolved from the "
            f"holding pen; {report.new_events} new events"
        )
        return report

    if not poll:
        try:
            once()
        except MailSourceError as exc:
            err.print(f"[red]{_plain(exc)}[/]")
            raise typer.Exit(1) from None
        return
    while True:
        try:
            once()
        except Exception as exc:  # a poll that fails is retried at the next interval
            err.print(f"[red]poll failed[/]: {type(exc).__name__}: {_plain(exc)}")
        time.sleep(settings.mail_poll_seconds)


@mail_app.command("unmatched")
def mail_unmatched(
    status: Annotated[
        Literal["unmatched", "bounce", "quarantined", "incomplete"],
        typer.Option(
            help="Other lists: bounces (undeliverable), quarantined messages, sent mails "
            "without a usable identity."
        ),
    ] = "unmatched",
) -> None:
    """List the holding pen: received messages that match no sent mystery mail."""
    from services.ingest.mail_store import MailStore

    engine = _database(_settings())
    items = MailStore(engine).by_status(status)
    why = "why unmatched" if status == "unmatched" else "reason"
    table = Table("message", "date (UTC)", "kind", "from", "subject", why)
    for item in items:
        kind = item.kind_override or item.kind or ""
        table.add_row(
            item.sha256[:12],
            f"{item.occurred_at:%Y-%m-%d %H:%M}",
            kind,
            item.sender,
            item.subject[:60],
            item.reason,
        )
    console.print(table)
    hint = "; resolve with `meetlat mail assign MESSAGE CONTACT`" if status == "unmatched" else ""
    console.print(f"{len(items)} {status}{hint}")


@mail_app.command("assign")
def mail_assign(
    message: Annotated[str, typer.Argument(help="Message hash prefix or Message-ID.")],
    contact: Annotated[str, typer.Argument(help="Contact id or token of the sent mail.")],
) -> None:
    """Resolve a holding-pen message by hand: it answers this contact's mystery mail (its
    events are emitted)."""
    from services.ingest.mail_service import MailIngestError, assign
    from services.ingest.mail_store import MailStore
    from services.ingest.publisher import KafkaPublisher

    settings = _settings()
    edge = _edge(settings)
    publisher = KafkaPublisher(edge.broker_url)
    try:
        outcome = assign(
            MailStore(edge.archive.engine),
            edge.archive,
            publisher,
            edge.topics,
            _mail_config(settings),
            message,
            contact,
        )
    except MailIngestError as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(1) from None
    finally:
        publisher.close()
    console.print(
        f"{outcome.sha256[:12]} → {outcome.contact_id}: {outcome.kind_override or outcome.kind} "
        f"({outcome.status}; events {', '.join(outcome.event_ids) or 'none'})"
    )


@mail_app.command("reclassify")
def mail_reclassify(
    message: Annotated[str, typer.Argument(help="Message hash prefix or Message-ID.")],
    kind: Annotated[
        Literal["reply", "auto-reply", "bounce"], typer.Option("--as", help="What it really is.")
    ],
) -> None:
    """Override the classification of a received message: a mail.reclassified event retracts
    the events emitted for it, and the events of its new kind follow."""
    from services.ingest.mail.classify import Classification
    from services.ingest.mail_service import MailIngestError, reclassify
    from services.ingest.mail_store import MailStore
    from services.ingest.publisher import KafkaPublisher

    settings = _settings()
    edge = _edge(settings)
    publisher = KafkaPublisher(edge.broker_url)
    try:
        outcome, events = reclassify(
            MailStore(edge.archive.engine),
            edge.archive,
            publisher,
            edge.topics,
            _mail_config(settings),
            message,
            Classification(kind.replace("-", "_")),
        )
    except MailIngestError as exc:
        err.print(f"[red]{_plain(exc)}[/]")
        raise typer.Exit(1) from None
    finally:
        publisher.close()
    emitted = ", ".join(e.type for e in events) or "no events (still in the holding pen)"
    console.print(f"{outcome.sha256[:12]} is now {kind}: {emitted}")


@schema_app.command("export")
def schema_export(
    check: Annotated[
        bool, typer.Option("--check", help="Only check the export is current.")
    ] = False,
) -> None:
    """Write the JSON Schema of events, score revisions and benchmarks to schemas/json/."""
    from schemas.export import JSON_DIR, export, stale

    if check:
        problems = stale()
        if problems:
            err.print(
                f"[red]stale JSON Schema[/]: {', '.join(problems)}; run `meetlat schema export`"
            )
            raise typer.Exit(1)
        console.print(f"JSON Schema in {JSON_DIR} is current")
        return
    for path in export():
        console.print(f"wrote {path}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to the configured database."""
    engine = _database(_settings())
    where = engine.url.render_as_string(hide_password=True)
    console.print(f"database at {_plain(where)} is up to date")


def _unwrap_summaries(group: typer.Typer) -> None:
    """A command's line in its group's list of commands: the first paragraph of its help, on one
    line. typer's rich help rewraps a command's own `--help` text, but keeps the docstring's
    line breaks in that list, which then breaks mid-sentence."""
    for command in group.registered_commands:
        text = command.help or (inspect.getdoc(command.callback) if command.callback else None)
        if command.short_help is None and text:
            command.short_help = " ".join(text.split("\n\n")[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _unwrap_summaries(sub.typer_instance)


_unwrap_summaries(app)


def main() -> None:
    try:
        app()
    except Exception as exc:
        from schemas.scoring_model import ModelError
        from services.ingest.publisher import PublishError
        from services.scoring.catalogue import UnknownModelError

        if isinstance(exc, PublishError):
            # every command that publishes archives first: a rerun sends what is missing
            err.print(
                f"[red]{_plain(exc)}[/]; what was archived stays in the SQL event archive: run "
                "the command again once the broker answers (it is idempotent), or `meetlat replay`"
            )
            sys.exit(1)
        if not isinstance(exc, ModelError | UnknownModelError):
            raise
        # A scoring model that cannot be used (MEETLAT_SCORING_MODEL, MEETLAT_MODELS_DIR or a
        # command's model argument) is a setting to correct, not a bug: no traceback.
        err.print(f"[red]{_plain(exc)}[/]")
        sys.exit(2)


if __name__ == "__main__":
    main()
