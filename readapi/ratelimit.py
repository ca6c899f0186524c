"""Per-key request limits over fixed one-hour windows (pure, in-process)."""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Quota:
    """The state reported in ``X-RateLimit-*`` headers after a request."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch_s: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch_s),
        }


class RateLimiter:
    """Counts requests per key in the current UTC hour."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key_id: str, limit: int, now_s: float) -> Quota:
        window = int(now_s) // WINDOW_SECONDS
        start, used = self._windows.get(key_id, (window, 0))
        if start != window:
            start, used = window, 0
        reset = (window + 1) * WINDOW_SECONDS
        if used >= limit:
            return Quota(False, limit, 0, reset)
        used += 1
        self._windows[key_id] = (start, used)
        return Quota(True, limit, limit - used, reset)

    @staticmethod
    def unmetered(limit: int, now_s: float) -> Quota:
        """Headers for a request no key was charged for (e.g. a 401)."""
        reset = (int(now_s) // WINDOW_SECONDS + 1) * WINDOW_SECONDS
        return Quota(True, limit, limit, reset)
