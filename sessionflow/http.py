"""Small HTTP helpers shared by the edge and the read API: JSON responses (orjson), a
bounded body reader, an ASGI middleware that adds fixed headers to every response, and the
framework-free request/answer pair the edge's hot routes use (``Incoming``, ``Answer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content), status_code, headers=headers, media_type="application/json"
    )


RawHeaders = Sequence[tuple[bytes, bytes]]


def raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """``headers`` as ASGI wants them: latin-1 bytes, lower-case names."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def with_fixed(headers: RawHeaders, fixed: RawHeaders) -> list[tuple[bytes, bytes]]:
    """``headers`` plus each of ``fixed`` whose name they do not set."""
    names = {name for name, _ in headers}
    return [*headers, *((k, v) for k, v in fixed if k not in names)]


class FixedHeaders:
    """ASGI middleware: add ``headers`` to every HTTP response (including framework errors)."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.raw = raw_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_fixed(message.get("headers", []), self.raw)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as plain data: status, body and headers (raw, lower-case names)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(cls, content: Any, status: int = 200, *extra: tuple[bytes, bytes]) -> Answer:
        return cls(status, orjson.dumps(content), ((b"content-type", b"application/json"), *extra))

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        return next((v.decode("latin-1") for k, v in self.headers if k == wanted), None)

    def response(self) -> Response:
        """As a Starlette response (the routes Starlette serves)."""
        response = Response(self.body, self.status)
        response.raw_headers = [
            *(h for h in response.raw_headers if h[0] != b"content-type"),
            *self.headers,
        ]
        return response

    async def send(self, send: Send, fixed: RawHeaders = ()) -> None:
        """Send it on an ASGI connection, with ``fixed`` headers it does not set itself."""
        headers = list(self.headers)
        if self.body or self.status not in (204, 304):
            headers.append((b"content-length", str(len(self.body)).encode()))
        headers = with_fixed(headers, fixed)
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class Incoming:
    """A request as the edge's handlers read it: headers by name, a bounded body, path
    parameters. Built from an ASGI scope and receive, with or without a framework."""

    __slots__ = ("_headers", "_receive", "params")

    def __init__(self, scope: Scope, receive: Receive, params: Mapping[str, str] | None = None):
        self._headers: dict[bytes, bytes] = dict(scope["headers"])
        self._receive = receive
        self.params = params if params is not None else scope.get("path_params", {})

    def header(self, name: bytes) -> str | None:
        """The value of header ``name`` (lower-case bytes), or None."""
        value = self._headers.get(name)
        return None if value is None else value.decode("latin-1")

    async def body(self, limit: int) -> bytes:
        """The body, never holding more than ``limit`` bytes; ``BodyTooLarge`` past it."""
        declared = self._headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                break  # the client went away: what arrived is all there is
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
