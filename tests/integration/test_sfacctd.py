"""FlowRT side by side with a real peer collector: pmacct's sfacctd.

The relay in :func:`netns.ovs_run` copies every datagram OVS sends to both FlowRT and
sfacctd, so both see exactly the same samples. sfacctd (``sfacctd_renormalize: true``)
prints per 5-tuple packets and bytes, each sample scaled by its sampling rate; FlowRT's
flow log (``log:true``) gives, per key, ``value`` = average rate over max(1 s, end-start),
so ``value x duration`` restores the same renormalised sum. The flow log is the right
FlowRT side here, not integrated smoothed rates: it is a plain sum of the samples, with
no smoothing window and no timing error, so the two collectors must agree to the
rounding of the record's millisecond start/end, not only within sampling error.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

import pytest

pytest.register_assert_rewrite("netns")
from netns import APT_HINT, SAMPLING  # noqa: E402 - after the rewrite registration

if TYPE_CHECKING:
    from netns import OvsRun

pytest_plugins = ["netns"]
ROUNDING = 1e-3
"""Relative: start/end are whole milliseconds, durations here are ≥ 1 s."""


def sfacctd_totals(run: OvsRun) -> dict[str, tuple[int, int]]:
    """sfacctd's CSV (appended every refresh): (packets, bytes) per FlowRT-style key."""
    assert run.sfacctd_csv is not None, f"sfacctd is not installed: {APT_HINT}"
    assert run.sfacctd_csv.exists(), f"sfacctd wrote nothing; its log:\n{run.sfacctd_log}"
    totals: dict[str, tuple[int, int]] = {}
    with run.sfacctd_csv.open() as f:
        for row in csv.reader(f):
            if not row or row[0] == "SRC_IP" or row[4] not in ("tcp", "udp"):
                continue
            src, dst, sport, dport, proto, packets, octets = row[:7]
            key = f"{proto}:{src},{dst},{sport},{dport}"
            p, b = totals.get(key, (0, 0))
            totals[key] = (p + int(packets), b + int(octets))
    return totals


def test_sfacctd_and_flowrt_report_the_same_per_flow_totals(ovs_run: OvsRun) -> None:
    theirs = sfacctd_totals(ovs_run)
    ours = {f"{proto}:{key}": value for proto in ("tcp", "udp")
            for key, value in ovs_run.totals(proto).items()}
    assert set(ours) == set(theirs), (sorted(set(ours) ^ set(theirs)))
    for key, (packets, octets) in sorted(theirs.items(), key=lambda kv: -kv[1][1]):
        our_bytes, our_frames = ours[key]
        assert our_frames == pytest.approx(packets, rel=ROUNDING), key
        assert our_bytes == pytest.approx(octets, rel=ROUNDING), key
        assert packets % SAMPLING == 0  # renormalised: whole samples x the sampling rate
    biggest = max(theirs, key=lambda k: theirs[k][1])
    print(f"{len(theirs)} flows; biggest {biggest}: sfacctd {theirs[biggest]}, "
          f"FlowRT ({ours[biggest][1]:.1f}, {ours[biggest][0]:.1f})")
    assert theirs[biggest][1] > 10_000_000  # the iperf3 TCP stream is in the comparison
