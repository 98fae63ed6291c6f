"""Every surface tells the same story: `consentry decide`, `consentry explain --json`, the
member page and the API agree, in both directions, for every member and purpose of a
generated 2,000-member network (export + a ledger holding later choices and erasure
requests), under both packs at four dates.

For each member and purpose, with R the member-level reasons the center states:
- an item `decide` allows  ⇒  the member's data is "used" (page, API, explain);
- "not used"  ⇒  `decide` allows none of the member's items, and every item carries R;
- "used"  ⇒  every item of the member that `decide` excludes is excluded only for
  reasons of the item itself (kind, visibility, deleted, an erased item, ...);
- jurisdiction, region group and legal basis are the same.
Every member is checked against the plan's member-level answer (the function the page
and the API call) and against `decide`; the HTTP page and API and `explain --json`, which
push the member filter down, are checked for a seeded sample of members at every date
(they cost a request each).
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from consentry.center import explain
from consentry.center.app import create_app
from consentry.center.config import CenterSettings
from consentry.cli import app as cli
from consentry.ledger.store import Ledger
from consentry.network import reader, views
from consentry.policy.decide import decide_members, ledger_tables, merge_ledger
from consentry.settings import Settings
from consentry.vocab import PURPOSES

from .helpers import ADMIN_TOKEN, API_KEY, SECRET

pytestmark = pytest.mark.slow
MEMBERS = 2_000
DATES = ("2024-09-19T12:00:00Z", "2024-12-15T00:00:00Z", "2025-06-15T00:00:00Z", "2025-11-10T00:00:00Z")
PACKS = ("linkedin-2024", "strict")
SAMPLE = 6  # members per pack and date checked over HTTP and through `explain --json`
ITEM_REASONS = {"kind_excluded", "not_public", "sensitive_group", "deleted", "not_yet_created", "erased",
                "malformed"}
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A generated network and a ledger with choices and requests made after the export."""
    synth = pytest.importorskip("consentry.network.synth")
    home = tmp_path_factory.mktemp("agreement")
    synth.generate(home / "network", members=MEMBERS, seed=17, progress=False)
    ids = pq.read_table(home / "network" / "members.parquet", columns=["member_id"]).column(0).to_pylist()
    rng = random.Random(17)
    ledger = Ledger(f"sqlite:///{home / 'ledger.sqlite'}").create()
    ledger.import_export(home / "network")  # the export's history, imported: the union must not double it
    events = []
    for i, m in enumerate(rng.sample(ids, MEMBERS // 5)):
        day = datetime(2024, 9, 1, tzinfo=UTC).timestamp() + rng.randrange(0, 450 * 86400)
        events.append({"member_id": m, "purpose": rng.choice(PURPOSES),
                       "choice": rng.choice(["opt_out", "opt_in", "object", "withdraw_objection"]),
                       "source": rng.choice(["settings", "api", "gpc"]),
                       "at": datetime.fromtimestamp(day, UTC), "client_request_id": f"agree:{i}"})
    ledger.append_events(events)
    for i, m in enumerate(rng.sample(ids, MEMBERS // 50)):
        ledger.append_request(m, rng.choice(["erase_ai_data", "erase_account"]), datetime(2025, 1, 5, tzinfo=UTC),
                              None, client_request_id=f"agree-rq:{i}")
    staged = reader.stage_cached(home / "network", home / "staged", progress=False).dest
    con = duckdb.connect()
    views.register(con, staged)
    merge_ledger(con, ledger_tables(ledger))
    ledger.close()
    return {"home": home, "con": con, "ids": ids}


@pytest.fixture(scope="module")
def apps(world) -> dict:
    settings = Settings(home=world["home"])
    out = {}
    for pack in PACKS:
        cs = CenterSettings(secret_key=SECRET, admin_token=ADMIN_TOKEN, api_keys=API_KEY, pack=pack,
                            identity_header="X-Platform-Member", public_url="http://testserver")
        out[pack] = create_app(settings, cs)
    return out


class _Frozen(datetime):
    at: datetime = datetime.now(UTC)

    @classmethod
    def now(cls, tz=None):  # datetime.now's signature
        return cls.at


def _decide_all(home: Path, pack: str, as_of: str) -> dict[tuple[str, str], list[tuple[bool, set]]]:
    """`consentry decide` for every purpose, grouped by (member, purpose)."""
    out: dict[tuple[str, str], list[tuple[bool, set]]] = defaultdict(list)
    for purpose in PURPOSES:
        path = home / f"d-{pack}-{purpose}.parquet"
        r = runner.invoke(cli, ["decide", "--network", str(home / "network"), "--pack", pack, "--purpose", purpose,
                                "--as-of", as_of, "--out", str(path), "-q",
                                "--ledger-url", f"sqlite:///{home / 'ledger.sqlite'}"])
        assert r.exit_code == 0, r.output
        for row in pq.read_table(path, columns=["member_id", "allowed", "reasons", "jurisdiction",
                                                "region_group", "legal_basis"]).to_pylist():
            out[(row["member_id"], purpose)].append(row)
    return out


def _agree(decided: list[dict], used: bool, reasons: list[str], where: tuple) -> None:
    assert not (any(d["allowed"] for d in decided) and not used), where
    for d in decided:
        if used:
            assert set(d["reasons"]) <= ITEM_REASONS, (where, d)
        else:
            assert not d["allowed"] and set(reasons) <= set(d["reasons"]) and reasons, (where, d, reasons)


@pytest.mark.parametrize("pack", PACKS)
@pytest.mark.parametrize("as_of", DATES)
def test_every_surface_agrees(world, apps, pack, as_of, monkeypatch):
    home, con = world["home"], world["con"]
    decided = _decide_all(home, pack, as_of)
    members = {(r["member_id"], r["purpose"]): r
               for r in decide_members(con, pack, PURPOSES, as_of).to_arrow_table().to_pylist()}
    assert {m for m, _ in members} == set(world["ids"])
    verdicts, reasons_seen = Counter(), Counter()
    for (mid, purpose), row in members.items():  # every member and purpose
        items = decided.get((mid, purpose), [])
        _agree(items, row["used"], list(row["reasons"]), (mid, purpose))
        for d in items:
            assert (d["jurisdiction"], d["region_group"], d["legal_basis"]) == \
                (row["jurisdiction"], row["region_group"], row["legal_basis"]), (mid, purpose)
        verdicts[row["used"]] += 1
        reasons_seen.update(row["reasons"])
    assert sum(verdicts.values()) == MEMBERS * len(PURPOSES)

    # The page, the API and `explain --json` for a seeded sample (the member filter pushed down).
    t = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    monkeypatch.setattr(_Frozen, "at", t)
    monkeypatch.setattr(explain, "datetime", _Frozen)
    sample = random.Random(f"{pack}{as_of}").sample(world["ids"], SAMPLE)
    with TestClient(apps[pack]) as client:
        for mid in sample:
            r = client.get(f"/api/v1/members/{mid}/decisions", headers={"X-API-Key": API_KEY})
            if r.status_code == 404:  # a non-member data subject: the API knows members only
                assert all("non_member" in members[(mid, p)]["reasons"] for p in PURPOSES), mid
                continue
            assert r.status_code == 200, r.text
            api = {d["purpose"]: d for d in r.json()}
            page = client.get("/me", headers={"X-Platform-Member": mid}).text
            r = runner.invoke(cli, ["explain", "--network", str(home / "network"), "--pack", pack, "--as-of", as_of,
                                    "--member", mid, "--json", "--ledger-url", f"sqlite:///{home / 'ledger.sqlite'}"])
            assert r.exit_code == 0, r.output
            expl = {p["purpose"]: p for p in json.loads(r.stdout)["purposes"]}
            for purpose in PURPOSES:
                row, where = members[(mid, purpose)], (mid, purpose, as_of, pack)
                a, e = api[purpose], expl[purpose]
                assert (a["used"], a["reasons"]) == (row["used"], list(row["reasons"])), (where, a)
                assert (e["used"], e["member_reasons"]) == (row["used"], list(row["reasons"])), (where, e)
                items = decided.get((mid, purpose), [])
                assert (e["items"], e["allowed"]) == (len(items), sum(d["allowed"] for d in items)), where
                assert e["reasons"] == dict(Counter(x for d in items for x in d["reasons"])), where
                _agree(items, a["used"], a["reasons"], where)
                card = page.split(f'data-purpose="{purpose}"', 1)
                if len(card) == 2:  # the page shows its purposes (the API all of them)
                    status = card[1].split('class="status ', 1)[1].split('"', 1)[0]
                    assert status == ("used" if row["used"] else "unused"), where
    if as_of >= "2024-09-18":  # some of each verdict, and member-level reasons of several kinds
        assert len(reasons_seen) >= 3, reasons_seen
