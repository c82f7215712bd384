"""The sandbox, once started through its own lifespan, runs with the serving collector settings
(the gateway, the gRPC services and the projections call the same `collector.settle`)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from services.common import collector
from tests.integration.sandbox_helpers import a_fresh_store, running_sandbox

DEFAULTS = (700, 10, 10)
NOWHERE = "http://127.0.0.1:9/payments/webhook"


def test_a_started_sandbox_has_settled_the_collector(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(*DEFAULTS)
    try:
        with (
            a_fresh_store("sqlite", request, tmp_path) as store,
            running_sandbox(store, NOWHERE, tmp_path),
        ):
            assert gc.get_threshold() == collector.THRESHOLDS
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
