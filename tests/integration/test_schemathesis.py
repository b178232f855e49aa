"""The served OpenAPI document, fuzzed by schemathesis against a real ``flowrt run``.

Every documented operation gets a bounded number of generated requests (typed path and
query parameters, JSON bodies) and the only check is schemathesis's
``not_a_server_error``: whatever a client sends, valid or not, FlowRT answers with a 2xx
or a 4xx, never a 5xx. The long-polls' ``timeout`` argument is left out of the copy handed
to schemathesis (an out-of-range value is clamped to a 60 s wait, which is correct but
would make the run long); everything else is the document the server serves at
``/api-docs``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]

EXAMPLES_PER_OPERATION = 15
RUN_TIMEOUT = 300.0
"""Bound on the whole schemathesis run (it takes well under a minute)."""


def without_long_poll_waits(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["parameters"] = [p for p in operation.get("parameters", [])
                                       if p["name"] != "timeout"]
    return document


def test_no_generated_request_gets_a_server_error(flowrt: Start, tmp_path: Path) -> None:
    server = flowrt()
    document = without_long_poll_waits(server.get_json("/api-docs"))
    assert document["paths"]  # the served document describes the API
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(document))
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(schema),
         "--url", server.url(""), "--checks", "not_a_server_error",
         "--max-examples", str(EXAMPLES_PER_OPERATION), "--phases", "examples,fuzzing",
         "--seed", "1", "--no-shrink", "--request-timeout", "10"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path,
    )
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "passed" in run.stdout, report
    assert server.get_json("/analyzer/json")["internalErrors"] == 0
    assert server.stop() == 0
