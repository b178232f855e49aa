"""dns: against real name servers: names, misses, timeouts, garbage, bounds, counters."""

from __future__ import annotations

import time

import pytest

from dnsservers import dnsmasq, garbage_server, silent_server
from flowrt.enrich.dns import DnsConfigError, ReverseDns, parse_servers

WAIT = 20.0


def settle(service: ReverseDns, timeout: float = WAIT) -> None:
    """Wait (bounded) until nothing is pending."""
    deadline = time.monotonic() + timeout
    while service.pending and time.monotonic() < deadline:
        time.sleep(0.02)
    assert service.pending == 0


def test_names_come_from_the_server_after_the_first_sample() -> None:
    with dnsmasq() as server:
        service = ReverseDns([server], timeout=2.0)
        try:
            # the first sample of an address is keyed by the address itself
            assert service.name("8.8.8.8") == "8.8.8.8"
            assert service.name("192.0.2.10") == "192.0.2.10"
            assert service.name("2001:db8::53") == "2001:db8::53"
            assert service.name("203.0.113.7") == "203.0.113.7"  # no PTR record
            settle(service)
            assert service.name("8.8.8.8") == "dns.google."
            assert service.name("192.0.2.10") == "web1.frt-dns.test."
            assert service.name("2001:db8::53") == "ns6.frt-dns.test."
            assert service.name("203.0.113.7") == "203.0.113.7"
            counters = service.counters
            assert (counters.lookups, counters.names, counters.negatives) == (4, 3, 1)
            assert (counters.timeouts, counters.failures, counters.drops) == (0, 0, 0)
            assert service.cache.hits == 4 and service.cache.misses == 4
        finally:
            service.close()


def test_a_server_that_never_answers_costs_a_counted_timeout() -> None:
    with silent_server() as server:
        service = ReverseDns([server], timeout=0.3, negative_ttl=60)
        try:
            assert service.name("8.8.8.8") == "8.8.8.8"
            settle(service)
            assert service.counters.timeouts == 1
            assert service.name("8.8.8.8") == "8.8.8.8"  # cached miss: no new query
            assert service.counters.lookups == 1
        finally:
            service.close()


def test_a_server_that_answers_garbage_costs_a_counted_failure_or_timeout() -> None:
    with garbage_server() as server:
        service = ReverseDns([server], timeout=0.5)
        try:
            assert service.name("1.1.1.1") == "1.1.1.1"
            settle(service)
            counters = service.counters
            assert counters.failures + counters.timeouts == 1
            assert counters.names == 0
            assert service.name("1.1.1.1") == "1.1.1.1"
        finally:
            service.close()


def test_the_queue_is_bounded_and_drops_are_counted() -> None:
    with silent_server() as server:
        service = ReverseDns([server], timeout=0.5, queue=3, inflight=1)
        try:
            for i in range(10):
                assert service.name(f"198.51.100.{i}") == f"198.51.100.{i}"
            assert service.pending <= 3
            assert service.counters.drops == 7
            settle(service)
            assert service.counters.lookups == 3
        finally:
            service.close()


def test_the_cache_is_bounded_and_expires() -> None:
    with dnsmasq() as server:
        service = ReverseDns([server], cache_size=2, positive_ttl=0.2, negative_ttl=0.2)
        try:
            for address in ("8.8.8.8", "1.1.1.1", "192.0.2.10"):
                service.name(address)
            settle(service)
            assert len(service.cache) == 2 and service.cache.evictions == 1
            time.sleep(0.3)
            assert service.name("1.1.1.1") == "1.1.1.1"  # expired: looked up again
            settle(service)
            assert service.name("1.1.1.1") == "one.one.one.one."
        finally:
            service.close()


def test_without_servers_no_query_is_sent() -> None:
    service = ReverseDns([])
    assert service.name("8.8.8.8") == "8.8.8.8"
    assert service.counters.lookups == 0 and service._thread is None


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("10.0.0.1", [("10.0.0.1", 53)]),
        (" 10.0.0.1 , 127.0.0.1:5353 ", [("10.0.0.1", 53), ("127.0.0.1", 5353)]),
        ("[::1]:5300,2001:db8::1", [("::1", 5300), ("2001:db8::1", 53)]),
        ("", []),
    ],
)
def test_dns_servers_property(text: str, servers: list[tuple[str, int]]) -> None:
    assert parse_servers(text) == servers


@pytest.mark.parametrize("text", ["ns1.example.com", "10.0.0.1:dns", "10.0.0.1:0", "[::1]x"])
def test_bad_dns_servers_are_refused(text: str) -> None:
    with pytest.raises(DnsConfigError, match=r"dns\.servers"):
        parse_servers(text)
