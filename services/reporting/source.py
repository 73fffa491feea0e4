"""Where reports come from in production: a snapshot in SQL, the de-identified contact texts
(synchronised from the event archive first), the active scoring model, the tip library and the
Chamber mapping — the adapter that builds a `ReportSet` (used by the CLI and the API)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from schemas.reference import ReferenceData
from services.reporting.deidentify import default_deidentifier
from services.reporting.figures import SnapshotInfo
from services.reporting.model import report_wave
from services.reporting.reports import ReportSet
from services.reporting.store import BenchmarkStore
from services.reporting.text_store import TextStore, sync_texts
from services.reporting.tips import default_tips
from services.runtime.app import load_models
from services.runtime.settings import Settings


def sync_contact_texts(engine: Engine, progress: Callable[[int], None] | None = None) -> int:
    """De-identify and store the archived texts not stored yet (deduce loads only if needed)."""
    return sync_texts(TextStore(engine), default_deidentifier, progress)


def load_report_set(
    settings: Settings,
    engine: Engine,
    snapshot_id: int | None = None,
    campaign: str | None = None,
    wave: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ReportSet, SnapshotInfo]:
    """The reports of one campaign wave (default: as `report_wave` chooses) of a snapshot
    (default: the newest). KeyError without such a snapshot, LookupError without the campaign.

    Only that campaign's figures and texts are read: a snapshot holds every campaign ever
    measured, and a report one campaign's waves."""
    store = BenchmarkStore(engine)
    info = store.snapshot(snapshot_id)
    # (also a campaign asked for is looked up here first, before it goes into SQL)
    campaign, wave = report_wave(store.snapshot_scopes(info.id), campaign, wave)
    rows = store.snapshot_figures(info.id, campaign=campaign)
    sync_contact_texts(engine, progress)
    _, active = load_models(settings)
    reference = ReferenceData.load(settings.chamber_map)
    reports = ReportSet.build(
        rows,
        active,
        default_tips(),
        reference.chamber_of,
        TextStore(engine).texts(campaign=campaign),
        snapshot=info,
        campaign=campaign,
        wave=wave,
    )
    return reports, info
