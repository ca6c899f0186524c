"""The analytics API: Braze-style ``GET /sessions/data_series`` answered from ClickHouse."""
