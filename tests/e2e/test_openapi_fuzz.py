"""No request, however malformed, makes the gateway answer with a server error."""

from __future__ import annotations

import itertools

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.e2e.test_audit import an_auditor
from tests.e2e.test_http_journeys import an_admin

# Endpoints that stream forever are exercised by their own tests.
STREAMING = ("/admin/insights/stream",)
EXAMPLES_PER_OPERATION = 25


def test_no_input_makes_the_gateway_fail(system):
    schema = schemathesis.openapi.from_url(f"{system.base_url}/openapi.json")
    admin = an_admin(system)
    auditor = an_auditor(system)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 23
    for operation, mode in itertools.product(operations, GenerationMode):
        if operation.path in STREAMING:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def no_server_error(case):
            for headers in ({}, admin, *([auditor] if case.path.startswith("/audit") else [])):
                response = case.call(headers=headers, timeout=30)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.body!r} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        try:
            no_server_error()
        except Unsatisfiable:
            # An operation without inputs has no malformed form to try.
            assert mode is GenerationMode.NEGATIVE, operation.path
