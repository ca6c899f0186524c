"""The collection edge: Adobe's Media Collection API in, Avro records on Kafka out."""
