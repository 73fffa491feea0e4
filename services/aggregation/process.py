"""Contact process figures: how calls and mails were handled, apart from how they scored.

Pure domain maths (no faust, Kafka or SQL): the share of calls completed at the first attempt,
transfers and warm transfers, callbacks promised / kept / late / never, self-callbacks; the share
of mails answered, with an auto-reply and answered within 24 hours, and reply times in clock hours
and in *working hours* (Dutch working days, office hours only).

The input is the latest score of each contact (the caller keeps one per contact, revisions
replacing earlier ones); the figures read only its channel, whether it was answered and the
observed `facts` the scorer records (see `schemas.scores.ContactScore.facts` and
`services.scoring.rules._phone_facts` / `_mail_facts`). Every figure is independent of the order
the contacts are given in: sums use `math.fsum` (exactly rounded), medians sort.

Shares are fractions from 0 to 1 (not percentages) and None when their denominator is 0, as are
means and medians of nothing.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

import holidays

from schemas.benchmarks import ProcessFigures
from schemas.events import EARLIEST_EVENT_TIME, LATEST_EVENT_TIME

__all__ = [
    "DAY_END",
    "DAY_START",
    "OFFICE_TZ",
    "ProcessContact",
    "ProcessFigures",
    "ProcessRecord",
    "figures_of_records",
    "is_working_day",
    "process_figures",
    "process_record",
    "working_hours_between",
]

# ------------------------------------------------------------------ working hours

# Office hours assumed for every municipality: 09:00–17:00 local time on working days. Real
# opening hours differ per municipality and per desk; these defaults are the measurement's
# convention and can be changed per call of `working_hours_between`.
DAY_START = time(9)
DAY_END = time(17)
OFFICE_TZ = "Europe/Amsterdam"


@lru_cache(maxsize=256)
def _public_holidays(year: int) -> frozenset[date]:
    """Dutch public holidays of `year`, exactly as the `holidays` library lists them.

    Only its default ("public") category: Bevrijdingsdag (5 May) is a day off only in lustrum
    years (2025, 2030, ...); in other years the library files it as "optional" and it counts as
    a working day here. The library also lists Goede Vrijdag (Good Friday) as public, so it is
    not a working day either. Sundays that are holidays (Easter, Whit Sunday) change nothing.
    """
    return frozenset(holidays.country_holidays("NL", years=year).keys())


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a Dutch public holiday (per the `holidays` library)."""
    return day.weekday() < 5 and day not in _public_holidays(day.year)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


def working_hours_between(
    start: datetime,
    end: datetime,
    *,
    day_start: time = DAY_START,
    day_end: time = DAY_END,
    tz: str = OFFICE_TZ,
) -> float:
    """Hours between two aware datetimes that fall within office hours on Dutch working days.

    Office hours are `day_start`–`day_end` local time in `tz` (default 09:00–17:00,
    Europe/Amsterdam) on working days: Monday to Friday except Dutch public holidays as listed
    by the `holidays` library (see `is_working_day`). Time before opening, after closing, in
    weekends and on holidays does not count, so moments outside office hours clamp to the
    nearest opening or closing. Daylight saving time is handled: each day's window is placed in
    local time and measured in UTC. 0.0 when `end` is not after `start`.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    if day_start >= day_end:
        raise ValueError(f"day_start {day_start} must be before day_end {day_end}")
    if end <= start:
        return 0.0
    zone = ZoneInfo(tz)
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    first, last = start.astimezone(zone), end.astimezone(zone)
    # Terms of an exact sum (fsum) over the working days from the first to the last local date
    seconds: list[float] = []
    for year in range(first.year, last.year + 1):
        office = _office_year(year, day_start, day_end, tz)
        days, opens, closes = office.days, office.opens, office.closes
        i = bisect_left(days, first.toordinal())
        j = bisect_right(days, last.toordinal())
        # Windows follow each other, so those wholly within start–end are a run [a, b):
        # counted, not stepped through (fsum adds the same exact terms either way).
        a = bisect_left(opens, lo, i, j)
        b = max(a, bisect_right(closes, hi, i, j))
        for k in (*range(i, a), *range(b, j)):  # the windows start or end cut
            cut = min(closes[k], hi) - max(opens[k], lo)
            if cut > _NOTHING:
                seconds.append(cut.total_seconds())
        odd = [length for k, length in office.odd if a <= k < b]
        seconds.extend(length for length in odd if length > 0)
        whole = b - a - len(odd)
        if office.usual.is_integer():  # then the product is exact, as the sum of its terms
            seconds.append(whole * office.usual)
        else:
            seconds.extend([office.usual] * whole)
    return math.fsum(seconds) / 3600


_NOTHING = timedelta(0)


class _OfficeYear(NamedTuple):
    """The working days of a (local) year and their office windows in UTC."""

    days: list[int]  # ordinals, ascending
    opens: list[datetime]  # per day; ascending, as are `closes`
    closes: list[datetime]
    usual: float  # seconds of a window on a day without a clock change in office hours
    odd: tuple[tuple[int, float], ...]  # (index, seconds) of the other days' windows


@lru_cache(maxsize=256)
def _office_year(year: int, day_start: time, day_end: time, tz: str) -> _OfficeYear:
    zone = ZoneInfo(tz)
    days: list[int] = []
    opens: list[datetime] = []
    closes: list[datetime] = []
    day, last = date(year, 1, 1), date(year, 12, 31)
    while day <= last:
        if is_working_day(day):
            days.append(day.toordinal())
            opens.append(datetime.combine(day, day_start, tzinfo=zone).astimezone(UTC))
            closes.append(datetime.combine(day, day_end, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    base = date(2000, 1, 3)  # any day: the naive length of the window
    usual = (datetime.combine(base, day_end) - datetime.combine(base, day_start)).total_seconds()
    odd = tuple(
        (k, length)
        for k, (o, c) in enumerate(zip(opens, closes, strict=True))
        if (length := (c - o).total_seconds()) != usual
    )
    return _OfficeYear(days, opens, closes, usual, odd)


# ------------------------------------------------------------------ process figures


class ProcessContact(Protocol):
    """What the process figures read of a contact; `ContactScore` (and ledger entries with
    these attributes) satisfy it."""

    @property
    def channel(self) -> str: ...

    @property
    def answered(self) -> bool: ...

    @property
    def facts(self) -> Mapping[str, str | float]: ...


def _number(facts: Mapping[str, str | float], key: str) -> float | None:
    value = facts.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _moment(facts: Mapping[str, str | float], key: str) -> datetime | None:
    value = facts.get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.utcoffset() is None:
        return None
    # outside the contract's event times (a revision not made by the scorer): no moment, not
    # a reply time spanning millennia
    return moment if EARLIEST_EVENT_TIME <= moment < LATEST_EVENT_TIME else None


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class ProcessRecord(NamedTuple):
    """What the process figures need of one contact, flat and mergeable: a municipality sends
    its records upward so a Chamber's or the nation's figures are those of all its contacts."""

    channel: str
    answered: bool
    transfers: float
    warm_transfers: float
    callback_promised: bool
    self_callback: bool
    callback: str | None
    auto_reply: bool
    reply_hours: float | None
    reply_working_hours: float | None

    def to_json(self) -> list[float | int | str | None]:
        return [
            self.channel,
            int(self.answered),
            self.transfers,
            self.warm_transfers,
            int(self.callback_promised),
            int(self.self_callback),
            self.callback,
            int(self.auto_reply),
            self.reply_hours,
            self.reply_working_hours,
        ]

    @classmethod
    def from_json(cls, raw: Sequence[float | int | str | None]) -> ProcessRecord:
        ch, ans, tr, warm, prom, selfcb, cb, auto, hours, whours = raw
        return cls(
            str(ch),
            bool(ans),
            float(tr or 0.0),
            float(warm or 0.0),
            bool(prom),
            bool(selfcb),
            None if cb is None else str(cb),
            bool(auto),
            None if hours is None else float(hours),
            None if whours is None else float(whours),
        )


def process_record(score: ProcessContact) -> ProcessRecord:
    """The process record of a contact's latest score. Facts a contact lacks count as absent:
    no `transfers` as 0 transfers, a mail without `reply_hours` (or without parseable `sent_at`
    / `replied_at`) has no clock-hour (or working-hour) reply time."""
    facts = score.facts
    answered = bool(score.answered)
    reply_hours = reply_working = None
    if score.channel == "mail" and answered:
        reply_hours = _number(facts, "reply_hours")
        sent_at, replied_at = _moment(facts, "sent_at"), _moment(facts, "replied_at")
        if sent_at is not None and replied_at is not None:
            reply_working = working_hours_between(sent_at, replied_at)
    callback = facts.get("callback")
    return ProcessRecord(
        channel=score.channel,
        answered=answered,
        transfers=_number(facts, "transfers") or 0.0,
        warm_transfers=_number(facts, "warm_transfers") or 0.0,
        callback_promised=facts.get("callback_promised") == "yes",
        self_callback=facts.get("self_callback") == "yes",
        callback=callback if isinstance(callback, str) else None,
        auto_reply=facts.get("auto_reply") == "yes",
        reply_hours=reply_hours,
        reply_working_hours=reply_working,
    )


def process_figures(scores: Iterable[ProcessContact]) -> ProcessFigures:
    """The process figures of the given contacts: pass the latest score of each contact once.
    Contacts of another channel are ignored."""
    return figures_of_records(process_record(s) for s in scores)


def figures_of_records(records: Iterable[ProcessRecord]) -> ProcessFigures:
    """The process figures of a set of contacts' records (order does not matter)."""
    calls = first_attempt = promised = kept = late = never = self_callbacks = 0
    transfers: list[float] = []
    warm: list[float] = []
    mails = answered = auto_replies = within_24h = 0
    reply_hours: list[float] = []
    reply_working_hours: list[float] = []

    for record in records:
        if record.channel == "phone":
            calls += 1
            promised += record.callback_promised
            self_callbacks += record.self_callback
            first_attempt += (
                record.answered and not record.callback_promised and not record.self_callback
            )
            kept += record.callback == "kept"
            late += record.callback == "kept_late"
            never += record.callback == "not_kept"
            transfers.append(record.transfers)
            warm.append(record.warm_transfers)
        elif record.channel == "mail":
            mails += 1
            auto_replies += record.auto_reply
            if not record.answered:
                continue
            answered += 1
            if record.reply_hours is not None:
                reply_hours.append(record.reply_hours)
                within_24h += record.reply_hours <= 24
            if record.reply_working_hours is not None:
                reply_working_hours.append(record.reply_working_hours)

    total_transfers = math.fsum(transfers)
    return ProcessFigures(
        calls=calls,
        first_attempt_share=_share(first_attempt, calls),
        transfers_per_call=_mean(transfers),
        warm_transfer_share=math.fsum(warm) / total_transfers if total_transfers else None,
        callbacks_promised=promised,
        callbacks_kept=kept,
        callbacks_late=late,
        callbacks_never=never,
        self_callbacks=self_callbacks,
        mails=mails,
        answered_share=_share(answered, mails),
        auto_reply_share=_share(auto_replies, mails),
        mean_reply_hours=_mean(reply_hours),
        median_reply_hours=_median(reply_hours),
        mean_reply_working_hours=_mean(reply_working_hours),
        median_reply_working_hours=_median(reply_working_hours),
        answered_within_24h_share=_share(within_24h, mails),
    )
