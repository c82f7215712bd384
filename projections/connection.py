"""The Redis client of the read models: REDIS_URL, or fakeredis in the embedded mode."""

from __future__ import annotations

import fakeredis
from redis.asyncio import Redis

from services.common.settings import Settings


def connect_redis(settings: Settings) -> Redis:
    """A client returning bytes (documents are served as stored).

    Without REDIS_URL this is an in-memory fakeredis: the processes that share read models
    (projections, gateway) must then run in one OS process and share this one client.
    """
    if settings.redis_url:
        return Redis.from_url(settings.redis_url, decode_responses=False)
    return fakeredis.FakeAsyncRedis(decode_responses=False)
