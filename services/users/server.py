"""The users service process: `ticketing-users`."""

from __future__ import annotations

import asyncio
from functools import partial

from protos.ticketing.v1 import users_pb2_grpc
from services.common import loop
from services.common.database import open_database
from services.common.grpc_server import GrpcService
from services.common.logs import setup_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.users.application import Users
from services.users.passwords import Passwords
from services.users.servicer import UsersServicer
from services.users.store import UserStore
from services.users.tokens import TokenIssuer, load_signing_key

SERVICE_NAME = "ticketing.v1.UsersService"


async def build_users_service(
    settings: Settings, address: str, *, passwords: Passwords | None = None
) -> GrpcService:
    """Open the tables, make sure the configured superadmin exists, and build the server.

    passwords defaults to argon2id at the library's RFC 9106 cost; tests pass a cheaper one.
    """
    signing_key = load_signing_key(settings)
    database = open_database(settings, "users")
    try:
        store = UserStore(database)
        await asyncio.to_thread(store.migrate)
        users = Users(store, passwords or Passwords(), TokenIssuer(signing_key))
        await asyncio.to_thread(users.ensure_superadmin_from_env, settings)
        add = partial(users_pb2_grpc.add_UsersServiceServicer_to_server, UsersServicer(users))
        service = GrpcService(settings.secret("internal"), [add], [SERVICE_NAME], address)
    except BaseException:
        database.close()
        raise

    async def close_database() -> None:
        await asyncio.to_thread(database.close)

    service.on_stop.append(close_database)
    return service


def main() -> None:
    """Serve UsersService on TICKETING_USERS_ADDR until SIGTERM or SIGINT."""
    settings = Settings()
    setup_logging(settings, "users")
    serve_metrics(settings)

    async def serve() -> None:
        service = await build_users_service(
            settings, settings.listen_address(settings.ticketing_users_addr)
        )
        await service.serve_until_signalled()

    loop.run(serve())


if __name__ == "__main__":
    main()
