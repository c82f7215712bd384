"""The request fingerprint written directly is exactly the digest of the canonical JSON."""

from __future__ import annotations

import hashlib
import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.payments.application import request_fingerprint


def by_json(event_id, ticket_id, quantity, email, phone_number) -> str:
    """The fingerprint as it has always been computed (and stored in orders)."""
    request = {
        "event_id": event_id, "ticket_id": ticket_id, "quantity": quantity,
        "email": email.strip().lower(), "phone_number": phone_number,
    }  # fmt: skip
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


texts = st.one_of(
    st.text(),  # anything: quotes, backslashes, controls, non-ASCII, surrounding spaces
    st.from_regex(r"[a-zA-Z0-9.+_-]{1,20}@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True),
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
)


@given(
    st.uuids(),
    st.uuids(),
    st.one_of(st.integers(), st.booleans()),
    texts,
    texts,
)
def test_the_fingerprint_is_the_digest_of_the_canonical_json(
    event_id, ticket_id, quantity, email, phone_number
):
    assert request_fingerprint(event_id, ticket_id, quantity, email, phone_number) == by_json(
        event_id, ticket_id, quantity, email, phone_number
    )


def test_a_rush_order_and_its_odd_cousins_keep_their_fingerprints():
    event_id = uuid.UUID("0b8f3c1e-5a57-4d2b-9c3c-0d5b8a1f2e10")
    ticket_id = uuid.UUID("7d1c5f0a-2e4b-4a8e-b0c1-3f6e9d2a1b54")
    cases = [
        (2, "Ada@Example.COM ", "+254712345678"),  # normalised: trimmed, lower case
        (1, 'q"uote@example.com', "+254712345678"),  # escaped
        (1, "back\\slash@example.com", "+254712345678"),
        (1, "josé@example.com", "+254712345678"),  # \u00e9
        (1, "del\x7f@example.com", "+254712345678"),
        (True, "ada@example.com", "+254712345678"),  # JSON true, not True
    ]
    for quantity, email, phone in cases:
        assert request_fingerprint(event_id, ticket_id, quantity, email, phone) == by_json(
            event_id, ticket_id, quantity, email, phone
        )
    # A UUID given as text is written the same way as the UUID itself.
    assert request_fingerprint(str(event_id), ticket_id, 1, "a@b.co", "+254712345678") == (
        request_fingerprint(event_id, ticket_id, 1, "a@b.co", "+254712345678")
    )
