"""Non-member objections that cannot be abused: refused when the "name" is not one,
held for an admin otherwise.

Why: an objection adds a name to the list the redactor masks in every later
snapshot, everywhere, case-insensitively. A skill ("Machine Learning"), a job title
("Data Engineer"), a company or plain common words would strip that phrase from all
training data, so such a name is refused with the reason, judged by what the
platform knows is not a person (the pack's `allow_terms`, the network's skills,
companies and occupations) and by word frequency (wordfreq): a name made only of
common English words, none of which is a known given name or surname, is refused.
A name that passes is still only *held* (table `center_objections`): it changes no
redaction until an admin confirms it on `/admin/objections`; confirming writes it to
the ledger (`add_redaction_name`), rejecting drops it, and either way the held copy
of the name and contact is cleared.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from wordfreq import zipf_frequency

from consentry.center.auth import current_admin, require_csrf
from consentry.center.web import flash, render, sources
from consentry.ledger.models import CenterObjection
from consentry.policy.packs import Pack

table = cast(Table, CenterObjection.__table__)
COMMON_ZIPF = 3.0
"""A word seen at least once per million English words (wordfreq's Zipf scale) is common."""
NAME_WORD_MAX_ZIPF = 6.0
"""Function words ("the", "will") are in the name lists too; above this they do not count as names."""
WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


@lru_cache(maxsize=8)
def _platform_terms(allow_terms: tuple[str, ...]) -> dict[str, str]:
    """Phrase (case-folded) -> what it is on this platform."""
    from consentry.network.lexicon import lexicon, load_occupations

    lx = lexicon()
    out: dict[str, str] = {}
    for kind, terms in (("job title", [*lx.get("occupations_fallback", []), *load_occupations().titles]),
                        ("company", lx.get("companies", [])), ("skill", lx.get("skills", [])),
                        ("term the platform knows is not a person", allow_terms)):
        for t in terms:
            out.setdefault(_key(t), kind)
    return out


@lru_cache(maxsize=1)
def _name_words() -> frozenset[str]:
    from consentry.redact.gazetteer import first_names, last_names

    return frozenset(first_names()) | frozenset(last_names())


def _is_name_word(w: str) -> bool:
    return w.casefold() in _name_words() and zipf_frequency(w, "en") < NAME_WORD_MAX_ZIPF


def refusal(name: str, pack: Pack) -> str | None:
    """Why `name` cannot be a name to redact, or None when it may be held for an admin."""
    if re.search(r"[\d@/:]", name):
        return "a name has no digits, “@”, “/” or “:”; please give your name as it appears in posts"
    words = WORD_RE.findall(name)
    if not words:
        return "please give your name as it appears in posts"
    allow = tuple(t for v in pack.versions for t in v.redaction.allow_terms)
    kind = _platform_terms(allow).get(_key(name))
    if kind:
        return (f"“{name}” is a {kind} on this platform, not only a person's name: removing it would strip it "
                "from everyone's posts")
    if all(zipf_frequency(w, "en") >= COMMON_ZIPF and not _is_name_word(w) for w in words):
        return (f"“{name}” is made of common words, not a person's name: removing it would strip those words "
                "from everyone's posts")
    return None


class Objections:
    """The held objections (table `center_objections`, created by the ledger's migrations)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, name: str, contact: str, client_request_id: str) -> tuple[str, bool]:
        """Hold an objection; (objection id, created). A resubmitted form holds nothing new."""
        oid = uuid.uuid4().hex
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(table).values(objection_id=oid, name=name, contact=contact, status="pending",
                                                  submitted_at=datetime.now(UTC),
                                                  client_request_id=client_request_id))
        except IntegrityError:
            with self.engine.connect() as conn:
                got = conn.execute(select(table.c.objection_id)
                                   .where(table.c.client_request_id == client_request_id)).scalar_one()
            return got, False
        return oid, True

    def listing(self, status: str, limit: int = 500) -> list[dict[str, Any]]:
        order = table.c.submitted_at if status == "pending" else table.c.decided_at.desc()
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.status == status).order_by(order).limit(limit)).all()
        return [dict(r._mapping) for r in rows]

    def get(self, objection_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.objection_id == objection_id)).first()
        return dict(row._mapping) if row else None

    def decide(self, objection_id: str, status: str) -> bool:
        """Mark a pending objection decided and clear its name and contact; False if not pending."""
        with self.engine.begin() as conn:
            n = conn.execute(update(table).where(table.c.objection_id == objection_id, table.c.status == "pending")
                             .values(status=status, decided_at=datetime.now(UTC), name=None, contact=None)).rowcount
        return n == 1


# ------------------------------------------------------------------ admin review (its own router)
router = APIRouter(prefix="/admin/objections", tags=["admin pages"], include_in_schema=False,
                   dependencies=[Depends(current_admin)])


def store(request: Request) -> Objections:
    return request.app.state.objections


@router.get("", response_class=HTMLResponse)
def review(request: Request) -> HTMLResponse:
    objs = store(request)
    return render(request, "admin_objections.html", active="objections", pending=objs.listing("pending"),
                  decided=objs.listing("confirmed", 50) + objs.listing("rejected", 50))


@router.post("/{objection_id}", dependencies=[Depends(require_csrf)])
def decide(request: Request, objection_id: str, action: str = Form(...)) -> Response:
    if action not in ("confirm", "reject"):
        raise HTTPException(422, "action is confirm or reject")
    objs = store(request)
    held = objs.get(objection_id)
    if held is None or held["status"] != "pending":
        flash(request, "That objection was already decided.", kind="error")
        return RedirectResponse("/admin/objections", status_code=303)
    if action == "confirm":
        # the ledger write is idempotent on the objection id, so a retry after a crash records once
        sources(request).add_redaction_name(held["name"], held["contact"],
                                            client_request_id=f"nonmember:{objection_id}")
    objs.decide(objection_id, "confirmed" if action == "confirm" else "rejected")
    flash(request, "Objection confirmed: the name is redacted from every snapshot built from now on."
          if action == "confirm" else "Objection rejected: nothing was recorded.")
    return RedirectResponse("/admin/objections", status_code=303)
