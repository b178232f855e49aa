"""The ``flowrt`` command, run for real as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import SFLOW_TESTDATA, expected, sflow_captures
from flowrt.cli import main
from flowrt.sources.pcap import read_pcap

FLOWRT = [sys.executable, "-m", "flowrt.cli"]
CONSOLE_SCRIPT = Path(sys.executable).parent / "flowrt"
TIMEOUT = 20
SEGV_CAPTURE = "tcpdump-sflow_print-segv"
LISTENING = re.compile(r"listening on UDP (\S+) port (\d+)")

pytestmark = pytest.mark.usefixtures("sflow_testdata")


def flowrt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLOWRT, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def capture(name: str) -> str:
    return str(SFLOW_TESTDATA / f"{name}.pcap")


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


# -- decode FILE --json ------------------------------------------------------------------


# Every capture goes through main() in-process (the same code the console script runs,
# without 21 interpreter start-ups); the end-to-end behaviour is tested by subprocess below.


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", sflow_captures())
def test_json_dump_of_every_capture(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, stdout, stderr = run_main(capsys, "decode", "--json", capture(name))
    assert (status, stderr) == (0, "")
    objects = json_lines(stdout)
    truth = expected(name)
    assert len(objects) == truth["frames"]
    for frame in truth["non_sflow_frames"]:
        assert objects[frame - 1]["error"]["reason"].startswith("unsupported sFlow version")
    for entry in truth["datagrams"]:
        obj = objects[entry["frame"] - 1]
        assert (obj["source"], obj["source_port"]) == (entry["src"], entry["sport"])
        assert obj["size"] == entry["udp_payload_len"]
        if entry["agent"] is None:  # tshark could not decode it: neither can we
            assert "datagram" not in obj and obj["error"]["reason"]
            continue
        dgram = obj["datagram"]
        assert dgram["agent"] == entry["agent"]
        assert dgram["sequence"] == entry["seq"]
        assert dgram["sub_agent_id"] == entry["sub_agent_id"]
        assert len(dgram["samples"]) == entry["num_samples"]
        # tags as sflowtool saw them, for samples and their records
        sflowtool = entry["sflowtool"]["samples"]
        assert [s["tag"] for s in dgram["samples"]] == [s["tag"] for s in sflowtool]
        for sample, reference in zip(dgram["samples"], sflowtool, strict=True):
            assert [r["tag"] for r in sample["records"]] == reference["records"]


@pytest.mark.parametrize("name", sflow_captures())
def test_text_output_matches_sflowtool(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, stdout, _ = run_main(capsys, "decode", capture(name))
    assert status == 0
    reference = (SFLOW_TESTDATA / f"{name}.sflowtool.txt").read_text()
    if name == SEGV_CAPTURE:
        # Its UDP length word says 8 bytes; sflowtool reads to the end of the frame
        # (872), we deliver what a socket would: the 8 bytes, too short for sFlow.
        assert "datagramSize 8\n" in stdout and "datagramSize 872\n" in reference
    else:
        assert stdout == reference


def test_json_shape_of_a_flow_sample() -> None:
    """Class names, tags and names on every object; bytes as hex; the pcap envelope."""
    obj = json_lines(flowrt("decode", "--json", capture("akvorado-data-icmpv4")).stdout)[0]
    assert obj["pcap_time"] == pytest.approx(1685865469.448808)
    assert obj["destination"] == "192.168.117.1" and obj["destination_port"] == 6343
    sample = obj["datagram"]["samples"][0]
    assert (sample["type"], sample["tag"], sample["name"]) == ("FlowSample", "0:1", "flow_sample")
    header = next(r for r in sample["records"] if r["tag"] == "0:1")
    assert header["type"] == "SampledHeader" and header["name"] == "sampled_header"
    raw = bytes.fromhex(header["header"])  # hex text, decodable back to the bytes
    assert raw[12:14] == b"\x08\x00" and raw[14 + 9] == 1  # Ethernet, IPv4, ICMP


def test_json_of_hsflowd_keeps_unknown_structures_tagged() -> None:
    objects = json_lines(flowrt("decode", "--json", capture("hsflowd-2.1.25-veth-local")).stdout)
    tags = {
        r["tag"] for o in objects for s in o["datagram"]["samples"] for r in s["records"]
    }
    assert {"0:1", "0:1043", "0:2209", "0:2000", "0:2010"} <= tags


def test_count_and_port_filter_on_a_file() -> None:
    two = flowrt("decode", "--json", "--count", "2", capture("ovs-netns"))
    assert [o["datagram"]["sequence"] for o in json_lines(two.stdout)] == [3, 4]
    other_port = flowrt("decode", "--json", "--port", "9999", capture("ovs-netns"))
    assert (other_port.returncode, other_port.stdout) == (0, "")


def test_capture_from_stdin() -> None:
    data = Path(capture("tcpdump-sflow-print-v6")).read_bytes()
    result = subprocess.run(
        [*FLOWRT, "decode", "--json", "-"], input=data, capture_output=True, timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 25


def test_console_script() -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "decode", "--json", capture("ndpi-sflow")],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0
    assert [o["datagram"]["sequence"] for o in json_lines(result.stdout)] == list(range(415, 424))


def test_text_output() -> None:
    result = flowrt("decode", capture("ovs-netns"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("startDatagram") == 153
    assert "datagramSourceIP -" in result.stdout


# -- errors ----------------------------------------------------------------------------


def _one_line_error(result: subprocess.CompletedProcess[str], pattern: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), result.stderr


def test_missing_file() -> None:
    result = flowrt("decode", "/nonexistent/capture.pcap")
    _one_line_error(result, r"flowrt: cannot open /nonexistent/capture\.pcap: No such file.*")
    assert result.stdout == ""


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a capture\n")
    _one_line_error(flowrt("decode", "--json", str(path)), r"flowrt: .*not a pcap or pcapng.*")


def test_truncated_capture_prints_what_it_could(tmp_path: Path) -> None:
    data = Path(capture("ovs-netns")).read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-100])
    result = flowrt("decode", "--json", str(path))
    _one_line_error(result, r"flowrt: .*truncated in record 153.*")
    assert len(result.stdout.splitlines()) == 152


@pytest.mark.parametrize(
    "args",
    [[], ["decode"], ["decode", "--bind", "127.0.0.1", "x.pcap"], ["decode", "--port", "70000"],
     ["decode", "--port", "1", "--count", "0"], ["run", "-Dsflow.port=abc"], ["nosuch"]],
    ids=["nothing", "no-source", "bind-with-file", "bad-port", "bad-count", "bad-prop", "cmd"],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "usage: flowrt" in capsys.readouterr().err


@pytest.mark.parametrize("args,usage", [
    (["decode"], "usage: flowrt decode"),
    (["decode", "--bind", "127.0.0.1", "x.pcap"], "usage: flowrt decode"),
    (["run", "-Dsflow.port=abc"], "usage: flowrt run"),
])
def test_usage_errors_show_the_command_usage(
    capsys: pytest.CaptureFixture[str], args: list[str], usage: str
) -> None:
    with pytest.raises(SystemExit):
        main(args)
    assert usage in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from flowrt import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"flowrt {__version__}"


def test_usage_error_exit_status() -> None:
    result = flowrt("decode")
    assert result.returncode == 2
    assert "decode needs a FILE or --port" in result.stderr and "Traceback" not in result.stderr


# -- live UDP --------------------------------------------------------------------------


@contextmanager
def running(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start ``flowrt args`` and wait until it says which port it listens on."""
    proc = subprocess.Popen(
        [*FLOWRT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = LISTENING.search(line)
        assert match, f"unexpected first line on stderr: {line!r}"
        yield proc, int(match.group(2))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _send(payloads: list[bytes], port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for payload in payloads:
            s.sendto(payload, ("127.0.0.1", port))


def _ovs_payloads(n: int) -> list[bytes]:
    return [d.payload for d in read_pcap(capture("ovs-netns"))][:n]


def test_live_json_with_count() -> None:
    payloads = [*_ovs_payloads(3), b"not sflow"]
    with running("decode", "--json", "--port", "0", "--bind", "127.0.0.1", "--count", "4") as (
        proc, port,
    ):
        _send(payloads, port)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    objects = json_lines(stdout)
    assert [o["datagram"]["sequence"] for o in objects[:3]] == [3, 4, 5]
    assert {o["datagram"]["agent"] for o in objects[:3]} == {"127.0.0.1"}
    assert {o["source"] for o in objects} == {"127.0.0.1"}
    assert [o["size"] for o in objects] == [len(p) for p in payloads]
    assert "receive_time" in objects[0] and "pcap_time" not in objects[0]
    assert objects[3]["error"]["reason"].startswith("unsupported sFlow version")


def test_live_text_with_count() -> None:
    with running("decode", "--port", "0", "--bind", "127.0.0.1", "--count", "2") as (proc, port):
        _send(_ovs_payloads(2), port)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    assert stdout.count("startDatagram") == 2
    assert "datagramSourceIP 127.0.0.1" in stdout


def test_live_decode_stops_cleanly_on_ctrl_c() -> None:
    with running("decode", "--json", "--port", "0", "--bind", "127.0.0.1") as (proc, port):
        _send(_ovs_payloads(1), port)
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["datagram"]["sequence"] == 3
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert "Traceback" not in stderr


def test_listen_failure_is_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = flowrt("decode", "--port", str(port), "--bind", "127.0.0.1")
    _one_line_error(result, rf"flowrt: cannot listen on UDP 127\.0\.0\.1:{port}: .*in use.*")


def test_run_refuses_a_property_that_is_not_implemented(tmp_path: Path) -> None:
    result = subprocess.run(
        [*FLOWRT, "run", "-Dhttp.port=0", "-Dsflow.port=0", "-Dsnmp.version=2c"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "RTPROP" and not k.startswith("FLOWRT_")},
    )
    assert result.returncode == 2
    assert "flowrt run: error: property snmp.version (set by -D) is not implemented yet" in (
        result.stderr)
    assert "Traceback" not in result.stderr and "listening" not in result.stderr
