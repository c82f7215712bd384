"""The order token: a customer's only key to their order, derived so nothing is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID


def order_token(secret: bytes, order_id: UUID) -> str:
    """The token that opens one order (HMAC of its id)."""
    digest = hmac.new(secret, f"order:{order_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).rstrip(b"=").decode()


def is_order_token(secret: bytes, order_id: UUID, token: str) -> bool:
    """Whether token opens the order, compared in constant time."""
    return hmac.compare_digest(order_token(secret, order_id).encode(), token.encode())
