"""FlowRT's accuracy against a real sFlow agent: Open vSwitch (userspace datapath) between
network namespaces, real iperf3/ping/HTTP traffic, checked against the kernel's own
interface counters (the exact ground truth of what crossed each switch port).

Tolerances come from sFlow's sampling error at the sample count actually observed.
OVS samples each packet with probability 1/N, so the number of samples of a flow is
binomial ≈ Poisson, and a total scaled from n samples of near-constant-size packets has
relative standard error ≈ 1/sqrt(n); a 3-sigma bound (99.7%) is ``3/sqrt(n)``. A smoothed
rate (exponential, time constant t) is a Poisson sum with weights exp(-age/t): its
variance equals that of a plain count over 2t seconds, so ``n_eff = 2·t·λ`` for λ
samples/s. Timing: a sample reaches FlowRT up to ``DELIVERY`` (1 s, OVS's datagram flush)
after the packet, so the expected rate is bracketed by the exact smoothed rate of the
kernel counters at ``snapshot - DELIVERY`` and at ``snapshot``.

The whole scenario (one OVS, four namespaces, 10 s of traffic) runs once per session:
see :func:`netns.ovs_run`, shared with test_sfacctd.py.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import pytest

pytest.register_assert_rewrite("netns")
from netns import (  # noqa: E402 - after the rewrite registration
    AGENT,
    DELIVERY,
    ELEPHANT,
    FLOW_T,
    HOSTS,
    POLLING,
    SAMPLING,
    UDP_LEN,
)

if TYPE_CHECKING:
    from netns import OvsRun

pytest_plugins = ["netns"]  # the session-scoped ``ovs_run`` fixture
SIGMAS = 3.0
FCS = 4
"""sFlow's sampledPacketSize counts the 4-byte Ethernet FCS; kernel counters do not."""
H1, H2, H3, H4 = (ns for ns in HOSTS.values())


def bound(samples: float) -> float:
    """3-sigma relative error of a total estimated from ``samples`` samples."""
    return SIGMAS / math.sqrt(max(samples, 1.0))


def ground_truth(run: OvsRun, ns_name: str) -> tuple[int, int]:
    """(bytes incl. FCS, packets) the switch received from ``ns_name`` over the run."""
    first, last = run.recorder.series[0][1][ns_name], run.recorder.at(time.time(), ns_name)
    packets = last[1] - first[1]
    return last[0] - first[0] + FCS * packets, packets


def active(run: OvsRun, flow: str) -> dict[str, float]:
    return {f["key"]: f["value"] for f in run.snapshot[flow]}  # type: ignore[union-attr]


def check_rate(run: OvsRun, flow: str, key: str, ns_name: str) -> str:
    """The smoothed rate of ``key`` at the snapshot is within the sampling bound of the
    kernel-counter oracle (bracketed by the delivery delay)."""
    measured = active(run, flow)[key]
    rec = run.recorder
    when = run.snapshot_time
    expected = sorted([rec.ewma_rate(ns_name, when - DELIVERY, FLOW_T),
                       rec.ewma_rate(ns_name, when, FLOW_T)])
    samples_per_s = expected[1] / SAMPLING / average_frame(run, ns_name)
    tol = bound(2 * FLOW_T * samples_per_s)
    low, high = expected[0] * (1 - tol), expected[1] * (1 + tol)
    report = (f"{flow} {key}: {measured * 8 / 1e6:.2f} Mb/s, oracle "
              f"{expected[0] * 8 / 1e6:.2f}..{expected[1] * 8 / 1e6:.2f} Mb/s, "
              f"n_eff={2 * FLOW_T * samples_per_s:.0f}, tolerance ±{tol:.1%}")
    print(report)
    assert low <= measured <= high, report
    return report


def average_frame(run: OvsRun, ns_name: str) -> float:
    total, packets = ground_truth(run, ns_name)
    return total / max(packets, 1)


def data_connection(run: OvsRun, flow: str, src: str, dst: str, dport: int) -> str:
    """The key of the biggest ``flow`` entry from src to dst:dport (iperf3's data stream,
    not its small control connection)."""
    keys = [k for k in active(run, flow) if k.startswith(f"{src},{dst},")
            and k.endswith(f",{dport}")]
    assert keys, f"no {flow} key {src}->{dst}:{dport} in {active(run, flow)}"
    return max(keys, key=lambda k: active(run, flow)[k])


def test_pair_and_port_keyed_rates_match_iperf3(ovs_run: OvsRun) -> None:
    """ipsource,ipdestination and the 5-tuple keys show the iperf3 rates (TCP 50 Mb/s,
    UDP 5 Mb/s) within the sampling bound at the observed sample count."""
    run = ovs_run
    check_rate(run, "pair", f"{H1.ip},{H2.ip}", H1.name)
    check_rate(run, "pair", f"{H3.ip},{H2.ip}", H3.name)
    check_rate(run, "tcp", data_connection(run, "tcp", H1.ip, H2.ip, 5201), H1.name)
    check_rate(run, "udp", data_connection(run, "udp", H3.ip, H2.ip, 5202), H3.name)
    tcp_bps = run.iperf["tcp"]["end"]["sum_sent"]["bits_per_second"]
    udp_bps = run.iperf["udp"]["end"]["sum"]["bits_per_second"]
    print(f"iperf3 says: TCP {tcp_bps / 1e6:.2f} Mb/s, UDP {udp_bps / 1e6:.2f} Mb/s (payload)")
    assert tcp_bps == pytest.approx(50e6, rel=0.1) and udp_bps == pytest.approx(5e6, rel=0.05)


def test_logged_totals_match_the_switch_and_iperf3(ovs_run: OvsRun) -> None:
    """Whole-run totals from the flow log (value x duration) against the kernel's count
    of what entered the switch, and the UDP packet count against iperf3's."""
    run = ovs_run
    pair = run.totals("pair")
    for src in (H1, H3):
        sampled_bytes, sampled_frames = pair[f"{src.ip},{H2.ip}"]
        true_bytes, true_packets = ground_truth(run, src.name)
        samples = sampled_frames / SAMPLING
        print(f"total {src.ip}->{H2.ip}: {sampled_bytes:,.0f} B / {sampled_frames:,.0f} frames "
              f"from {samples:.0f} samples; kernel {true_bytes:,} B / {true_packets:,} packets; "
              f"error {sampled_bytes / true_bytes - 1:+.2%} (bound ±{bound(samples):.1%})")
        assert sampled_bytes == pytest.approx(true_bytes, rel=bound(samples))
        assert sampled_frames == pytest.approx(true_packets, rel=bound(samples))
    udp = run.totals("udp")
    key = max((k for k in udp if k.startswith(f"{H3.ip},{H2.ip},")), key=lambda k: udp[k][0])
    sampled_bytes, sampled_frames = udp[key]
    iperf_packets = run.iperf["udp"]["end"]["sum"]["packets"]
    assert sampled_frames == pytest.approx(iperf_packets, rel=bound(sampled_frames / SAMPLING))
    frame = UDP_LEN + 8 + 20 + 14 + FCS
    assert sampled_bytes == pytest.approx(iperf_packets * frame,
                                          rel=bound(sampled_frames / SAMPLING))


def counter_value(run: OvsRun, metric: str, ifindex: int) -> float:
    for entry in run.snapshot["counters"]:  # type: ignore[union-attr]
        if entry["metricName"] == metric and entry["dataSource"] == str(ifindex):
            return float(entry["metricValue"])
    raise AssertionError(f"no {metric} for ifIndex {ifindex}: {run.snapshot['counters']}")


def test_interface_counters_give_the_traffic_rates(ovs_run: OvsRun) -> None:
    """ifinoctets of h1's port and ifoutoctets of h2's port (OVS counter samples) match
    the kernel's rates over the last polling interval before the snapshot."""
    run = ovs_run
    rec, when = run.recorder, run.snapshot_time
    # the counter rate covers one POLLING interval ending between when-POLLING-DELIVERY
    # and when: bracket by the plain averages over every such window
    for metric, ns, index in (("ifinoctets", H1, 0), ("ifoutoctets", H2, 2)):
        measured = counter_value(run, metric, ns.ifindex)
        rates = []
        for step in range(int((POLLING + DELIVERY) / 0.25) + 1):
            end = when - step * 0.25
            a, b = rec.at(end - POLLING, ns.name), rec.at(end, ns.name)
            rates.append((b[index] - a[index]) / POLLING)
        low, high = min(rates) * 0.95, max(rates) * 1.05  # 0.1 s reading jitter at the edges
        print(f"{metric} port {ns.veth}: {measured * 8 / 1e6:.2f} Mb/s, kernel "
              f"{min(rates) * 8 / 1e6:.2f}..{max(rates) * 8 / 1e6:.2f} Mb/s")
        assert low <= measured <= high


def counter_total(run: OvsRun, metric: str, ifindex: int) -> float:
    """Sum of rate * polling interval over every distinct counter update seen while polling
    /dump during the run: the counter-derived byte total of that port."""
    updates: list[tuple[float, float]] = []
    for stamp, body in run.counter_polls:
        for entry in body:
            if entry["metricName"] == metric and entry["dataSource"] == str(ifindex):
                updated = stamp - entry["lastUpdate"] / 1000
                if not updates or updated - updates[-1][0] > POLLING / 2:
                    updates.append((updated, float(entry["metricValue"])))
    assert len(updates) >= 5 and updates[0][1] < 1000, updates  # starts before the traffic
    return sum(value for _, value in updates[1:]) * POLLING


def test_counter_and_sample_totals_agree(ovs_run: OvsRun) -> None:
    """Bytes into h1's and h3's ports: counter-derived (ifinoctets) and sample-derived
    (flow inputifindex, FCS removed) totals agree within the sampling bound."""
    run = ovs_run
    inport = run.totals("inport")
    for ns in (H1, H3):
        sampled_bytes, frames = inport[str(ns.ifindex)]
        sampled = sampled_bytes - FCS * frames
        counted = counter_total(run, "ifinoctets", ns.ifindex)
        true_bytes, true_packets = ground_truth(run, ns.name)
        print(f"port {ns.veth}: samples {sampled:,.0f} B, counters {counted:,.0f} B, "
              f"kernel {true_bytes - FCS * true_packets:,} B")
        assert sampled == pytest.approx(counted, rel=bound(frames / SAMPLING))
        assert counted == pytest.approx(true_bytes - FCS * true_packets, rel=0.02)


def test_elephant_threshold_fires_for_iperf3_not_ping(ovs_run: OvsRun) -> None:
    """The byFlow threshold fires for h1->h2 (TCP) only, soon after the traffic starts:
    the estimator's rise time to the threshold plus OVS's delivery delay."""
    run = ovs_run
    keys = {e["flowKey"] for e in run.events if e["thresholdID"] == "elephant"}
    assert keys == {f"{H1.ip},{H2.ip}"}, run.events
    start = run.recorder.first_time_above(H1.name, 1e6)
    assert start is not None
    first = min(e["timestamp"] for e in run.events) / 1000
    wire = ground_truth(run, H1.name)[0] / 10.0
    rise = -FLOW_T * math.log(1 - ELEPHANT / wire)
    latency = first - start
    print(f"elephant event {latency:.2f} s after the iperf3 data started "
          f"(estimator rise {rise:.2f} s + delivery {DELIVERY:.0f} s)")
    assert 0 < latency <= rise + DELIVERY + 0.5


def test_agent_counts_no_loss_on_a_quiet_run(ovs_run: OvsRun) -> None:
    """Every datagram reached FlowRT: no sequence gaps in datagrams or samples."""
    agent = ovs_run.agents[AGENT]
    assert agent["sFlowDatagramsReceived"] > 10
    assert agent["sFlowDatagramsLost"] == 0
    assert agent["sFlowFlowLostSamples"] == 0 and agent["sFlowCounterLostSamples"] == 0
    assert agent["sFlowFlowSamples"] > 1000 and agent["sFlowCounterSamples"] > 10
    assert list(agent["sFlowSubAgents"]) == ["0"]  # one bridge = one sub-agent


def test_agent_counts_the_datagrams_the_relay_drops(ovs_run: OvsRun) -> None:
    """The relay drops every 5th datagram for a while: FlowRT's lost datagram and lost
    sample counts grow by exactly what was dropped (once later datagrams show the gaps)."""
    run = ovs_run
    before = run.flowrt.get_json("/agents/json")[AGENT]  # type: ignore[attr-defined]
    ping = __import__("subprocess").Popen(
        H4.cmd("ping", "-q", "-i", "0.001", "-c", "20000", H2.ip),
        stdout=__import__("subprocess").DEVNULL)
    try:
        run.relay.set_drop_every(5)
        time.sleep(5.0)
        run.relay.set_drop_every(0)
        time.sleep(POLLING + 2 * DELIVERY + 0.5)  # each data source sends again
    finally:
        ping.kill()
        ping.wait(5)
    after = run.flowrt.get_json("/agents/json")[AGENT]  # type: ignore[attr-defined]
    dropped = run.relay.dropped
    print(f"relay dropped {dropped}")
    assert dropped.datagrams >= 3 and dropped.flow_samples > 0
    assert after["sFlowDatagramsLost"] - before["sFlowDatagramsLost"] == dropped.datagrams
    assert (after["sFlowFlowLostSamples"] - before["sFlowFlowLostSamples"]
            == dropped.flow_samples)
    assert (after["sFlowCounterLostSamples"] - before["sFlowCounterLostSamples"]
            == dropped.counter_samples)
    assert after["sFlowSubAgents"]["0"]["datagramsLost"] == dropped.datagrams
