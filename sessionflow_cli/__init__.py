"""The top layer: the ``sessionflow`` command and the wiring of its processes.

It builds each process's ``Settings`` once and hands them to the process packages below it
(``producers``, ``streams``, ``sinks``, ``readapi``); nothing below imports it.
"""
