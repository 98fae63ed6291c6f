"""The SQL around the policy plan that turns decisions into one verdict per staged item.

Every staged item gets exactly one verdict; an item the plan forgot is excluded as
malformed (fail closed); and an erasure is honoured whatever the build's as_of (a
past-dated rebuild must not bring erased data back). Both engines run this same
query, spelled in their dialect, so their verdicts cannot drift apart.
"""

from __future__ import annotations

from consentry.policy.plan import Dialect


def verdict_sql(decisions: str, dialect: str = "duckdb") -> str:
    """A query over the views `items` and `requests` and the `decisions` subquery."""
    d = Dialect(dialect)
    return f"""
WITH erased_members AS (
  SELECT DISTINCT member_id FROM requests WHERE kind IN ('erase_account', 'erase_ai_data')
), erased_items AS (
  SELECT DISTINCT {d.explode('item_ids')} AS item_id FROM requests WHERE kind = 'erase_items'
), v AS (
  SELECT i.item_id AS item_id, i.member_id AS member_id, d.item_id IS NULL AS missing,
         coalesce(d.allowed, false) AS allowed, d.reasons AS reasons,
         coalesce(d.region_group, 'unknown') AS region_group,
         (em.member_id IS NOT NULL OR ei.item_id IS NOT NULL) AS erased
  FROM items i LEFT JOIN ({decisions}) d ON i.item_id = d.item_id
  LEFT JOIN erased_members em ON em.member_id = i.member_id
  LEFT JOIN erased_items ei ON ei.item_id = i.item_id
)
SELECT item_id, member_id, allowed AND NOT erased AS allowed,
       CASE WHEN missing THEN {d.array("'malformed'")}
            WHEN erased AND NOT {d.contains('reasons', "'erased'")} THEN {d.append('reasons', "'erased'")}
            ELSE reasons END AS reasons,
       region_group
FROM v
"""
