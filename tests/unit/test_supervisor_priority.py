"""`ticketing run` gives the projections a scheduling priority where the machine allows it."""

from __future__ import annotations

import os
import subprocess

from services.supervisor import NICENESS, prioritise


def test_a_child_gets_the_priority_it_is_given_or_the_supervisor_says_why_not(capsys):
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert prioritise("sleeper", child.pid, 3)  # a lower priority is always allowed
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 3
        allowed = prioritise("sleeper", child.pid, NICENESS["projections"])
        if allowed:  # root, or CAP_SYS_NICE (as in CI)
            assert os.getpriority(os.PRIO_PROCESS, child.pid) == NICENESS["projections"]
        else:
            assert os.getpriority(os.PRIO_PROCESS, child.pid) == 3
            assert "sleeper keeps the default priority" in capsys.readouterr().out
    finally:
        child.kill()
        child.wait()
    assert not prioritise("gone", child.pid, 0)
    assert "gone keeps the default priority" in capsys.readouterr().out
