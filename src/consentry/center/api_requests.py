"""The platform API for data-subject requests (`/api/v1/members/{id}/requests`).

Why a separate router: erasure and export must be fileable by the platform's own
clients (its help desk, its mobile apps), not only by the member form or a ledger
import; filing goes through `fulfil.file_request`, so the API, the page and the CLI
record the same request with the same legal deadline. Objections (any purpose,
ml_safety included) are choices: `POST /api/v1/members/{id}/choices` with `object`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from consentry.center import fulfil
from consentry.center.api import MemberId
from consentry.center.api import API_RESPONSES
from consentry.center.auth import MEMBER_ID_RE, require_api_key
from consentry.center.sources import plain
from consentry.center.web import sources
from consentry.ledger.store import LedgerConflict

log = logging.getLogger("consentry.center")
router = APIRouter(prefix="/api/v1", tags=["platform API"], dependencies=[Depends(require_api_key)],
                   responses=API_RESPONSES)

RequestId = Annotated[str, Path(min_length=1, max_length=128, pattern=MEMBER_ID_RE.pattern, description="the request id")]


CridField = Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
                  description="idempotency key: a retry with the same key records nothing new")


class EraseItemsIn(BaseModel):
    """Erase some of the member's items (ids the member authored)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["erase_items"]
    item_ids: list[Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]] = Field(
        min_length=1, max_length=10_000)
    client_request_id: str = CridField


class WholeRequestIn(BaseModel):
    """Erase the member's account, or their data in AI training and models, or export everything."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["erase_account", "erase_ai_data", "export"]
    client_request_id: str = CridField


RequestIn = Annotated[EraseItemsIn | WholeRequestIn, Field(discriminator="kind")]


class RequestOut(BaseModel):
    request_id: str
    member_id: str
    kind: str
    item_ids: list[str] | None
    at: datetime
    deadline: datetime | None
    status: str = Field(description="pending | processed | failed | refused")
    processed_at: datetime | None
    result: dict[str, Any] | None
    created: bool = Field(description="false when this request was a retry of an earlier one")


class RequestConflictOut(BaseModel):
    detail: str
    recorded: RequestOut = Field(description="the request this client_request_id already stands for")


def _out(rec: dict[str, Any]) -> RequestOut:
    return RequestOut(**{k: rec.get(k) for k in RequestOut.model_fields if k != "created"},
                      created=rec.get("created", True))


def _conflict(body: EraseItemsIn | WholeRequestIn, exc: LedgerConflict) -> JSONResponse:
    """409 with the recorded request, as the choices endpoint answers: the client learns
    what its key already stands for instead of guessing."""
    fields = ", ".join(getattr(exc, "fields", ())) or "content"
    return JSONResponse(status_code=409, content={
        "detail": f"client_request_id {body.client_request_id!r} is already recorded with another {fields}; "
                  "nothing was recorded",
        "recorded": _out({**plain(exc.recorded), "created": False}).model_dump(mode="json")})


def _known(request: Request, member_id: str) -> None:
    if not sources(request).member_exists(member_id):
        raise HTTPException(404, "unknown member")


@router.post("/members/{member_id}/requests", response_model=RequestOut, status_code=201,
             responses={404: {"description": "unknown member, or an item id that is not the member's"},
                        409: {"model": RequestConflictOut, "description": "a retry (same client_request_id) "
                              "asking for a different request: nothing is recorded, the recorded request is returned"}})
def file_request(request: Request, member_id: MemberId, body: RequestIn) -> Any:
    """File an erasure or export request for the member; it carries the deadline of the member's law."""
    _known(request, member_id)
    try:
        rec = fulfil.file_request(sources(request), member_id, body.kind, getattr(body, "item_ids", None),
                                  client_request_id=f"api:{member_id}:{body.client_request_id}")
    except fulfil.RequestRefused as exc:  # the body's shape is checked above: this is an unknown item
        raise HTTPException(404, exc.message) from None
    except LedgerConflict as exc:
        if getattr(exc, "recorded", None) is None:
            raise HTTPException(409, str(exc)) from None
        return _conflict(body, exc)
    log.info("api request filed kind=%s", body.kind)
    return _out(rec)


@router.get("/members/{member_id}/requests", response_model=list[RequestOut],
            responses={404: {"description": "unknown member"}})
def list_requests(request: Request, member_id: MemberId) -> list[RequestOut]:
    """The member's requests, oldest first, with status and the date each was closed."""
    _known(request, member_id)
    return [_out(r) for r in sources(request).requests(member_id)]


@router.get("/members/{member_id}/requests/{request_id}/bundle",
            responses={200: {"content": {"application/json": {}}, "description": "the export bundle"},
                       404: {"description": "no fulfilled export request of this member with this id"}})
def export_bundle(request: Request, member_id: MemberId, request_id: RequestId) -> Response:
    """The bundle an export request was fulfilled with, for the platform to hand to the member."""
    data = fulfil.read_bundle(sources(request), member_id, request_id)
    if data is None:
        raise HTTPException(404, "no fulfilled export request of this member with this id")
    return Response(data, media_type="application/json", headers={"Cache-Control": "no-store"})
