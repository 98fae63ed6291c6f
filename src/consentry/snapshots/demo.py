"""The snapshot part of `make demo`: build under each pack, forget, show what changed.

One call the demo can make: it builds a snapshot per pack, files a batch of erasure
requests and opt-outs in the ledger, runs `forget --pending`, proves the erasure
with `verify-erasure`, and returns a report whose `text()` says, per snapshot, what
was removed, what stayed (forward_only) and why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from consentry.snapshots import catalog, layout
from consentry.snapshots.build import build_snapshot
from consentry.snapshots.manifest import Manifest


@dataclass
class DemoReport:
    built: list[Manifest] = field(default_factory=list)
    erased_members: list[str] = field(default_factory=list)
    opted_out_members: list[str] = field(default_factory=list)
    forget: Any = None
    verify: Any = None
    after: dict[str, tuple[int, str]] = field(default_factory=dict)  # ref -> (included, content hash)

    def text(self) -> str:
        lines = ["Snapshots built:"]
        for m in self.built:
            ref = f"{m.purpose}/{m.version}"
            inc, h = self.after.get(ref, (m.counts["included"], m.content_hash))
            lines.append(
                f"  {ref} under {m.pack_ref} ({m.propagation}): {m.counts['included']:,} items included, "
                f"{m.counts['excluded']:,} excluded; after forget {inc:,} "
                f"({'unchanged' if h == m.content_hash else 'content ' + m.content_hash[:10] + ' -> ' + h[:10]})"
            )
        lines.append(f"Requests: {len(self.erased_members)} account erasures, "
                     f"{len(self.opted_out_members)} opt-outs")
        if self.forget is not None:
            lines.append(self.forget.text())
        if self.verify is not None:
            lines.append("verify-erasure: " + self.verify.text())
        return "\n".join(lines)


def _members(snap: catalog.Snapshot) -> list[str]:
    t = pq.read_table(snap.path / layout.LINEAGE, columns=["member_id"])
    return sorted(pc.unique(t.column(0)).to_pylist())


def run_demo(
    network_dir: str | Path,
    settings: Any,
    ledger: Any,
    *,
    packs: tuple[str, ...] = ("linkedin-2024", "strict"),
    purpose: str = "genai_training",
    as_of: str = "2025-12-01",
    erasures: int = 3,
    opt_outs: int = 3,
    workers: int | None = None,
) -> DemoReport:
    """Build a snapshot per pack, apply erasures and opt-outs through the ledger, forget, verify."""
    from consentry.forgetting.run import forget
    from consentry.forgetting.verify import verify_erasure

    root = Path(settings.snapshots)
    report = DemoReport()
    for pack in packs:
        report.built.append(build_snapshot(network_dir, pack, purpose, as_of, root, workers=workers,
                                           ledger=ledger))
    snaps = [catalog.load(root, m.purpose, m.version) for m in report.built]
    held = [set(_members(s)) for s in snaps]
    everywhere = sorted(set.intersection(*held)) if held else []
    report.erased_members = everywhere[:erasures]
    # Opt-outs from members held everywhere show both propagations side by side.
    rest = everywhere[erasures:] + sorted(set.union(*held) - set(everywhere)) if held else []
    report.opted_out_members = rest[:opt_outs]
    now = dt.datetime.now(dt.UTC)
    for m in report.erased_members:
        ledger.append_request(m, "erase_account", now, client_request_id=f"demo-erase-{m}-{now:%Y%m%d%H%M%S}")
    for m in report.opted_out_members:
        ledger.append_event(m, purpose, "opt_out", "settings", now,
                            client_request_id=f"demo-optout-{m}-{now:%Y%m%d%H%M%S}")
    report.forget = forget(pending=True, settings=settings, ledger=ledger)
    report.verify = verify_erasure(root, network_dir, ledger=ledger, home=settings.home, models_dir=settings.models)
    for m in report.built:
        s = catalog.load(root, m.purpose, m.version)
        report.after[s.ref] = (int(s.manifest.counts.get("included", 0)), s.manifest.content_hash)
    return report
