"""``dns:``: the reverse-DNS (PTR) name of an address, looked up off the sample path.

sFlow-RT's ``dns:<key>`` gives the address's PTR name, with the trailing dot of an
absolute name (``dns.google.``), when one is known, and otherwise the address itself;
results are cached so flow keys stay real-time. FlowRT does the same:

- The per-sample key function only reads the cache. A miss returns the address at once
  (the first samples of a new address are keyed by it; no sample waits) and enqueues the
  address for lookup, unless it is already pending or the queue is full
  (``flowrt.dns.queue``; a refused address is counted in ``drops`` and tried again by a
  later sample).
- Lookups run on this service's own thread, in its own asyncio loop, with dnspython's
  asynchronous resolver against the servers of ``dns.servers`` (a comma list, as in
  sFlow-RT; FlowRT also accepts ``host:port`` and ``[v6]:port``), at most
  ``flowrt.dns.inflight`` at once, each bounded by ``flowrt.dns.timeout`` seconds.
- Answers are cached (``flowrt.dns.cache.size`` entries, oldest evicted first): a name
  for ``flowrt.dns.cache.positive`` seconds, "no name" (NXDOMAIN, no PTR record, a
  server error, a timeout or a garbled reply) for ``flowrt.dns.cache.negative``
  seconds, during which the address is the answer and no new query is sent.
- Without ``dns.servers`` no query is ever sent and ``dns:`` gives the address.

Counters (exported by :mod:`flowrt.engine.selfmetrics`): lookups sent, answers with a
name, negative answers, timeouts, failures (server errors and garbage), queue drops,
cache hits, misses and evictions.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

from flowrt.enrich.cache import MISS, BoundedCache

DEFAULT_PORT = 53


class DnsConfigError(ValueError):
    """A ``dns.servers`` entry that is not an address (or address and port)."""


def parse_servers(text: str | None) -> list[tuple[str, int]]:
    """``10.0.0.1, 127.0.0.1:5353, [::1]:53`` → ``[(address, port), ...]``."""
    import ipaddress

    servers: list[tuple[str, int]] = []
    for raw in (text or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        host, port = entry, DEFAULT_PORT
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            if rest:
                if not rest.startswith(":") or not rest[1:].isdigit():
                    raise DnsConfigError(f"dns.servers: bad entry {entry!r}")
                port = int(rest[1:])
        elif entry.count(":") == 1:
            host, _, port_text = entry.partition(":")
            if not port_text.isdigit():
                raise DnsConfigError(f"dns.servers: bad port in {entry!r}")
            port = int(port_text)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise DnsConfigError(
                f"dns.servers: {host!r} is not an IP address (name servers are given by"
                " address)") from None
        if not 0 < port < 65536:
            raise DnsConfigError(f"dns.servers: port out of range in {entry!r}")
        servers.append((host, port))
    return servers


@dataclass
class DnsCounters:
    lookups: int = 0  # queries sent
    names: int = 0  # answers with a PTR name
    negatives: int = 0  # NXDOMAIN / no PTR record
    timeouts: int = 0
    failures: int = 0  # server errors, refused, garbled replies
    drops: int = 0  # misses not enqueued: the queue was full


class ReverseDns:
    """The ``dns:`` service of one engine: cache, queue and resolver thread."""

    def __init__(self, servers: list[tuple[str, int]], cache_size: int = 10000,
                 positive_ttl: float = 3600.0, negative_ttl: float = 300.0,
                 timeout: float = 2.0, inflight: int = 32, queue: int = 1000) -> None:
        self.servers = servers
        self.cache: BoundedCache[str | None] = BoundedCache(cache_size)
        self.positive_ttl = positive_ttl
        self.negative_ttl = negative_ttl
        self.timeout = timeout
        self.inflight = max(1, inflight)
        self.queue_size = max(1, queue)
        self.counters = DnsCounters()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Addresses queued or being looked up (a gauge)."""
        return len(self._pending)

    # --- the per-sample side ------------------------------------------------------------
    def name(self, address: str) -> str:
        """The cached name of ``address``, else the address (a miss is enqueued)."""
        if not self.servers:
            return address
        cached = self.cache.get(address, time.monotonic())
        if cached is not MISS:
            return cached if cached is not None else address  # type: ignore[return-value]
        self._enqueue(address)
        return address

    def _enqueue(self, address: str) -> None:
        with self._lock:
            if address in self._pending or self._closed:
                return
            if len(self._pending) >= self.queue_size:
                self.counters.drops += 1
                return
            self._pending.add(address)
        loop = self._loop or self._start()
        loop.call_soon_threadsafe(self._schedule, address)

    # --- the resolver thread ------------------------------------------------------------
    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(target=self._run, args=(loop, ready),
                                          name="flowrt-dns", daemon=True)
                thread.start()
                ready.wait()
                self._thread, self._loop = thread, loop
            return self._loop

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._semaphore = asyncio.Semaphore(self.inflight)
        self._resolver = self._make_resolver()
        self._tasks: set[asyncio.Task[None]] = set()
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
            loop.close()

    def _make_resolver(self) -> object:
        import dns.asyncresolver
        import dns.nameserver

        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)
                                for host, port in self.servers]
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        resolver.cache = None
        return resolver

    def _schedule(self, address: str) -> None:
        task = asyncio.get_running_loop().create_task(self._resolve(address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, address: str) -> None:
        import dns.exception
        import dns.resolver

        name: str | None = None
        try:
            async with self._semaphore:
                self.counters.lookups += 1
                answer = await self._resolver.resolve_address(  # type: ignore[attr-defined]
                    address, lifetime=self.timeout)
                for record in answer:
                    name = record.target.to_text()
                    break
                if name is None:
                    self.counters.negatives += 1
                else:
                    self.counters.names += 1
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            self.counters.negatives += 1
        except dns.exception.Timeout:
            self.counters.timeouts += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # any reply we cannot use is a counted failure
            self.counters.failures += 1
        ttl = self.positive_ttl if name is not None else self.negative_ttl
        with self._lock:
            self.cache.put(address, name, time.monotonic() + ttl)
            self._pending.discard(address)

    def close(self) -> None:
        """Stop the resolver thread (pending lookups are abandoned)."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
