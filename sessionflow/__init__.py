"""sessionflow's core, the bottom layer every process package builds on.

Settings, the exception tree, session ids, time buckets, the media event vocabulary, the
consumed-record and segment models, Kafka topic names, and the one adapter per external system
(``kafka``, ``clickhouse``). It imports no other sessionflow package; see the README's
"Architecture" section for the layers above it.
"""

__version__ = "0.1.0"
