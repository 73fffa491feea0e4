"""The content of the reports, as plain data (pure: no SQL, no templates).

Built from a snapshot's figure rows (`FigureRow`), the scoring model (criterion labels, norm),
the tip library and the de-identified contact texts:

- `municipality_report` — slide 20's seven sections: (1) figures phone and mail, form and
  content apart, with potential, n and confidence intervals; (2) what goes well; (3) what to
  improve and how (tips linked to the weak criteria); (4) other findings; (5) position in the
  Chamber and the nation (slide-24 charts); (6) every call report; (7) a content review of
  every mail; plus the KTO survey and the KTO × mystery-guest quadrant where data exists.
- `chamber_report` — its municipalities compared, its average and potential against the
  nation, common strengths and weaknesses.
- `national_report` — Chambers compared, distribution and extremes, potential, the quadrant
  of all municipalities and the wave trends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas.benchmarks import ALL, NATION_ID
from schemas.scoring_model import ScoringModel
from services.reporting.charts import (
    Bar,
    BarChart,
    Histogram,
    LineChart,
    bar_chart,
    histogram,
    line_chart,
)
from services.reporting.contacts import ContactText
from services.reporting.figures import FigureRow
from services.reporting.tips import Tip, TipLibrary

CHANNELS: tuple[tuple[str, str], ...] = (("phone", "Telefonie"), ("mail", "E-mail"))
DIMENSIONS: tuple[tuple[str, str], ...] = (("form", "Vorm"), ("content", "Inhoud"))
PHASES_NL = {
    "contact": "Contactfase",
    "informatie": "Informatiefase",
    "begeleiding": "Begeleidings- en vergunningsfase",
    "afwikkeling": "Afwikkelings- en handhavingsfase",
}
BREAKDOWN_NL = {ALL: "Totaal", "channel=phone": "Telefonie", "channel=mail": "E-mail"}
QUADRANTS: tuple[tuple[str, str], ...] = (
    ("KTO+ MC+", "goed zendbeleid en goede uitvoering"),
    ("KTO- MC+", "goede uitvoering, klant nog niet tevreden"),
    ("KTO+ MC-", "goed zendbeleid, uitvoering blijft achter"),
    ("KTO- MC-", "zendbeleid en uitvoering verbeteren"),
)
HOSTMANSHIP_NL = (
    "welkom voelen",
    "serieus genomen",
    "begrip",
    "meedenken",
    "deskundigheid",
    "nakomen van afspraken",
)


# ---------------------------------------------------------------- figures, indexed


@dataclass(frozen=True, slots=True)
class Stat:
    """The figures of one breakdown (see `schemas.benchmarks.Figures`)."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    min: float | None
    max: float | None
    median: float | None
    potential_n: int
    potential_mean: float | None
    band: str | None
    previous_mean: float | None
    change: float | None
    p_value: float | None
    significant: bool


@dataclass
class ScopeFigures:
    """Every figure of one scope in one campaign wave."""

    kind: str
    id: str
    name: str
    campaign: str
    wave: int
    values: dict[tuple[str, str], float] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)
    _standings: dict[str, dict[str, Standing]] = field(default_factory=dict, repr=False)

    def num(self, breakdown: str, metric: str) -> float | None:
        return self.values.get((breakdown, metric))

    def label(self, breakdown: str, metric: str) -> str | None:
        return self.labels.get((breakdown, metric))

    def stat(self, breakdown: str) -> Stat | None:
        n = self.num(breakdown, "n")
        if n is None:
            return None

        def get(metric: str) -> float | None:
            return self.num(breakdown, metric)

        return Stat(
            n=int(n),
            mean=get("mean"),
            sd=get("sd"),
            ci_low=get("ci_low"),
            ci_high=get("ci_high"),
            min=get("min"),
            max=get("max"),
            median=get("median"),
            potential_n=int(get("potential_n") or 0),
            potential_mean=get("potential_mean"),
            band=self.label(breakdown, "band"),
            previous_mean=get("previous_mean"),
            change=get("change"),
            p_value=get("p_value"),
            significant=bool(get("significant")),
        )

    def mean(self, breakdown: str) -> float | None:
        return self.num(breakdown, "mean")

    def standings(self, breakdown: str) -> dict[str, Standing]:
        """Municipality → its standing on `breakdown` (Chamber and nation scopes)."""
        if breakdown not in self._standings:
            self._standings[breakdown] = self._parse_standings(breakdown)
        return self._standings[breakdown]

    def _parse_standings(self, breakdown: str) -> dict[str, Standing]:
        prefix = f"standing/{breakdown}"
        found: dict[str, dict[str, float | str]] = defaultdict(dict)
        for (bd, metric), value in self.values.items():
            if bd == prefix and ":" in metric:
                name, code = metric.split(":", 1)
                found[code][name] = value
        for (bd, metric), text in self.labels.items():
            if bd == prefix and ":" in metric:
                name, code = metric.split(":", 1)
                found[code][name] = text
        return {
            code: Standing(
                code=code,
                mean=float(f["mean"]),
                rank=int(f["rank"]),
                of=int(f["of"]),
                percentile=float(f["percentile"]),
                band=str(f.get("band", "")),
            )
            for code, f in sorted(found.items())
            if {"mean", "rank", "of", "percentile"} <= f.keys()
        }

    def quadrants(self) -> dict[str, str]:
        return {m: q for (bd, m), q in sorted(self.labels.items()) if bd == "quadrant"}

    def rows(self) -> list[tuple[str, str, float | None, str | None]]:
        keys = sorted(set(self.values) | set(self.labels))
        return [(b, m, self.values.get((b, m)), self.labels.get((b, m))) for b, m in keys]


@dataclass(frozen=True, slots=True)
class Standing:
    code: str
    mean: float
    rank: int
    of: int
    percentile: float
    band: str


class FigureIndex:
    """A snapshot's rows by scope and campaign wave."""

    def __init__(self, rows: Iterable[FigureRow]) -> None:
        self.rows = list(rows)
        self.scopes: dict[tuple[str, str, str, int], ScopeFigures] = {}
        for r in self.rows:
            key = (r.scope_kind, r.scope_id, r.campaign, r.wave)
            scope = self.scopes.get(key)
            if scope is None:
                scope = ScopeFigures(r.scope_kind, r.scope_id, r.scope_name, r.campaign, r.wave)
                self.scopes[key] = scope
            if r.value is not None:
                scope.values[(r.breakdown, r.metric)] = r.value
            if r.label is not None:
                scope.labels[(r.breakdown, r.metric)] = r.label

    def waves(self) -> list[tuple[str, int]]:
        return sorted({(c, w) for _, _, c, w in self.scopes})

    def kinds(self) -> list[tuple[str, str, int]]:
        """(scope kind, campaign, wave) of every scope, as `report_wave` takes them."""
        return sorted({(k, c, w) for k, _, c, w in self.scopes})

    def scope(self, kind: str, scope_id: str, campaign: str, wave: int) -> ScopeFigures | None:
        return self.scopes.get((kind, scope_id, campaign, wave))

    def of_kind(self, kind: str, campaign: str, wave: int) -> list[ScopeFigures]:
        found = [
            s for (k, _, c, w), s in self.scopes.items() if (k, c, w) == (kind, campaign, wave)
        ]
        return sorted(found, key=lambda s: (s.name, s.id))

    def scope_rows(self, kind: str, scope_id: str, campaign: str, wave: int) -> list[FigureRow]:
        return [
            r
            for r in self.rows
            if (r.scope_kind, r.scope_id, r.campaign, r.wave) == (kind, scope_id, campaign, wave)
        ]


def report_wave(
    kinds: Iterable[tuple[str, str, int]], campaign: str | None = None, wave: int | None = None
) -> tuple[str, int]:
    """The campaign wave to report on, from the (scope kind, campaign, wave) a snapshot holds:
    by default the campaign of the newest wave with national figures (else of any), and the
    campaign's newest wave. LookupError when the snapshot holds no figures or not the campaign.
    """
    held = set(kinds)
    if not held:
        raise LookupError("the snapshot holds no figures")
    if not campaign:
        national = [(c, w) for k, c, w in held if k == "nation"]
        campaign = max(national or [(c, w) for _, c, w in held])[0]
    waves = [w for _, c, w in held if c == campaign]
    if not waves:
        known = ", ".join(sorted({c for _, c, _ in held}))
        raise LookupError(f"no campaign {campaign!r} in the snapshot (it holds {known})")
    return campaign, wave or max(waves)


# ---------------------------------------------------------------- report building blocks


@dataclass(frozen=True)
class ReportMeta:
    snapshot_id: int | None
    snapshot_label: str
    snapshot_taken_at: datetime | None
    snapshot_sha256: str
    campaign: str
    wave: int
    model_key: str
    norm: float
    sufficient: float


@dataclass(frozen=True)
class CriterionFigure:
    id: str
    label: str
    channel: str
    dimension: str
    stat: Stat
    peer_mean: float | None  # the nation's mean of the criterion

    @property
    def versus_peers(self) -> float | None:
        if self.stat.mean is None or self.peer_mean is None:
            return None
        return self.stat.mean - self.peer_mean


@dataclass(frozen=True)
class ChannelFigures:
    channel: str
    label: str
    total: Stat
    dimensions: list[tuple[str, Stat]]
    phases: list[tuple[str, Stat]]
    cases: list[tuple[str, Stat]]
    criteria: list[CriterionFigure]
    chamber_mean: float | None
    nation_mean: float | None


@dataclass(frozen=True)
class Strength:
    criterion: CriterionFigure
    keep: list[Tip]


@dataclass(frozen=True)
class Improvement:
    criterion: CriterionFigure
    tips: list[Tip]


@dataclass(frozen=True)
class Finding:
    kind: str
    text: str


@dataclass(frozen=True)
class Position:
    breakdown: str
    label: str
    within: str  # "chamber" | "nation"
    within_name: str
    standing: Standing
    chart: BarChart


@dataclass(frozen=True)
class SurveySection:
    respondents: int
    status: str
    published: bool
    totaaloordeel: float | None
    ces: float | None
    nps: float | None
    hostmanship: list[tuple[str, float]]
    channels: list[tuple[str, int, str]]  # survey channel, respondents, status


@dataclass(frozen=True)
class CallEntry:
    contact_id: str
    case: str
    occurred_at: datetime
    report: str


@dataclass(frozen=True)
class MailEntry:
    contact_id: str
    case: str
    replied_at: datetime | None
    body: str | None  # None: no reply
    review: str
    reviewed_at: datetime | None


@dataclass(frozen=True)
class MunicipalityReport:
    meta: ReportMeta
    code: str
    name: str
    chamber_id: str | None
    chamber_name: str | None
    contacts: int
    channels: list[ChannelFigures]
    strengths: list[Strength]
    improvements: list[Improvement]
    findings: list[Finding]
    positions: list[Position]
    calls: list[CallEntry]
    mails: list[MailEntry]
    survey: SurveySection | None
    quadrant: str | None
    quadrant_reference: str


@dataclass(frozen=True)
class MemberRow:
    code: str
    name: str
    phone: Stat | None
    mail: Stat | None
    total: Stat | None
    rank: int | None
    quadrant: str | None


@dataclass(frozen=True)
class Comparison:
    label: str
    scope: Stat | None
    nation: Stat | None


@dataclass(frozen=True)
class CommonCriterion:
    criterion: CriterionFigure
    tips: list[Tip]


@dataclass(frozen=True)
class ChamberReport:
    meta: ReportMeta
    id: str
    name: str
    contacts: int
    members: list[MemberRow]
    charts: list[BarChart]
    comparisons: list[Comparison]
    strengths: list[CommonCriterion]
    weaknesses: list[CommonCriterion]
    survey: SurveySection | None


@dataclass(frozen=True)
class ChamberRow:
    id: str
    name: str
    phone: Stat | None
    mail: Stat | None
    total: Stat | None
    municipalities: int


@dataclass(frozen=True)
class Extreme:
    channel: str
    label: str
    best: list[tuple[str, str, float]]  # code, name, mean
    worst: list[tuple[str, str, float]]


@dataclass(frozen=True)
class QuadrantCell:
    quadrant: str
    meaning: str
    municipalities: list[tuple[str, str]]  # code, name


@dataclass(frozen=True)
class TrendRow:
    campaign: str
    wave: int
    values: list[tuple[str, Stat | None]]  # breakdown label → figures


@dataclass(frozen=True)
class NationalReport:
    meta: ReportMeta
    contacts: int
    municipalities: int
    comparisons: list[Comparison]
    chambers: list[ChamberRow]
    chamber_charts: list[BarChart]
    distributions: list[Histogram]
    extremes: list[Extreme]
    quadrants: list[QuadrantCell]
    quadrant_reference: str
    trends: list[TrendRow]
    trend_chart: LineChart | None
    strengths: list[CommonCriterion]
    weaknesses: list[CommonCriterion]
    survey: SurveySection | None


# ---------------------------------------------------------------- helpers


def make_meta(
    model: ScoringModel,
    campaign: str,
    wave: int,
    snapshot_id: int | None = None,
    snapshot_label: str = "",
    snapshot_taken_at: datetime | None = None,
    snapshot_sha256: str = "",
) -> ReportMeta:
    return ReportMeta(
        snapshot_id=snapshot_id,
        snapshot_label=snapshot_label,
        snapshot_taken_at=snapshot_taken_at,
        snapshot_sha256=snapshot_sha256,
        campaign=campaign,
        wave=wave,
        model_key=model.key,
        norm=model.norm,
        sufficient=model.sufficient,
    )


def _criteria(
    scope: ScopeFigures, nation: ScopeFigures | None, model: ScoringModel, channel: str
) -> list[CriterionFigure]:
    out = []
    for c in model.criteria:
        if c.channel != channel:
            continue
        key = f"channel={channel}/criterion={c.id}"
        stat = scope.stat(key)
        if stat is None or stat.mean is None:
            continue
        peer = nation.mean(key) if nation else None
        out.append(CriterionFigure(c.id, c.label, channel, c.dimension, stat, peer))
    return out


def _channel_figures(
    scope: ScopeFigures,
    chamber: ScopeFigures | None,
    nation: ScopeFigures | None,
    model: ScoringModel,
) -> list[ChannelFigures]:
    out = []
    for channel, label in CHANNELS:
        base = f"channel={channel}"
        total = scope.stat(base)
        if total is None:
            continue
        dims = [(nl, s) for d, nl in DIMENSIONS if (s := scope.stat(f"{base}/dimension={d}"))]
        phases = [(nl, s) for p, nl in PHASES_NL.items() if (s := scope.stat(f"{base}/phase={p}"))]
        case_keys = sorted(
            {bd.split("case=", 1)[1] for bd, _ in scope.values if bd.startswith(f"{base}/case=")}
        )
        cases = [(k, s) for k in case_keys if (s := scope.stat(f"{base}/case={k}"))]
        out.append(
            ChannelFigures(
                channel=channel,
                label=label,
                total=total,
                dimensions=dims,
                phases=phases,
                cases=cases,
                criteria=_criteria(scope, nation, model, channel),
                chamber_mean=chamber.mean(base) if chamber else None,
                nation_mean=nation.mean(base) if nation else None,
            )
        )
    return out


def strengths_of(
    criteria: Iterable[CriterionFigure], model: ScoringModel, tips: TipLibrary, per_channel: int = 3
) -> list[Strength]:
    """Strongest criteria against the peers: mean at least the norm and at least the nation's;
    per channel the largest lead first."""
    out: list[Strength] = []
    by_channel: dict[str, list[CriterionFigure]] = defaultdict(list)
    for c in criteria:
        if c.stat.mean is not None and c.stat.mean >= model.norm and (c.versus_peers or 0) >= 0:
            by_channel[c.channel].append(c)
    for channel, _ in CHANNELS:
        chosen = sorted(
            by_channel[channel], key=lambda c: (-(c.versus_peers or 0), -(c.stat.mean or 0), c.id)
        )
        out.extend(Strength(c, tips.keep_for(c.id)) for c in chosen[:per_channel])
    return out


def weak_criteria(
    criteria: Iterable[CriterionFigure], model: ScoringModel, per_channel: int = 4
) -> list[CriterionFigure]:
    """Criteria below the norm, per channel the lowest first."""
    out: list[CriterionFigure] = []
    by_channel: dict[str, list[CriterionFigure]] = defaultdict(list)
    for c in criteria:
        if c.stat.mean is not None and c.stat.mean < model.norm:
            by_channel[c.channel].append(c)
    for channel, _ in CHANNELS:
        chosen = sorted(by_channel[channel], key=lambda c: (c.stat.mean or 0.0, c.id))
        out.extend(chosen[:per_channel])
    return out


def improvements_of(
    criteria: Iterable[CriterionFigure], model: ScoringModel, tips: TipLibrary
) -> list[Improvement]:
    """What to improve and how: each weak criterion with the tips it triggers (a tip already
    given for a weaker criterion is not repeated)."""
    given: set[str] = set()
    out = []
    for c in weak_criteria(criteria, model):
        fresh = [t for t in tips.tips_for(c.id) if t.id not in given]
        given.update(t.id for t in fresh)
        out.append(Improvement(c, fresh))
    return out


def _n(count: int, one: str, more: str) -> str:
    return one if count == 1 else more


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def findings_of(scope: ScopeFigures, model: ScoringModel) -> list[Finding]:
    """Other findings from how calls and mails were handled (slide 20, item 4)."""

    def p(metric: str) -> float | None:
        return scope.num("process", metric)

    out: list[Finding] = []
    calls, mails = int(p("calls") or 0), int(p("mails") or 0)
    first = p("first_attempt_share")
    if calls and first is not None and first < 1:
        out.append(
            Finding(
                "first_attempt",
                f"{_pct(first)} van de {calls} gesprekken werd in één keer afgehandeld; de "
                "overige vroegen een terugbelafspraak of een tweede poging.",
            )
        )
    never, late = int(p("callbacks_never") or 0), int(p("callbacks_late") or 0)
    promised = int(p("callbacks_promised") or 0)
    if never:
        out.append(
            Finding(
                "callback_not_kept",
                f"{never} van de {promised} toegezegde terugbelafspraken werd niet nagekomen.",
            )
        )
    if late:
        out.append(
            Finding(
                "callback_late",
                f"{late} {_n(late, 'terugbelafspraak werd', 'terugbelafspraken werden')} te laat "
                "nagekomen.",
            )
        )
    self_cb = int(p("self_callbacks") or 0)
    if self_cb:
        out.append(
            Finding(
                "self_callback",
                f"In {self_cb} {_n(self_cb, 'gesprek', 'gesprekken')} moest de ondernemer zelf "
                "terugbellen (correctie "
                f"−{model.corrections.self_callback:g}).",
            )
        )
    auto = p("auto_reply_share")
    if mails and auto is not None and auto < 1:
        missing = round(mails * (1 - auto))
        out.append(
            Finding(
                "auto_reply_missing",
                f"Bij {missing} van de {mails} e-mails kwam geen automatische "
                "ontvangstbevestiging (autoreply).",
            )
        )
    answered = p("answered_share")
    if mails and answered is not None and answered < 1:
        unanswered = round(mails * (1 - answered))
        out.append(
            Finding(
                "unanswered_mail",
                f"{unanswered} van de {mails} e-mails {_n(unanswered, 'werd', 'werden')} niet "
                "beantwoord binnen "
                f"{model.mail_reply_deadline_hours:g} uur (telt als "
                f"{model.unanswered_mail_score:g}).",
            )
        )
    within = p("answered_within_24h_share")
    if mails and within is not None and within < 1 and (answered or 0) > 0:
        out.append(
            Finding(
                "slow_mail",
                f"{_pct(within)} van de e-mails werd binnen 24 uur beantwoord (norm: alle).",
            )
        )
    median = p("median_reply_working_hours")
    if median is not None:
        out.append(
            Finding(
                "reply_time",
                f"Mediane reactietijd per mail: {median:.1f} werkuren.".replace(".", ",", 1),
            )
        )
    return out


def _survey(scope: ScopeFigures) -> SurveySection | None:
    respondents = scope.num("survey/all", "respondents")
    if respondents is None:
        return None
    host = [
        (HOSTMANSHIP_NL[i - 1] if i <= len(HOSTMANSHIP_NL) else f"item {i}", v)
        for i in range(1, 7)
        if (v := scope.num("survey/all", f"hostmanship_{i}")) is not None
    ]
    channels = []
    for key in ("counter", "phone", "digital"):
        bd = f"survey/survey_channel={key}"
        n = scope.num(bd, "respondents")
        if n is not None:
            channels.append((key, int(n), scope.label(bd, "status") or ""))
    return SurveySection(
        respondents=int(respondents),
        status=scope.label("survey/all", "status") or "",
        published=bool(scope.num("survey/all", "published")),
        totaaloordeel=scope.num("survey/all", "totaaloordeel"),
        ces=scope.num("survey/all", "ces"),
        nps=scope.num("survey/all", "nps"),
        hostmanship=host,
        channels=channels,
    )


def _position_chart(
    title: str,
    standings: Mapping[str, Standing],
    names: Mapping[str, str],
    highlight: str,
    average: float | None,
    model: ScoringModel,
    labels: bool,
    link: bool,
) -> BarChart:
    ordered = sorted(standings.values(), key=lambda s: (s.rank, s.code))
    bars = [
        Bar(
            key=s.code,
            label=names.get(s.code, s.code) if labels else "",
            title=f"{names.get(s.code, s.code)}: {s.mean:.2f}".replace(".", ","),
            value=s.mean,
            band=s.band,
            highlight=s.code == highlight,
            link_kind="municipality" if link else "",
        )
        for s in ordered
    ]
    return bar_chart(title, bars, average, model.norm, model.sufficient)


def municipality_names(index: FigureIndex, campaign: str, wave: int) -> dict[str, str]:
    return {s.id: s.name for s in index.of_kind("municipality", campaign, wave)}


# ---------------------------------------------------------------- the three reports


def municipality_report(
    index: FigureIndex,
    code: str,
    meta: ReportMeta,
    model: ScoringModel,
    tips: TipLibrary,
    chamber_of: Mapping[str, str],
    texts: Sequence[ContactText] = (),
) -> MunicipalityReport:
    campaign, wave = meta.campaign, meta.wave
    scope = index.scope("municipality", code, campaign, wave)
    if scope is None:
        raise LookupError(f"no figures for municipality {code} in {campaign} wave {wave}")
    chamber_id = chamber_of.get(code)
    chamber = index.scope("chamber", chamber_id, campaign, wave) if chamber_id else None
    nation = index.scope("nation", NATION_ID, campaign, wave)
    channels = _channel_figures(scope, chamber, nation, model)
    criteria = [c for ch in channels for c in ch.criteria]
    names = municipality_names(index, campaign, wave)

    positions: list[Position] = []
    for breakdown in ("channel=phone", "channel=mail", ALL):
        label = BREAKDOWN_NL[breakdown]
        for within, other in (("chamber", chamber), ("nation", nation)):
            if other is None:
                continue
            standings = other.standings(breakdown)
            if code not in standings:
                continue
            chart = _position_chart(
                f"{label} — {other.name}",
                standings,
                names,
                code,
                other.mean(breakdown),
                model,
                labels=within == "chamber",
                link=True,
            )
            positions.append(Position(breakdown, label, within, other.name, standings[code], chart))

    own = [t for t in texts if t.municipality == code and (t.campaign, t.wave) == (campaign, wave)]
    calls = [
        CallEntry(t.contact_id, t.case, t.occurred_at, t.text)
        for t in own
        if t.kind == "call_report"
    ]
    mails_by: dict[str, dict[str, ContactText]] = defaultdict(dict)
    for t in own:
        if t.channel == "mail":
            mails_by[t.contact_id][t.kind] = t
    mails = []
    for contact_id, kinds in mails_by.items():
        body, review = kinds.get("mail_body"), kinds.get("mail_review")
        anchor = body or review
        assert anchor is not None
        mails.append(
            MailEntry(
                contact_id=contact_id,
                case=anchor.case,
                replied_at=body.occurred_at if body else None,
                body=body.text if body else None,
                review=review.text if review else "",
                reviewed_at=review.occurred_at if review else None,
            )
        )
    mails.sort(key=lambda m: (m.reviewed_at or m.replied_at or datetime.min, m.contact_id))
    quadrant = nation.quadrants().get(code) if nation else None
    return MunicipalityReport(
        meta=meta,
        code=code,
        name=scope.name,
        chamber_id=chamber_id,
        chamber_name=chamber.name if chamber else None,
        contacts=int(scope.num("scope", "contacts") or 0),
        channels=channels,
        strengths=strengths_of(criteria, model, tips),
        improvements=improvements_of(criteria, model, tips),
        findings=findings_of(scope, model),
        positions=positions,
        calls=calls,
        mails=mails,
        survey=_survey(scope),
        quadrant=quadrant,
        quadrant_reference=(nation.label("scope", "quadrant_reference") or "") if nation else "",
    )


def _common(
    scope: ScopeFigures, nation: ScopeFigures | None, model: ScoringModel, tips: TipLibrary
) -> tuple[list[CommonCriterion], list[CommonCriterion]]:
    criteria = [c for ch, _ in CHANNELS for c in _criteria(scope, nation, model, ch)]
    strong = [CommonCriterion(s.criterion, s.keep) for s in strengths_of(criteria, model, tips)]
    weak = [CommonCriterion(i.criterion, i.tips) for i in improvements_of(criteria, model, tips)]
    return strong, weak


def _comparisons(scope: ScopeFigures, nation: ScopeFigures | None) -> list[Comparison]:
    out = []
    for channel, label in CHANNELS:
        base = f"channel={channel}"
        out.append(Comparison(label, scope.stat(base), nation.stat(base) if nation else None))
        for d, nl in DIMENSIONS:
            key = f"{base}/dimension={d}"
            out.append(
                Comparison(
                    f"{label} — {nl.lower()}", scope.stat(key), nation.stat(key) if nation else None
                )
            )
    out.append(Comparison("Totaal", scope.stat(ALL), nation.stat(ALL) if nation else None))
    return out


def chamber_report(
    index: FigureIndex, chamber_id: str, meta: ReportMeta, model: ScoringModel, tips: TipLibrary
) -> ChamberReport:
    campaign, wave = meta.campaign, meta.wave
    scope = index.scope("chamber", chamber_id, campaign, wave)
    if scope is None:
        raise LookupError(f"no figures for chamber {chamber_id} in {campaign} wave {wave}")
    nation = index.scope("nation", NATION_ID, campaign, wave)
    names = municipality_names(index, campaign, wave)
    quadrants = nation.quadrants() if nation else {}
    ranks = scope.standings(ALL)
    codes = sorted(
        {c for bd in ("channel=phone", "channel=mail", ALL) for c in scope.standings(bd)},
        key=lambda c: (ranks[c].rank if c in ranks else 10**6, names.get(c, c)),
    )
    members = []
    for code in codes:
        m = index.scope("municipality", code, campaign, wave)
        members.append(
            MemberRow(
                code=code,
                name=names.get(code, code),
                phone=m.stat("channel=phone") if m else None,
                mail=m.stat("channel=mail") if m else None,
                total=m.stat(ALL) if m else None,
                rank=ranks[code].rank if code in ranks else None,
                quadrant=quadrants.get(code),
            )
        )
    charts = [
        _position_chart(
            f"{label} — gemeenten van {scope.name}",
            scope.standings(f"channel={channel}"),
            names,
            "",
            scope.mean(f"channel={channel}"),
            model,
            labels=True,
            link=True,
        )
        for channel, label in CHANNELS
        if scope.standings(f"channel={channel}")
    ]
    strong, weak = _common(scope, nation, model, tips)
    return ChamberReport(
        meta=meta,
        id=chamber_id,
        name=scope.name,
        contacts=int(scope.num("scope", "contacts") or 0),
        members=members,
        charts=charts,
        comparisons=_comparisons(scope, nation),
        strengths=strong,
        weaknesses=weak,
        survey=_survey(scope),
    )


def national_report(
    index: FigureIndex, meta: ReportMeta, model: ScoringModel, tips: TipLibrary, top: int = 5
) -> NationalReport:
    campaign, wave = meta.campaign, meta.wave
    nation = index.scope("nation", NATION_ID, campaign, wave)
    if nation is None:
        raise LookupError(f"no national figures in {campaign} wave {wave}")
    names = municipality_names(index, campaign, wave)
    chambers = [
        ChamberRow(
            id=c.id,
            name=c.name,
            phone=c.stat("channel=phone"),
            mail=c.stat("channel=mail"),
            total=c.stat(ALL),
            municipalities=len(c.standings(ALL)),
        )
        for c in index.of_kind("chamber", campaign, wave)
    ]
    chamber_charts = []
    for channel, label in CHANNELS:
        bars = [
            Bar(
                key=row.id,
                label=row.name.removeprefix("KvK "),
                title=f"{row.name}: {stat.mean:.2f}".replace(".", ","),
                value=stat.mean,
                band=stat.band or "",
                highlight=False,
                link_kind="chamber",
            )
            for row in sorted(
                chambers,
                key=lambda r: -((getattr(r, channel).mean if getattr(r, channel) else 0.0) or 0.0),
            )
            if (stat := getattr(row, channel)) is not None and stat.mean is not None
        ]
        chamber_charts.append(
            bar_chart(
                f"{label} — Kamers vergeleken",
                bars,
                nation.mean(f"channel={channel}"),
                model.norm,
                model.sufficient,
            )
        )
    distributions, extremes = [], []
    for channel, label in CHANNELS:
        standings = nation.standings(f"channel={channel}")
        if not standings:
            continue
        distributions.append(
            histogram(
                f"{label} — verdeling van de gemeenten",
                [s.mean for s in standings.values()],
                nation.mean(f"channel={channel}"),
                model.norm,
                model.sufficient,
            )
        )
        ordered = sorted(standings.values(), key=lambda s: (s.rank, s.code))
        extremes.append(
            Extreme(
                channel,
                label,
                [(s.code, names.get(s.code, s.code), s.mean) for s in ordered[:top]],
                [(s.code, names.get(s.code, s.code), s.mean) for s in ordered[-top:][::-1]],
            )
        )
    placed = nation.quadrants()
    quadrant_cells = [
        QuadrantCell(
            q,
            meaning,
            sorted(
                ((c, names.get(c, c)) for c, p in placed.items() if p == q),
                key=lambda cn: cn[1],
            ),
        )
        for q, meaning in QUADRANTS
    ]
    trends = []
    for c, w in index.waves():
        past = index.scope("nation", NATION_ID, c, w)
        if past is None or c != campaign:
            continue
        trends.append(
            TrendRow(c, w, [(label, past.stat(bd)) for bd, label in BREAKDOWN_NL.items()])
        )
    trend_chart = None
    if len(trends) > 1:
        series = [
            (
                label,
                [
                    (f"{t.wave}-meting", s.mean)
                    for t in trends
                    for lbl, s in t.values
                    if lbl == label and s is not None and s.mean is not None
                ],
            )
            for label in BREAKDOWN_NL.values()
        ]
        trend_chart = line_chart(
            "Landelijke gemiddelden per meting", series, model.norm, model.sufficient
        )
    strong, weak = _common(nation, nation, model, tips)
    return NationalReport(
        meta=meta,
        contacts=int(nation.num("scope", "contacts") or 0),
        municipalities=len(names),
        comparisons=_comparisons(nation, None),
        chambers=chambers,
        chamber_charts=chamber_charts,
        distributions=distributions,
        extremes=extremes,
        quadrants=quadrant_cells,
        quadrant_reference=nation.label("scope", "quadrant_reference") or "",
        trends=trends,
        trend_chart=trend_chart,
        strengths=strong,
        weaknesses=weak,
        survey=_survey(nation),
    )
