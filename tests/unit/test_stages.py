"""Stage marks: off unless configured; on, one line per mark, joined by the benchmark."""

from __future__ import annotations

import pytest

from bench import stage_trace
from services.common import stages


@pytest.fixture
def marking(tmp_path):
    stages.configure(tmp_path)
    yield tmp_path
    stages.configure(None)


def test_marks_are_kept_only_when_configured(tmp_path):
    stages.configure(None)
    stages.mark("g_in", "key-1")
    stages.flush()
    assert not stages.enabled()
    assert list(tmp_path.iterdir()) == []


def test_marks_reach_this_process_file_with_keys_kept_on_one_line(marking):
    stages.mark("g_in", "key-1")
    stages.mark("g_out", "a\tkey\nwith breaks")
    stages.flush()
    [path] = list(marking.iterdir())
    lines = [line.split("\t") for line in path.read_text().splitlines()]
    assert [(stage, key) for stage, key, _ in lines] == [
        ("g_in", "key-1"),
        ("g_out", "a key with breaks"),
    ]
    assert float(lines[0][2]) <= float(lines[1][2])
    stages.flush()  # nothing new: nothing appended
    assert len(path.read_text().splitlines()) == 2


def test_the_benchmark_joins_an_orders_marks_across_processes_and_times_its_stages():
    key, order_id = "key-abcdef01", "6f1c2b9e-0000-4000-8000-000000000001"
    marks = [
        ("g_in", key, 10.000),
        ("g_call", key, 10.001),
        ("p_item", key, 10.003),
        ("p_order", f"{key}={order_id}", 10.0031),
        ("p_hold", order_id, 10.0032),
        ("p_pay", order_id, 10.004),
        ("s_in", f"{order_id}.ab12", 10.006),
        ("s_created", f"{order_id}.ab12", 10.010),
        ("s_out", f"{order_id}.ab12", 10.0101),
        ("p_held", order_id, 10.009),
        ("p_paid", order_id, 10.012),
        ("p_save", order_id, 10.012),
        ("p_saved", order_id, 10.020),
        ("p_done", key, 10.021),
        ("g_ret", key, 10.023),
        ("g_out", key, 10.025),
        ("b_take", "orders#7#16", 10.013),
        ("b_done", "orders#7#16", 10.019),
    ]
    orders, batches = stage_trace.orders_and_batches(marks)
    [order] = orders
    assert order["s_created"] == 10.010  # the sandbox's key names the order id
    rows = {what: mean for what, _, mean, _, _ in stage_trace.stage_rows(orders)}
    assert rows["sandbox: the payment's group-commit insert"] == pytest.approx(4.0)
    assert rows["payments: the order's group-commit save"] == pytest.approx(8.0)
    assert rows["in the gateway, all told"] == pytest.approx(25.0)
    assert len(rows) == len(stage_trace.STAGES)
    [(queue, count, size, mean, _, _)] = stage_trace.batch_rows(batches, 10.0, 10.1)
    assert (queue, count, size) == ("orders", 1, 16)
    assert mean == pytest.approx(6.0)
    assert stage_trace.batch_rows(batches, 11.0, 12.0) == []
