"""The row-lock peer: POST /orders as a plain FastAPI + psycopg `SELECT … FOR UPDATE` service.

The design the flash-sale benchmark measures ours against, written plainly and fairly: one
transaction per order that locks the ticket type's row, checks what remains, inserts the hold
and bumps the counter. The request body, its validation, the problem documents and the
idempotency rule (the order id follows from the Idempotency-Key and the e-mail; the same key
with a different body is 422) are the gateway's own, imported from it. It only holds tickets:
no payment is opened, no event is recorded.

    python bench/peers/rowlock.py --database-url postgresql://…/db --port 8100 [--pool 16]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from uuid import UUID, uuid4

import psycopg
import uvicorn
from fastapi import FastAPI, Header, Response
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from command_api.models import OrderCreate
from domain.order import order_id_for
from services.common.http_problems import ProblemError, install_problem_handlers
from services.payments.application import request_fingerprint

HOLD = timedelta(minutes=15)
SCHEMA = """
CREATE TABLE IF NOT EXISTS ticket_types (
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL,
    price_minor bigint NOT NULL,
    currency text NOT NULL,
    total_stock integer NOT NULL CHECK (total_stock >= 0),
    sold integer NOT NULL DEFAULT 0,
    held integer NOT NULL DEFAULT 0,
    sales_start timestamptz NOT NULL,
    sales_end timestamptz NOT NULL,
    active boolean NOT NULL,
    CHECK (sold + held <= total_stock)
);
CREATE TABLE IF NOT EXISTS holds (
    order_id uuid PRIMARY KEY,
    fingerprint text NOT NULL,
    ticket_type_id uuid NOT NULL REFERENCES ticket_types (id),
    event_id uuid NOT NULL,
    quantity integer NOT NULL,
    email text NOT NULL,
    phone_number text NOT NULL,
    total_minor bigint NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    expires_at timestamptz NOT NULL
);
"""
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=255)]


def create_schema(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SCHEMA)


def add_ticket_type(database_url: str, total_stock: int, price_minor: int = 2500) -> dict:
    """A ticket type on sale now, as the benchmark's load script needs it."""
    now = datetime.now(UTC)
    ticket = {"id": uuid4(), "event_id": uuid4()}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ticket_types (id, event_id, price_minor, currency, total_stock,"
            " sales_start, sales_end, active) VALUES (%s, %s, %s, 'KES', %s, %s, %s, true)",
            (ticket["id"], ticket["event_id"], price_minor, total_stock,
             now - timedelta(hours=1), now + timedelta(days=1)),
        )  # fmt: skip
    return {key: str(value) for key, value in ticket.items()}


def ticket_type_counts(database_url: str, ticket_id: str) -> dict[str, int]:
    """total_stock, sold, held and the number of holds recorded for the ticket type."""
    with psycopg.connect(database_url) as conn:
        total, sold, held = conn.execute(
            "SELECT total_stock, sold, held FROM ticket_types WHERE id = %s", (ticket_id,)
        ).fetchone()
        holds, quantity = conn.execute(
            "SELECT count(*), coalesce(sum(quantity), 0) FROM holds WHERE ticket_type_id = %s",
            (ticket_id,),
        ).fetchone()
    return {"total_stock": total, "sold": sold, "held": held, "holds": holds, "held_sum": quantity}


def order_document(row: tuple) -> dict:
    order_id, event_id, ticket_id, quantity, email, phone, total, currency, status, expires = row
    return {
        "id": str(order_id), "event_id": str(event_id), "ticket_id": str(ticket_id),
        "quantity": quantity, "email": email, "phone_number": phone,
        "total_amount": f"{total // 100}.{total % 100:02d}", "currency": currency,
        "status": status,
        "payment": {"payment_ref": None, "checkout_url": None, "expires_at": expires.isoformat()},
        "order_token": "",
    }  # fmt: skip


ORDER_COLUMNS = (
    "order_id, event_id, ticket_type_id, quantity, email, phone_number, total_minor, currency,"
    " status, expires_at"
)


def create_app(database_url: str, pool_size: int) -> FastAPI:
    pool = AsyncConnectionPool(database_url, min_size=pool_size, max_size=pool_size, open=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        try:
            yield
        finally:
            await pool.close()

    # The same FastAPI settings as our apps (services/common/metrics.py): no OpenTelemetry hooks.
    app = FastAPI(
        title="Row-lock peer",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/orders", status_code=201)
    async def place_order(
        body: OrderCreate, idempotency_key: IdempotencyKey, response: Response
    ) -> dict:
        """Hold tickets in one transaction that locks the ticket type's row."""
        order_id = order_id_for(idempotency_key, body.email)
        fingerprint = request_fingerprint(
            body.event_id, body.ticket_id, body.quantity, body.email, body.phone_number
        )
        async with pool.connection() as conn, conn.transaction():
            existing = await _existing(conn, order_id, fingerprint)
            if existing is not None:
                response.status_code = 200
                return existing
            row = await (
                await conn.execute(
                    "SELECT event_id, price_minor, currency, total_stock, sold, held,"
                    " sales_start, sales_end, active FROM ticket_types WHERE id = %s FOR UPDATE",
                    (body.ticket_id,),
                )
            ).fetchone()
            if row is None or row[0] != body.event_id:
                raise ProblemError(404, f"ticket {body.ticket_id} not found", kind="not_found")
            _, price, currency, total, sold, held, start, end, active = row
            now = datetime.now(UTC)
            if not active or not start <= now < end:
                raise ProblemError(409, "tickets are not on sale", kind="not_on_sale")
            if body.quantity > total - sold - held:
                raise ProblemError(409, f"{total - sold - held} tickets remain", kind="sold_out")
            inserted = await (
                await conn.execute(
                    f"INSERT INTO holds ({ORDER_COLUMNS}, fingerprint) VALUES"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s)"
                    f" ON CONFLICT (order_id) DO NOTHING RETURNING {ORDER_COLUMNS}",
                    (
                        order_id,
                        body.event_id,
                        body.ticket_id,
                        body.quantity,
                        body.email,
                        body.phone_number,
                        price * body.quantity,
                        currency,
                        now + HOLD,
                        fingerprint,
                    ),
                )
            ).fetchone()
            if inserted is None:  # the same key raced us and won: answer with its order
                response.status_code = 200
                return await _existing(conn, order_id, fingerprint)
            await conn.execute(
                "UPDATE ticket_types SET held = held + %s WHERE id = %s",
                (body.quantity, body.ticket_id),
            )
        return order_document(inserted)

    return app


async def _existing(conn: psycopg.AsyncConnection, order_id: UUID, fingerprint: str) -> dict | None:
    row = await (
        await conn.execute(
            f"SELECT {ORDER_COLUMNS}, fingerprint FROM holds WHERE order_id = %s",
            (order_id,),
        )
    ).fetchone()
    if row is None:
        return None
    if row[-1] != fingerprint:
        raise ProblemError(422, "the Idempotency-Key was used with a different request")
    return order_document(row[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool", type=int, default=16, help="PostgreSQL connections")
    args = parser.parse_args()
    create_schema(args.database_url)
    uvicorn.run(
        create_app(args.database_url, args.pool),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
