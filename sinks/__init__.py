"""The ClickHouse sink: raw sessions, raw events and window counts land in ClickHouse."""
