"""The `meetlat` command."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.runtime.settings import Settings

app = typer.Typer(
    help="Meetlat: continuous mystery-guest measurement of municipal service to entrepreneurs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
schema_app = typer.Typer(help="The wire contract's JSON Schema.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL database.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(db_app, name="db")

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


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


@app.command()
def worker(
    service: Annotated[
        list[str] | None,
        typer.Option("--service", "-s", help="Run only these services (repeatable); default all."),
    ] = None,
) -> None:
    """Run a pipeline worker until Ctrl-C. Without MEETLAT_BROKER_URL it starts the embedded
    broker and replays the SQL event archive into it (the embedded broker keeps nothing)."""
    from services.runtime.app import SERVICES
    from services.runtime.worker import run_worker

    settings = _settings()
    run_worker(settings, tuple(service) if service else SERVICES)


@app.command("ingest")
def ingest_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV file.")],
    fmt: Annotated[Literal["auto", "jsonl", "csv"], typer.Option("--format")] = "auto",
) -> None:
    """Validate a file of events, archive the valid ones in SQL and publish them; invalid lines
    are reported with their line number and sent to the dead-letter topic."""
    from schemas.reference import ReferenceData
    from services.ingest.archive import EventArchive
    from services.ingest.parsing import parse_csv, parse_jsonl
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import ingest
    from services.runtime.db import make_engine, upgrade
    from services.runtime.topics import Topics, ensure_topics

    settings = _settings()
    broker_url = settings.reachable_broker_url()
    if not broker_url:
        err.print(
            "[red]No broker[/]: set MEETLAT_BROKER_URL, or start `meetlat worker` with the same "
            "MEETLAT_DATA_DIR first (its embedded broker's URL is found there), or use "
            "`meetlat demo` for a self-contained run."
        )
        raise typer.Exit(2)
    kind = fmt if fmt != "auto" else ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    known = set(ReferenceData.load(settings.chamber_map).municipalities)
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    topics = Topics.for_settings(settings)
    ensure_topics(broker_url, topics.specs(settings.partitions), settings.replication_factor)
    publisher = KafkaPublisher(broker_url)
    parse = parse_csv if kind == "csv" else parse_jsonl
    total = sum(1 for _ in path.open("rb"))
    with path.open("rb") as lines, _progress() as progress:
        task = progress.add_task(f"ingest {path.name}", total=total)
        report = ingest(
            parse(lines, path.name, known),
            EventArchive(engine),
            publisher,
            topics,
            progress=lambda n: progress.advance(task, n),
        )
    publisher.close()
    for rejected in report.rejected:
        err.print(f"[red]{rejected.source}:{rejected.line}[/]: {rejected.reason}")
    console.print(
        f"{report.records} records: {report.accepted} accepted ({report.newly_archived} new in the "
        f"archive), {report.deadlettered} dead-lettered to {topics.deadletter}"
    )


@app.command()
def replay() -> None:
    """Re-publish every archived event to the observations topic (idempotent downstream)."""
    from services.ingest.archive import EventArchive
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.service import replay as replay_archive
    from services.runtime.db import make_engine, upgrade
    from services.runtime.topics import Topics, ensure_topics

    settings = _settings()
    broker_url = settings.reachable_broker_url()
    if not broker_url:
        err.print(
            "[red]No broker[/]: set MEETLAT_BROKER_URL, or start `meetlat worker` with the same "
            "MEETLAT_DATA_DIR (an embedded worker also replays the archive itself at start)."
        )
        raise typer.Exit(2)
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    archive = EventArchive(engine)
    topics = Topics.for_settings(settings)
    ensure_topics(broker_url, topics.specs(settings.partitions), settings.replication_factor)
    publisher = KafkaPublisher(broker_url)
    with _progress() as progress:
        task = progress.add_task("replay", total=archive.count())
        count = replay_archive(
            archive, publisher, topics, progress=lambda n: progress.advance(task, n)
        )
    publisher.close()
    console.print(f"re-published {count} archived events to {topics.observations}")


@app.command()
def recompute(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL event file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print contact scores and benchmarks as JSON.")
    ] = False,
) -> None:
    """The batch oracle: score and aggregate an event file with the pipeline's own domain
    functions, without Kafka."""
    from schemas.reference import ReferenceData
    from services.ingest.parsing import Accepted, parse_jsonl
    from services.recompute import recompute as run
    from services.scoring.model import DEFAULT_MODEL

    settings = _settings()
    reference = ReferenceData.load(settings.chamber_map)
    events = []
    with path.open("rb") as lines:
        for outcome in parse_jsonl(lines, path.name, set(reference.municipalities)):
            if isinstance(outcome, Accepted):
                events.append(outcome.event)
            else:
                err.print(f"[yellow]skipped[/] {outcome}")
    result = run(events, DEFAULT_MODEL, reference)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=f"{len(result.scores)} contacts scored")
    for column in ("scope", "name", "phone", "mail", "n"):
        table.add_column(column)
    for b in result.benchmarks:
        if b.scope_kind == "municipality":
            continue
        phone, mail = b.breakdowns["channel=phone"], b.breakdowns["channel=mail"]
        table.add_row(
            b.scope_kind,
            b.name,
            f"{phone.mean or 0:.2f}",
            f"{mail.mean or 0:.2f}",
            str(b.breakdowns["all"].n),
        )
    console.print(table)


@app.command()
def snapshot(
    label: Annotated[str, typer.Option(help="A label, e.g. 'wave 1 closed'.")] = "",
) -> None:
    """Take an immutable snapshot of all figures in SQL, at the stream position they reflect."""
    from services.reporting.store import BenchmarkStore
    from services.runtime.db import make_engine, upgrade

    engine = make_engine(_settings().sqlalchemy_url)
    upgrade(engine)
    info = BenchmarkStore(engine).take_snapshot(label)
    console.print(
        f"snapshot {info.id}: {info.figure_count} figures at position {info.position}, "
        f"sha256 {info.content_sha256[:16]}"
    )


@app.command()
def snapshots() -> None:
    """List the snapshots taken so far."""
    from services.reporting.store import BenchmarkStore
    from services.runtime.db import make_engine, upgrade

    engine = make_engine(_settings().sqlalchemy_url)
    upgrade(engine)
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
    spec = CampaignSpec(seed=seed, municipalities=municipalities)
    result = asyncio.run(run_demo(settings, spec, out, console))
    if not result.matches_oracle:
        for line in result.mismatches[:20]:
            err.print(f"[red]mismatch[/] {line}")
        raise typer.Exit(1)


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
    from services.runtime.db import make_engine, upgrade

    url = _settings().sqlalchemy_url
    upgrade(make_engine(url))
    console.print(f"database at {url} is up to date")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
