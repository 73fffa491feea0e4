"""`meetlat demo`: a generated national campaign through the live pipeline, end to end.

Generates the campaign, starts the embedded broker (unless one is configured) and a worker
with all four services in this process, ingests the events with a progress bar, waits until
every event has been processed, takes a snapshot, checks it against the batch oracle, writes
the national summary and one report per Chamber, and prints a summary table.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schemas.reference import ReferenceData
from schemas.scoring_model import ScoringModel
from services.aggregation.benchmarks import rules_for
from services.demo.campaign import CampaignSpec, campaign_waves, write_jsonl
from services.ingest.archive import EventArchive
from services.ingest.parsing import parse_jsonl
from services.ingest.publisher import KafkaPublisher
from services.ingest.service import ingest, publish_heartbeat
from services.recompute import recompute
from services.reporting.figures import FigureRow, SnapshotInfo, figure_rows
from services.reporting.reports import ReportSet, file_name
from services.reporting.store import BenchmarkStore
from services.reporting.summary import band, by_scope, fmt, ranked
from services.reporting.tips import default_tips
from services.reporting.topic import latest_benchmarks
from services.runtime.broker import broker_for, exit_when_lost
from services.runtime.settings import Settings
from services.runtime.worker import running_pipeline, wait_until_drained


@dataclass(frozen=True)
class DemoResult:
    events: int
    accepted: int
    deadlettered: int
    seconds: float
    snapshot: SnapshotInfo
    matches_oracle: bool
    mismatches: list[str]
    out_dir: Path


def compare_with_oracle(snapshot_rows: list[FigureRow], oracle_rows: list[FigureRow]) -> list[str]:
    """Differences between streamed figures and the batch oracle's (empty when equal)."""

    def keyed(rows: list[FigureRow]) -> dict[tuple[str, ...], tuple[float | None, str | None]]:
        # versions count updates, which differ between a stream and one batch by design
        return {
            (r.scope_kind, r.scope_id, r.campaign, str(r.wave), r.breakdown, r.metric): (
                r.value,
                r.label,
            )
            for r in rows
            if r.metric != "version"
        }

    streamed, expected = keyed(snapshot_rows), keyed(oracle_rows)
    problems = []
    for key in sorted(set(streamed) | set(expected)):
        (a, a_label), (b, b_label) = (
            streamed.get(key, (None, None)),
            expected.get(key, (None, None)),
        )
        same = a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12))
        if not same or a_label != b_label:
            problems.append(
                f"{'/'.join(key)}: streamed {a if a_label is None else a_label}, "
                f"oracle {b if b_label is None else b_label}"
            )
    return problems


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


async def run_demo(
    settings: Settings, spec: CampaignSpec, out_dir: Path, console: Console, waves: int = 1
) -> DemoResult:
    started = time.perf_counter()
    reference = ReferenceData.load(settings.chamber_map)
    out_dir.mkdir(parents=True, exist_ok=True)
    events = campaign_waves(spec, waves, reference)
    events_file = out_dir / "events.jsonl"
    write_jsonl(events, events_file)
    console.print(
        f"Generated {len(events):,} events for "
        f"{spec.municipalities or len(reference.municipalities)} "
        f"municipalities in {waves} wave{'s' if waves > 1 else ''} → {events_file}"
    )

    # (an embedded broker that dies takes the campaign's topics with it: there is nothing to
    # finish, and faust would wait for good on it)
    lost = exit_when_lost("meetlat demo", "the demo stops; run it again, it starts over")
    with broker_for(
        settings.broker_url, settings.data_dir / "tansu.log", on_exit=lost
    ) as broker_url:
        console.print(
            f"Broker: {broker_url}{' (embedded Tansu)' if settings.embedded else ''}\n"
            f"SQL: {settings.sqlalchemy_url}",
            soft_wrap=True,
        )
        async with running_pipeline(settings, broker_url) as pipeline:
            store = BenchmarkStore(pipeline.engine)
            if settings.embedded:
                await asyncio.to_thread(store.reset_materialised)  # a fresh broker starts over
            publisher = KafkaPublisher(broker_url)
            with _progress(console) as progress:
                task = progress.add_task("ingest", total=len(events))
                archive = EventArchive(pipeline.engine)
                with events_file.open("rb") as lines:
                    report = await asyncio.to_thread(
                        ingest,
                        parse_jsonl(lines, events_file.name, set(reference.municipalities)),
                        archive,
                        publisher,
                        pipeline.topics,
                        progress=lambda n: progress.advance(task, n),
                    )
                # The wave is closed: every reply and callback deadline has passed.
                closed = max(e.occurred_at for e in events) + timedelta(days=14)
                await asyncio.to_thread(
                    publish_heartbeat,
                    archive,
                    publisher,
                    pipeline.topics,
                    "demo:closed",
                    closed,
                )
                publisher.close()
                drain = progress.add_task("pipeline", total=None)
                peak = 0

                def on_lag(lag: int) -> None:
                    nonlocal peak
                    peak = max(peak, lag)
                    progress.update(drain, total=peak, completed=peak - lag)

                await wait_until_drained(pipeline, broker_url, on_lag=on_lag)
            snapshot = await asyncio.to_thread(store.take_snapshot, "demo")
            rows = await asyncio.to_thread(store.snapshot_figures, snapshot.id)
            on_topic = await asyncio.to_thread(
                latest_benchmarks, broker_url, pipeline.topics.benchmarks
            )

    rules = rules_for(pipeline.model, pipeline.models.by_key, settings.quadrant_reference)
    oracle = recompute(events, pipeline.models.by_key, pipeline.model, reference, rules)
    oracle_rows = [row for b in oracle.benchmarks for row in figure_rows(b)]
    mismatches = compare_with_oracle(rows, oracle_rows)
    topic_rows = [row for b in on_topic.values() for row in figure_rows(b)]
    mismatches += [f"topic {m}" for m in compare_with_oracle(topic_rows, oracle_rows)]
    write_reports(rows, snapshot, reference, pipeline.model, out_dir)
    result = DemoResult(
        events=len(events),
        accepted=report.accepted,
        deadlettered=report.deadlettered,
        seconds=time.perf_counter() - started,
        snapshot=snapshot,
        matches_oracle=not mismatches,
        mismatches=mismatches,
        out_dir=out_dir,
    )
    print_summary(rows, result, console)
    return result


def write_reports(
    rows: list[FigureRow],
    snapshot: SnapshotInfo,
    reference: ReferenceData,
    model: ScoringModel,
    out_dir: Path,
) -> None:
    """The national report and every Chamber's report of the snapshot, as linked HTML
    (municipality reports, with their de-identified call reports and mails: `meetlat report`)."""
    reports = out_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    made = ReportSet.build(rows, model, default_tips(), reference.chamber_of, snapshot=snapshot)
    for kind, scope_id in made.all_reports():
        if kind != "municipality":
            (reports / file_name(kind, scope_id, "html")).write_bytes(
                made.render(kind, scope_id, "html")
            )


def print_summary(
    rows: list[FigureRow], result: DemoResult, console: Console, top: int = 5
) -> None:
    scopes = by_scope(rows)
    chambers = Table(title="Chamber averages (potential)")
    for column in ("Chamber", "phone", "potential", "mail", "potential", "n"):
        chambers.add_column(column, justify="left" if column == "Chamber" else "right")
    rows_for = sorted((s for s in scopes.values() if s.kind == "chamber"), key=lambda s: s.name)
    nation = scopes.get(("nation", "NL"))
    for s in [*rows_for, *([nation] if nation else [])]:
        chambers.add_row(
            f"[bold]{s.name}[/bold]" if s.kind == "nation" else s.name,
            fmt(s.mean("phone")),
            fmt(s.potential("phone")),
            fmt(s.mean("mail")),
            fmt(s.potential("mail")),
            str(s.n("phone") + s.n("mail")),
        )
    console.print(chambers)
    municipalities = [s for s in scopes.values() if s.kind == "municipality"]
    extremes = Table(title=f"Best and worst {top} municipalities")
    for column in ("channel", "rank", "municipality", "mean", "band"):
        extremes.add_column(column)
    colours = {"green": "green", "yellow": "yellow", "red": "red"}
    for channel in ("phone", "mail"):
        order = ranked(municipalities, channel)
        picks = list(enumerate(order, 1))
        for position, s in [*picks[:top], *picks[-top:]]:
            colour = band(s.mean(channel))
            extremes.add_row(
                channel,
                str(position),
                s.name,
                fmt(s.mean(channel)),
                f"[{colours.get(colour, 'white')}]{colour}[/]",
            )
    console.print(extremes)
    verdict = (
        "[green]snapshot and benchmarks topic equal to the batch oracle[/]"
        if result.matches_oracle
        else (f"[red]{len(result.mismatches)} figures differ from the batch oracle[/]")
    )
    console.print(
        f"{result.events:,} events ({result.accepted:,} accepted, "
        f"{result.deadlettered:,} dead-lettered) in {result.seconds:.1f} s; "
        f"snapshot {result.snapshot.id} with {result.snapshot.figure_count:,} "
        f"figures, {verdict}. Reports in {result.out_dir / 'reports'}"
    )
