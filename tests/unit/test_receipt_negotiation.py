"""GET /orders/{id}/receipt answers a PDF only when the Accept header ranks it first."""

from __future__ import annotations

import pytest

from command_api.routers.orders import prefers_pdf


@pytest.mark.parametrize(
    ("accept", "pdf"),
    [
        ("application/pdf", True),
        ("application/pdf, */*", True),
        ("application/json;q=0.5, application/pdf", True),
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("*/*, application/pdf", False),
        ("application/pdf;q=0.5, application/json", False),
        ("application/pdf;q=0", False),
    ],
)
def test_a_pdf_only_when_accept_ranks_it_above_json(accept, pdf):
    assert prefers_pdf(accept) is pdf
