"""Reports of one campaign read from a snapshot that holds several: only that campaign's
figures and texts are read, and the default campaign is chosen without reading a figure."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine

from schemas.reference import ReferenceData
from services.ingest.archive import EventArchive
from services.recompute import recompute
from services.reporting.source import load_report_set
from services.reporting.store import BenchmarkStore
from services.runtime.settings import Settings
from services.scoring.catalogue import ModelCatalogue, default_model
from tests.unit.reporting.conftest import two_waves


def test_the_reports_of_each_campaign_of_a_snapshot(engine: Engine, settings: Settings) -> None:
    reference = ReferenceData.load()
    events = two_waves(4, 7, reference)
    EventArchive(engine).append([(e, e.model_dump_json().encode()) for e in events])
    this_year = recompute(events, ModelCatalogue(None).resolve, default_model(), reference)
    last_year = [b.model_copy(update={"campaign": "mg-2025"}) for b in this_year.benchmarks]
    store = BenchmarkStore(engine)
    store.apply([*last_year, *this_year.benchmarks], {("meetlat.benchmarks", 0): 1})
    snapshot = store.take_snapshot()
    town = sorted({e.municipality for e in events if e.wave == 2})[0]

    newest, info = load_report_set(settings, engine)
    assert info == snapshot
    assert (newest.meta.campaign, newest.meta.wave) == ("mg-2026", 2)
    assert {r.campaign for r in newest.index.rows} == {"mg-2026"}
    assert {t.campaign for t in newest.texts} == {"mg-2026"}
    assert newest.report("municipality", town).calls

    older, _ = load_report_set(settings, engine, campaign="mg-2025")
    assert (older.meta.campaign, older.meta.wave) == ("mg-2025", 2)
    assert {r.campaign for r in older.index.rows} == {"mg-2025"}
    assert older.texts == []  # the archive holds this year's texts only
    assert not older.report("municipality", town).calls
    assert [t.wave for t in older.report("national").trends] == [1, 2]
    first, _ = load_report_set(settings, engine, campaign="mg-2025", wave=1)
    assert first.meta.wave == 1

    with pytest.raises(LookupError, match="no campaign 'mg-1999' in the snapshot "):
        load_report_set(settings, engine, campaign="mg-1999")
    with pytest.raises(LookupError, match=r"\(it holds mg-2025, mg-2026\)"):
        load_report_set(settings, engine, campaign="mg-1999", wave=1)
    with pytest.raises(LookupError, match=re.escape("no campaign 'mg\\x002026'")):
        load_report_set(settings, engine, campaign="mg\x002026", wave=1)
