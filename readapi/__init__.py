"""The read API: Braze-style series (``/sessions/data_series`` and its siblings), API keys and
segments, answered from ClickHouse.

Named ``readapi`` rather than ``analytics`` so that it never shadows Segment's
``analytics-python`` installed in the same environment.
"""
