"""The progress bar: drawn on terminals only, with the real figures."""

from __future__ import annotations

import io

from flowrt.progress import BAR_WIDTH, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = Progress(1000, "replay", stream=stream)
    bar.update(500)
    bar.close()
    assert stream.getvalue() == ""


def test_draws_fraction_and_sizes_on_a_terminal() -> None:
    stream = Terminal()
    bar = Progress(4 * 1024 * 1024, "replay", stream=stream)
    bar.update(1024 * 1024)
    bar.close()
    out = stream.getvalue()
    assert out.startswith("\rreplay [")
    assert out.endswith("\n")
    final = out.rstrip("\n").split("\r")[-1]
    assert f"[{'#' * 8}{'-' * (BAR_WIDTH - 8)}]" in final
    assert " 25% 1.0 MB/4.0 MB " in final


def test_redraws_are_rate_limited() -> None:
    stream = Terminal()
    bar = Progress(10_000, stream=stream)
    for done in range(10_000):
        bar.update(done)
    assert stream.getvalue().count("\r") == 1  # one draw; the rest within REDRAW_SECONDS
