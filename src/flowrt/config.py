"""System properties: sFlow-RT's ``-Dname=value`` settings, with defaults in one table.

Operators already know sFlow-RT's property names and the places they come from, so
FlowRT reads the same ones from the same places. Sources, in increasing precedence:

1. the defaults in :data:`KNOWN_PROPERTIES`;
2. property files: ``conf.d/*.conf`` under the working directory (sorted by name, as
   the sFlow-RT packages install them), then the files named by ``system.propertyFiles``
   (comma separated, in order);
3. the environment: ``RTPROP="-Da=b -Dc=d"`` as sFlow-RT's launcher reads it, then
   ``FLOWRT_<NAME>`` for *known* properties only (``FLOWRT_HTTP_PORT`` → ``http.port``:
   upper case, ``.`` and ``-`` become ``_``; the reverse mapping is ambiguous for
   arbitrary app names, so unknown names must use RTPROP or ``-D``);
4. ``-Dname=value`` command-line arguments.

Every property in :data:`KNOWN_PROPERTIES` is implemented: some code reads it. sFlow-RT
properties FlowRT recognises but does not implement yet are in :data:`NOT_IMPLEMENTED`;
setting one (anywhere above) stops :meth:`Properties.load` with a message naming it,
rather than accepting a setting that would silently do nothing. A feature that lands
moves its names from there into the table.

Unknown names are accepted and kept: apps read their own namespaced properties
(``ddos_protect.*``) through ``getSystemProperty``; a name in one of FlowRT's own
namespaces that is not known is probably a typo and gets a warning
(:meth:`Properties.misspellings`). Values are strings, as in Java; the typed getters
check them and raise :class:`ConfigError` naming the property.
"""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import overload

CONF_DIR = "conf.d"
CONF_GLOB = "*.conf"
ENV_RTPROP = "RTPROP"
ENV_PREFIX = "FLOWRT_"
JVM_ENVIRONMENT = ("RTMEM", "RTGC", "RTJVM")
"""sFlow-RT launcher variables that size and tune its Java VM: heap (``RTMEM=1G``),
garbage collector and JVM options. FlowRT has no JVM; see :func:`environment_warnings`."""
DEFINE_PREFIX = "-D"
_TRUE = frozenset({"yes", "true", "on", "1"})
_FALSE = frozenset({"no", "false", "off", "0"})


class ConfigError(ValueError):
    """A property value that cannot be used, or a property file that cannot be read."""


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One known property: its sFlow-RT name, default (``None`` = unset) and meaning."""

    name: str
    default: str | None
    description: str


KNOWN_PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec("http.hostname", None, "HTTP bind address (all interfaces when unset)"),
    PropertySpec("http.port", "8008", "HTTP TCP port"),
    PropertySpec("http.readonly", "no", "yes = refuse every method but GET/HEAD/OPTIONS (403)"),
    PropertySpec("http.log", "no", "yes = log every HTTP request"),
    PropertySpec("http.html", "yes", "no = do not serve HTML pages"),
    PropertySpec("http.html.redirect", "./html/index.html", "page that / redirects to"),
    PropertySpec("http.json.indent", "0", "JSON pretty-print indent (0 = compact)"),
    PropertySpec("http.rest", "yes",
                 "no = do not serve the REST API (nor the UI pages built on it); installed"
                 " apps' pages and script handlers stay"),
    PropertySpec("http.token", None,
                 "when set, PUT/POST/DELETE need 'Authorization: Bearer <token>' (401 without)"),
    PropertySpec("http.connections.max", "512",
                 "most HTTP connections open at once; more are closed at once with a 503"),
    PropertySpec("http.header.timeout", "5",
                 "seconds a new HTTP connection has to send a complete request head"),
    PropertySpec("http.keepalive.timeout", "15",
                 "seconds an idle kept-alive HTTP connection stays open"),
    PropertySpec("http.body.timeout", "30", "seconds a client has to send a request body"),
    PropertySpec("http.backlog", "1024", "HTTP listen backlog (connections waiting to be"
                 " accepted; the kernel caps it at net.core.somaxconn)"),
    PropertySpec("sflow.port", "6343", "UDP port for sFlow datagrams"),
    PropertySpec("sflow.hostname", None, "sFlow UDP bind address (all interfaces when unset)"),
    PropertySpec("sflow.file", None, "replay sFlow from this pcap file instead of listening"),
    PropertySpec("sflow.rcvpktsbuffer", "1000", "UDP receive buffer, in ~2 KB datagrams"),
    PropertySpec("events.max", "1000", "event log size"),
    PropertySpec("flows.max", "1000", "completed-flow log size"),
    PropertySpec("script.file", None, "comma list of standalone scripts to run at startup"),
    PropertySpec("script.store", "store", "directory for storeSet/storeGet"),
    PropertySpec("system.propertyFiles", None, "comma list of extra property files"),
    PropertySpec(
        "flowrt.replay.speed", "1",
        "sflow.file pace: 1 = capture pace, N = N times faster, 0 = as fast as possible",
    ),
    PropertySpec(
        "flowrt.replay.delay", "0",
        "seconds to wait before replaying sflow.file (time to define flows first)",
    ),
    PropertySpec("flowrt.script.timeout", "10", "seconds a script handler may run"),
    PropertySpec("flowrt.script.memory", "64", "MB of memory a JavaScript script may use"),
    PropertySpec("flowrt.script.queue", "10000", "items queued per script before loss"),
    PropertySpec("flowrt.app.dir", "app", "directory of installed apps (app/<name>/...)"),
    PropertySpec("flowrt.agents.max", "10000", "most sFlow agents tracked at once"),
    PropertySpec("flowrt.agents.timeout", "3600", "seconds before an idle agent is forgotten"),
    PropertySpec("flowrt.datasources.max", "4096", "most data sources tracked per agent"),
    PropertySpec("bgp.start", "no", "yes = start the BGP speaker (routers connect to it)"),
    PropertySpec("bgp.port", "1179", "TCP port the BGP speaker listens on"),
    PropertySpec("flowrt.bgp.hostname", None, "BGP bind address (all interfaces when unset)"),
    PropertySpec("flowrt.bgp.neighbors.max", "100", "most BGP neighbors (bgpAddNeighbor)"),
    PropertySpec("flowrt.bgp.routes.max", "10000", "most routes installed per BGP neighbor"),
    PropertySpec("flowrt.bgp.flows.max", "1000", "most FlowSpec rules per BGP neighbor"),
    PropertySpec("flowrt.bgp.holdtime", "90", "BGP hold time offered, seconds (0 or 3+)"),
    PropertySpec(
        "flowrt.datasources.total.max", "20000",
        "most data sources tracked over all agents (agent table, metrics, each flow's tables)",
    ),
    PropertySpec(
        "flowrt.flows.max", "1000",
        "most flow definitions (setFlow, PUT /flow); flows.max is the flow log's size",
    ),
    PropertySpec(
        "flowrt.flows.sample.budget", "50",
        "flow definitions the reference path evaluates per sample; beyond, they take"
        " turns (counted as shed)",
    ),
    PropertySpec(
        "flowrt.hosts.max", "10000",
        "most host locations (MAC at an edge port) learned while a topology is set",
    ),
    PropertySpec(
        "flowrt.hosts.timeout", "300",
        "seconds before a host location not seen again is forgotten",
    ),
    PropertySpec(
        "flowrt.datasources.timeout", "3600",
        "seconds before a data source that sent nothing is forgotten (its agent may live on)",
    ),
    # --- enrichment: country:, asn:, oui:, dns: keys (flowrt.enrich)
    PropertySpec("geo.country", None,
                 "MaxMind DB (.mmdb) file for country: (IPv4, and IPv6 unless geo.country6);"
                 " unset = the embedded table"),
    PropertySpec("geo.country6", None, "MaxMind DB file for country: of IPv6 addresses"),
    PropertySpec("geo.asn", None,
                 "MaxMind DB (.mmdb) file for asn: (IPv4, and IPv6 unless geo.asn6);"
                 " unset = the embedded table"),
    PropertySpec("geo.asn6", None, "MaxMind DB file for asn: of IPv6 addresses"),
    PropertySpec("oui.names", None,
                 "IEEE oui.txt file for oui:<key>:name; unset = the registry netaddr ships"),
    PropertySpec("dns.servers", None,
                 "comma list of name servers for dns: (address, or address:port);"
                 " unset = no lookups, dns: gives the address"),
    PropertySpec("flowrt.geo.cache.size", "65536", "country:/asn: answers cached"),
    PropertySpec("flowrt.oui.cache.size", "4096", "oui: answers cached"),
    PropertySpec("flowrt.dns.cache.size", "10000", "dns: answers cached"),
    PropertySpec("flowrt.dns.cache.positive", "3600", "seconds a dns: name is cached"),
    PropertySpec("flowrt.dns.cache.negative", "300",
                 "seconds a dns: miss (no name, error, timeout) is cached"),
    PropertySpec("flowrt.dns.timeout", "2", "seconds one reverse lookup may take"),
    PropertySpec("flowrt.dns.inflight", "32", "reverse lookups in flight at once"),
    PropertySpec("flowrt.dns.queue", "1000",
                 "addresses waiting for a reverse lookup before misses are dropped"),
)

# --- RECOGNISED BUT NOT IMPLEMENTED -------------------------------------------------------
# sFlow-RT properties whose feature FlowRT does not have yet. Setting one is refused at
# startup (see the module docstring). When a feature lands, delete its names here and add
# them, with their defaults, to KNOWN_PROPERTIES above.
NOT_IMPLEMENTED: dict[str, str] = {
    "snmp.ifname": "SNMP polling of sysName/ifName",
    "snmp.version": "SNMP polling",
    "snmp.community": "SNMP polling",
    "snmp.user": "SNMP polling",
    "snmp.authprotocol": "SNMP polling",
    "snmp.authpasswd": "SNMP polling",
    "snmp.privprotocol": "SNMP polling",
    "snmp.privpasswd": "SNMP polling",
    "prometheus.type": "/prometheus output always has # TYPE lines",
    "prometheus.metric.prefix": "/prometheus metric names always start with sflow_",
}
"""Recognised sFlow-RT property → the missing feature (what the refusal says)."""

_SPECS = {spec.name: spec for spec in KNOWN_PROPERTIES}
OWN_PREFIXES = tuple(sorted(
    {name.split(".", 1)[0] + "." for name in (*_SPECS, *NOT_IMPLEMENTED)}))
"""Namespaces FlowRT (or sFlow-RT) reads itself: a name there that is not known is a typo."""
_ENV_NAMES = {ENV_PREFIX + name.upper().replace(".", "_").replace("-", "_"): name
              for name in (*_SPECS, *NOT_IMPLEMENTED)}


def parse_defines(args: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Split ``-Dname=value`` arguments from the rest (``-Dname`` alone means ``""``)."""
    props: dict[str, str] = {}
    rest: list[str] = []
    for arg in args:
        if arg.startswith(DEFINE_PREFIX) and len(arg) > len(DEFINE_PREFIX):
            name, _, value = arg[len(DEFINE_PREFIX):].partition("=")
            props[name.strip()] = value
        else:
            rest.append(arg)
    return props, rest


def parse_property_lines(text: str, origin: str = "<text>") -> dict[str, str]:
    """``key=value`` (or ``key: value``) lines; ``#`` and ``!`` start comments, as in Java."""
    props: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut <= 0:
            raise ConfigError(f"{origin}:{number}: expected name=value, got {raw.strip()!r}")
        props[line[:cut].strip()] = line[cut + 1:].strip()
    return props


def read_property_file(path: Path) -> dict[str, str]:
    """One property file; an unreadable file is a :class:`ConfigError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read property file {path}: {exc.strerror}") from exc
    return parse_property_lines(text, str(path))


def _environment_layer(environ: Mapping[str, str]) -> dict[str, str]:
    props: dict[str, str] = {}
    if environ.get(ENV_RTPROP):
        try:
            words = shlex.split(environ[ENV_RTPROP])
        except ValueError as exc:
            raise ConfigError(f"{ENV_RTPROP}: {exc}") from exc
        props.update(parse_defines(words)[0])
    for env_name, prop_name in _ENV_NAMES.items():
        if env_name in environ:
            props[prop_name] = environ[env_name]
    return props


def _read_noting(path: Path, origins: dict[str, str]) -> dict[str, str]:
    props = read_property_file(path)
    origins.update(dict.fromkeys(props, f"in {path}"))
    return props


def _refuse_unimplemented(origins: Mapping[str, str]) -> None:
    """A :class:`ConfigError` naming every set property in :data:`NOT_IMPLEMENTED`."""
    refused = [f"property {name} (set {origins[name]}) is not implemented yet:"
               f" {NOT_IMPLEMENTED[name]}" for name in sorted(origins) if name in NOT_IMPLEMENTED]
    if refused:
        raise ConfigError("; ".join(refused) + "; remove the setting")


def environment_warnings(environ: Mapping[str, str]) -> list[str]:
    """Warnings for sFlow-RT launcher variables that mean nothing to FlowRT.

    An sFlow-RT deployment moved over as is (a container's ``-e RTMEM=2G``, a unit's
    ``Environment=``) should say at startup that the setting is ignored rather than let
    the operator believe memory is capped. FlowRT's memory is bounded by the table caps
    among the properties; the process as a whole is capped by the container's or the
    service's memory limit.
    """
    warnings = []
    for name in JVM_ENVIRONMENT:
        value = environ.get(name, "").strip()
        if value:
            warnings.append(
                f"{name}={value} is ignored: it tunes sFlow-RT's Java VM, and FlowRT has none;"
                " memory is bounded by properties (flowrt.agents.max, events.max, ...) and"
                " by the container's or service's memory limit"
            )
    return warnings


class Properties:
    """The merged system properties; defaults come from :data:`KNOWN_PROPERTIES`."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values: dict[str, str] = dict(values or {})

    @classmethod
    def load(
        cls,
        args: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> tuple[Properties, list[str]]:
        """Merge every source (see the module docstring); return the non ``-D`` arguments."""
        environ = os.environ if environ is None else environ
        cwd = Path.cwd() if cwd is None else cwd
        cli, rest = parse_defines(args)
        env = _environment_layer(environ)
        files: dict[str, str] = {}
        origins: dict[str, str] = {}  # where each file property was set, for refusals
        conf_dir = cwd / CONF_DIR
        paths = sorted(conf_dir.glob(CONF_GLOB)) if conf_dir.is_dir() else []
        for path in paths:
            files.update(_read_noting(path, origins))
        extra = cli.get("system.propertyFiles") or env.get("system.propertyFiles") or files.get(
            "system.propertyFiles")
        for name in (extra or "").split(","):
            if name.strip():
                path = Path(name.strip())
                files.update(_read_noting(path if path.is_absolute() else cwd / path, origins))
        origins.update(dict.fromkeys(env, "in the environment"))
        origins.update(dict.fromkeys(cli, "by -D"))
        _refuse_unimplemented(origins)
        return cls({**files, **env, **cli}), rest

    def get(self, name: str, default: str | None = None) -> str | None:
        """The raw string, as ``getSystemProperty`` returns it (``None`` when unset)."""
        if name in self._values:
            return self._values[name]
        spec = _SPECS.get(name)
        if spec is not None and spec.default is not None:
            return spec.default
        return default

    def set(self, name: str, value: str) -> None:
        """Override one property at run time (tests, the composition root)."""
        self._values[name] = str(value)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        """Same as :meth:`get`; named for symmetry with the typed getters."""
        return self.get(name, default)

    @overload
    def get_int(self, name: str, default: int) -> int: ...
    @overload
    def get_int(self, name: str, default: None = None) -> int | None: ...
    def get_int(self, name: str, default: int | None = None) -> int | None:
        """An integer property; a non-integer value is a :class:`ConfigError`."""
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigError(f"property {name}={raw!r} is not an integer") from None

    def require_int(self, name: str) -> int:
        """An integer property that has a default in the table (never None)."""
        value = self.get_int(name)
        if value is None:
            raise ConfigError(f"property {name} needs a value (it has no default)")
        return value

    def require_float(self, name: str) -> float:
        """A number property that has a default in the table (never None)."""
        value = self.get_float(name)
        if value is None:
            raise ConfigError(f"property {name} needs a value (it has no default)")
        return value

    @overload
    def get_float(self, name: str, default: float) -> float: ...
    @overload
    def get_float(self, name: str, default: None = None) -> float | None: ...
    def get_float(self, name: str, default: float | None = None) -> float | None:
        """A number property; a non-numeric value is a :class:`ConfigError`."""
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return float(raw.strip())
        except ValueError:
            raise ConfigError(f"property {name}={raw!r} is not a number") from None

    @overload
    def get_bool(self, name: str, default: bool) -> bool: ...
    @overload
    def get_bool(self, name: str, default: None = None) -> bool | None: ...
    def get_bool(self, name: str, default: bool | None = None) -> bool | None:
        """yes/no, true/false, on/off or 1/0 (any case), as sFlow-RT's settings use."""
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return default
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ConfigError(f"property {name}={raw!r} is not yes/no/true/false")

    def misspellings(self) -> list[str]:
        """Warnings for set names that look like ours but are not: ``http.prot`` would
        otherwise be ignored in silence. Apps' own names (``ddos_protect.*``) pass."""
        warnings = []
        for name in sorted(self._values):
            if name in _SPECS or name in NOT_IMPLEMENTED or not name.startswith(OWN_PREFIXES):
                continue
            candidates = [*_SPECS, *NOT_IMPLEMENTED]
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(f"unknown property {name} is ignored{hint}")
        return warnings

    def names(self) -> list[str]:
        """Every property with a value (set or defaulted), sorted: getSystemPropertyNames."""
        defaulted = {s.name for s in KNOWN_PROPERTIES if s.default is not None}
        return sorted(defaulted | set(self._values))

    def as_dict(self) -> dict[str, str]:
        """Every property with a value, for diagnostics."""
        return {name: value for name in self.names() if (value := self.get(name)) is not None}
