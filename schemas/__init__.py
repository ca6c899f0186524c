"""The data contract: Avro schemas (``*.avsc``, versioned), their codec, and Kafka topic names."""
