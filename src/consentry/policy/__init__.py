"""Policy: packs (YAML, validated), jurisdiction from residence and sign-ins, and the
decision plan (one SQL query for DuckDB and Spark), with explanations.

- `packs.load_pack(name_or_path)`, `packs.list_packs()`, `Pack.version_at(t)`
- `jurisdiction.resolve_ips(ips)` -> ip_geo(ip, country, is_datacenter)
- `plan.decisions_sql(pack, purpose, as_of, dialect)` -> SQL over the export views + ip_geo
- `decide.decide(con, pack, purpose, as_of)` -> DuckDB relation (registers ip_geo);
  `decide.register_ip_geo(con, pack, as_of)` for engines that run the SQL themselves
- `explain.explain_member(...)`, `explain.explain_item(...)` -> structured, `.text()`
"""
