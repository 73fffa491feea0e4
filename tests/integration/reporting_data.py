"""A reporting database for API and dashboard tests: a generated two-wave campaign whose
first municipality's calls and mails name staff (the no-names corpus), archived, aggregated by
the batch oracle, materialised into SQL and snapshotted — what the pipeline leaves behind."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from schemas.events import Event
from schemas.reference import ReferenceData
from services.ingest.archive import EventArchive
from services.recompute import recompute
from services.reporting.store import BenchmarkStore
from services.scoring.catalogue import ModelCatalogue, default_model
from tests.unit.reporting.conftest import two_waves
from tests.unit.reporting.corpus import MAIL_BODIES
from tests.unit.reporting.test_no_names import with_texts


@dataclass(frozen=True)
class ReportingData:
    events: list[Event]
    named: str  # the municipality whose texts name staff
    chamber: str
    snapshot_id: int


def populate(engine: Engine, municipalities: int = 10, seed: int = 4) -> ReportingData:
    reference = ReferenceData.load()
    events = two_waves(municipalities, seed, reference)
    named = sorted({e.municipality for e in events if e.wave == 2})[0]
    events = with_texts(events, named, MAIL_BODIES)
    EventArchive(engine).append([(e, e.model_dump_json().encode()) for e in events])
    result = recompute(events, ModelCatalogue(None).resolve, default_model(), reference)
    store = BenchmarkStore(engine)
    store.apply(result.benchmarks, {("meetlat.benchmarks", 0): len(result.benchmarks)})
    info = store.take_snapshot("test")
    return ReportingData(events, named, reference.chamber_of[named], info.id)
