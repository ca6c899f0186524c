from __future__ import annotations

import io
import json
import logging

from sessionflow import logs


def test_one_json_object_per_line_with_the_fields_of_the_call():
    stream = io.StringIO()  # not a terminal
    logs.configure("sink", "INFO", stream)
    logging.getLogger("sinks.runner").warning(
        "dead-lettering %s: %s", "t/1/7", "unstorable", extra={"partition": 1, "offset": 7}
    )
    logging.getLogger("aiokafka").info("noise")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["message"] == "dead-lettering t/1/7: unstorable"
    assert (line["level"], line["proc"], line["logger"]) == ("WARNING", "sink", "sinks.runner")
    assert (line["partition"], line["offset"]) == (1, 7)
    assert line["time"].endswith("+00:00")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_on_a_terminal():
    stream = Terminal()
    logs.configure("edge", "INFO", stream)
    logging.getLogger("producers.app").info("hello %s", "there")
    assert "edge[" in stream.getvalue() and "INFO producers.app: hello there" in stream.getvalue()
