"""A Python script stuck in one long C call is stopped at its budget, and the server
answers its REST API all the while (the script runs in its own process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]

LONG_C_CALL_PY = """
logInfo('entering a long C call')
sum(range(10 ** 13))
logInfo('never reached')
"""
BUDGET_SECONDS = 4


def test_a_long_c_call_is_stopped_at_its_budget_while_the_api_answers(
        flowrt: Start, tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(LONG_C_CALL_PY)
    server = flowrt(f"-Dscript.file={script}", f"-Dflowrt.script.timeout={BUDGET_SECONDS}")
    deadline = time.monotonic() + 20
    while "entering a long C call" not in server.log:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.05)
    # the script is inside sum() now; the server keeps answering
    analyzer = server.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == 0
    busy = server.get_json("/scripts/json")["slow.py"]
    assert busy["alive"] and busy["error"] is None
    stopped = server.wait_for(
        "/scripts/json", lambda s: not s["slow.py"]["alive"], timeout=60)["slow.py"]
    assert stopped["error"] == f"slow.py exceeded its time budget of {BUDGET_SECONDS} s"
    assert "never reached" not in server.log
    assert server.get("/status").status_code == 503  # a stopped script is reported
    assert server.alive()
