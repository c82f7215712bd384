"""The browse peer: a bare Starlette app whose endpoints each return one Redis value.

    python bench/peers/bare_redis.py --redis-url redis://127.0.0.1:6379/0 --key K --port 8200

GET /events/{id} and GET /events both answer the bytes stored at K (as JSON): the least any
read endpoint over Redis can do, the floor bench/browse.py measures the gateway against.
"""

from __future__ import annotations

import argparse

import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def create_app(redis_url: str, key: str) -> Starlette:
    redis = Redis.from_url(redis_url)

    async def one_value(_request: Request) -> Response:
        return Response(await redis.get(key), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/events/{event_id}", one_value),
            Route("/events", one_value),
            Route("/healthz", healthz),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.redis_url, args.key), host="127.0.0.1", port=args.port,
        log_level="warning", access_log=False,
    )  # fmt: skip


if __name__ == "__main__":
    main()
