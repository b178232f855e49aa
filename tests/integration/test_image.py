"""The container image, built from ``deploy/Dockerfile`` and run the way sFlow-RT's is.

``docker run -p 8008:8008 -p 6343:6343/udp IMAGE -Dhttp.log=yes`` (here with podman or
docker, whichever can run containers on this machine): the test builds the image, runs
it with both ports published on 127.0.0.1, sends a real capture's datagrams to the
published UDP port, reads them back over REST through the published HTTP port, and
checks that a property after the image name (``-Dhttp.log=yes``), one in ``RTPROP`` and
the ``RTMEM`` warning all take effect, that the healthcheck passes and that the server
runs as the image's unprivileged user.

The base image: ``FLOWRT_TEST_IMAGE_BASE`` if set; else a local Debian 12 image
(``BASE_TAG``) made once with ``mmdebstrap`` (python3, python3-venv and this host's
trust store, so the build reaches the package indexes the way the host does) and kept,
with the build cache, so later runs take seconds (here: about 2 minutes from nothing,
20 s cached). The test image and container are removed by name afterwards; the build
cache's untagged layers stay for the next run (``podman image prune`` reclaims them).

Skipped, loudly, only when no container engine can run a container here (none
installed, a daemon that does not answer, or a kernel/sandbox that refuses to start
one): the reason names what failed. A build or run failure once a container has been
seen to run is a failure.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, udp_payloads

BASE_TAG = "localhost/flowrt-test-base:bookworm"
IMAGE_TAG = f"localhost/flowrt-test:{os.getpid()}"
"""Per run, so that two runs on one machine never remove each other's image."""
CONTAINER = f"flowrt-test-{os.getpid()}"
CAPTURE = "ovs-netns"
CAPTURE_AGENT = "127.0.0.1"  # the agent address inside the capture's datagrams
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
HOST_CAS = Path("/usr/local/share/ca-certificates")
LOCALHOST = "127.0.0.1"
PROBE_TIMEOUT = 60
BASE_TIMEOUT = 300
BUILD_TIMEOUT = 480
READY_TIMEOUT = 60.0
INGEST_TIMEOUT = 20.0
LIMIT_CAP = 4096
"""Containers get nofile/nproc limits no higher than this process's hard limits: an
engine's defaults (over a million) are refused where the sandbox withholds
CAP_SYS_RESOURCE, and 4096 is plenty for one FlowRT."""


def no_runtime(reason: str) -> None:
    """Skip, loudly: only for 'no container engine can run a container here'."""
    message = f"CONTAINER IMAGE NOT TESTED: no container runtime can run here: {reason}"
    warnings.warn(message, stacklevel=2)
    print(f"\n*** {message}")
    pytest.skip(message)


def run(args: list[str], timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args[:3])} ... failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def limits() -> list[str]:
    out = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        cap = LIMIT_CAP if hard == resource.RLIM_INFINITY else min(hard, LIMIT_CAP)
        out += ["--ulimit", f"{name}={cap}:{cap}"]
    return out


@dataclass
class Engine:
    """A container engine command (podman or docker) and the options this host needs."""

    command: str

    def __call__(self, *args: str, timeout: float = 60,
                 check: bool = True) -> subprocess.CompletedProcess[str]:
        return run([self.command, *args], timeout, check)

    def has_image(self, tag: str) -> bool:
        return self("image", "inspect", tag, check=False).returncode == 0


def find_engine() -> Engine:
    """The first engine whose service answers; otherwise skip, saying why for each."""
    tried = []
    for command in ("podman", "docker"):
        path = shutil.which(command)
        if path is None:
            tried.append(f"{command}: not installed")
            continue
        info = run([path, "info"], PROBE_TIMEOUT, check=False)
        if info.returncode == 0:
            return Engine(path)
        tried.append(f"{command}: {(info.stderr or info.stdout).strip().splitlines()[-1:]}")
    no_runtime("; ".join(tried))
    raise AssertionError("unreachable")


def make_base(engine: Engine) -> str:
    """The base image's tag, made with mmdebstrap the first time (see module doc)."""
    chosen = os.environ.get("FLOWRT_TEST_IMAGE_BASE")
    if chosen:
        return chosen
    if engine.has_image(BASE_TAG):
        return BASE_TAG
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise FileNotFoundError("mmdebstrap is missing (apt-get install mmdebstrap), or set"
                                " FLOWRT_TEST_IMAGE_BASE to a local Python 3.11 image")
    hooks = []
    if HOST_CAS.is_dir() and any(HOST_CAS.iterdir()):
        hooks = [f"--customize-hook=sync-in {HOST_CAS} {HOST_CAS}",
                 '--customize-hook=chroot "$1" update-ca-certificates']
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "base.tar"
        run([mmdebstrap, "--variant=apt", f"--include={BASE_PACKAGES}", *hooks, "bookworm",
             str(tarball)], BASE_TIMEOUT)
        engine("import", str(tarball), BASE_TAG, timeout=BASE_TIMEOUT)
    return BASE_TAG


def probe(engine: Engine, base: str) -> None:
    """Run one trivial container; if the engine cannot, there is no runtime here."""
    result = engine("run", "--rm", *limits(), base, "python3", "-c", "print(6343)",
                    timeout=PROBE_TIMEOUT, check=False)
    if result.returncode != 0 or result.stdout.strip() != "6343":
        no_runtime(f"{Path(engine.command).name} cannot start a container:"
                   f" {(result.stderr or result.stdout).strip()[-500:]}")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def engine() -> Engine:
    return find_engine()


@pytest.fixture(scope="module")
def image(engine: Engine) -> Iterator[str]:
    base = make_base(engine)
    probe(engine, base)
    build = ["build", "--build-arg", f"BASE={base}", *limits(),
             "-f", str(REPO_ROOT / "deploy" / "Dockerfile"), "-t", IMAGE_TAG, str(REPO_ROOT)]
    if Path(engine.command).name == "podman":
        build.insert(1, "--format=docker")  # keeps HEALTHCHECK (the OCI format drops it)
    engine(*build, timeout=BUILD_TIMEOUT)
    yield IMAGE_TAG
    engine("rmi", "-f", IMAGE_TAG, check=False)


@dataclass
class Running:
    engine: Engine
    http: int
    udp: int

    def url(self, path: str) -> str:
        return f"http://{LOCALHOST}:{self.http}{path}"

    def logs(self) -> str:
        result = self.engine("logs", CONTAINER, check=False)
        return result.stdout + result.stderr


@pytest.fixture
def container(engine: Engine, image: str) -> Iterator[Running]:
    http, udp = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    engine("rm", "-f", CONTAINER, check=False)
    engine("run", "-d", "--name", CONTAINER, *limits(),
           "-p", f"{LOCALHOST}:{http}:8008", "-p", f"{LOCALHOST}:{udp}:6343/udp",
           "-e", "RTPROP=-Dhttp.json.indent=2", "-e", "RTMEM=512M",
           image, "-Dhttp.log=yes")
    running = Running(engine, http, udp)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if requests.get(running.url("/version"), timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the container did not answer:\n{running.logs()}")
            time.sleep(0.5)
        yield running
    finally:
        engine("rm", "-f", CONTAINER, check=False)


def test_image_runs_like_sflow_rts(container: Running) -> None:
    payloads = [payload for _, payload in udp_payloads(CAPTURE)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for payload in payloads:
            sock.sendto(payload, (LOCALHOST, container.udp))
            time.sleep(0.001)  # a capture's pace, roughly: no burst into the NAT path
    deadline = time.monotonic() + INGEST_TIMEOUT
    while True:
        response = requests.get(container.url("/analyzer/json"), timeout=5)
        analyzer = response.json()
        if analyzer["sFlowDatagramsReceived"] >= len(payloads):
            break
        assert time.monotonic() < deadline, f"received {analyzer}; log:\n{container.logs()}"
        time.sleep(0.2)
    assert analyzer["sFlowDatagramsReceived"] == len(payloads)
    assert analyzer["sFlowDecodeErrors"] == 0
    agents = requests.get(container.url("/agents/json"), timeout=5).json()
    assert list(agents) == [CAPTURE_AGENT]
    assert agents[CAPTURE_AGENT]["sFlowDatagramsReceived"] == len(payloads)
    dump = requests.get(container.url("/dump/ALL/ifinoctets/json"), timeout=5).json()
    assert {cell["agent"] for cell in dump} == {CAPTURE_AGENT}

    # RTPROP: -Dhttp.json.indent=2 indents the REST answers
    assert response.text.startswith('{\n  "')
    log = container.logs()
    # a property after the image name: -Dhttp.log=yes logs every request
    assert '"GET /agents/json HTTP/1.1" 200' in log, log
    # RTMEM sizes sFlow-RT's heap: said to be ignored, once
    assert log.count("warning: RTMEM=512M is ignored") == 1, log


def test_image_health_user_and_volumes(engine: Engine, container: Running, image: str) -> None:
    (inspected,) = json.loads(engine("image", "inspect", image).stdout)
    config = inspected["Config"]
    # docker keeps the healthcheck in Config, podman beside it
    health = (config.get("Healthcheck") or inspected["Healthcheck"])["Test"]
    assert health[0] == "CMD" and "/version" in health[-1]
    assert engine("exec", CONTAINER, *health[1:], check=False).returncode == 0
    assert config["Entrypoint"] == ["flowrt", "run"]
    assert set(config["ExposedPorts"]) == {"8008/tcp", "6343/udp"}
    assert set(config["Volumes"]) == {"/flowrt/store", "/flowrt/app"}
    assert engine("exec", CONTAINER, "id", "-un").stdout.strip() == "flowrt"
    # the store (script.store) is writable by that user; the code is not
    engine("exec", CONTAINER, "python3", "-c", "open('store/probe', 'w').write('x')")
    denied = engine("exec", CONTAINER, "python3", "-c",
                    "open('/opt/flowrt/bin/flowrt', 'a')", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    # no compiler in the runtime image
    assert engine("exec", CONTAINER, "sh", "-c", "command -v gcc cc",
                  check=False).returncode != 0
