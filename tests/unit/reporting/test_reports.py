"""Every report type, section by section: figures equal the snapshot rows, the seven sections
of slide 20 are there, tips match the weak criteria, charts follow slide 24."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from bs4 import BeautifulSoup, Tag

from schemas.benchmarks import NATION_ID
from services.reporting.charts import LABEL_SIZE, Bar, band_of, bar_chart
from services.reporting.model import (
    ChamberReport,
    MunicipalityReport,
    NationalReport,
    weak_criteria,
)
from services.reporting.render import CSV_COLUMNS, FileLinks, nl_number, render_html
from services.reporting.tips import default_tips
from services.scoring.catalogue import default_model

from .conftest import Fixture


def value(fx: Fixture, kind: str, scope: str, breakdown: str, metric: str) -> float | None:
    campaign, wave = fx.reports.meta.campaign, fx.reports.meta.wave
    found = [
        r
        for r in fx.rows
        if (r.scope_kind, r.scope_id, r.campaign, r.wave, r.breakdown, r.metric)
        == (kind, scope, campaign, wave, breakdown, metric)
    ]
    return found[0].value if found else None


def html(fx: Fixture, kind: str, scope: str) -> BeautifulSoup:
    return BeautifulSoup(fx.reports.render(kind, scope, "html"), "html.parser")  # type: ignore[arg-type]


def municipality(fx: Fixture, code: str) -> MunicipalityReport:
    report = fx.reports.report("municipality", code)
    assert isinstance(report, MunicipalityReport)
    return report


def test_latest_wave_is_reported(campaign: Fixture) -> None:
    assert (campaign.reports.meta.campaign, campaign.reports.meta.wave) == ("mg-2026", 2)
    assert len(campaign.reports.municipalities()) == 30


@pytest.mark.parametrize("pick", [0, 7, 19])
def test_municipality_figures_equal_snapshot(campaign: Fixture, pick: int) -> None:
    code = campaign.reports.municipalities()[pick][0]
    report = municipality(campaign, code)
    page = html(campaign, "municipality", code)
    assert [s["data-section"] for s in page.select("section[data-section]")] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
    ]
    for channel in report.channels:
        base = f"channel={channel.channel}"
        assert channel.total.mean == value(campaign, "municipality", code, base, "mean")
        assert channel.total.n == value(campaign, "municipality", code, base, "n")
        assert channel.total.potential_mean == value(
            campaign, "municipality", code, base, "potential_mean"
        )
        assert channel.total.ci_low == value(campaign, "municipality", code, base, "ci_low")
        dims = dict(channel.dimensions)
        for dim, label in (("form", "Vorm"), ("content", "Inhoud")):
            assert dims[label].mean == value(
                campaign, "municipality", code, f"{base}/dimension={dim}", "mean"
            )
        # the rendered table shows the same numbers (Dutch notation)
        table = page.select_one(f"table[data-channel={channel.channel}]")
        assert table is not None
        cells = [td.get_text(" ", strip=True) for td in table.select("tr")[1].select("td")]
        assert cells[1] == nl_number(channel.total.mean)
        assert cells[3] == str(channel.total.n)
        assert cells[4] == nl_number(channel.total.potential_mean)
        for criterion in channel.criteria:
            key = f"{base}/criterion={criterion.id}"
            assert criterion.stat.mean == value(campaign, "municipality", code, key, "mean")
            assert criterion.peer_mean == value(campaign, "nation", NATION_ID, key, "mean")


def test_strengths_and_tips_match_the_criteria(campaign: Fixture) -> None:
    model, tips = default_model(), default_tips()
    seen_tips = 0
    for code, _ in campaign.reports.municipalities():
        report = municipality(campaign, code)
        criteria = [c for ch in report.channels for c in ch.criteria]
        for s in report.strengths:
            assert s.criterion.stat.mean is not None
            assert s.criterion.stat.mean >= model.norm
            assert (s.criterion.versus_peers or 0) >= 0
            assert all(s.criterion.id in k.criteria for k in s.keep)
        weak = weak_criteria(criteria, model)
        assert [i.criterion.id for i in report.improvements] == [c.id for c in weak]
        shown: set[str] = set()
        for improvement in report.improvements:
            assert improvement.criterion.stat.mean is not None
            assert improvement.criterion.stat.mean < model.norm
            for tip in improvement.tips:
                assert improvement.criterion.id in tip.criteria
                shown.add(tip.id)
        expected = {t.id for c in weak for t in tips.tips_for(c.id)}
        assert shown == expected
        # in the HTML: each weak criterion's block holds exactly its tips
        page = html(campaign, "municipality", code)
        section = page.select_one("section[data-section='3']")
        assert section is not None
        rendered = {t["data-tip"] for t in section.select("[data-tip]")}
        assert rendered == expected
        seen_tips += len(rendered)
    assert seen_tips > 0


def test_findings_from_process_figures(campaign: Fixture) -> None:
    kinds: set[str] = set()
    for code, _ in campaign.reports.municipalities():
        report = municipality(campaign, code)
        found = {f.kind for f in report.findings}
        auto = value(campaign, "municipality", code, "process", "auto_reply_share")
        assert ("auto_reply_missing" in found) == (auto is not None and auto < 1)
        answered = value(campaign, "municipality", code, "process", "answered_share")
        assert ("unanswered_mail" in found) == (answered is not None and answered < 1)
        never = value(campaign, "municipality", code, "process", "callbacks_never") or 0
        assert ("callback_not_kept" in found) == (never > 0)
        kinds |= found
    assert {"auto_reply_missing", "unanswered_mail"} <= kinds


def test_position_charts_follow_slide_24(campaign: Fixture) -> None:
    code = campaign.reports.municipalities()[3][0]
    report = municipality(campaign, code)
    chamber = report.chamber_id
    assert chamber is not None
    assert {(p.within, p.breakdown) for p in report.positions} >= {
        ("chamber", "channel=phone"),
        ("nation", "channel=phone"),
    }
    for p in report.positions:
        scope = ("chamber", chamber) if p.within == "chamber" else ("nation", NATION_ID)
        bd = f"standing/{p.breakdown}"
        assert p.standing.rank == value(campaign, *scope, bd, f"rank:{code}")
        assert p.standing.of == value(campaign, *scope, bd, f"of:{code}")
        assert len(p.chart.bars) == p.standing.of
        assert [b.bar.highlight for b in p.chart.bars].count(True) == 1
        lines = {line.kind: line.value for line in p.chart.lines}
        assert lines["norm"] == 7.0 and lines["sufficient"] == 5.5
        assert lines["average"] == value(campaign, *scope, p.breakdown, "mean")
        for placed in p.chart.bars:
            band = (
                "green" if placed.bar.value >= 7 else "yellow" if placed.bar.value >= 5.5 else "red"
            )
            assert placed.bar.band == band
    page = html(campaign, "municipality", code)
    charts = page.select("section[data-section='5'] figure[data-chart=bars] svg")
    assert len(charts) >= 2
    for svg in charts:
        assert svg.select("line[data-line=norm]") and svg.select("line[data-line=average]")
        assert {r["class"][1] for r in svg.select("rect.bar")} <= {
            "bar-red",
            "bar-yellow",
            "bar-green",
        }
    links = {a["href"] for a in page.select("figure a[data-drill=municipality]")}
    assert f"municipality-{code}.html" in links


def print_chart(image: Tag) -> BeautifulSoup:
    """The SVG document of a chart in the PDF's HTML (an <img> with a data: URL)."""
    prefix = "data:image/svg+xml;base64,"
    src = str(image["src"])
    assert src.startswith(prefix)
    return BeautifulSoup(base64.b64decode(src[len(prefix) :]).decode(), "html.parser")


def test_print_charts_draw_each_band_as_one_path(campaign: Fixture) -> None:
    """For the PDF a bar chart is an SVG image with one path per band (one subpath per bar)
    and the municipality's own bar on top, every bar still labelled; no links or tooltips."""
    code = campaign.reports.municipalities()[3][0]
    report = municipality(campaign, code)
    page = BeautifulSoup(render_html(report, FileLinks(), printing=True), "html.parser")
    assert not page.select("svg")
    images = page.select("section[data-section='5'] figure[data-chart=bars] img.chart-image")
    charts = [print_chart(image) for image in images]
    positions = [p for p in report.positions if p.breakdown != "all"]
    assert len(charts) == len(positions) >= 2
    for p, image, chart in zip(positions, images, charts, strict=True):
        assert image["alt"] == p.chart.title
        svg = chart.select_one("svg")
        assert svg is not None and svg["aria-label"] == p.chart.title
        paths = svg.select("path.bars")
        assert sum(path["d"].count("M") for path in paths) == len(p.chart.bars)
        assert {path["class"][1] for path in paths} == {f"bar-{b.bar.band}" for b in p.chart.bars}
        assert [r["data-key"] for r in svg.select("rect.bar-highlight")] == [code]
        assert not svg.select("a") and not svg.select("title")
        labels = [t.get_text() for t in svg.select("text[transform]")]
        assert labels == ([b.bar.label for b in p.chart.bars] if p.chart.labelled else [])


def test_print_charts_set_their_own_text_size(campaign: Fixture) -> None:
    """A chart printed as an image does not see the page's style sheet: its text size is set
    on the SVG itself, the same as on screen (without it WeasyPrint drew 16 px labels)."""
    code = campaign.reports.municipalities()[3][0]
    report = municipality(campaign, code)
    printed = BeautifulSoup(render_html(report, FileLinks(), printing=True), "html.parser")
    screen = html(campaign, "municipality", code)
    svgs = [print_chart(image).select_one("svg") for image in printed.select("img.chart-image")]
    svgs += screen.select("figure.chart svg")
    assert len(svgs) >= 4
    for svg in svgs:
        assert svg is not None and svg["font-size"] == f"{LABEL_SIZE:g}"
        assert svg["font-family"].startswith("DejaVu Sans")
    assert "svg text" not in str(screen.select_one("style"))  # no second, page-only size


@pytest.mark.parametrize(
    ("average", "below"),
    [
        (6.51, {"average"}),  # the norm's line runs just above the average: its label goes under
        (6.0, {"sufficient"}),  # the average's line runs through the place of 'voldoende 5,5'
        (3.0, set()),
        (None, set()),
    ],
)
def test_line_labels_are_dutch_and_keep_clear_of_other_lines(
    average: float | None, below: set[str]
) -> None:
    bars = [Bar(str(i), str(i), str(i), v, band_of(v, 7.0, 5.5)) for i, v in enumerate([8, 6, 4])]
    chart = bar_chart("t", bars, average, 7.0, 5.5)
    labels = {line.kind: line.label for line in chart.lines}
    assert labels["norm"] == "norm 7" and labels["sufficient"] == "voldoende 5,5"
    if average is not None:
        assert labels["average"] == f"gemiddelde {average:.2f}".replace(".", ",")
    assert {line.kind for line in chart.lines if line.below} == below
    for line in chart.lines:
        x, y, width, height = line.label_box
        assert y < line.label_y < y + height  # the box is behind the label's baseline
        assert (x < line.label_x) if line.anchor == "start" else (line.label_x < x + width)
        # no other line runs through the text, from its baseline up to its size
        top = line.label_y - LABEL_SIZE
        assert not any(top < o.y < line.label_y for o in chart.lines if o is not line)


def test_every_call_report_and_mail_review(campaign: Fixture) -> None:
    code = campaign.reports.municipalities()[5][0]
    report = municipality(campaign, code)
    mine = [
        t
        for t in campaign.texts
        if t.municipality == code and (t.campaign, t.wave) == ("mg-2026", 2)
    ]
    calls = {t.contact_id for t in mine if t.kind == "call_report"}
    mails = {t.contact_id for t in mine if t.channel == "mail"}
    assert {c.contact_id for c in report.calls} == calls and calls
    assert {m.contact_id for m in report.mails} == mails and mails
    assert all(m.review for m in report.mails)
    page = html(campaign, "municipality", code)
    assert len(page.select("section[data-section='6'] article.call")) == len(calls)
    assert len(page.select("section[data-section='7'] article.mail")) == len(mails)
    for call in report.calls:
        assert call.report.split(".")[0] in page.get_text()


def test_survey_and_quadrant(campaign: Fixture) -> None:
    for code, _ in campaign.reports.municipalities():
        report = municipality(campaign, code)
        assert report.survey is not None
        assert report.survey.respondents == value(
            campaign, "municipality", code, "survey/all", "respondents"
        )
        quadrant = [
            r.label
            for r in campaign.rows
            if (r.scope_kind, r.breakdown, r.metric, r.wave) == ("nation", "quadrant", code, 2)
        ]
        assert report.quadrant == (quadrant[0] if quadrant else None)


def test_chamber_report(campaign: Fixture) -> None:
    chamber_id = campaign.reports.chambers()[0][0]
    report = campaign.reports.report("chamber", chamber_id)
    assert isinstance(report, ChamberReport)
    members = {
        r.metric.split(":")[1]
        for r in campaign.rows
        if r.scope_kind == "chamber"
        and r.scope_id == chamber_id
        and r.wave == 2
        and r.breakdown == "standing/all"
    }
    assert {m.code for m in report.members} == members
    for m in report.members:
        assert m.phone is not None
        assert m.phone.mean == value(campaign, "municipality", m.code, "channel=phone", "mean")
    phone = report.comparisons[0]
    assert phone.scope is not None and phone.nation is not None
    assert phone.scope.mean == value(campaign, "chamber", chamber_id, "channel=phone", "mean")
    assert phone.nation.mean == value(campaign, "nation", NATION_ID, "channel=phone", "mean")
    page = html(campaign, "chamber", chamber_id)
    rows = page.select("table.members tr[data-municipality]")
    assert {r["data-municipality"] for r in rows} == members
    assert page.select("figure[data-chart=bars]")
    for w in report.weaknesses:
        assert w.criterion.stat.mean is not None and w.criterion.stat.mean < 7


def test_national_report(campaign: Fixture) -> None:
    report = campaign.reports.report("national")
    assert isinstance(report, NationalReport)
    assert {c.id for c in report.chambers} == {c for c, _ in campaign.reports.chambers()}
    assert [(t.campaign, t.wave) for t in report.trends] == [("mg-2026", 1), ("mg-2026", 2)]
    wave1 = report.trends[0].values[1][1]
    assert wave1 is not None
    assert wave1.mean == next(
        r.value
        for r in campaign.rows
        if (r.scope_kind, r.wave, r.breakdown, r.metric) == ("nation", 1, "channel=phone", "mean")
    )
    assert report.trend_chart is not None
    placed = {
        r.metric: r.label
        for r in campaign.rows
        if (r.scope_kind, r.wave, r.breakdown) == ("nation", 2, "quadrant")
    }
    assert {code: q.quadrant for q in report.quadrants for code, _ in q.municipalities} == placed
    for h in report.distributions:
        assert h.total == 30
    for e in report.extremes:
        assert e.best[0][2] >= e.worst[0][2]
    page = html(campaign, "national", NATION_ID)
    for section in ("potential", "chambers", "distribution", "quadrant", "trends"):
        assert page.select_one(f"section[data-section={section}]") is not None
    chamber_links = {a["href"] for a in page.select("table.chambers a")}
    assert chamber_links == {FileLinks().chamber(c) for c, _ in campaign.reports.chambers()}
    assert page.select("figure[data-chart=lines] polyline")


@pytest.mark.parametrize(
    "kind,pick", [("municipality", 0), ("chamber", 0), ("national", 0)], ids=str
)
def test_csv_and_json_hold_the_snapshot_figures(campaign: Fixture, kind: str, pick: int) -> None:
    scope = {
        "municipality": campaign.reports.municipalities()[pick][0],
        "chamber": campaign.reports.chambers()[pick][0],
        "national": NATION_ID,
    }[kind]
    expected = campaign.reports.rows(kind, scope)  # type: ignore[arg-type]
    assert expected
    text = campaign.reports.render(kind, scope, "csv").decode()  # type: ignore[arg-type]
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert tuple(parsed[0].keys()) == CSV_COLUMNS
    assert len(parsed) == len(expected)
    for got, row in zip(parsed, expected, strict=True):
        assert (got["breakdown"], got["metric"]) == (row.breakdown, row.metric)
        assert got["value"] == ("" if row.value is None else repr(row.value))
        assert got["label"] == (row.label or "")
    document = json.loads(campaign.reports.render(kind, scope, "json"))  # type: ignore[arg-type]
    assert document["report"] == kind
    assert [(f["breakdown"], f["metric"], f["value"], f["label"]) for f in document["figures"]] == [
        (r.breakdown, r.metric, r.value, r.label) for r in expected
    ]


def test_unknown_scope_is_a_lookup_error(campaign: Fixture) -> None:
    with pytest.raises(LookupError):
        campaign.reports.report("municipality", "GM9999")
    with pytest.raises(LookupError):
        campaign.reports.report("chamber", "nowhere")


def test_tip_library_names_only_model_criteria() -> None:
    tips = default_tips()
    assert tips.unknown_criteria(c.id for c in default_model().criteria) == set()
    assert len(tips.tips) >= 15  # every 003 recommendation for phone and mail
    covered = {c for t in tips.tips for c in t.criteria}
    assert covered == {c.id for c in default_model().criteria}
