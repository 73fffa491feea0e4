"""The wire contract: every observation that flows into Meetlat.

One discriminated union (`Event`, discriminator `type`) over the lifecycle of a phone contact
(a mystery call), a mail contact (a mystery mail) and a survey response (KTO). Every event
names its contact, municipality (CBS code), campaign, wave and case and carries its *event
time* (`occurred_at`, timezone-aware): all deadlines and reply times are computed from it,
never from a worker's clock.

Outside producers validate against the JSON Schema exported to `schemas/json/`
(`meetlat schema export`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)

# Version 2 added the reply facts jargon_terms/address_*, rescore requests and heartbeats;
# version-1 events remain valid.
SCHEMA_VERSION: Final = 2

CbsCode = Annotated[str, StringConstraints(pattern=r"^GM\d{4}$")]
# Identifiers and answers are one line of text; free text may span lines. Neither may hold
# a NUL character: PostgreSQL's text refuses it, so an event carrying one would fail the
# archive (or a report's text store) at every attempt instead of being dead-lettered.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# ... and an identifier or answer holds more than white space (which is stripped from it: the
# pattern says so to producers that check against the JSON Schema)
_NOT_BLANK_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
_TEXT = r"^[^\x00]*$"
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=120, strip_whitespace=True, pattern=_NOT_BLANK_LINE),
]
Answer = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=_NOT_BLANK_LINE),
]

MAX_WAVE: Final = 99

EARLIEST_EVENT_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME: Final = datetime(2100, 1, 1, tzinfo=UTC)
EventTime = Annotated[AwareDatetime, Field(ge=EARLIEST_EVENT_TIME, lt=LATEST_EVENT_TIME)]
"""A time in an event: timezone-aware, from 1970 up to (not including) 2100 UTC. Outside that
window a time is a typo, and the scorer could not add a deadline to it (or take the watermark's
lateness from it) without leaving the range of Python's datetime."""

Channel = Literal["phone", "mail"]
CHANNELS: tuple[Channel, ...] = ("phone", "mail")


def _tag_required(schema: dict[str, Any]) -> None:
    """`type` has a default, so Python code need not repeat it; on the wire it is what picks
    the event, and the union refuses an event without it: required in the JSON Schema too."""
    required = schema.setdefault("required", [])
    if "type" in schema.get("properties", {}) and "type" not in required:
        required.insert(0, "type")


class EventBase(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_tag_required)

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    event_id: Identifier = Field(
        description="Unique id of this observation; duplicates are ignored."
    )
    contact_id: Identifier = Field(
        description="The call or mail this event belongs to (for a survey: the response id)."
    )
    municipality: CbsCode = Field(description="CBS code of the municipality, e.g. GM0344.")
    campaign: Identifier = Field(description="Measurement campaign, e.g. 'mg-2026'.")
    wave: int = Field(
        ge=1, le=MAX_WAVE, description="Measurement wave: 1 for the 1-meting, 2 for the 2-meting…"
    )
    case: Identifier = Field(description="The prepared case (casus), e.g. 'standplaatsvergunning'.")
    occurred_at: EventTime = Field(
        description="Event time, timezone-aware, from 1970 up to (not including) 2100 UTC."
    )


# ---------------------------------------------------------------- phone (mystery call)


class CallPlaced(EventBase):
    """The mystery caller dialled the municipality's general number."""

    type: Literal["call.placed"] = "call.placed"


class CallAnswered(EventBase):
    """Someone picked up."""

    type: Literal["call.answered"] = "call.answered"
    seconds_waited: float = Field(ge=0, le=3600, description="Time from dialling to a human.")


class CallTransferred(EventBase):
    """The call was put through to a colleague (doorverbinden)."""

    type: Literal["call.transferred"] = "call.transferred"
    to_role: Identifier = Field(description="Role of the colleague, never a name.")
    briefed: bool = Field(
        description="Warm transfer: the colleague was told what the call is about."
    )
    colleague_available: bool = Field(description="False when put through to someone absent.")


class CallbackPromised(EventBase):
    """The municipality promised to call the entrepreneur back."""

    type: Literal["call.callback_promised"] = "call.callback_promised"
    deadline: EventTime = Field(
        description="When the callback was promised by (1970 up to, not including, 2100 UTC)."
    )


class CallbackMade(EventBase):
    """The municipality did call back."""

    type: Literal["call.callback_made"] = "call.callback_made"


class SelfCallback(EventBase):
    """The entrepreneur had to call back himself (no callback offered, or not kept)."""

    type: Literal["call.self_callback"] = "call.self_callback"


class CallAssessed(EventBase):
    """The caller's assessment: answers per criterion plus the call report (gespreksverslag)."""

    type: Literal["call.assessed"] = "call.assessed"
    answers: dict[Identifier, Answer] = Field(
        min_length=1,
        description="Criterion id → the answer on its scale, e.g. {'vriendelijkheid_aanname': "
        "'vriendelijk'}; at least one (a later assessment replaces an earlier one).",
    )
    report: str = Field(
        default="", max_length=20_000, pattern=_TEXT, description="The call report text."
    )


# ---------------------------------------------------------------- mail (mystery mail)


class MailSent(EventBase):
    """The mystery mail went out."""

    type: Literal["mail.sent"] = "mail.sent"
    message_id: Identifier
    token: Identifier = Field(description="Meetlat's threading token placed in the sent mail.")


class MailAutoReplied(EventBase):
    """An automatic acknowledgement arrived; it never counts as the answer."""

    type: Literal["mail.auto_replied"] = "mail.auto_replied"


class MailReplied(EventBase):
    """A real reply arrived, with the facts mail analysis found in it."""

    type: Literal["mail.replied"] = "mail.replied"
    salutation_correct: bool | None = Field(default=None, description="Proper salutation used.")
    internal_forward_leaked: bool | None = Field(
        default=None, description="An internal forward between colleagues was left in the mail."
    )
    spelling_errors: int | None = Field(default=None, ge=0, le=10_000)
    jargon_terms: int | None = Field(
        default=None, ge=0, le=10_000, description="Jargon terms found (configurable list)."
    )
    address_requested: bool | None = Field(
        default=None, description="The reply asks the entrepreneur for an address."
    )
    address_request_explained: bool | None = Field(
        default=None, description="…and explains why the address is needed."
    )
    body: str = Field(
        default="", max_length=200_000, description="Reply text, quoted history removed."
    )


class MailAssessed(EventBase):
    """The mailer's assessment of the contact, after the reply deadline."""

    type: Literal["mail.assessed"] = "mail.assessed"
    answers: dict[Identifier, Answer] = Field(default_factory=dict)
    review: str = Field(
        default="", max_length=20_000, pattern=_TEXT, description="Content review of the reply."
    )


class MailReclassified(EventBase):
    """A human overrode the classification of a received message (`meetlat mail reclassify`):
    the events emitted for it before are retracted (the scorer ignores them); the events of
    its new kind, if any, follow as ordinary events with ids of their own."""

    type: Literal["mail.reclassified"] = "mail.reclassified"
    retracts: tuple[Identifier, ...] = Field(
        max_length=20, description="Event ids of this contact that no longer count."
    )
    kind: Literal["reply", "auto_reply", "bounce"] = Field(
        description="What the message is, per the human."
    )


# ---------------------------------------------------------------- scoring commands


class RescoreRequested(EventBase):
    """The research team asks to score this contact with another scoring model. Scores are
    never silently rescored: a model change applies to history only through this event."""

    type: Literal["contact.rescore_requested"] = "contact.rescore_requested"
    model: Identifier = Field(description="Scoring model as 'id@version'.")


# ---------------------------------------------------------------- survey (KTO)

SurveyChannel = Literal["counter", "phone", "digital"]


class SurveyResponse(EventBase):
    """One answered customer-satisfaction questionnaire (KTO)."""

    type: Literal["survey.response"] = "survey.response"
    survey_channel: SurveyChannel
    totaaloordeel: int = Field(
        ge=1, le=10, description="Its own question, not an average of items."
    )
    effort: int = Field(ge=1, le=5, description="1 = no effort at all … 5 = very much effort.")
    hostmanship: tuple[int, int, int, int, int, int] = Field(
        description="The six hostmanship items, each 1–10, in the order of the NVVB questionnaire."
    )
    recommend: int | None = Field(default=None, ge=0, le=10, description="Likelihood to recommend.")
    suggestion: str = Field(default="", max_length=5_000, pattern=_TEXT)


PhoneEvent = (
    CallPlaced
    | CallAnswered
    | CallTransferred
    | CallbackPromised
    | CallbackMade
    | SelfCallback
    | CallAssessed
)
MailEvent = MailSent | MailAutoReplied | MailReplied | MailAssessed | MailReclassified

Event = Annotated[
    CallPlaced
    | CallAnswered
    | CallTransferred
    | CallbackPromised
    | CallbackMade
    | SelfCallback
    | CallAssessed
    | MailSent
    | MailAutoReplied
    | MailReplied
    | MailAssessed
    | MailReclassified
    | RescoreRequested
    | SurveyResponse,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class Heartbeat(BaseModel):
    """Sent by ingest to every partition of the observations topic: "I have passed on every
    event up to `occurred_at`". It advances the scorer's event-time watermark, so deadlines
    fire even when a partition has no new events. Heartbeats are archived with the events,
    so a replay gives the same revisions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["heartbeat"] = "heartbeat"
    schema_version: Literal[2] = 2
    event_id: Identifier
    source: Identifier = Field(description="Who vouches for the time, e.g. 'ingest:events.jsonl'.")
    occurred_at: EventTime


Observation = Annotated[Event | Heartbeat, Field(discriminator="type")]
OBSERVATION_ADAPTER: TypeAdapter[Observation] = TypeAdapter(Observation)

PHONE_TYPES = frozenset(
    {
        "call.placed",
        "call.answered",
        "call.transferred",
        "call.callback_promised",
        "call.callback_made",
        "call.self_callback",
        "call.assessed",
    }
)
MAIL_TYPES = frozenset(
    {"mail.sent", "mail.auto_replied", "mail.replied", "mail.assessed", "mail.reclassified"}
)
CONTACT_TYPES = PHONE_TYPES | MAIL_TYPES | {"contact.rescore_requested"}  # a contact's facts
EVENT_TYPES = (
    PHONE_TYPES | MAIL_TYPES | {"survey.response", "contact.rescore_requested", "heartbeat"}
)


def channel_of(event: EventBase) -> Channel | None:
    """The contact channel an event belongs to; None for survey responses."""
    kind = getattr(event, "type", "")
    if kind in PHONE_TYPES:
        return "phone"
    if kind in MAIL_TYPES:
        return "mail"
    return None


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON document against the contract (raises pydantic.ValidationError)."""
    return EVENT_ADAPTER.validate_json(raw)


def event_order(event: EventBase) -> tuple[datetime, str]:
    """The canonical order of a contact's facts: event time, then id (ties broken stably)."""
    return (event.occurred_at, event.event_id)
