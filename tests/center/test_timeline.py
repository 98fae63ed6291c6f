"""The timeline lines up ledger, lineage, registry and forget receipts, newest first."""

from __future__ import annotations

from consentry.center.timeline import build


def snap(version: str, at: str, included: list[str], excluded: list[tuple[str, list[str]]]) -> dict:
    return {"purpose": "genai_training", "version": version, "created_at": at, "as_of": at, "pack": "p@1",
            "content_hash": "h", "included": [{"item_id": i, "shard": 1, "content_hash": "c"} for i in included],
            "excluded": [{"item_id": i, "reasons": r} for i, r in excluded], "forget_history": []}


def test_timeline_shows_inclusion_model_and_removal():
    events = [{"at": "2025-06-02T00:00:00Z", "purpose": "genai_training", "choice": "opt_out", "source": "gpc",
               "receipt": {"receipt_id": "r-1"}}]
    lineage = [snap("v0001", "2025-06-01T00:00:00Z", ["a", "b"], []),
               snap("v0002", "2025-06-03T00:00:00Z", [], [("a", ["opted_out"]), ("b", ["opted_out"])])]
    models = [{"version": "assistant-0001", "name": "assistant", "status": "superseded",
               "created_at": "2025-06-01T12:00:00+00:00", "superseded_at": "2025-06-04T00:00:00+00:00",
               "superseded_by": "assistant-0002", "snapshot": {"purpose": "genai_training", "version": "v0001"},
               "shards": [1]}]
    receipts = [{"member_id": "m", "run_id": "run-9", "at": "2025-06-05T00:00:00+00:00",
                 "snapshots": [{"snapshot": "genai_training/v0001", "items_removed": 2, "item_ids": ["a", "b"],
                                "reasons": ["opted_out"]}], "models": [], "left_as_is": []}]
    out = build(events, [], lineage, models, receipts)
    kinds = [e["kind"] for e in out]
    assert [e["at"][:10] for e in out] == sorted((e["at"][:10] for e in out), reverse=True)
    text = "\n".join(e["text"] + " " + e["detail"] for e in out)
    assert "2 of your items went into training data snapshot genai_training/v0001" in text
    assert "2 of your items are no longer in snapshot genai_training/v0002" in text and "Reasons: opted_out" in text
    assert "Model assistant-0001 was trained on data including yours" in text
    assert "replaced by assistant-0002" in text
    assert "2 of your items were erased from snapshot genai_training/v0001" in text and "run-9" in text
    assert "Global Privacy Control" in text
    assert kinds.count("removed") == 3


def test_timeline_of_member_never_included():
    out = build([], [], [snap("v0001", "2025-06-01T00:00:00Z", [], [("a", ["minor"])])], [], [])
    assert len(out) == 1 and "None of your items went into snapshot" in out[0]["text"] and "minor" in out[0]["detail"]


def test_timeline_compares_versions_only_within_one_pack():
    def under(s: dict, pack: str) -> dict:
        return {**s, "pack": pack}

    lineage = [under(snap("v0001", "2025-06-01T00:00:00Z", ["a", "b"], []), "linkedin-2024@2025-11-03"),
               under(snap("v0002", "2025-06-02T00:00:00Z", [], [("a", ["no_opt_in"]), ("b", ["not_public"])]),
                     "strict@2018-05-25"),
               under(snap("v0003", "2025-06-03T00:00:00Z", ["b"], [("a", ["opted_out"])]), "linkedin-2024@2025-11-03")]
    text = "\n".join(e["text"] + " " + e["detail"] for e in build([], [], lineage, [], []))
    assert "no longer in snapshot genai_training/v0002" not in text  # built under another pack
    assert "1 of your items are no longer in snapshot genai_training/v0003" in text  # compared with v0001
    assert "Reasons: opted_out" in text


def test_member_timeline_page_across_packs(client, app):
    """Two snapshots of one purpose under different packs: the page reports no removal."""
    from datetime import UTC, datetime

    from consentry.snapshots.build import build_snapshot

    from .helpers import sign_in

    s = app.state.settings
    for pack in ("linkedin-2024", "strict"):
        build_snapshot(s.network, pack, "genai_training", datetime.now(UTC), s.snapshots, workers=1,
                       ledger=app.state.sources.ledger)
    sign_in(client, "m_us")
    page = client.get("/me/timeline").text
    assert "went into training data snapshot genai_training/v0001" in page
    assert "no longer in snapshot" not in page
    assert "None of your items went into snapshot genai_training/v0002" in page
