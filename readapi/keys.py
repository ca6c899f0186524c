"""API keys: minting and hashing (pure), and the key store in ClickHouse (``api_keys``).

A key is shown once, at creation; only its SHA-256 is stored. Revocation writes a newer
version of the row; a running API sees it within ``key_cache_seconds``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from readapi.recent import Recent
from sessionflow.clickhouse import ClickHouse

PERMISSIONS: tuple[str, ...] = (
    "sessions.data_series",
    "events.data_series",
    "kpi.dau.data_series",
    "kpi.concurrent.data_series",
    "kpi.qoe.data_series",
    "segments.write",
)
KEY_PREFIX = "sf_"


def mint_key() -> str:
    """A new random API key (shown to its owner once)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """What a key may do. ``apps`` empty means every app of the organisation."""

    key_id: str
    org_id: str
    apps: tuple[str, ...]
    permissions: frozenset[str]
    rate_limit_per_hour: int
    revoked: bool = False

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    def may_read(self, app_id: str) -> bool:
        return not self.apps or app_id in self.apps


class KeyStore:
    """Keys in ClickHouse, with a short read cache so revocation applies within seconds."""

    def __init__(self, clickhouse: ClickHouse, cache_seconds: float, default_rate_limit: int):
        self._ch = clickhouse
        self._default_rate_limit = default_rate_limit
        self._recent: Recent[str, ApiKey | None] = Recent(cache_seconds)

    def create(
        self,
        org_id: str,
        apps: Sequence[str] = (),
        permissions: Sequence[str] = (),
        rate_limit_per_hour: int | None = None,
    ) -> tuple[str, ApiKey]:
        """Store a new key; return the key text (the only time it exists) and its record."""
        unknown = set(permissions) - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permissions: {', '.join(sorted(unknown))}")
        key = mint_key()
        digest = hash_key(key)
        record = ApiKey(
            key_id=digest[:16],
            org_id=org_id,
            apps=tuple(apps),
            permissions=frozenset(permissions or PERMISSIONS),
            rate_limit_per_hour=rate_limit_per_hour or self._default_rate_limit,
        )
        self._write(digest, record, version=1)
        return key, record

    def revoke(self, key_id: str) -> bool:
        """Revoke the key whose id is ``key_id``; say whether such a key existed."""
        rows = self._ch.execute(
            f"SELECT key_hash, max(version) FROM {self._ch.database}.api_keys "
            "WHERE key_id = %(key_id)s GROUP BY key_hash",
            {"key_id": key_id},
        )
        for digest, version in rows:
            current = self._load(digest)
            if current is not None:
                revoked = ApiKey(
                    current.key_id, current.org_id, current.apps, current.permissions,
                    current.rate_limit_per_hour, revoked=True,
                )  # fmt: skip
                self._write(digest, revoked, version=int(version) + 1)
        return bool(rows)

    def list(self, org_id: str | None = None) -> list[ApiKey]:
        where = "WHERE org_id = %(org)s" if org_id else ""
        digests = self._ch.execute(
            f"SELECT DISTINCT key_hash FROM {self._ch.database}.api_keys {where}",
            {"org": org_id or ""},
        )
        found = [self._load(digest) for (digest,) in digests]
        return sorted((k for k in found if k is not None), key=lambda k: (k.org_id, k.key_id))

    def lookup(self, key: str) -> ApiKey | None:
        """The active key record for ``key`` (``None`` if unknown or revoked), cached briefly."""
        digest = hash_key(key)
        return self._recent.get(digest, lambda: self._active(digest))

    def _active(self, digest: str) -> ApiKey | None:
        record = self._load(digest)
        return record if record is not None and not record.revoked else None

    def _load(self, digest: str) -> ApiKey | None:
        rows = self._ch.execute(
            f"SELECT key_id, org_id, apps, permissions, rate_limit_per_hour, revoked "
            f"FROM {self._ch.database}.api_keys WHERE key_hash = %(h)s "
            "ORDER BY version DESC LIMIT 1",
            {"h": digest},
        )
        if not rows:
            return None
        key_id, org_id, apps, permissions, limit, revoked = rows[0]
        return ApiKey(
            key_id, org_id, tuple(apps), frozenset(permissions), int(limit), bool(revoked)
        )

    def _write(self, digest: str, record: ApiKey, version: int) -> None:
        self._ch.insert(
            "api_keys",
            ("key_hash", "key_id", "org_id", "apps", "permissions", "rate_limit_per_hour",
             "created_at", "revoked", "version"),
            [(digest, record.key_id, record.org_id, list(record.apps),
              sorted(record.permissions), record.rate_limit_per_hour,
              datetime.now(UTC).replace(microsecond=0), int(record.revoked), version)],
        )  # fmt: skip
