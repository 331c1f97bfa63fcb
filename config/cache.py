"""Django's Redis cache, failing open.

Everything Quorum keeps in the cache can be recomputed (My work's counts) or
lives elsewhere (the sign-in limiter is in PostgreSQL; the API rate limiter
has its own fail-open path in integrations/ratelimit.py). So when Redis is
unreachable a read is a miss and a write is dropped — the page is slower, not
broken — and each such operation is logged and counted
(`quorum_degraded_operations_total{component="cache",mode="fail_open"}`).
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from . import degraded


def _down(exc: BaseException) -> None:
    degraded.record(component="cache", mode="fail_open", error=exc)


class ResilientRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            _down(exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict:
        try:
            return super().get_many(keys, version)
        except RedisError as exc:
            _down(exc)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except RedisError as exc:
            _down(exc)
            return False

    def set(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().set(*args, **kwargs)
        except RedisError as exc:
            _down(exc)

    def set_many(self, *args: Any, **kwargs: Any) -> list:
        try:
            return super().set_many(*args, **kwargs)
        except RedisError as exc:
            _down(exc)
            return []

    def add(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().add(*args, **kwargs)
        except RedisError as exc:
            _down(exc)
            return False

    def touch(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().touch(*args, **kwargs)
        except RedisError as exc:
            _down(exc)
            return False

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().delete(*args, **kwargs)
        except RedisError as exc:
            _down(exc)
            return False

    def delete_many(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().delete_many(*args, **kwargs)
        except RedisError as exc:
            _down(exc)

    def incr(self, *args: Any, **kwargs: Any) -> int:
        try:
            return super().incr(*args, **kwargs)
        except RedisError as exc:
            _down(exc)
            raise ValueError("cache unavailable") from exc
