import pytest
from pydantic import ValidationError

from sessionflow.settings import Settings


def test_defaults_match_the_spec():
    s = Settings.from_environ({})
    assert s.kafka_bootstrap == "localhost:9092"
    assert (s.clickhouse_host, s.clickhouse_port) == ("localhost", 9000)
    assert (s.edge_host, s.edge_port, s.api_port) == ("127.0.0.1", 8080, 8081)
    assert s.rate_limit_per_hour == 250_000
    assert s.max_body_bytes == 64 * 1024


def test_reads_prefixed_variables_only():
    s = Settings.from_environ(
        {"SESSIONFLOW_EDGE_PORT": "9999", "SESSIONFLOW_SESSION_SECRETS": "new, old", "PATH": "x"}
    )
    assert s.edge_port == 9999
    assert s.session_secrets == ("new", "old")


def test_bad_values_are_reported():
    with pytest.raises(ValidationError, match="edge_port"):
        Settings.from_environ({"SESSIONFLOW_EDGE_PORT": "eighty"})
    with pytest.raises(ValidationError, match="session_secrets"):
        Settings.from_environ({"SESSIONFLOW_SESSION_SECRETS": " , "})
