"""The Faust worker: windowed session counts per organisation, app and segment."""
