"""The cluster DDL parses on a current ClickHouse engine (chdb; no cluster needed to parse)."""

from __future__ import annotations

import chdb.session

from sessionflow.clusterddl import cluster_statements


def test_every_cluster_statement_parses():
    session = chdb.session.Session()
    try:
        for sql in cluster_statements("sessionflow", "prod"):
            assert "CreateQuery" in str(session.query("EXPLAIN AST " + sql, "CSV")), sql
    finally:
        session.close()
