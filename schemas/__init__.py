"""The data contract: Avro schemas (``*.avsc``, versioned) and their codec."""
