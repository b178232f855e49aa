"""sFlow-RT's script API, implemented once for JavaScript and Python scripts.

Each function takes and returns plain Python values (str, numbers, bool, None, dict,
list); the language bindings (:mod:`flowrt.scripts.js`, :mod:`flowrt.scripts.py`) only
convert. Names are sFlow-RT's, so the bindings expose the methods as they are.

Threading: every method runs on the calling script's own thread. Anything that touches
the engine goes through :class:`~flowrt.scripts.bridge.LoopBridge` to the engine's loop;
store, shared state, baselines, logging and HTTP stay on the script thread. A bad
argument raises :class:`ScriptApiError` (or the engine's own typed ValueError), which
the bindings turn into an exception the script can catch.

Choices where sFlow-RT is silent:

* ``activeFlows`` of an unknown flow returns ``[]`` (scripts poll before defining, and
  sFlow-RT's apps never guard this call); ``flowValue`` of an unknown one returns null;
* ``storeSet(key, null)`` deletes the key; keys are file names percent-encoded, so any
  string is a valid key; values are JSON, at most :data:`MAX_VALUE_BYTES` each;
* ``sharedSet`` keeps a JSON copy, so scripts in either language see plain data, never
  another script's live objects; at most :data:`MAX_SHARED_KEYS` keys;
* the BGP functions drive the speaker (:mod:`flowrt.bgp`) when ``bgp.start=yes``; with
  the speaker off they answer false and 0 and log one warning per script. A route or
  rule the speaker cannot announce answers false with a warning rather than throwing.
  ``bgpAddSource`` (learning routes from a router to label flows) throws: FlowRT does
  not learn routes, and a script must not believe its flows carry them.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowrt import __version__
from flowrt.bgp import RouteError
from flowrt.scripts.baseline import MAX_BASELINES, Baseline, BaselineError
from flowrt.scripts.numformat import format_number

if TYPE_CHECKING:
    from flowrt.scripts.runtime import ScriptRuntime

log = logging.getLogger("flowrt.script")

MAX_VALUE_BYTES = 1024 * 1024
MAX_SHARED_KEYS = 10_000
MAX_STORE_KEYS = 10_000
HTTP_TIMEOUT = 10.0
HTTP_MAX_BYTES = 16 * 1024 * 1024
SYSLOG_PORT = 514
SYSLOG_FACILITY = 16  # local0
SYSLOG_SEVERITY = 5  # notice
DEFAULT_MAX_FLOWS = 100
MAX_FLOWS = 10_000


class ScriptApiError(ValueError):
    """A script called an API function with arguments it cannot use."""


SCRIPT_VERSION = f"3.0-{__version__}"
"""What ``version()`` answers (see :meth:`HostApi.version`)."""
BASELINE_DEFAULTS = (100, 3.0, 3)
"""``baselineCreate`` defaults: window (points), sensitivity (standard deviations), repeat."""


def _one_or_many(value: Any) -> list[Any]:
    """A script's "one or a list": ``'a'`` and ``['a']`` both give ``['a']``."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _ifindex_number(value: Any) -> int | None:
    """An ifIndex passed as ``3`` or ``'3'``, or None."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _number_text(value: Any) -> str:
    """``3`` and ``3.0`` as ``'3'`` (an ifIndex passed as a number)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_copy(value: Any, what: str) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ScriptApiError(f"{what}: value is not JSON data ({err})") from None
    if len(text) > MAX_VALUE_BYTES:
        raise ScriptApiError(f"{what}: value is over {MAX_VALUE_BYTES} bytes as JSON")
    return text


def _selector(value: Any, sep: str, what: str) -> str:
    """sFlow-RT accepts ``'a;b'`` or ``['a','b']`` for agents (``,`` for metrics)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return sep.join(value)
    raise ScriptApiError(f"{what} must be a string or an array of strings, got {value!r}")


def _metric_filter(raw: Any) -> dict[str, list[Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ScriptApiError(f"metric filter must be an object of name -> [values], got {raw!r}")
    return {k: (list(v) if isinstance(v, list | tuple) else [v]) for k, v in raw.items()}


class SharedState:
    """``sharedGet``/``sharedSet``: one JSON blob per key, visible to every script."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> Any:
        text = self._values.get(key)
        return None if text is None else json.loads(text)

    def set(self, key: str, value: Any) -> None:
        if value is None:
            self._values.pop(key, None)
            return
        text = _json_copy(value, f"sharedSet({key!r})")
        if key not in self._values and len(self._values) >= MAX_SHARED_KEYS:
            raise ScriptApiError(f"sharedSet: at most {MAX_SHARED_KEYS} keys")
        self._values[key] = text  # a str assignment is atomic under the GIL


class ScriptStore:
    """``storeGet``/``storeSet``: JSON files under ``script.store/<app>~<script>/<key>``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        if not isinstance(key, str) or not key:
            raise ScriptApiError(f"store key must be a non-empty string, got {key!r}")
        return self.directory / urllib.parse.quote(key, safe="")

    def get(self, key: str) -> Any:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("store %s: cannot read key %r: %s", self.directory, key, err)
            return None

    def set(self, key: str, value: Any) -> None:
        path = self._path(key)
        if value is None:
            path.unlink(missing_ok=True)
            return
        text = _json_copy(value, f"storeSet({key!r})")
        self.directory.mkdir(parents=True, exist_ok=True)
        if not path.exists() and len(self.keys()) >= MAX_STORE_KEYS:
            raise ScriptApiError(f"storeSet: at most {MAX_STORE_KEYS} keys per script")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash leaves the old value or the new one

    def keys(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(urllib.parse.unquote(p.name) for p in self.directory.iterdir()
                      if not p.name.endswith(".tmp"))


def http_request(
    url: object, method: str | None = None, content_type: str | None = None,
    body: str | None = None, user: str | None = None, password: str | None = None,
    accept: str | None = None, headers: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """One blocking HTTP request: (status, body text). Network errors raise ScriptApiError."""
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ScriptApiError(f"http: url must be http:// or https://, got {url!r}")
    data = None if body is None else str(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=(method or "GET").upper())
    for name, value in (headers or {}).items():
        req.add_header(str(name), str(value))
    if content_type:
        req.add_header("Content-Type", content_type)
    if accept:
        req.add_header("Accept", accept)
    if user is not None:
        token = b64encode(f"{user}:{password or ''}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, resp.read(HTTP_MAX_BYTES).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(HTTP_MAX_BYTES).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise ScriptApiError(f"http {url}: {reason}") from None


class HostApi:
    """The functions one script sees; ``runtime`` is that script's thread and state."""

    def __init__(self, runtime: ScriptRuntime) -> None:
        self.runtime = runtime
        self.services = runtime.services
        self._baselines: dict[str, Baseline] = {}

    # --- helpers ---------------------------------------------------------------------
    def _on_loop(self, fn: Any, *args: Any) -> Any:
        return self.services.bridge.call(fn, *args)

    def _now(self) -> float:
        return self.services.clock()

    # --- server / info ---------------------------------------------------------------
    def version(self) -> str:
        """``3.0-<FlowRT version>``: the sFlow-RT API level FlowRT serves, then its own
        release, so apps that test ``parseFloat(version()) >= 3`` take the 3.x paths."""
        return SCRIPT_VERSION

    def analyzer(self) -> dict[str, Any]:
        engine = self.services.engine
        return self._on_loop(lambda: engine.analyzer(self._now()))

    def agents(self, addresses: Any = None) -> dict[str, Any]:
        engine = self.services.engine
        selected = None if addresses is None else [
            str(a) for a in _one_or_many(addresses)]
        return self._on_loop(lambda: engine.agents.to_json(self._now(), selected))

    def datasourceInfo(self, agent: Any, datasource: Any) -> dict[str, Any] | None:
        """``agent`` may be an address or a one-address list (``[agent]``), as sFlow-RT
        takes either; ``datasource`` a string or an ifIndex number."""
        engine = self.services.engine
        names = _one_or_many(agent)
        if len(names) != 1:
            raise ScriptApiError(f"datasourceInfo: expected one agent, got {agent!r}")
        ds = datasource if isinstance(datasource, str) else _number_text(datasource)
        return self._on_loop(engine.agents.datasource_info, str(names[0]), ds)

    def getSystemProperty(self, name: str) -> str | None:
        return self.services.props.get(str(name))

    def getSystemPropertyNames(self) -> list[str]:
        return self.services.props.names()

    def scriptdir(self) -> str:
        return str(self.runtime.path.parent)

    def _log(self, level: int, message: Any) -> None:
        log.log(level, "%s: %s", self.runtime.name, message)

    def logFine(self, message: Any) -> None:
        self._log(logging.DEBUG, message)

    def logInfo(self, message: Any) -> None:
        self._log(logging.INFO, message)

    def logWarning(self, message: Any) -> None:
        self._log(logging.WARNING, message)

    def logSevere(self, message: Any) -> None:
        self._log(logging.ERROR, message)

    # --- metrics ---------------------------------------------------------------------
    def metrics(self, agent: str | None = None) -> dict[str, Any]:
        m = self.services.engine.metrics
        if agent is None:
            return self._on_loop(lambda: m.metrics_json(self._now()))
        return self._on_loop(lambda: m.agent_metrics(str(agent), self._now()))

    def _query(self, kind: str, agents: Any, metrics: Any, filt: Any) -> Any:
        m = self.services.engine.metrics
        query = {"metric": m.metric_query, "dump": m.dump_query, "table": m.table_query}[kind]
        a, names = _selector(agents, ";", "agents"), _selector(metrics, ",", "metrics")
        f = _metric_filter(filt)
        return self._on_loop(lambda: query(a, names, f, self._now()))

    def metric(self, agents: Any, metrics: Any, filt: Any = None) -> list[dict[str, Any]]:
        return self._query("metric", agents, metrics, filt)

    def dump(self, agents: Any, metrics: Any, filt: Any = None) -> list[dict[str, Any]]:
        return self._query("dump", agents, metrics, filt)

    def table(self, agents: Any, metrics: Any, filt: Any = None) -> list[list[Any]]:
        return self._query("table", agents, metrics, filt)

    # --- flows -----------------------------------------------------------------------
    def setFlow(self, name: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            raise ScriptApiError(f"setFlow({name!r}): the definition must be an object")
        self._on_loop(self.services.engine.set_flow, str(name), dict(spec))

    def clearFlow(self, name: str) -> bool:
        return self._on_loop(self.services.engine.delete_flow, str(name))

    def flowKeys(self) -> dict[str, int]:
        flows = self.services.engine.flows
        return self._on_loop(lambda: flows.flow_keys(self._now()))

    def flowValue(self, agent: str, ds_name: str, key: str) -> float | None:
        datasource, dot, name = str(ds_name).rpartition(".")
        if not dot:
            raise ScriptApiError(f"flowValue: expected '<dataSource>.<flow>', got {ds_name!r}")
        flows = self.services.engine.flows
        return self._on_loop(
            lambda: flows.flow_value(name, str(agent), datasource, str(key), self._now()))

    def activeFlows(
        self, agents: Any, name: str, max_flows: Any = None, min_value: Any = None,
        agg_mode: str | None = None,
    ) -> list[dict[str, Any]]:
        limit = DEFAULT_MAX_FLOWS if max_flows is None else int(max_flows)
        limit = max(0, min(limit, MAX_FLOWS))
        minimum = 0.0 if min_value is None else float(min_value)
        selector = _selector(agents, ";", "agents")
        engine = self.services.engine

        def read() -> list[dict[str, Any]]:
            if name not in engine.flows.specs():
                return []
            return engine.active_flows(selector, str(name), self._now(), max_flows=limit,
                                       min_value=minimum, agg_mode=agg_mode or None)

        return self._on_loop(read)

    # --- thresholds ------------------------------------------------------------------
    def setThreshold(self, name: str, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            raise ScriptApiError(f"setThreshold({name!r}): the definition must be an object")
        self._on_loop(self.services.engine.set_threshold, str(name), dict(spec))

    def clearThreshold(self, name: str) -> bool:
        return self._on_loop(self.services.engine.delete_threshold, str(name))

    def thresholdTriggered(
        self, threshold_id: str, agent: str, metric: str, flow_key: str | None = None,
    ) -> bool:
        thresholds = self.services.engine.thresholds
        return self._on_loop(thresholds.triggered, str(threshold_id), str(agent), str(metric),
                             None if flow_key is None else str(flow_key))

    # --- handlers (the bindings keep the callables; this records what to deliver) ----
    def setEventHandler(self, threshold_ids: Any = None) -> None:
        self.runtime.subscribe("event", threshold_ids)

    def setFlowHandler(self, names: Any = None) -> None:
        self.runtime.subscribe("flow", names)

    def setIntervalHandler(self, seconds: Any = None) -> None:
        self.runtime.set_interval(1.0 if seconds is None else float(seconds))

    def setHttpHandler(self) -> None:
        self.runtime.subscribe("http", None)

    def clearEventHandler(self) -> None:
        self.runtime.unsubscribe("event")

    def clearFlowHandler(self) -> None:
        self.runtime.unsubscribe("flow")

    def clearIntervalHandler(self) -> None:
        self.runtime.set_interval(None)

    def clearHttpHandler(self) -> None:
        self.runtime.unsubscribe("http")

    # --- topology (the same store as /topology/json) -----------------------------------
    def setTopology(self, spec: Any) -> bool:
        engine = self.services.engine
        try:
            self._on_loop(engine.set_topology, dict(spec) if isinstance(spec, Mapping) else spec)
        except (ValueError, TypeError) as err:
            log.warning("%s: setTopology refused: %s", self.runtime.name, err)
            return False
        return True

    def getTopology(self) -> dict[str, Any]:
        return self._on_loop(self.services.engine.get_topology)

    def topologyVersion(self) -> int:
        return self._on_loop(lambda: self.services.engine.topology.version)

    def topologyNodeNames(self, *_: Any) -> list[str]:
        return self._on_loop(self.services.engine.topology.node_names)

    def topologyLinkNames(self, *_: Any) -> list[str]:
        return sorted(self.getTopology().get("links", {}))

    def topologyNode(self, name: str) -> dict[str, Any] | None:
        return self.getTopology().get("nodes", {}).get(str(name))

    def topologyLink(self, name: str) -> dict[str, Any] | None:
        return self.getTopology().get("links", {}).get(str(name))

    def topologyInterfaceToPort(self, agent: str, ifindex: Any) -> dict[str, Any] | None:
        store = self.services.engine.topology
        try:
            number = int(ifindex)
        except (TypeError, ValueError):
            return None
        where = self._on_loop(store.port_of, str(agent), number)
        return None if where is None else {"node": where[0], "port": where[1]}

    def topologyInterfaceToLink(self, agent: str, ifindex: Any) -> dict[str, Any] | None:
        """The link on (agent, ifIndex) with ``linkname`` and which end is this one:
        ``localnode``/``localport`` here, ``remotenode``/``remoteport`` across."""
        store = self.services.engine.topology

        def read() -> dict[str, Any] | None:
            name = store.link_name(str(agent), ifindex)
            ends = None if name is None else store.link_ends(name)
            if name is None or ends is None:
                return None
            number = _ifindex_number(ifindex)
            here = 1 if ends[1][2] == (str(agent), number) and ends[0][2] != ends[1][2] else 0
            local, remote = ends[here], ends[1 - here]
            link = store.to_json().get("links", {}).get(name, {})
            return {**link, "linkname": name, "localnode": local[0], "localport": local[1],
                    "remotenode": remote[0], "remoteport": remote[1]}

        return self._on_loop(read)

    def topologyNodeLinks(self, node: str) -> list[str]:
        return self._on_loop(self.services.engine.topology.node_links, str(node))

    def topologyAgentForNode(self, node: str) -> str | None:
        return self._on_loop(self.services.engine.topology.node_agent, str(node))

    def topologyNodesForAgent(self, agent: str, datasource: Any = None) -> list[str]:
        return self._on_loop(self.services.engine.topology.nodes_for_agent, str(agent),
                             datasource)

    def topologyDiameter(self) -> int:
        return self._on_loop(self.services.engine.topology.diameter)

    def topologyLinkMetric(self, link: str, metrics: Any, node: Any = None) -> list[Any] | None:
        """The metrics of both ends of a link, first end first (or ``node``'s end first):
        ``len(metrics) * 2`` entries like ``metric()``'s, an unresolved end's entries
        holding only ``metricName``. None for an unknown link."""
        names = [n for n in _selector(metrics, ",", "metrics").split(",") if n.strip()]
        ends = self._on_loop(self.services.engine.topology.link_ends, str(link))
        if ends is None:
            return None
        if node is not None and ends[1][0] == str(node) and ends[0][0] != str(node):
            ends = [ends[1], ends[0]]
        result: list[Any] = []
        for _node, _port, where in ends:
            if where is None:
                result.extend({"metricName": name.strip()} for name in names)
                continue
            agent, ifindex = where
            qualified = [f"{ifindex}.{name.strip()}" for name in names]
            rows = self.metric(agent, qualified)
            for name, row in zip(names, rows, strict=False):
                result.append({**row, "metricName": name.strip()})
        return result

    def topologyLocatedHostMacs(self, agent: Any = None, ifindex: Any = None) -> list[str]:
        """MACs located at edge ports (learned while a topology is set), sorted; with
        ``agent`` (and ``ifindex``), those located at that agent (port)."""
        hosts = self.services.engine.hosts
        return self._on_loop(hosts.macs, None if agent is None else str(agent), ifindex)

    def topologyLocateHostMac(self, mac: Any) -> list[dict[str, Any]] | None:
        """Where ``mac`` attaches: ``[{agent, ifindex, node, port, vlan, ipaddress,
        ip6address, ouiname, mac}]``, most recently seen first; null when not located."""
        return self._on_loop(self.services.engine.hosts.locate_mac, mac)

    def topologyLocateHostIP(self, address: Any) -> list[dict[str, Any]] | None:
        """Locations whose latest IPv4 source address is ``address`` (null if none)."""
        return self._on_loop(self.services.engine.hosts.locate_address, address, 4)

    def topologyLocateHostIP6(self, address: Any) -> list[dict[str, Any]] | None:
        """Locations whose latest IPv6 source address is ``address`` (null if none)."""
        return self._on_loop(self.services.engine.hosts.locate_address, address, 6)

    # --- groups and maps --------------------------------------------------------------
    def setGroups(self, name: str, spec: Any) -> bool:
        lookups = self.services.engine.lookups
        if spec is None:
            return self._on_loop(lookups.delete_groups, str(name))
        if not isinstance(spec, Mapping):
            return False
        try:
            self._on_loop(lookups.set_groups, str(name), dict(spec))
        except ValueError as err:
            log.warning("%s: setGroups(%r) refused: %s", self.runtime.name, name, err)
            return False
        return True

    def setMap(self, name: str, spec: Any) -> bool:
        lookups = self.services.engine.lookups
        if spec is None:
            return self._on_loop(lookups.delete_map, str(name))
        if not isinstance(spec, Mapping):
            return False
        try:
            self._on_loop(lookups.set_map, str(name), dict(spec))
        except ValueError as err:
            log.warning("%s: setMap(%r) refused: %s", self.runtime.name, name, err)
            return False
        return True

    # --- state ------------------------------------------------------------------------
    def sharedGet(self, key: str) -> Any:
        return self.services.shared.get(str(key))

    def sharedSet(self, key: str, value: Any) -> None:
        self.services.shared.set(str(key), value)

    def storeGet(self, key: str) -> Any:
        return self.runtime.store.get(key)

    def storeSet(self, key: str, value: Any) -> None:
        self.runtime.store.set(key, value)

    def storeDelete(self, key: str) -> None:
        self.runtime.store.set(key, None)

    def storeKeys(self) -> list[str]:
        return self.runtime.store.keys()

    # --- baselines --------------------------------------------------------------------
    def baselineCreate(self, name: str, window: Any = None, sensitivity: Any = None,
                       repeat: Any = None) -> bool:
        """Optional arguments take :data:`BASELINE_DEFAULTS` (sflow-test passes a name only)."""
        if name not in self._baselines and len(self._baselines) >= MAX_BASELINES:
            raise ScriptApiError(f"baselineCreate: at most {MAX_BASELINES} baselines per script")
        w, s, r = (BASELINE_DEFAULTS[i] if v is None else v
                   for i, v in enumerate((window, sensitivity, repeat)))
        self._baselines[str(name)] = Baseline(int(w), float(s), int(r))
        return True

    def _baseline(self, name: str) -> Baseline:
        baseline = self._baselines.get(str(name))
        if baseline is None:
            raise BaselineError(f"no baseline named {name!r}; call baselineCreate first")
        return baseline

    def baselineCheck(self, name: str, value: Any) -> str:
        return self._baseline(name).check(float(value))

    def baselineStatistics(self, name: str) -> dict[str, Any] | None:
        baseline = self._baselines.get(str(name))
        return None if baseline is None else baseline.statistics()

    def baselineReset(self, name: str) -> bool:
        baseline = self._baselines.get(str(name))
        if baseline is None:
            return False
        baseline.reset()
        return True

    def baselineDelete(self, name: str) -> bool:
        return self._baselines.pop(str(name), None) is not None

    # --- formatting -------------------------------------------------------------------
    def formatNumber(self, value: Any, pattern: Any = None, *_locale: Any) -> str:
        return format_number(value, pattern)

    # --- HTTP client and syslog -------------------------------------------------------
    def http(self, url: str, method: str | None = None, content_type: str | None = None,
             body: str | None = None, user: str | None = None, password: str | None = None,
             accept: str | None = None) -> str:
        """sFlow-RT's http(): the body of a 2xx answer; anything else throws."""
        status, text = http_request(url, method, content_type, body, user, password, accept)
        if not 200 <= status < 300:
            raise ScriptApiError(f"http {url}: status {status}")
        return text

    def http2(self, options: Any) -> dict[str, Any]:
        """``http2({url, operation, headers, body, user, password})`` → {status, body}."""
        if not isinstance(options, Mapping):
            raise ScriptApiError("http2: expected an options object")
        status, text = http_request(
            options.get("url"), options.get("operation"), None, options.get("body"),
            options.get("user"), options.get("password"), None, options.get("headers"))
        return {"status": status, "body": text, "url": options.get("url")}

    def syslog(self, host: str, port: Any, facility: Any, severity: Any, message: Any) -> bool:
        """One RFC 5424 datagram whose message is the JSON of ``message``."""
        port = SYSLOG_PORT if port is None else int(port)
        facility = SYSLOG_FACILITY if facility is None else int(facility)
        severity = SYSLOG_SEVERITY if severity is None else int(severity)
        if not (0 <= facility <= 23 and 0 <= severity <= 7):
            raise ScriptApiError(f"syslog: facility 0..23 and severity 0..7, got "
                                 f"{facility}, {severity}")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        text = message if isinstance(message, str) else json.dumps(message)
        line = (f"<{facility * 8 + severity}>1 {stamp} {socket.gethostname()} flowrt - - - "
                f"{text}")
        try:
            family = socket.AF_INET6 if ":" in str(host) else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.sendto(line.encode("utf-8")[:65000], (str(host), port))
        except OSError as err:
            log.warning("%s: syslog to %s:%s failed: %s", self.runtime.name, host, port, err)
            return False
        return True

    # --- BGP: the speaker started by bgp.start=yes (flowrt.bgp) ----------------------------
    def _speaker(self, what: str) -> Any:
        speaker = self.services.bgp
        if speaker is None and not self.runtime.warned_no_bgp:
            self.runtime.warned_no_bgp = True
            log.warning("%s: %s: the BGP speaker is off (set bgp.start=yes); no router can "
                        "connect and nothing is announced", self.runtime.name, what)
        return speaker

    def _bgp_call(self, what: str, fn: Any, *args: Any) -> bool:
        """A speaker change; a definition it cannot announce is logged and answers false
        (apps such as ddos-protect test the result rather than catch)."""
        try:
            return bool(self._on_loop(fn, *args))
        except RouteError as err:
            log.warning("%s: %s refused: %s", self.runtime.name, what, err)
            return False

    def bgpAddNeighbor(self, router: Any, local_as: Any = None, router_id: Any = None,
                       options: Any = None, *callbacks: Any) -> bool:
        """``bgpAddNeighbor(router, as, id, {ipv6, flowspec, flowspec6}, onOpen, onClose)``;
        the bindings keep the callbacks and pass whether there are any. False when the
        speaker is off, at the neighbor cap, or for a bad argument (logged)."""
        speaker = self._speaker("bgpAddNeighbor")
        if speaker is None:
            return False
        runtime = self.runtime

        def listener(name: str, up: bool) -> None:
            runtime.offer_bgp({"router": name, "open": up})

        wants = bool(callbacks and callbacks[0])
        if wants:
            runtime.bgp_callbacks = True
        return self._bgp_call("bgpAddNeighbor", speaker.add_neighbor, router, local_as,
                              router_id, options, listener if wants else None)

    def bgpRemoveNeighbor(self, router: Any) -> bool:
        speaker = self._speaker("bgpRemoveNeighbor")
        return speaker is not None and self._bgp_call(
            "bgpRemoveNeighbor", speaker.remove_neighbor, router)

    def bgpAddRoute(self, router: Any, route: Any) -> bool:
        speaker = self._speaker("bgpAddRoute")
        return speaker is not None and self._bgp_call(
            "bgpAddRoute", speaker.add_route, router, route)

    def bgpRemoveRoute(self, router: Any, prefix: Any) -> bool:
        speaker = self._speaker("bgpRemoveRoute")
        return speaker is not None and self._bgp_call(
            "bgpRemoveRoute", speaker.remove_route, router, prefix)

    def bgpAddFlow(self, router: Any, flow: Any) -> bool:
        speaker = self._speaker("bgpAddFlow")
        return speaker is not None and self._bgp_call(
            "bgpAddFlow", speaker.add_flow, router, flow)

    def bgpRemoveFlow(self, router: Any, flow: Any) -> bool:
        speaker = self._speaker("bgpRemoveFlow")
        return speaker is not None and self._bgp_call(
            "bgpRemoveFlow", speaker.remove_flow, router, flow)

    def bgpAddSource(self, *args: Any) -> bool:
        """sFlow-RT labels an agent's flows with routes learned from a router; FlowRT's
        speaker learns no routes, so this throws rather than pretend (docs/scripts.md)."""
        raise ScriptApiError("bgpAddSource is not implemented: FlowRT's BGP speaker announces "
                             "routes but does not learn them; flows keep the agent's own "
                             "extended_gateway data")

    def bgpRemoveSource(self, *args: Any) -> bool:
        raise ScriptApiError("bgpRemoveSource is not implemented (see bgpAddSource)")

    def bgpRouteCount(self, router: Any) -> int:
        speaker = self.services.bgp
        return 0 if speaker is None else int(self._on_loop(speaker.route_count, router))

    def bgpFlowCount(self, router: Any) -> int:
        speaker = self.services.bgp
        return 0 if speaker is None else int(self._on_loop(speaker.flow_count, router))


API_FUNCTIONS: tuple[str, ...] = tuple(
    name for name in vars(HostApi) if not name.startswith("_") and callable(vars(HostApi)[name])
)
"""Every function name a script sees (the handler setters are wrapped per language)."""
HANDLER_FUNCTIONS = frozenset({
    "setEventHandler", "setFlowHandler", "setIntervalHandler", "setHttpHandler",
})
