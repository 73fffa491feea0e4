"""A two-wave generated campaign, scored and aggregated by the batch oracle, as the figure
rows and contact texts reports are built from (no SQL, no broker)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from schemas.events import Event
from schemas.reference import ReferenceData
from schemas.scoring_model import ScoringModel
from services.demo.campaign import CampaignSpec, generate_campaign
from services.recompute import recompute
from services.reporting.contacts import ContactText, contact_texts
from services.reporting.figures import FigureRow, figure_rows
from services.reporting.reports import ReportSet
from services.reporting.tips import default_tips
from services.scoring.catalogue import ModelCatalogue, default_model


def two_waves(municipalities: int, seed: int, reference: ReferenceData) -> list[Event]:
    spec = CampaignSpec(municipalities=municipalities, surveys_per_municipality=12, seed=seed)
    events: list[Event] = []
    for wave in (1, 2):
        events.extend(
            generate_campaign(
                replace(
                    spec,
                    wave=wave,
                    seed=seed + wave - 1,
                    start=spec.start + timedelta(weeks=26 * (wave - 1)),
                ),
                reference,
            )
        )
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))


@dataclass
class Fixture:
    reference: ReferenceData
    model: ScoringModel
    events: list[Event]
    rows: list[FigureRow]
    texts: list[ContactText]
    reports: ReportSet


def build(events: list[Event], reference: ReferenceData, texts: list[ContactText]) -> Fixture:
    model = default_model()
    result = recompute(events, ModelCatalogue(None).resolve, model, reference)
    rows = [r for b in result.benchmarks for r in figure_rows(b)]
    reports = ReportSet.build(rows, model, default_tips(), reference.chamber_of, texts)
    return Fixture(reference, model, events, rows, texts, reports)


@pytest.fixture(scope="session")
def campaign() -> Fixture:
    reference = ReferenceData.load()
    events = two_waves(30, 7, reference)
    # Generated texts hold no staff names; identity stands in for de-identification here
    # (tests/unit/reporting/test_no_names.py runs the real one on a corpus with names).
    return build(events, reference, contact_texts(events, lambda text, case: text))
