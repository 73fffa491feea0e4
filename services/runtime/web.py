"""What Meetlat's HTTP adapters (reporting API, event intake) answer when something is wrong."""

from __future__ import annotations

from pydantic import BaseModel


class Problem(BaseModel):
    """An error answer: what is wrong, in one line."""

    detail: str


class RecordProblem(BaseModel):
    """One bad part of a request, located as FastAPI locates its own validation errors."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    """A 422 (or a 409): every bad part of the request."""

    detail: list[RecordProblem]
