"""The benchmarks' wait for a quiet machine between two measured loads (bench/harness.py)."""

from __future__ import annotations

import time

from bench import harness


def test_the_busy_share_is_busy_ticks_over_all_ticks_between_readings():
    assert harness.busy_share((100, 1000), (130, 1100)) == 0.3
    assert harness.busy_share((100, 1000), (100, 1000)) == 0.0  # no time passed


def test_cpu_ticks_only_grow_and_busy_never_exceeds_total():
    busy, total = harness.cpu_ticks()
    time.sleep(0.05)
    later_busy, later_total = harness.cpu_ticks()
    assert 0 <= busy <= total
    assert later_busy >= busy
    assert later_total >= total
    assert 0.0 <= harness.busy_share((busy, total), (later_busy, later_total)) <= 1.0


def test_a_quiet_enough_machine_is_measured_after_one_window():
    waited, share = harness.wait_until_quiet(busy_below=1.01, window=0.05, timeout=5)
    assert waited < 1
    assert 0.0 <= share <= 1.0


def test_a_machine_that_never_quiets_delays_the_run_only_until_the_timeout():
    started = time.monotonic()
    waited, share = harness.wait_until_quiet(busy_below=0.0, window=0.05, timeout=0.3)
    assert 0.3 <= waited < 2
    assert time.monotonic() - started < 2
    assert share >= 0.0
