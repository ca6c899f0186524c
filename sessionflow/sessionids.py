"""Stateless session ids: minted by the edge, verified and dated without any lookup.

An id is 32 bytes, hex-encoded to 64 lowercase characters:
8 bytes issue time (ms, big-endian) + 8 random bytes + the first 16 bytes of
HMAC-SHA256(secret, those first 16 bytes). Several secrets may verify (rotation);
the first one signs.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

from sessionflow.errors import ExpiredSession, UnknownSession

_SHAPE = re.compile(r"\A[0-9a-f]{64}\Z")
# Ids "issued" further in the future than this were not issued by a sane edge.
MAX_CLOCK_SKEW_MS = 5 * 60 * 1000


def _mac(secret: str, head: bytes) -> bytes:
    return hmac.new(secret.encode(), head, hashlib.sha256).digest()[:16]


def mint(secret: str, now_ms: int, randbytes: Callable[[int], bytes] = os.urandom) -> str:
    """Return a new session id issued at ``now_ms`` and signed with ``secret``."""
    head = struct.pack(">Q", now_ms) + randbytes(8)
    return (head + _mac(secret, head)).hex()


def _signed(sid: str, secrets: tuple[str, ...]) -> bool:
    """Whether one of ``secrets`` signed the well-shaped ``sid``."""
    raw = bytes.fromhex(sid)
    head, tag = raw[:16], raw[16:]
    return any(hmac.compare_digest(_mac(secret, head), tag) for secret in secrets)


def issued_at_ms(sid: str) -> int:
    """The issue time inside a well-shaped id (unverified)."""
    return int(struct.unpack(">Q", bytes.fromhex(sid[:16]))[0])


def verify(
    sid: str,
    secrets: Sequence[str],
    now_ms: int,
    lifetime_ms: int,
    signed: Callable[[str, tuple[str, ...]], bool] = _signed,
) -> int:
    """Check ``sid`` and return its issue time in ms.

    Raises ``UnknownSession`` when no secret signed it (or it claims a future time) and
    ``ExpiredSession`` when it is older than ``lifetime_ms``.
    """
    if not _SHAPE.match(sid):
        raise UnknownSession("session id must be 64 lowercase hex characters")
    if not signed(sid, tuple(secrets)):
        raise UnknownSession("session id was not issued by this service")
    issued = issued_at_ms(sid)
    if issued > now_ms + MAX_CLOCK_SKEW_MS:
        raise UnknownSession("session id was not issued by this service")
    if now_ms - issued > lifetime_ms:
        raise ExpiredSession("session has expired")
    return issued


class Verifier:
    """``verify`` for ``secrets``, remembering the last ``cached`` ids found signed: a player
    sends ~60 events under one id, and the HMAC was 6 % of the edge's time per event. Sized by
    ``Settings.session_cache_size`` (~0.3 KB an id); it was a fixed 65,536, which kept the
    edge's memory growing until that many sessions had been seen."""

    def __init__(self, secrets: Sequence[str], cached: int) -> None:
        self.secrets = tuple(secrets)
        self._signed = lru_cache(maxsize=cached)(_signed)

    def verify(self, sid: str, now_ms: int, lifetime_ms: int) -> int:
        return verify(sid, self.secrets, now_ms, lifetime_ms, self._signed)

    def cached(self) -> int:
        """Ids remembered now."""
        return self._signed.cache_info().currsize
