"""The same plan on Spark SQL gives the same decisions as on DuckDB (one kernel, two engines)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from consentry.policy.decide import decide, ensure_inputs, register_ip_geo
from consentry.policy.packs import as_utc, load_pack
from consentry.network.schema import MEMBER_ISSUES
from consentry.policy.plan import TABLES, decisions_sql

from .policynet import GERMAN_DC_IP, GERMAN_IP, US_IP, Net

pytestmark = [pytest.mark.spark, pytest.mark.slow]
COLUMNS = ("item_id", "member_id", "purpose", "allowed", "reasons", "jurisdiction", "legal_basis", "pack",
           "region_group")


@pytest.fixture(scope="module")
def spark():
    pyspark = pytest.importorskip("pyspark.sql")
    s = (pyspark.SparkSession.builder.master("local[1]").appName("consentry-policy-test")
         .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    yield s
    s.stop()


def random_net(seed: int) -> Net:
    rnd = random.Random(seed)
    net = Net()
    day = lambda: dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=rnd.randint(0, 700))  # noqa: E731
    for m in range(40):
        mid = f"m{m}"
        net.member(mid, residence_country=rnd.choice(["US", "DE", "GB", "HK", "CA", "IN", "CH", None, "XX"]),
                   birth_date=rnd.choice([None, dt.date(2008, 5, 1), dt.date(1980, 1, 1)]),
                   closed_at=rnd.choice([None] * 5 + [day()]), is_member=rnd.random() > 0.05)
        for _ in range(rnd.randint(0, 4)):
            net.item(mid, kind=rnd.choice(["post", "message", "comment", "group_post"]),
                     visibility=rnd.choice(["public", "connections", "private"]), created_at=day(),
                     deleted_at=rnd.choice([None] * 5 + [day()]), group_sensitive=rnd.choice([False, True, None]))
        for _ in range(rnd.randint(0, 3)):
            net.event(mid, rnd.choice(["genai_training", "ml_personalization", "affiliate_sharing"]),
                      rnd.choice(["opt_in", "opt_out", "object", "withdraw_objection"]), day().isoformat(),
                      source=rnd.choice(["settings", "gpc"]))
        for _ in range(rnd.randint(0, 2)):
            net.signin(mid, rnd.choice([GERMAN_IP, GERMAN_DC_IP, US_IP]), day().isoformat())
        if rnd.random() < 0.1:
            net.request(mid, rnd.choice(["erase_account", "erase_items"]), day().isoformat(),
                        item_ids=[r["item_id"] for r in net.rows["items"][-2:]])
        if rnd.random() < 0.7:
            net.notice(mid, day().isoformat())
    net.item("ghost")
    return net


@pytest.mark.parametrize(
    ("pack", "purpose", "as_of"),
    [("linkedin-2024", "genai_training", "2025-01-15"), ("linkedin-2024", "affiliate_sharing", "2024-06-01"),
     ("strict", "ml_personalization", "2025-06-01")],
)
def test_spark_matches_duckdb(spark, pack: str, purpose: str, as_of: str) -> None:
    import pyarrow as pa

    net = random_net(11)
    con = net.connect()
    # a member staging lists because a quarantined row left them in doubt
    doubted = next(i["member_id"] for i in net.rows["items"] if i["member_id"] != "ghost")
    con.register("member_issues", pa.Table.from_pylist(
        [{"member_id": doubted, "table": "consent_events", "error": "consent_events.jsonl row 9: at: bad"}],
        schema=MEMBER_ISSUES))
    p = load_pack(pack)
    duck = decide(con, p, purpose, as_of).to_arrow_table().to_pylist()
    theirs = [r for r in duck if r["member_id"] == doubted]
    assert theirs and all("malformed" in r["reasons"] and not r["allowed"] for r in theirs)
    ensure_inputs(con)
    register_ip_geo(con, p, as_utc(as_of))
    for name in TABLES:
        spark.createDataFrame(con.sql(f"SELECT * FROM {name}").to_arrow_table()).createOrReplaceTempView(name)
    rows = [r.asDict() for r in spark.sql(decisions_sql(p, purpose, as_of, dialect="spark")).collect()]
    key = lambda r: r["item_id"]  # noqa: E731
    assert len(rows) == len(duck) == len(net.rows["items"])
    assert [tuple(r[c] for c in COLUMNS) for r in sorted(rows, key=key)] == [
        tuple(r[c] for c in COLUMNS) for r in sorted(duck, key=key)]
    assert {r["as_of"].replace(tzinfo=dt.UTC) if r["as_of"].tzinfo is None else r["as_of"] for r in rows} == {
        as_utc(as_of)}
