"""What Meetlat's HTTP adapters (reporting API, event intake) answer when something is wrong,
and the bearer token their writes ask for."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, SecretStr


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


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The API token (MEETLAT_API_TOKEN) as 'Authorization: Bearer <token>'.",
)


def writer_checks(token: SecretStr | None) -> list[params.Depends]:
    """The dependencies of a route that writes: with a token set, a request must carry it
    (else a 401); without one, none (and OpenAPI then shows no security either)."""
    if token is None:
        return []
    expected = token.get_secret_value().encode()

    def token_given(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        given = b"" if credentials is None else credentials.credentials.encode()
        if not secrets.compare_digest(given, expected):  # (in constant time)
            raise HTTPException(
                401,
                "this request writes: send the API token as 'Authorization: Bearer <token>'"
                if credentials is None
                else "wrong API token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return [Depends(token_given)]


def writer_responses(token: SecretStr | None) -> dict[int | str, dict[str, Any]]:
    """The 401 a route with `writer_checks(token)` may answer, for OpenAPI."""
    if token is None:
        return {}
    return {
        401: {
            "model": Problem,
            "description": "No API token, or a wrong one.",
            "headers": {
                "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
            },
        }
    }


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface
