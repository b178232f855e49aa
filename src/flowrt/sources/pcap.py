"""Replay sFlow from capture files: classic pcap and pcapng, to UDP datagrams.

Captures are how sFlow problems get reported and how the decoder is tested, so a
replay must read whatever tcpdump, Wireshark or dumpcap wrote: classic pcap in either
byte order with micro- or nanosecond timestamps, and pcapng (several sections and
interfaces, each interface with its own link type and timestamp resolution).

The file framing is read here with ``struct`` rather than through ``dpkt.pcap.Reader``
/ ``dpkt.pcapng.Reader`` because we need three things those do not give: an error
with the reason and offset when a file is truncated or corrupt (dpkt returns a short
buffer or raises from deep inside its header classes), more than the first pcapng
interface, and float timestamps for nanosecond files (dpkt returns ``Decimal``).
The tests check this reader against files written by dpkt's writers.

A damaged file yields every good record before the damage, then raises
:class:`CaptureError`: a capture cut off by a killed tcpdump is still worth reading.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import IO, NamedTuple

from flowrt.sources.packet import FrameStats, udp_from_frame

# Classic pcap (tcpdump.org/manpages/pcap-savefile.5): the magic number as it reads in
# big-endian order tells the file's byte order and timestamp unit.
PCAP_MAGIC_MICRO = 0xA1B2C3D4
PCAP_MAGIC_NANO = 0xA1B23C4D
PCAP_MAGIC_MICRO_SWAPPED = 0xD4C3B2A1
PCAP_MAGIC_NANO_SWAPPED = 0x4D3CB2A1
PCAP_FILE_HEADER = 24
PCAP_RECORD_HEADER = 16
PCAP_LINKTYPE_MASK = 0xFFFF  # upper bits of the field carry FCS information
# libpcap refuses records larger than this unless the snaplen is larger still; a huge
# length means we are reading garbage, not a packet.
MAX_RECORD = 262144

# pcapng (IETF draft-ietf-opsawg-pcapng): block types and fields.
PCAPNG_SHB = 0x0A0D0D0A  # section header: a palindrome, readable before the byte order
PCAPNG_IDB = 0x00000001  # interface description
PCAPNG_PB = 0x00000002  # obsolete packet block
PCAPNG_SPB = 0x00000003  # simple packet block
PCAPNG_EPB = 0x00000006  # enhanced packet block
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_VERSION_MAJOR = 1
PCAPNG_MIN_BLOCK = 12  # type + length + trailing length
PCAPNG_MAX_BLOCK = 64 * 1024 * 1024
PCAPNG_OPT_END = 0
PCAPNG_OPT_IF_TSRESOL = 9
PCAPNG_OPT_IF_TSOFFSET = 14
PCAPNG_DEFAULT_TSRESOL = 6  # microseconds

FORMAT_PCAP = "pcap"
FORMAT_PCAPNG = "pcapng"


class CaptureError(Exception):
    """A capture file that cannot be read: missing, not a capture, truncated, corrupt."""


class CapturedDatagram(NamedTuple):
    """One UDP datagram read from a capture, with the time the capture recorded it."""

    timestamp: float  # seconds since the epoch
    source: str
    source_port: int
    destination: str
    destination_port: int
    payload: bytes


class PcapStats(FrameStats):
    """Counts for one replay: every record read and why any was not yielded."""

    __slots__ = ()


class _Interface(NamedTuple):
    linktype: int
    snaplen: int
    units_per_second: int  # timestamp ticks per second
    offset: int  # seconds added to every timestamp


class PcapReader:
    """Iterate the UDP datagrams of a pcap or pcapng file; ``stats`` says what was skipped.

    Opening reads and checks the file header, so a file that is not a capture fails at
    once rather than on the first iteration. Iterate once; the file closes at the end
    (or on :meth:`close` / leaving a ``with`` block).
    """

    def __init__(self, source: str | os.PathLike[str] | IO[bytes], port: int | None = None):
        self.port = port
        self.stats = PcapStats()
        self.name = os.fspath(source) if isinstance(source, str | os.PathLike) else "<stream>"
        if isinstance(source, str | os.PathLike):
            try:
                self._file: IO[bytes] = open(source, "rb")  # noqa: SIM115 (closed by close())
            except OSError as err:
                raise CaptureError(f"cannot open {self.name}: {err.strerror}") from None
            self._owns_file = True
        else:
            self._file = source
            self._owns_file = False
        self._offset = 0
        self.records = 0  # capture records read, packets or not
        try:
            self.format, self._frames = self._open()
        except BaseException:
            self.close()
            raise

    @property
    def bytes_read(self) -> int:
        """How far into the file reading has got: for progress reports."""
        return self._offset

    def __enter__(self) -> PcapReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_file:
            self._file.close()

    def __iter__(self) -> Iterator[CapturedDatagram]:
        stats, port = self.stats, self.port
        try:
            for linktype, timestamp, frame in self._frames:
                packet = udp_from_frame(linktype, frame, stats, port)
                if packet is not None:
                    yield CapturedDatagram(timestamp, *packet)
        finally:
            self.close()

    # -- file framing ----------------------------------------------------------------

    def _read(self, size: int, what: str) -> bytes:
        """Exactly ``size`` bytes, or CaptureError naming what was cut short."""
        data = self._file.read(size)
        if len(data) != size:
            raise CaptureError(
                f"{self.name}: file truncated in {what} at offset {self._offset}"
                f" ({len(data)} of {size} bytes)"
            )
        self._offset += size
        return data

    def _open(self) -> tuple[str, Iterator[tuple[int, float, bytes]]]:
        head = self._file.read(4)
        self._offset = len(head)
        if not head:
            raise CaptureError(f"{self.name}: empty file, not a capture")
        if len(head) < 4:
            raise CaptureError(f"{self.name}: {len(head)}-byte file, not a capture")
        (magic,) = struct.unpack(">I", head)
        if magic in (PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO):
            return FORMAT_PCAP, self._pcap(">", magic == PCAP_MAGIC_NANO)
        if magic in (PCAP_MAGIC_MICRO_SWAPPED, PCAP_MAGIC_NANO_SWAPPED):
            return FORMAT_PCAP, self._pcap("<", magic == PCAP_MAGIC_NANO_SWAPPED)
        if magic == PCAPNG_SHB:
            return FORMAT_PCAPNG, self._pcapng()
        raise CaptureError(f"{self.name}: not a pcap or pcapng file (magic 0x{magic:08x})")

    def _pcap(self, order: str, nano: bool) -> Iterator[tuple[int, float, bytes]]:
        rest = self._read(PCAP_FILE_HEADER - 4, "the file header")
        _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", rest)
        return self._pcap_records(order, nano, snaplen, network & PCAP_LINKTYPE_MASK)

    def _pcap_records(
        self, order: str, nano: bool, snaplen: int, linktype: int
    ) -> Iterator[tuple[int, float, bytes]]:
        record = struct.Struct(order + "IIII")
        unit = 1e9 if nano else 1e6
        limit = max(snaplen, MAX_RECORD)
        read = self._file.read
        while True:
            header = read(PCAP_RECORD_HEADER)
            if len(header) < PCAP_RECORD_HEADER:
                if header:
                    self._offset += len(header)
                    raise CaptureError(
                        f"{self.name}: file truncated in record {self.records + 1}'s header"
                        f" at offset {self._offset - len(header)}"
                    )
                return
            seconds, fraction, caplen, _origlen = record.unpack(header)
            self._offset += PCAP_RECORD_HEADER
            if caplen > limit:
                raise CaptureError(
                    f"{self.name}: corrupt record {self.records + 1} at offset"
                    f" {self._offset - PCAP_RECORD_HEADER}: captured length {caplen}"
                )
            frame = self._read(caplen, f"record {self.records + 1}")
            self.records += 1
            yield linktype, seconds + fraction / unit, frame

    def _pcapng(self) -> Iterator[tuple[int, float, bytes]]:
        order = self._pcapng_section_header(self._read(4, "the section header"))
        return self._pcapng_blocks(order)

    def _pcapng_section_header(self, length_word: bytes) -> str:
        """Finish reading a section header whose type and length words were read.

        The length word cannot be decoded before the byte-order magic that follows it
        says which byte order this section uses; returns that order.
        """
        bom = self._read(4, "a section header")
        if struct.unpack(">I", bom)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            order = ">"
        elif struct.unpack("<I", bom)[0] == PCAPNG_BYTE_ORDER_MAGIC:
            order = "<"
        else:
            raise CaptureError(f"{self.name}: corrupt pcapng section header (bad byte-order magic)")
        (length,) = struct.unpack(order + "I", length_word)
        body = self._block_body(order, PCAPNG_SHB, length, already=4)
        if len(body) < 2 or struct.unpack_from(order + "H", body)[0] != PCAPNG_VERSION_MAJOR:
            raise CaptureError(f"{self.name}: unsupported pcapng version")
        return order

    def _block_body(self, order: str, block_type: int, length: int, already: int = 0) -> bytes:
        """Read the rest of a block whose 8-byte header was read; check both length words."""
        start = self._offset - 8 - already
        if length < PCAPNG_MIN_BLOCK + already or length % 4 or length > PCAPNG_MAX_BLOCK:
            raise CaptureError(
                f"{self.name}: corrupt pcapng block 0x{block_type:x} at offset {start}:"
                f" length {length}"
            )
        rest = self._read(length - 8 - already, f"pcapng block 0x{block_type:x}")
        (trailer,) = struct.unpack_from(order + "I", rest, len(rest) - 4)
        if trailer != length:
            raise CaptureError(
                f"{self.name}: corrupt pcapng block 0x{block_type:x} at offset {start}:"
                f" length {length} but trailing length {trailer}"
            )
        return rest[:-4]

    def _pcapng_blocks(self, order: str) -> Iterator[tuple[int, float, bytes]]:
        interfaces: list[_Interface] = []
        read = self._file.read
        while True:
            header = read(8)
            if len(header) < 8:
                if header:
                    raise CaptureError(
                        f"{self.name}: file truncated in a block header at offset {self._offset}"
                    )
                return
            self._offset += 8
            (block_type,) = struct.unpack_from(order + "I", header, 0)
            if block_type == PCAPNG_SHB:
                order = self._pcapng_section_header(header[4:])
                interfaces = []  # interface ids are numbered per section
                continue
            (length,) = struct.unpack_from(order + "I", header, 4)
            body = self._block_body(order, block_type, length)
            if block_type == PCAPNG_IDB:
                interfaces.append(self._interface(order, body))
                continue
            if block_type == PCAPNG_EPB:
                if len(body) < 20:
                    raise self._corrupt(block_type, "enhanced packet block too short")
                iface_id, high, low, caplen, _origlen = struct.unpack_from(order + "IIIII", body)
                data_start = 20
            elif block_type == PCAPNG_SPB:
                if len(body) < 4:
                    raise self._corrupt(block_type, "simple packet block too short")
                iface_id, high, low = 0, 0, 0
                (origlen,) = struct.unpack_from(order + "I", body)
                caplen = min(origlen, len(body) - 4)
                if interfaces and interfaces[0].snaplen:
                    caplen = min(caplen, interfaces[0].snaplen)
                data_start = 4
            elif block_type == PCAPNG_PB:
                if len(body) < 20:
                    raise self._corrupt(block_type, "packet block too short")
                iface_id, _drops, high, low, caplen, _origlen = struct.unpack_from(
                    order + "HHIIII", body
                )
                data_start = 20
            else:
                continue  # name resolution, statistics, custom blocks: not packets
            if iface_id >= len(interfaces):
                raise self._corrupt(block_type, f"packet on undeclared interface {iface_id}")
            if data_start + caplen > len(body):
                raise self._corrupt(block_type, f"captured length {caplen} exceeds the block")
            iface = interfaces[iface_id]
            ticks = (high << 32) | low
            whole, fraction = divmod(ticks, iface.units_per_second)
            timestamp = whole + iface.offset + fraction / iface.units_per_second
            self.records += 1
            yield iface.linktype, timestamp, body[data_start : data_start + caplen]

    def _interface(self, order: str, body: bytes) -> _Interface:
        if len(body) < 8:
            raise self._corrupt(PCAPNG_IDB, "interface description block too short")
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
        units, offset = 10**PCAPNG_DEFAULT_TSRESOL, 0
        pos = 8
        while pos + 4 <= len(body):
            code, length = struct.unpack_from(order + "HH", body, pos)
            value = body[pos + 4 : pos + 4 + length]
            if code == PCAPNG_OPT_END:
                break
            if code == PCAPNG_OPT_IF_TSRESOL and len(value) >= 1:
                # high bit clear: 10^-n seconds per tick; set: 2^-n
                resolution = value[0]
                units = 2 ** (resolution & 0x7F) if resolution & 0x80 else 10**resolution
            elif code == PCAPNG_OPT_IF_TSOFFSET and len(value) >= 8:
                (offset,) = struct.unpack_from(order + "q", value)
            pos += 4 + ((length + 3) & ~3)
        return _Interface(linktype, snaplen, units, offset)

    def _corrupt(self, block_type: int, reason: str) -> CaptureError:
        return CaptureError(
            f"{self.name}: corrupt pcapng block 0x{block_type:x} before offset {self._offset}:"
            f" {reason}"
        )


def read_pcap(path: str | os.PathLike[str] | IO[bytes], port: int | None = None) -> PcapReader:
    """The UDP datagrams of a capture file (to ``port`` only, when given), in file order.

    Returns a :class:`PcapReader`: iterate it for :class:`CapturedDatagram` values and
    read its ``stats`` for what was skipped. Raises :class:`CaptureError` at once for a
    file that cannot be opened or is not a capture, and during iteration for damage.
    """
    return PcapReader(path, port)
