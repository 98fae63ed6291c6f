"""The "your data and AI" timeline: one member's story across ledger, snapshots and models.

Why computed, not stored: every fact already lives in the ledger (choices,
requests), the snapshot lineage and the model registry; the timeline only lines
them up by time, so it can never disagree with them. Removals are shown two ways:
an item in one snapshot version that a later version of the same purpose and pack no
longer holds, and forget runs recorded in a manifest for one of the member's requests.
"""

from __future__ import annotations

from typing import Any

from consentry.center.explain import TITLES

CHOICE_TEXT = {
    "opt_in": "You turned on", "opt_out": "You turned off",
    "object": "You objected to", "withdraw_objection": "You withdrew your objection to",
}
SOURCE_TEXT = {"gpc": " (Global Privacy Control signal from your browser)", "objection_form": " (objection form)",
               "api": " (through the platform)", "import": " (recorded before this center existed)", "settings": ""}


def pack_name(snap: dict[str, Any]) -> str:
    """The pack a snapshot was decided under, without its version (`name@version` -> `name`):
    versions of one pack follow each other in time; different packs are different policies."""
    return str(snap.get("pack_name") or str(snap.get("pack", "")).split("@", 1)[0])


def build(events: list[dict[str, Any]], requests: list[dict[str, Any]], lineage: list[dict[str, Any]],
          models: list[dict[str, Any]], receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Timeline entries (at, kind, text, detail), newest first."""
    out: list[dict[str, Any]] = []
    for e in events:
        verb = CHOICE_TEXT.get(e["choice"], e["choice"])
        out.append({"at": e["at"], "kind": "choice",
                    "text": f"{verb} “{TITLES.get(e['purpose'], e['purpose'])}”{SOURCE_TEXT.get(e['source'], '')}.",
                    "detail": f"Receipt {e['receipt'].get('receipt_id', '')}" if e.get("receipt") else ""})
    my_requests = {r["request_id"] for r in requests}
    for r in requests:
        what = r["kind"].replace("_", " ")
        out.append({"at": r["at"], "kind": "request", "text": f"You asked us to {what.replace('erase', 'erase:', 1)}.",
                    "detail": f"Status: {r['status']}"})
        if r.get("processed_at"):
            out.append({"at": r["processed_at"], "kind": "request", "text": f"We processed your request ({what}).",
                        "detail": f"Status: {r['status']}"})
    # A version is compared only with the previous one of the same purpose built under the
    # same pack: across packs an item "leaving" says nothing about the member's choices.
    previous: dict[tuple[str, str], set[str]] = {}
    for snap in sorted(lineage, key=lambda s: (s["purpose"], s["created_at"])):
        ref = f"{snap['purpose']}/{snap['version']}"
        series = (snap["purpose"], pack_name(snap))
        title = TITLES.get(snap["purpose"], snap["purpose"])
        if snap.get("unfinished_forget"):  # torn, or about to change: claim nothing about it yet
            out.append({"at": snap["created_at"], "kind": "snapshot",
                        "text": f"Snapshot {ref} is being updated by an erasure run; its details show once it completes.",
                        "detail": ""})
            continue
        now_in = {i["item_id"] for i in snap["included"]}
        if now_in:
            out.append({"at": snap["created_at"], "kind": "snapshot",
                        "text": f"{len(now_in)} of your items went into training data snapshot {ref} ({title}).",
                        "detail": f"Decided as of {snap['as_of'][:10]} under {snap['pack']}; items: "
                                  + ", ".join(sorted(now_in))})
        gone = previous.get(series, set()) - now_in
        if gone:
            reasons = {i["item_id"]: i["reasons"] for i in snap["excluded"]}
            why = sorted({r for i in gone for r in reasons.get(i, [])})
            out.append({"at": snap["created_at"], "kind": "removed",
                        "text": f"{len(gone)} of your items are no longer in snapshot {ref}.",
                        "detail": ("Reasons: " + ", ".join(why) + ". " if why else "") + "Items: " + ", ".join(sorted(gone))})
        if snap["excluded"] and not now_in and series not in previous:
            why = sorted({r for i in snap["excluded"] for r in i["reasons"]})
            out.append({"at": snap["created_at"], "kind": "excluded",
                        "text": f"None of your items went into snapshot {ref}.",
                        "detail": "Reasons: " + ", ".join(why)})
        for f in snap.get("forget_history", []):
            if my_requests & set(f.get("request_ids", [])):
                out.append({"at": f["at"], "kind": "removed",
                            "text": f"Your data was erased from snapshot {ref} (forget run {f['run_id']}).", "detail": ""})
        previous[series] = now_in
    for m in models:
        snap = m.get("snapshot") or {}
        out.append({"at": m["created_at"], "kind": "model",
                    "text": f"Model {m['version']} was trained on data including yours "
                            f"(snapshot {snap.get('purpose', '?')}/{snap.get('version', '?')}).",
                    "detail": f"Your data is in training shard(s) {', '.join(str(s) for s in m['shards'])}; status: {m['status']}."})
        if m.get("superseded_at"):
            out.append({"at": m["superseded_at"], "kind": "removed",
                        "text": f"Model {m['version']} was replaced by {m.get('superseded_by') or 'a newer version'}.",
                        "detail": "The old version is no longer in use."})
    for rc in receipts:
        at = rc.get("at")
        if not at:
            continue
        for snap in rc.get("snapshots", []):
            out.append({"at": str(at), "kind": "removed",
                        "text": f"{snap.get('items_removed', 0)} of your items were erased from snapshot "
                                f"{snap.get('snapshot', '?')}.",
                        "detail": f"Forget run {rc.get('run_id', '')}; reasons: {', '.join(snap.get('reasons', []))}; "
                                  f"items: {', '.join(snap.get('item_ids', []))}"})
        for model in rc.get("models", []):
            name = model.get("version") or model.get("new_version") or model.get("model") or "a model"
            out.append({"at": str(at), "kind": "removed", "text": f"A model was retrained without your data ({name}).",
                        "detail": f"Forget run {rc.get('run_id', '')}"})
        for left in rc.get("left_as_is", []):
            out.append({"at": str(at), "kind": "note",
                        "text": f"Snapshot {left.get('snapshot', '?')} was left as it is under {left.get('pack', '?')}.",
                        "detail": str(left.get("note", ""))})
    return sorted(out, key=lambda e: str(e["at"]), reverse=True)
