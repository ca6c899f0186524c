from __future__ import annotations

import re

import pytest

from sessionflow.clusterddl import SHARDING_KEYS, cluster_statements
from sessionflow.tables import statements


def test_every_table_is_replicated_per_shard_behind_a_distributed_table_of_its_name():
    ddl = cluster_statements("sf", "prod")
    assert all(" ON CLUSTER prod" in sql for sql in ddl)
    single = "\n".join(statements("sf"))
    tables = re.findall(r"CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS sf\.(\w+)", single)
    assert set(tables) == set(SHARDING_KEYS)
    for name in tables:
        local = next(s for s in ddl if f"sf.{name}_local ON CLUSTER" in s)
        assert (
            "ENGINE = Replicated" in local
            and f"'/clickhouse/tables/{{shard}}/sf/{name}_local'" in local
        )
        distributed = next(s for s in ddl if f"EXISTS sf.{name} ON CLUSTER" in s)
        assert f"Distributed(prod, sf, {name}_local, {SHARDING_KEYS[name]})" in distributed
    # Materialized views read the local rows of their node; the plain view the Distributed ones.
    views = [s for s in ddl if "MATERIALIZED VIEW" in s]
    assert views and all(re.search(r"FROM sf\.\w+_local", v) for v in views)
    assert "FROM sf.session_counts\n" in next(s for s in ddl if "session_counts_current" in s)


def _top_level(columns: str) -> set[str]:
    """The comma-separated items of a sorting key, commas inside an expression's parentheses
    left alone."""
    items, depth, current = [], 0, ""
    for char in columns:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return {" ".join(item.split()) for item in [*items, current]}


def test_rows_that_replace_each_other_land_on_one_shard():
    # A Replacing table's sharding key uses only columns of its sort key.
    for sql in statements("sf"):
        found = re.search(
            r"EXISTS sf\.(\w+) .*ReplacingMergeTree.*ORDER BY \((.*?)\)\s*(?:SETTINGS|$)", sql, re.S
        ) or re.search(r"EXISTS sf\.(\w+) .*ReplacingMergeTree.*ORDER BY ([^(\n]*)$", sql, re.S)
        if found:
            name, order = found.groups()
            hashed = re.search(r"cityHash64\((.*)\)", SHARDING_KEYS[name]).group(1)  # type: ignore[union-attr]
            assert _top_level(hashed) <= _top_level(order), name


def test_a_cluster_name_cannot_inject_sql():
    with pytest.raises(ValueError, match="cluster name"):
        cluster_statements("sf", "prod; DROP TABLE x")
