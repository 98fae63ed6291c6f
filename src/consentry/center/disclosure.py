"""Public disclosure pages: the training-content summary of every model version.

Why public and without sign-in: Art. 53(1)(d) AI Act asks the provider to make the
summary publicly available, to rightsholders and data subjects alike, so these routes
read only the registry and the snapshot manifests (aggregates, no member data) and
need no session. The Markdown and the JSON are the same summary (`summary.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from consentry.center.summary import to_markdown, trained_counts, training_content_summary
from consentry.center.web import render, sources
from consentry.snapshots.layout import UnfinishedForget

router = APIRouter(prefix="/models", tags=["public disclosure"], include_in_schema=False)

Segment = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def model_rows(request: Request) -> list[dict[str, Any]]:
    """Every registered model version with the counts the summary and the admin page share."""
    return [{**m, "_counts": trained_counts(m)} for m in sources(request).models()]


def summary_for(request: Request, name: str, version: str) -> dict[str, Any]:
    """The summary of one registered version (404 when unknown or its snapshot is gone; 409
    naming the snapshot and `consentry forget --resume` while a forget is unfinished on it)."""
    src = sources(request)
    model = next((m for m in src.models() if m.get("version") == version and m.get("name") == name), None)
    if model is None:
        raise HTTPException(404, "no such model version")
    ref = model.get("snapshot") or {}
    snap = next((s for s in src.snapshots()
                 if s.purpose == ref.get("purpose") and s.version == ref.get("version")), None)
    if snap is None:
        raise HTTPException(404, "the snapshot that trained this model is no longer published")
    try:
        return training_content_summary(model, snap)
    except UnfinishedForget as exc:  # never a summary read from a torn or half-forgotten snapshot
        raise HTTPException(409, str(exc)) from None


@router.get("", response_class=HTMLResponse)
def models_index(request: Request) -> HTMLResponse:
    return render(request, "models.html", active="models", models=model_rows(request))


@router.get("/{name}/{version}/summary", response_class=HTMLResponse)
def summary_page(request: Request, name: Segment, version: Segment) -> HTMLResponse:
    s = summary_for(request, name, version)
    return render(request, "summary.html", active="models", s=s, markdown=to_markdown(s), model_name=name,
                  version=version)


@router.get("/{name}/{version}/summary.md")
def summary_markdown(request: Request, name: Segment, version: Segment) -> PlainTextResponse:
    try:
        s = summary_for(request, name, version)
    except HTTPException as exc:  # a refusal in the format asked for: one line of text
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code)
    return PlainTextResponse(to_markdown(s), media_type="text/markdown; charset=utf-8")


@router.get("/{name}/{version}/summary.json")
def summary_json(request: Request, name: Segment, version: Segment) -> JSONResponse:
    try:
        return JSONResponse(summary_for(request, name, version))
    except HTTPException as exc:  # a refusal in the format asked for: {"detail": one line}
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
