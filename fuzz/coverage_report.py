"""How much of the decode path a corpus reaches: lines and branches, by coverage.py.

Replays every file of the given corpus directories through the fuzz target's calls
(``decode_paths.run_one``: decoder, sampled-header parser and extractors, sflowtool
printer, sample view keys), or through ``decode_datagram`` alone with ``--decode-only``
(what the target called before), under coverage.py with branch measurement, and prints
the percentage of lines and branches of the decode-path modules that ran: the decoder
(decode.py, xdr.py, registry.py, records/), the packet parser (packet.py), the
printer (sflowtool.py, sflowtool_header.py) and the sample view
(flowlang/sampleview.py). Code the decoder generates at run time (struct codecs,
header parsers) has no file and is not counted here; atheris counts it (``cov:``).

    .venv/bin/python fuzz/coverage_report.py fuzz/corpus
    .venv/bin/python fuzz/coverage_report.py --decode-only fuzz/corpus

A finding of the fuzz target (an exception other than DecodeError) is counted and
reported, not raised: replay it with fuzz/sflow_decode_fuzz.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import coverage

sys.path.insert(0, str(Path(__file__).parent))

GROUPS = {
    "decoder": ("sflow/decode.py", "sflow/xdr.py", "sflow/registry.py", "sflow/records/"),
    "packet": ("sflow/packet.py",),
    "sflowtool": ("sflow/sflowtool.py", "sflow/sflowtool_header.py"),
    "sampleview": ("flowlang/sampleview.py",),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--decode-only", action="store_true",
                        help="call decode_datagram alone (the target before)")
    parser.add_argument("corpus", nargs="+", type=Path)
    args = parser.parse_args()
    import flowrt  # the package only: its submodules are imported while measuring

    root = Path(flowrt.__file__).parent
    cov = coverage.Coverage(branch=True, source=[str(root / "sflow"), str(root / "flowlang")],
                            data_file=None)
    cov.start()
    # imported once measuring: module-level lines count as run, as they would in a fuzz run
    if args.decode_only:
        from flowrt.sflow import DecodeError, decode_datagram

        def call(data: bytes) -> None:
            with contextlib.suppress(DecodeError):
                decode_datagram(data)
    else:
        from decode_paths import run_one as call
    inputs = findings = 0
    for directory in args.corpus:
        for path in sorted(directory.iterdir()):
            inputs += 1
            try:
                call(path.read_bytes())
            except Exception as err:  # a finding: report it, keep measuring
                findings += 1
                print(f"finding {path.name}: {type(err).__name__}: {err}", file=sys.stderr)
    cov.stop()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out), include=_sources(tuple(
            suffix for suffixes in GROUPS.values() for suffix in suffixes)))
        files = json.loads(out.read_text())["files"]
    print(f"inputs {inputs}")
    print(f"findings {findings}")
    totals = {"all": [0, 0, 0, 0]}
    for group, suffixes in GROUPS.items():
        sums = [0, 0, 0, 0]  # lines run, lines, branches taken, branches
        for filename, report in files.items():
            if not any(s in filename for s in suffixes):
                continue
            summary = report["summary"]
            for i, name in enumerate(("covered_lines", "num_statements",
                                      "covered_branches", "num_branches")):
                sums[i] += summary[name]
                totals["all"][i] += summary[name]
        totals[group] = sums
    for group, (run_lines, lines, taken, branches) in totals.items():
        print(f"{group}_lines_pct {100 * run_lines / max(1, lines):.1f} ({run_lines}/{lines})")
        print(f"{group}_branches_pct {100 * taken / max(1, branches):.1f} "
              f"({taken}/{branches})")
    return 0


def _sources(suffixes: tuple[str, ...]) -> list[str]:
    """Every file of a group, measured or not (a module never run counts as 0 %)."""
    import flowrt

    root = Path(flowrt.__file__).parent
    out = []
    for suffix in suffixes:
        target = root / suffix
        if suffix.endswith("/"):
            out += [str(p) for p in sorted(target.glob("*.py"))]
        else:
            out.append(str(target))
    return out


if __name__ == "__main__":
    sys.exit(main())
