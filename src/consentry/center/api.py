"""The platform's JSON API (`/api/v1`, OpenAPI at /openapi.json, docs at /docs).

Why: the platform's own settings screens and mobile apps record choices here and
read decisions, authenticated by an API key per client (`X-API-Key`). Inputs are
fully typed (enums from the vocabulary, bounded ids), so anything malformed is a
422, an unknown member a 404, a conflicting retry a 409: never a 500.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from consentry.center import explain, gpc
from consentry.center.auth import MEMBER_ID_RE, require_api_key
from consentry.center.sources import plain
from consentry.center.web import sources
from consentry.ledger import validate
from consentry.ledger.models import ConsentEvent, text_limit
from consentry.ledger.store import LedgerConflict
from consentry.vocab import Choice, Purpose, Source

log = logging.getLogger("consentry.center")
# What any /api/v1 route may answer besides its own codes (every API router uses it).
API_RESPONSES: dict[int | str, dict] = {
    400: {"description": "a body that cannot be read (e.g. not UTF-8)"},
    401: {"description": "missing or invalid X-API-Key"},
    413: {"description": "a body over the size limit"},
}
router = APIRouter(prefix="/api/v1", tags=["platform API"], dependencies=[Depends(require_api_key)],
                   responses=API_RESPONSES)


MemberId = Annotated[str, Path(min_length=1, max_length=128, pattern=MEMBER_ID_RE.pattern,
                               description="the platform's member id")]


class ChoiceIn(BaseModel):
    purpose: Purpose
    choice: Choice
    client_request_id: str = Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
                                   description="idempotency key: a retry with the same key records nothing new")
    notice_version: str | None = Field(None, min_length=1, max_length=text_limit(ConsentEvent, "notice_version"),
                                       pattern=r"^[\x20-\x7e]+$")


class ChoiceOut(BaseModel):
    event_id: str
    member_id: str
    purpose: str
    choice: str
    source: str
    notice_version: str | None
    at: datetime
    created: bool = Field(description="false when this request was a retry of an earlier one")
    receipt: dict[str, Any]


class ConflictOut(BaseModel):
    detail: str
    recorded: ChoiceOut = Field(description="the event this client_request_id already stands for")


class DecisionOut(BaseModel):
    purpose: str
    used: bool
    reasons: list[str]
    rule: str | None
    region_group: str | None
    jurisdiction: str | None
    legal_basis: str | None
    current_choice: str | None
    explanation: list[str]


def _known(request: Request, member_id: str) -> None:
    if not sources(request).member_exists(member_id):
        raise HTTPException(404, "unknown member")


def _out(rec: dict[str, Any]) -> ChoiceOut:
    return ChoiceOut(**{k: rec.get(k) for k in ChoiceOut.model_fields if k != "created"},
                     created=rec.get("created", True))


# What a retry must repeat to be the same request (the member and the source are in the key).
RETRY_FIELDS = ("purpose", "choice", "notice_version")


def _differs(recorded: dict[str, Any], body: ChoiceIn) -> list[str]:
    asked = {"purpose": body.purpose.value, "choice": body.choice.value, "notice_version": body.notice_version}
    return [f for f in RETRY_FIELDS if recorded.get(f) != asked[f]]


def _conflict(body: ChoiceIn, recorded: dict[str, Any]) -> JSONResponse:
    differ = ", ".join(_differs(recorded, body)) or "the content"
    return JSONResponse(status_code=409, content={
        "detail": f"client_request_id {body.client_request_id!r} is already recorded with another {differ}; "
                  "nothing was recorded",
        "recorded": _out({**recorded, "created": False}).model_dump(mode="json")})


@router.post("/members/{member_id}/choices", response_model=ChoiceOut, status_code=201,
             responses={404: {"description": "unknown member"},
                        409: {"model": ConflictOut, "description": "a retry (same client_request_id) asking "
                              "for a different choice: nothing is recorded, the recorded event is returned"},
                        422: {"description": "malformed, or a notice_version never delivered to the member"}})
def record_choice(request: Request, member_id: MemberId, body: ChoiceIn) -> Any:
    """Record a member's choice for one purpose; returns the event and its consent receipt.

    A retry with the same client_request_id returns the recorded event (`created` false);
    one that asks for another purpose, choice or notice version is refused with 409 and
    the recorded event. A notice_version must be one delivered to the member (422)."""
    _known(request, member_id)
    src = sources(request)
    if body.notice_version is not None and not src.notice_delivered(member_id, body.notice_version):
        raise RequestValidationError([{"loc": ("body", "notice_version"), "type": "value_error",
                                       "msg": "this notice version was never delivered to the member"}])
    try:
        rec = src.record_choice(
            member_id, body.purpose.value, body.choice.value, Source.API.value,
            client_request_id=f"api:{member_id}:{body.client_request_id}", notice_version=body.notice_version)
    except LedgerConflict as exc:  # the ledger compares retries itself where it can
        recorded = getattr(exc, "recorded", None)
        if recorded is None:
            raise HTTPException(409, str(exc)) from None
        return _conflict(body, plain(recorded))
    except validate.FieldError as exc:
        raise HTTPException(422, str(exc)) from None
    if not rec.get("created", True) and _differs(rec, body):  # a ledger that returns the earlier event
        return _conflict(body, rec)
    log.info("api choice recorded purpose=%s choice=%s", body.purpose.value, body.choice.value)
    return _out(rec)


@router.post("/members/{member_id}/gpc", response_model=list[ChoiceOut],
             responses={404: {"description": "unknown member"}})
def record_gpc(request: Request, member_id: MemberId) -> list[ChoiceOut]:
    """The member's browser sent Global Privacy Control (`Sec-GPC: 1`): record an `opt_out` with
    source `gpc` for every purpose the pack in force honours GPC for, once per purpose (a repeat
    returns the first events, `created` false). The same record the member's own page makes."""
    _known(request, member_id)
    purposes = gpc.honoured_purposes(request.app.state.pack)
    return [_out(r) for r in gpc.record(sources(request), member_id, purposes)]


@router.get("/members/{member_id}/choices", response_model=list[ChoiceOut],
            responses={404: {"description": "unknown member"}})
def list_choices(request: Request, member_id: MemberId) -> list[ChoiceOut]:
    """The member's recorded choices, oldest first, each with its receipt."""
    _known(request, member_id)
    return [_out(e) for e in sources(request).events(member_id)]


@router.get("/members/{member_id}/decisions", response_model=list[DecisionOut],
            responses={404: {"description": "unknown member"}})
def decisions(request: Request, member_id: MemberId) -> list[DecisionOut]:
    """Whether the member's data is used, per purpose, now, with reasons and plain-language explanation."""
    _known(request, member_id)
    src = sources(request)
    views = explain.purpose_views(request.app.state.pack, src, member_id, src.profile(member_id),
                                  src.events(member_id), purposes=tuple(p.value for p in Purpose))
    return [DecisionOut(purpose=v.purpose, used=v.used, reasons=v.reasons, rule=v.rule, region_group=v.region_group,
                        jurisdiction=v.jurisdiction, legal_basis=v.legal_basis, current_choice=v.current_choice,
                        explanation=v.lines) for v in views]
