"""sessionflow: media-player session telemetry, from Adobe's collection API to Braze-style series.

The pure core lives here (settings, errors, session ids, time buckets); the processes live in
``producers`` (collection edge), ``streams`` (Faust worker), ``sinks`` (ClickHouse sink) and
``analytics`` (read API). ``schemas`` holds the Avro contract and the Kafka topic names.
"""

__version__ = "0.1.0"
