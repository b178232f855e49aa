/* flowrt._core._ingest: the compiled ingest core.
 *
 * One Core object walks sFlow v5 datagrams (header, flow_sample 0:1 and expanded
 * flow_sample 0:3, their records), locates the protocol layers of each sample's
 * sampled_header (the same walk as flowrt.sflow.packet.walk_layers), evaluates the
 * lowered flow programs (filter bytecode, key fields, sum value) and accumulates the
 * scaled values per (flow, agent, data source, key) until Python drains them.
 *
 * Anything it does not fully understand (decode errors of any kind, counter, discard or
 * unknown samples, records whose reference decoder could fail, agent address type 0) is
 * REFUSED: walk() returns None and Python runs the reference path on the whole
 * datagram, so both paths always give the same answer.  Every read is bounds-checked
 * against the enclosing structure, as in flowrt.sflow.decode.
 *
 * Plain C against the CPython API: no build-time dependency; the extension builds with
 * -fsanitize=address,undefined for fuzzing (see fuzz/).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sumtable.h" /* SumStore: plain-sum table entries in C (drain_to fills them) */

#define MAX_LAYERS 24
#define MAX_KEYS 32
#define TEXT_MAX 64
#define MAX_SAMPLES 8192
#define SAMPLE_FLOW 1
#define SAMPLE_FLOW_EXPANDED 3
#define TAG_SAMPLED_HEADER 1
#define IP6_UNKNOWN_NEXT 256
#define IP6_FRAG_SHIFT 9

/* ---------------------------------------------------------------- byte helpers */
static inline uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }

/* ---------------------------------------------------------------- layers */
typedef struct {
    int n;
    char kinds[MAX_LAYERS + 1];
    int32_t offs[MAX_LAYERS];
    int64_t aux[MAX_LAYERS];
} Layers;

static int ethertype_kind(int64_t etype) {
    switch (etype) {
    case 0x0800: return '4';
    case 0x86DD: return '6';
    case 0x0806: return 'a';
    case 0x8847: case 0x8848: return 'm';
    default: return 0;
    }
}
static int tunnel_kind(int64_t ptype) { return ptype == 0x6558 ? 'e' : ethertype_kind(ptype); }
static int ipproto_kind(int proto) {
    switch (proto) {
    case 1: return 'c';
    case 4: return '4';
    case 6: return 't';
    case 17: return 'u';
    case 41: return '6';
    case 47: return 'g';
    case 50: return 's';
    case 58: return 'C';
    default: return 0;
    }
}
static inline void push(Layers *L, char kind, int32_t off, int64_t aux) {
    L->kinds[L->n] = kind;
    L->offs[L->n] = off;
    L->aux[L->n] = aux;
    L->n++;
    L->kinds[L->n] = 0;
}

/* The layer walk: the same result as flowrt.sflow.packet.walk_layers. */
static void walk_layers(uint32_t protocol, const uint8_t *h, int64_t n, Layers *L) {
    int kind;
    int64_t off = 0;
    L->n = 0;
    L->kinds[0] = 0;
    switch (protocol) {
    case 1: kind = 'e'; break;
    case 11: kind = '4'; break;
    case 12: kind = '6'; break;
    case 13: kind = 'm'; break;
    default: return;
    }
    while (L->n < MAX_LAYERS) {
        if (kind == 'e') {
            if (off + 14 > n) break;
            push(L, 'e', (int32_t)off, -1);
            int i_eth = L->n - 1;
            int64_t p = off + 12;
            int64_t etype = rd16(h + p);
            while (etype == 0x8100 || etype == 0x88A8 || etype == 0x9100) {
                if (p + 6 > n || L->n >= MAX_LAYERS) { etype = -1; break; }
                push(L, 'q', (int32_t)(p + 2), 0);
                p += 4;
                etype = rd16(h + p);
            }
            off = p + 2;
            if (etype >= 0 && etype <= 1500) {
                if (off + 8 <= n && h[off] == 0xAA && h[off + 1] == 0xAA && h[off + 2] == 0x03) {
                    etype = rd16(h + off + 6);
                    off += 8;
                } else {
                    etype = -1;
                }
            }
            L->aux[i_eth] = etype;
            kind = ethertype_kind(etype);
            if (!kind) break;
        } else if (kind == '4') {
            if (off + 20 > n || h[off] >> 4 != 4) break;
            push(L, '4', (int32_t)off, 0);
            int hlen = (h[off] & 0x0F) << 2;
            if (hlen < 20 || (rd16(h + off + 6) & 0x1FFF)) break;
            kind = ipproto_kind(h[off + 9]);
            if (!kind) break;
            off += hlen;
        } else if (kind == '6') {
            if (off + 40 > n || h[off] >> 4 != 6) break;
            int64_t nxt = h[off + 6];
            int64_t p = off + 40, frag = 0;
            int first = 1;
            for (;;) {
                if (nxt == 0 || nxt == 43 || nxt == 60 || nxt == 135) {
                    if (p + 2 > n) { nxt = IP6_UNKNOWN_NEXT; break; }
                    int64_t np = p + (((int64_t)h[p + 1] + 1) << 3);
                    nxt = h[p];
                    p = np;
                } else if (nxt == 44) {
                    if (p + 8 > n) { nxt = IP6_UNKNOWN_NEXT; break; }
                    frag = p;
                    nxt = h[p];
                    p += 8;
                    if (rd16(h + frag + 2) >> 3) { first = 0; break; }
                } else if (nxt == 51) {
                    if (p + 2 > n) { nxt = IP6_UNKNOWN_NEXT; break; }
                    int64_t np = p + (((int64_t)h[p + 1] + 2) << 2);
                    nxt = h[p];
                    p = np;
                } else {
                    break;
                }
            }
            push(L, '6', (int32_t)off, nxt | frag << IP6_FRAG_SHIFT);
            if (!first) break;
            kind = ipproto_kind((int)nxt);
            if (nxt > 255 || !kind) break;
            off = p;
        } else if (kind == 't') {
            if (off + 4 <= n) push(L, 't', (int32_t)off, 0);
            break;
        } else if (kind == 'u') {
            if (off + 4 > n) break;
            push(L, 'u', (int32_t)off, 0);
            uint32_t dport = rd16(h + off + 2);
            if (dport == 4789) kind = 'x';
            else if (dport == 6081) kind = 'G';
            else break;
            off += 8;
        } else if (kind == 'x') {
            if (off + 8 > n || !(h[off] & 0x08)) break;
            push(L, 'x', (int32_t)off, 0);
            kind = 'e';
            off += 8;
        } else if (kind == 'G') {
            if (off + 8 > n || h[off] >> 6) break;
            push(L, 'G', (int32_t)off, 0);
            kind = tunnel_kind(rd16(h + off + 2));
            if (!kind) break;
            off += 8 + ((h[off] & 0x3F) << 2);
        } else if (kind == 'g') {
            if (off + 4 > n) break;
            uint32_t flags = rd16(h + off), ptype = rd16(h + off + 2);
            if (flags & 7) break;
            int64_t p = off + 4, key = 0;
            if (flags & 0x8000) p += 4;
            if (flags & 0x2000) { key = p; p += 4; }
            if (flags & 0x1000) p += 4;
            if (p > n) break;
            push(L, 'g', (int32_t)off, key);
            kind = tunnel_kind(ptype);
            if (!kind) break;
            off = p;
        } else if (kind == 'm') {
            if (off + 4 > n) break;
            push(L, 'm', (int32_t)off, 0);
            int bottom = h[off + 2] & 1;
            off += 4;
            if (bottom) {
                if (off >= n) break;
                int version = h[off] >> 4;
                if (version == 4) kind = '4';
                else if (version == 6) kind = '6';
                else break;
            }
        } else if (kind == 'a' || kind == 'c' || kind == 'C') {
            if (off + (kind == 'a' ? 8 : 2) <= n) push(L, (char)kind, (int32_t)off, 0);
            break;
        } else { /* ESP */
            if (off + 8 <= n) push(L, 's', (int32_t)off, 0);
            break;
        }
    }
}

/* ---------------------------------------------------------------- fields */
enum {
    F_AGENT, F_INPUTIFINDEX, F_OUTPUTIFINDEX, F_BYTES, F_FRAMES,
    /* header fields, per layer kind */
    H_MACDST, H_MACSRC, H_ETHTYPE, H_ISBCAST, H_ISMCAST, H_ISUCAST,
    H_VLAN, H_PRIORITY, H_MPLSLABEL,
    H_IPSRC, H_IPDST, H_IPPROTO, H_IPTOS, H_IPDSCP, H_IPECN, H_IPTTL, H_IPFLAGS, H_IPFRAGOFF,
    H_IPBYTES,
    H_IP6SRC, H_IP6DST, H_IP6NEXT, H_IP6TOS, H_IP6DSCP, H_IP6ECN, H_IP6FLOWLABEL, H_IP6BYTES,
    H_TCPSRC, H_TCPDST, H_TCPFLAGS, H_UDPSRC, H_UDPDST,
    H_ICMPTYPE, H_ICMPCODE, H_ICMP6TYPE, H_ICMP6CODE, H_VXLANVNI, H_GENEVEVNI, H_GREKEY,
    N_CODES
};

typedef struct {
    const char *name;
    int code;
    char kind; /* layer kind, 0 for sample context fields */
    char text; /* 1: the value is text, 0: an integer */
} FieldSpec;

static const FieldSpec FIELD_SPECS[] = {
    {"agent", F_AGENT, 0, 1}, {"inputifindex", F_INPUTIFINDEX, 0, 1},
    {"outputifindex", F_OUTPUTIFINDEX, 0, 1}, {"bytes", F_BYTES, 0, 0},
    {"frames", F_FRAMES, 0, 0},
    {"macdestination", H_MACDST, 'e', 1}, {"macsource", H_MACSRC, 'e', 1},
    {"ethernetprotocol", H_ETHTYPE, 'e', 0}, {"isbroadcast", H_ISBCAST, 'e', 1},
    {"ismulticast", H_ISMCAST, 'e', 1}, {"isunicast", H_ISUCAST, 'e', 1},
    {"vlan", H_VLAN, 'q', 0}, {"priority", H_PRIORITY, 'q', 0},
    {"mplslabel", H_MPLSLABEL, 'm', 0},
    {"ipsource", H_IPSRC, '4', 1}, {"ipdestination", H_IPDST, '4', 1},
    {"ipprotocol", H_IPPROTO, '4', 0}, {"iptos", H_IPTOS, '4', 0},
    {"ipdscp", H_IPDSCP, '4', 0}, {"ipecn", H_IPECN, '4', 1}, {"ipttl", H_IPTTL, '4', 0},
    {"ipflags", H_IPFLAGS, '4', 1}, {"ipfragoffset", H_IPFRAGOFF, '4', 0},
    {"ipbytes", H_IPBYTES, '4', 0},
    {"ip6source", H_IP6SRC, '6', 1}, {"ip6destination", H_IP6DST, '6', 1},
    {"ip6nexthdr", H_IP6NEXT, '6', 0}, {"ip6tos", H_IP6TOS, '6', 0},
    {"ip6dscp", H_IP6DSCP, '6', 0}, {"ip6ecn", H_IP6ECN, '6', 1},
    {"ip6flowlabel", H_IP6FLOWLABEL, '6', 0}, {"ip6bytes", H_IP6BYTES, '6', 0},
    {"tcpsourceport", H_TCPSRC, 't', 0}, {"tcpdestinationport", H_TCPDST, 't', 0},
    {"tcpflags", H_TCPFLAGS, 't', 1},
    {"udpsourceport", H_UDPSRC, 'u', 0}, {"udpdestinationport", H_UDPDST, 'u', 0},
    {"icmptype", H_ICMPTYPE, 'c', 0}, {"icmpcode", H_ICMPCODE, 'c', 0},
    {"icmp6type", H_ICMP6TYPE, 'C', 0}, {"icmp6code", H_ICMP6CODE, 'C', 0},
    {"vxlanvni", H_VXLANVNI, 'x', 0}, {"genevevni", H_GENEVEVNI, 'G', 0},
    {"grekey", H_GREKEY, 'g', 0},
};
#define N_SPECS ((int)(sizeof(FIELD_SPECS) / sizeof(FIELD_SPECS[0])))
#define MAX_DEPTH 3
/* field id = spec index * MAX_DEPTH + depth (depth only for header fields) */

/* ---------------------------------------------------------------- key text (keys)
 * Hand-formatted text for addresses and integers: snprintf/inet_ntop were most of a
 * sample's key cost. Each is byte-identical to what the reference extractors produce
 * (socket.inet_ntoa / socket.inet_ntop, i.e. glibc's rules; str(int)); Core.format_text
 * exposes them and tests/core/test_native_text.py compares them with the reference. */
static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal text of ``x`` at ``out`` (no terminator); returns its length (<= 20). */
static size_t fmt_u64(char *out, uint64_t x) {
    char tmp[20];
    size_t n = 0;
    while (x >= 100) {
        unsigned r = (unsigned)(x % 100);
        x /= 100;
        tmp[n++] = DIGIT_PAIRS[2 * r + 1];
        tmp[n++] = DIGIT_PAIRS[2 * r];
    }
    if (x >= 10) {
        tmp[n++] = DIGIT_PAIRS[2 * x + 1];
        tmp[n++] = DIGIT_PAIRS[2 * x];
    } else {
        tmp[n++] = (char)('0' + x);
    }
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* Signed decimal (str(int) for any int64). */
static size_t fmt_i64(char *out, int64_t x) {
    if (x >= 0) return fmt_u64(out, (uint64_t)x);
    out[0] = '-';
    return 1 + fmt_u64(out + 1, (uint64_t)0 - (uint64_t)x);
}

/* One byte in decimal, no leading zeros. */
static inline size_t fmt_u8(char *out, unsigned b) {
    if (b >= 100) {
        out[0] = (char)('0' + b / 100);
        out[1] = DIGIT_PAIRS[2 * (b % 100)];
        out[2] = DIGIT_PAIRS[2 * (b % 100) + 1];
        return 3;
    }
    if (b >= 10) {
        out[0] = DIGIT_PAIRS[2 * b];
        out[1] = DIGIT_PAIRS[2 * b + 1];
        return 2;
    }
    out[0] = (char)('0' + b);
    return 1;
}

/* Dotted quad (inet_ntoa); at most 15 characters. */
static size_t fmt_ip4(char *out, const uint8_t *p) {
    size_t n = fmt_u8(out, p[0]);
    for (int i = 1; i < 4; i++) {
        out[n++] = '.';
        n += fmt_u8(out + n, p[i]);
    }
    return n;
}

/* IPv6 text exactly as glibc's inet_ntop (what socket.inet_ntop gives the reference):
 * the longest run of >= 2 zero groups becomes "::" (the first on ties), groups in
 * lower-case hex without leading zeros, and "::a.b.c.d" / "::ffff:a.b.c.d" when the
 * run is the first 6 groups, or the first 5 followed by ffff. At most 39 characters. */
static size_t fmt_ip6(char *out, const uint8_t *p) {
    static const char hex[] = "0123456789abcdef";
    unsigned w[8];
    for (int i = 0; i < 8; i++) w[i] = (unsigned)p[2 * i] << 8 | p[2 * i + 1];
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; i++) {
        if (w[i] == 0) {
            if (cur < 0) cur = i, cur_len = 1;
            else cur_len++;
        } else if (cur >= 0) {
            if (best < 0 || cur_len > best_len) best = cur, best_len = cur_len;
            cur = -1;
        }
    }
    if (cur >= 0 && (best < 0 || cur_len > best_len)) best = cur, best_len = cur_len;
    if (best >= 0 && best_len < 2) best = -1;
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) out[n++] = ':';
            continue;
        }
        if (i) out[n++] = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            return n + fmt_ip4(out + n, p + 12);
        }
        unsigned x = w[i];
        int shift = x >= 0x1000 ? 12 : x >= 0x100 ? 8 : x >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4) out[n++] = hex[x >> shift & 15];
    }
    if (best >= 0 && best + best_len == 8) out[n++] = ':';
    return n;
}

/* One flow sample as the core sees it. */
typedef struct {
    uint32_t seq, stype, sindex, rate, pool, drops, ifmt, ival, ofmt, oval;
    int expanded;
    int has_header;
    uint32_t hproto, frame_length;
    const uint8_t *hdr;
    int64_t hlen;
    int located;
    Layers L;
} Sample;

/* A field value: missing, text, or an integer. */
typedef struct {
    int kind; /* 0 missing, 1 text, 2 int */
    int64_t num;
    size_t len;
    char text[TEXT_MAX];
} FieldValue;

static void set_int(FieldValue *v, int64_t x) { v->kind = 2; v->num = x; }
static void set_text(FieldValue *v, const char *s, size_t len) {
    v->kind = 1;
    memcpy(v->text, s, len);
    v->len = len;
}
static void set_mac(FieldValue *v, const uint8_t *p) {
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 6; i++) {
        v->text[2 * i] = hex[p[i] >> 4];
        v->text[2 * i + 1] = hex[p[i] & 15];
    }
    v->len = 12;
    v->kind = 1;
}
static void set_ip4(FieldValue *v, const uint8_t *p) {
    v->len = fmt_ip4(v->text, p);
    v->kind = 1;
}
static void set_ip6(FieldValue *v, const uint8_t *p) {
    v->len = fmt_ip6(v->text, p);
    v->kind = 1;
}
static void set_bits(FieldValue *v, unsigned x, int nbits) {
    for (int i = 0; i < nbits; i++) v->text[i] = (x >> (nbits - 1 - i)) & 1 ? '1' : '0';
    v->len = (size_t)nbits;
    v->kind = 1;
}
static void set_interface(FieldValue *v, uint32_t fmt, uint32_t value) {
    if (fmt == 0) {
        if (value == 0x3FFFFFFF) set_text(v, "internal", 8);
        else v->len = fmt_u64(v->text, value), v->kind = 1;
    } else if (fmt == 1) set_text(v, "discard", 7);
    else if (fmt == 2) set_text(v, "multiple", 8);
    else set_text(v, "unknown", 7);
}

/* The value of field ``fid`` in sample ``s`` (agent text for F_AGENT). */
static void field_value(const Sample *s, const char *agent, size_t agent_len, int fid,
                        FieldValue *v) {
    const FieldSpec *spec = &FIELD_SPECS[fid / MAX_DEPTH];
    int depth = fid % MAX_DEPTH;
    v->kind = 0;
    switch (spec->code) {
    case F_AGENT: set_text(v, agent, agent_len); return;
    case F_INPUTIFINDEX: set_interface(v, s->ifmt, s->ival); return;
    case F_OUTPUTIFINDEX: set_interface(v, s->ofmt, s->oval); return;
    case F_BYTES: set_int(v, s->frame_length); return;
    case F_FRAMES: set_int(v, 1); return;
    default: break;
    }
    const Layers *L = &s->L;
    int i = -1, seen = 0;
    for (int k = 0; k < L->n; k++) {
        if (L->kinds[k] == spec->kind && seen++ == depth) { i = k; break; }
    }
    if (i < 0) return;
    const uint8_t *b = s->hdr;
    int64_t o = L->offs[i], a = L->aux[i];
    switch (spec->code) {
    case H_MACDST: set_mac(v, b + o); break;
    case H_MACSRC: set_mac(v, b + o + 6); break;
    case H_ETHTYPE: if (a >= 0) set_int(v, a); break;
    case H_ISBCAST: {
        int bc = memcmp(b + o, "\xff\xff\xff\xff\xff\xff", 6) == 0;
        if (bc) set_text(v, "true", 4); else set_text(v, "false", 5);
        break;
    }
    case H_ISMCAST: {
        int bc = memcmp(b + o, "\xff\xff\xff\xff\xff\xff", 6) == 0;
        if ((b[o] & 1) && !bc) set_text(v, "true", 4); else set_text(v, "false", 5);
        break;
    }
    case H_ISUCAST: if (b[o] & 1) set_text(v, "false", 5); else set_text(v, "true", 4); break;
    case H_VLAN: set_int(v, (b[o] & 0x0F) << 8 | b[o + 1]); break;
    case H_PRIORITY: set_int(v, b[o] >> 5); break;
    case H_MPLSLABEL: set_int(v, (int64_t)b[o] << 12 | b[o + 1] << 4 | b[o + 2] >> 4); break;
    case H_IPSRC: set_ip4(v, b + o + 12); break;
    case H_IPDST: set_ip4(v, b + o + 16); break;
    case H_IPPROTO: set_int(v, b[o + 9]); break;
    case H_IPTOS: set_int(v, b[o + 1]); break;
    case H_IPDSCP: set_int(v, b[o + 1] >> 2); break;
    case H_IPECN: set_bits(v, b[o + 1] & 3, 2); break;
    case H_IPTTL: set_int(v, b[o + 8]); break;
    case H_IPFLAGS: set_bits(v, b[o + 6] >> 5, 3); break;
    case H_IPFRAGOFF: set_int(v, (b[o + 6] & 0x1F) << 8 | b[o + 7]); break;
    case H_IPBYTES: set_int(v, b[o + 2] << 8 | b[o + 3]); break;
    case H_IP6SRC: set_ip6(v, b + o + 8); break;
    case H_IP6DST: set_ip6(v, b + o + 24); break;
    case H_IP6NEXT: if ((a & 0x1FF) != IP6_UNKNOWN_NEXT) set_int(v, a & 0x1FF); break;
    case H_IP6TOS: set_int(v, (b[o] & 0x0F) << 4 | b[o + 1] >> 4); break;
    case H_IP6DSCP: set_int(v, (b[o] & 0x0F) << 2 | b[o + 1] >> 6); break;
    case H_IP6ECN: set_bits(v, b[o + 1] >> 4 & 3, 2); break;
    case H_IP6FLOWLABEL: set_int(v, (b[o + 1] & 0x0F) << 16 | b[o + 2] << 8 | b[o + 3]); break;
    case H_IP6BYTES: set_int(v, (b[o + 4] << 8 | b[o + 5]) + 40); break;
    case H_TCPSRC: case H_UDPSRC: set_int(v, b[o] << 8 | b[o + 1]); break;
    case H_TCPDST: case H_UDPDST: set_int(v, b[o + 2] << 8 | b[o + 3]); break;
    case H_TCPFLAGS:
        if (o + 14 <= s->hlen) set_bits(v, (b[o + 12] & 1) << 8 | b[o + 13], 9);
        break;
    case H_ICMPTYPE: case H_ICMP6TYPE: set_int(v, b[o]); break;
    case H_ICMPCODE: case H_ICMP6CODE: set_int(v, b[o + 1]); break;
    case H_VXLANVNI: case H_GENEVEVNI: set_int(v, b[o + 4] << 16 | b[o + 5] << 8 | b[o + 6]); break;
    case H_GREKEY: if (a) set_int(v, rd32(b + a)); break;
    default: break;
    }
}

/* keys: one slot of the per-sample field cache (Core.fcache, one per field id). The
 * slot holds the field's value for the sample being committed when ``gen`` equals
 * Core.field_gen (bumped once per sample: no clearing), its text when ``texted`` too. */
#define N_FIDS (N_SPECS * MAX_DEPTH)
typedef struct {
    uint32_t gen;
    int texted;
    FieldValue v;
} CachedField;

/* ---------------------------------------------------------------- programs */
enum { OP_CMP = 0, OP_AND = 1, OP_OR = 2 };
enum { VALUE_FRAMES = -1 };

typedef struct {
    int op;
    int fid, negate, want_null, count; /* OP_CMP: field, !=, null listed; AND/OR: operands */
    int nvalues;
    char **values;
    size_t *lens;
} Instr;

typedef struct {
    int flow_id;
    int nkeys;
    int keys[MAX_KEYS];
    char *fs;
    size_t fs_len;
    int value_fid; /* VALUE_FRAMES or an integer field */
    int ninstr;
    Instr *code;
} Program;

/* ---------------------------------------------------------------- aggregation */
/* Keys the aggregation holds before the driver must drain it (Core.pending reaches
 * AGG_LIMIT: flowrt.engine.native flushes early and counts it). One commit adds at most
 * MAX_SAMPLES x programs keys, so the table never holds more than AGG_LIMIT plus one
 * datagram's worth: memory is bounded whatever the key churn of a batch. */
#define AGG_LIMIT 65536
typedef struct {
    uint64_t hash;
    size_t off;   /* key bytes in the arena */
    uint32_t len;
    uint32_t count;
    double sum;
} Slot;

typedef struct {
    Slot *slots;
    size_t cap, used;
    char *arena;
    size_t arena_len, arena_cap;
} Agg;

static int agg_grow(Agg *a) {
    size_t ncap = a->cap ? a->cap * 2 : 1024;
    Slot *ns = PyMem_Calloc(ncap, sizeof(Slot));
    if (!ns) return -1;
    for (size_t i = 0; i < a->cap; i++) {
        if (!a->slots[i].hash) continue;
        size_t j = a->slots[i].hash & (ncap - 1);
        while (ns[j].hash) j = (j + 1) & (ncap - 1);
        ns[j] = a->slots[i];
    }
    PyMem_Free(a->slots);
    a->slots = ns;
    a->cap = ncap;
    return 0;
}

static int agg_add(Agg *a, const char *key, size_t len, double value) {
    if ((a->used + 1) * 2 > a->cap && agg_grow(a) < 0) return -1;
    uint64_t h = key_hash(key, len);
    size_t j = h & (a->cap - 1);
    while (a->slots[j].hash) {
        Slot *s = &a->slots[j];
        if (s->hash == h && s->len == len && memcmp(a->arena + s->off, key, len) == 0) {
            s->sum += value;
            s->count++;
            return 0;
        }
        j = (j + 1) & (a->cap - 1);
    }
    if (a->arena_len + len > a->arena_cap) {
        size_t ncap = a->arena_cap ? a->arena_cap * 2 : 65536;
        while (ncap < a->arena_len + len) ncap *= 2;
        char *na = PyMem_Realloc(a->arena, ncap);
        if (!na) return -1;
        a->arena = na;
        a->arena_cap = ncap;
    }
    memcpy(a->arena + a->arena_len, key, len);
    Slot *s = &a->slots[j];
    s->hash = h;
    s->off = a->arena_len;
    s->len = (uint32_t)len;
    s->count = 1;
    s->sum = value;
    a->arena_len += len;
    a->used++;
    return 0;
}

static void agg_clear(Agg *a) {
    if (a->slots) memset(a->slots, 0, a->cap * sizeof(Slot));
    a->used = 0;
    a->arena_len = 0;
}

/* ---------------------------------------------------------------- the Core object */
typedef struct {
    PyObject_HEAD
    Program *programs;
    int nprograms;
    /* flow record tag -> minimum length (>= 0), -1: refuse, absent: unknown record */
    PyObject *record_rules; /* dict[int, int] */
    int32_t *rule_tags, *rule_mins;
    int nrules;
    PyObject *datagram_type, *flow_sample_type;
    /* the walked datagram, pending until commit() */
    Sample *samples;
    int nsamples;
    char agent[INET6_ADDRSTRLEN + 1];
    size_t agent_len;
    int mixed; /* the walked datagram also holds counter samples */
    /* where they are: bytes [counter_at[i], counter_end[i]) of the payload, and the end
       of the datagram header (their counters-only copy is that header + them) */
    size_t *counter_at, *counter_end;
    int ncounters;
    size_t header_end;
    uint32_t hdr[4]; /* the walked datagram's sub agent, sequence, uptime, sample count */
    PyObject *pending_payload;
    Agg agg;
    /* counters */
    unsigned long long walked, refused, committed_samples;
    /* Core.recv's buffers, made on its first call and kept: a fresh 16 MiB per call
       moved through the allocator's heaps and left the process RSS creeping */
    uint8_t *rx_bufs;
    struct mmsghdr *rx_msgs;
    struct iovec *rx_iov;
    struct sockaddr_storage *rx_addrs;
    char *rx_ctrl;
    int rx_busy; /* a recv is under way (one receive thread per Core) */
    /* keys: the per-sample field cache. 20 flows share few fields: each field a
       sample's programs use is extracted and turned to text once per sample, not once
       per program (slot i is field id i; valid while its gen is field_gen) */
    CachedField *fcache;
    uint32_t field_gen;
} Core;

static void free_programs(Core *c) {
    for (int i = 0; i < c->nprograms; i++) {
        Program *p = &c->programs[i];
        for (int k = 0; k < p->ninstr; k++) {
            Instr *in = &p->code[k];
            for (int j = 0; j < in->nvalues; j++) PyMem_Free(in->values[j]);
            PyMem_Free(in->values);
            PyMem_Free(in->lens);
        }
        PyMem_Free(p->code);
        PyMem_Free(p->fs);
    }
    PyMem_Free(c->programs);
    c->programs = NULL;
    c->nprograms = 0;
}

static void Core_dealloc(Core *c) {
    free_programs(c);
    Py_XDECREF(c->record_rules);
    Py_XDECREF(c->datagram_type);
    Py_XDECREF(c->flow_sample_type);
    Py_XDECREF(c->pending_payload);
    PyMem_Free(c->rule_tags);
    PyMem_Free(c->rule_mins);
    PyMem_Free(c->samples);
    PyMem_Free(c->counter_at);
    PyMem_Free(c->counter_end);
    PyMem_Free(c->fcache);
    PyMem_Free(c->agg.slots);
    PyMem_Free(c->agg.arena);
    PyMem_RawFree(c->rx_bufs);
    PyMem_Free(c->rx_msgs);
    PyMem_Free(c->rx_iov);
    PyMem_Free(c->rx_addrs);
    PyMem_Free(c->rx_ctrl);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int Core_init(Core *c, PyObject *args, PyObject *kw) {
    static char *names[] = {"datagram_type", "flow_sample_type", "record_rules", NULL};
    PyObject *dt, *ft, *rules;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO!", names, &dt, &ft, &PyDict_Type, &rules))
        return -1;
    Py_XSETREF(c->datagram_type, Py_NewRef(dt));
    Py_XSETREF(c->flow_sample_type, Py_NewRef(ft));
    Py_ssize_t n = PyDict_Size(rules), pos = 0, i = 0;
    PyMem_Free(c->rule_tags);
    PyMem_Free(c->rule_mins);
    c->rule_tags = PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
    c->rule_mins = PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
    if (!c->rule_tags || !c->rule_mins) { PyErr_NoMemory(); return -1; }
    PyObject *k, *v;
    while (PyDict_Next(rules, &pos, &k, &v)) {
        long tag = PyLong_AsLong(k), min = PyLong_AsLong(v);
        if (PyErr_Occurred()) return -1;
        c->rule_tags[i] = (int32_t)tag;
        c->rule_mins[i] = (int32_t)min;
        i++;
    }
    c->nrules = (int)n;
    if (!c->fcache && !(c->fcache = PyMem_Calloc(N_FIDS, sizeof(CachedField)))) {
        PyErr_NoMemory();
        return -1;
    }
    if (!c->samples) {
        c->samples = PyMem_Calloc(MAX_SAMPLES, sizeof(Sample));
        c->counter_at = PyMem_Calloc(MAX_SAMPLES, sizeof(size_t));
        c->counter_end = PyMem_Calloc(MAX_SAMPLES, sizeof(size_t));
        if (!c->samples || !c->counter_at || !c->counter_end) { PyErr_NoMemory(); return -1; }
    }
    return 0;
}

/* 1: the record may be decoded by the reference decoder without error; 0: refuse. */
static int record_ok(const Core *c, uint32_t tag, uint32_t len) {
    for (int i = 0; i < c->nrules; i++) {
        if ((uint32_t)c->rule_tags[i] == tag) return c->rule_mins[i] >= 0 && len >= (uint32_t)c->rule_mins[i];
    }
    return 1; /* not a registered record: the reference keeps it as UnknownRecord */
}

/* Walk one datagram into c->samples. 0: usable; -1: refused (reference path). */
static int walk_datagram(Core *c, const uint8_t *d, size_t end, uint32_t *hdr) {
    c->nsamples = 0;
    c->mixed = 0;
    c->ncounters = 0;
    if (end < 8) return -1;
    if (rd32(d) != 5) return -1;
    uint32_t addr_type = rd32(d + 4);
    size_t off;
    if (addr_type == 1) {
        if (end < 28) return -1;
        c->agent_len = fmt_ip4(c->agent, d + 8);
        off = 12;
    } else if (addr_type == 2) {
        if (end < 40) return -1;
        c->agent_len = fmt_ip6(c->agent, d + 8);
        off = 24;
    } else {
        return -1;
    }
    c->agent[c->agent_len] = 0;
    hdr[0] = rd32(d + off);      /* sub agent */
    hdr[1] = rd32(d + off + 4);  /* sequence */
    hdr[2] = rd32(d + off + 8);  /* uptime */
    uint32_t count = rd32(d + off + 12);
    hdr[3] = count;
    off += 16;
    c->header_end = off;
    for (uint32_t index = 0; index < count; index++) {
        if (off + 8 > end) return -1;
        uint32_t tag = rd32(d + off), length = rd32(d + off + 4);
        size_t start = off + 8, stop = start + length;
        if (stop > end) return -1;
        size_t sample_at = off;
        off = start + (((size_t)length + 3) & ~(size_t)3);
        if (c->nsamples >= MAX_SAMPLES) return -1;
        Sample *s = &c->samples[c->nsamples];
        size_t pos;
        uint32_t nrecords;
        if (tag == SAMPLE_FLOW) {
            if (start + 32 > stop) return -1;
            const uint8_t *p = d + start;
            uint32_t source = rd32(p + 4), inp = rd32(p + 20), out = rd32(p + 24);
            s->seq = rd32(p);
            s->stype = source >> 24;
            s->sindex = source & 0xFFFFFF;
            s->rate = rd32(p + 8);
            s->pool = rd32(p + 12);
            s->drops = rd32(p + 16);
            s->ifmt = inp >> 30;
            s->ival = inp & 0x3FFFFFFF;
            s->ofmt = out >> 30;
            s->oval = out & 0x3FFFFFFF;
            nrecords = rd32(p + 28);
            pos = start + 32;
            s->expanded = 0;
        } else if (tag == SAMPLE_FLOW_EXPANDED) {
            if (start + 44 > stop) return -1;
            const uint8_t *p = d + start;
            s->seq = rd32(p);
            s->stype = rd32(p + 4);
            s->sindex = rd32(p + 8);
            s->rate = rd32(p + 12);
            s->pool = rd32(p + 16);
            s->drops = rd32(p + 20);
            s->ifmt = rd32(p + 24);
            s->ival = rd32(p + 28);
            s->ofmt = rd32(p + 32);
            s->oval = rd32(p + 36);
            nrecords = rd32(p + 40);
            pos = start + 44;
            s->expanded = 1;
        } else if (tag == 2 || tag == 4) {
            c->mixed = 1; /* counter samples: Python decodes them (a counters-only copy) */
            if (c->ncounters >= MAX_SAMPLES) return -1;
            c->counter_at[c->ncounters] = sample_at;
            c->counter_end[c->ncounters] = off < end ? off : end;
            c->ncounters++;
            continue;
        } else {
            return -1; /* discard and unknown samples: the reference path */
        }
        s->has_header = 0;
        s->located = 0;
        s->L.n = 0;
        s->L.kinds[0] = 0;
        s->frame_length = 0;
        for (uint32_t r = 0; r < nrecords; r++) {
            if (pos + 8 > stop) return -1;
            uint32_t rtag = rd32(d + pos), rlen = rd32(d + pos + 4);
            size_t rstart = pos + 8, rstop = rstart + rlen;
            if (rstop > stop) return -1;
            if (rtag == TAG_SAMPLED_HEADER) {
                if (rlen < 16) return -1;
                uint32_t n = rd32(d + rstart + 12);
                if (n > rlen - 16) return -1;
                if (!s->has_header) {
                    s->has_header = 1;
                    s->hproto = rd32(d + rstart);
                    s->frame_length = rd32(d + rstart + 4);
                    s->hdr = d + rstart + 16;
                    s->hlen = n;
                }
            } else if (!record_ok(c, rtag, rlen)) {
                return -1;
            }
            pos = rstart + (((size_t)rlen + 3) & ~(size_t)3);
        }
        c->nsamples++;
    }
    return 0;
}

static void locate(Sample *s) {
    if (!s->located) {
        walk_layers(s->hproto, s->hdr, s->hlen, &s->L);
        s->located = 1;
    }
}

/* keys: the sample's field ``fid`` from the cache (extracted on first use). */
static CachedField *field_cached(Core *c, const Sample *s, int fid) {
    CachedField *f = &c->fcache[fid];
    if (f->gen != c->field_gen) {
        field_value(s, c->agent, c->agent_len, fid, &f->v);
        f->gen = c->field_gen;
        f->texted = f->v.kind != 2;
    }
    return f;
}

/* The field as text (as_text's rule: integers in decimal); kind 0 = missing. */
static const FieldValue *text_cached(Core *c, const Sample *s, int fid) {
    CachedField *f = field_cached(c, s, fid);
    if (!f->texted) {
        f->v.len = fmt_i64(f->v.text, f->v.num);
        f->texted = 1;
    }
    return &f->v;
}

/* Start the cache over for the next sample: every slot becomes stale. */
static void next_sample_fields(Core *c) {
    if (++c->field_gen == 0) { /* wrapped: clear once every 2^32 samples */
        for (int i = 0; i < N_FIDS; i++) c->fcache[i].gen = 0;
        c->field_gen = 1;
    }
}

/* Run the filter program; 1 = the sample passes. */
static int run_filter(Core *c, const Program *p, const Sample *s) {
    int stack[256];
    int sp = 0;
    for (int k = 0; k < p->ninstr; k++) {
        const Instr *in = &p->code[k];
        if (in->op == OP_CMP) {
            const FieldValue *v = text_cached(c, s, in->fid);
            int hit;
            if (v->kind == 0) {
                hit = in->want_null;
            } else {
                hit = 0;
                for (int j = 0; j < in->nvalues; j++) {
                    if (in->lens[j] == v->len && memcmp(in->values[j], v->text, v->len) == 0) {
                        hit = 1;
                        break;
                    }
                }
            }
            if (sp >= 256) return 0;
            stack[sp++] = in->negate ? !hit : hit;
        } else {
            int n = in->count, res = in->op == OP_AND;
            if (n > sp) return 0;
            for (int j = sp - n; j < sp; j++) {
                if (in->op == OP_AND) res = res && stack[j];
                else res = res || stack[j];
            }
            sp -= n;
            stack[sp++] = res;
        }
    }
    return sp ? stack[sp - 1] : 1;
}

#define KEYBUF 4096

/* The aggregation key's sample part, once per sample at ``key``: after room for the
   flow id, the data source code and the agent. Returns its end (the key text starts
   there). */
static size_t key_prefix(const Core *c, const Sample *s, char *key) {
    uint64_t code = (uint64_t)s->stype << 32 | s->sindex;
    size_t n = sizeof(int);
    memcpy(key + n, &code, sizeof code);
    n += sizeof code;
    key[n++] = (char)c->agent_len;
    memcpy(key + n, c->agent, c->agent_len);
    return n + c->agent_len;
}

/* Count one sample in one program: 1 counted, 0 not, -1 error (memory). ``key`` holds
   the sample's key_prefix (``n`` bytes); the aggregation key is the flow id, that
   prefix, then the flow key text. */
static int count_sample(Core *c, const Program *p, Sample *s, char *key, size_t n) {
    if (p->ninstr && !run_filter(c, p, s)) return 0;
    memcpy(key, &p->flow_id, sizeof(int));
    for (int i = 0; i < p->nkeys; i++) {
        const FieldValue *v = text_cached(c, s, p->keys[i]);
        if (v->kind == 0) return 0;
        if (i) {
            if (n + p->fs_len > KEYBUF) return 0;
            memcpy(key + n, p->fs, p->fs_len);
            n += p->fs_len;
        }
        if (n + v->len > KEYBUF) return 0;
        memcpy(key + n, v->text, v->len);
        n += v->len;
    }
    double rate = s->rate ? (double)s->rate : 1.0, value;
    if (p->value_fid == VALUE_FRAMES) {
        value = rate;
    } else {
        const FieldValue *v = &field_cached(c, s, p->value_fid)->v;
        if (v->kind != 2) return 0;
        value = (double)v->num * rate;
    }
    return agg_add(&c->agg, key, n, value) < 0 ? -1 : 1;
}

/* ---------------------------------------------------------------- flow-sample accounting */
/* FlowStream: one data source's flow_sample stream, the C port of
 * flowrt.engine.agents' SequenceTracker (the rule in that module's docstring: a ring of
 * REORDER_WINDOW fingerprints, outcomes FIRST/IN_ORDER/GAP/DUPLICATE/LATE/STALE/RESTART)
 * together with DataSourceStats.add_flow's per-sample bookkeeping (agent drops delta,
 * sample_pool advance for the effective sampling rate, sampling rate). The Python
 * tracker is the oracle: tests/core/test_flow_stream.py drives both with the same
 * streams. Counts the table-wide StreamTotals (``totals``) and the data source's
 * ``flow_drops`` (and its totals) live in Python and are updated here only when they
 * change (anomalies and drops, rare); everything per sample stays in C. */
#define RW 64
#define RW_MASK (RW - 1)
#define RING_MISSING (-1)
#define RING_NEVER (-2)
#define UP_JITTER 1000
#define UP_SLACK 10000
#define UP_WRAP_MARGIN 1000000
enum { O_FIRST, O_IN_ORDER, O_GAP, O_DUPLICATE, O_LATE, O_STALE, O_RESTART };

typedef struct {
    PyObject_HEAD
    PyObject *totals; /* StreamTotals (lost, duplicates, out_of_order, restarts) */
    long long received, lost, duplicates, out_of_order, restarts;
    int has_head, pending_restart;
    uint32_t head;
    int64_t head_uptime; /* 0: unknown */
    int64_t ring[RW];
    /* DataSourceStats.add_flow's state */
    int has_last_drops, has_rate, has_pool;
    uint32_t last_drops, rate, pool_last;
    uint64_t pool_span, pool_samples;
} FlowStream;

static PyObject *s_lost, *s_duplicates, *s_out_of_order, *s_restarts, *s_flow_drops,
    *s_sampling_rate, *s_totals, *s_last_seen, *s_epoch, *s_stream, *s_restart, *s_flow;

static int bump(PyObject *obj, PyObject *name, long long delta) {
    if (!delta || obj == Py_None) return 0;
    PyObject *v = PyObject_GetAttr(obj, name);
    if (!v) return -1;
    PyObject *d = PyLong_FromLongLong(delta);
    PyObject *sum = d ? PyNumber_Add(v, d) : NULL;
    Py_DECREF(v);
    Py_XDECREF(d);
    if (!sum) return -1;
    int rc = PyObject_SetAttr(obj, name, sum);
    Py_DECREF(sum);
    return rc;
}

static int fs_start(FlowStream *f, uint32_t seq, int64_t fp, int64_t uptime, int outcome) {
    f->received++;
    if (outcome == O_RESTART) {
        f->restarts++;
        if (bump(f->totals, s_restarts, 1) < 0) return -1;
    }
    for (int i = 0; i < RW; i++) f->ring[i] = RING_NEVER;
    f->ring[seq & RW_MASK] = fp;
    f->has_head = 1;
    f->head = seq;
    f->head_uptime = uptime;
    return outcome;
}

/* SequenceTracker.observe; -1 on a Python error (from the totals). */
static int fs_observe(FlowStream *f, uint32_t seq, int64_t fp, int64_t uptime) {
    if (!f->has_head) {
        if (f->pending_restart) {
            f->pending_restart = 0;
            return fs_start(f, seq, fp, uptime, O_RESTART);
        }
        return fs_start(f, seq, fp, uptime, O_FIRST);
    }
    int known = f->head_uptime != 0 && uptime != 0;
    int64_t back = 0;
    if (known) {
        back = f->head_uptime - uptime;
        if (back > 0 && f->head_uptime >= ((int64_t)1 << 32) - UP_WRAP_MARGIN && uptime < UP_WRAP_MARGIN)
            back -= (int64_t)1 << 32;
    }
    int64_t delta = (int32_t)(seq - f->head);
    if (delta > 0) {
        if (known && back > UP_JITTER) return fs_start(f, seq, fp, uptime, O_RESTART);
        f->received++;
        int outcome = O_IN_ORDER;
        if (delta > 1) {
            outcome = O_GAP;
            f->lost += delta - 1;
            if (bump(f->totals, s_lost, delta - 1) < 0) return -1;
            int64_t k0 = delta - RW + 1 > 1 ? delta - RW + 1 : 1;
            for (int64_t k = k0; k < delta; k++) f->ring[(f->head + (uint32_t)k) & RW_MASK] = RING_MISSING;
        }
        f->ring[seq & RW_MASK] = fp;
        f->head = seq;
        f->head_uptime = uptime;
        return outcome;
    }
    int64_t slot = -delta < RW ? f->ring[seq & RW_MASK] : RING_NEVER;
    if (slot == RING_MISSING) {
        f->ring[seq & RW_MASK] = fp;
        f->received++;
        f->lost--;
        f->out_of_order++;
        if (bump(f->totals, s_lost, -1) < 0 || bump(f->totals, s_out_of_order, 1) < 0) return -1;
        return O_LATE;
    }
    if (slot == fp) {
        f->duplicates++;
        if (bump(f->totals, s_duplicates, 1) < 0) return -1;
        return O_DUPLICATE;
    }
    if (slot != RING_NEVER || (known && back > UP_SLACK) ||
        (seq < RW && (!known || back > UP_JITTER)))
        return fs_start(f, seq, fp, uptime, O_RESTART);
    f->received++;
    f->out_of_order++;
    if (bump(f->totals, s_out_of_order, 1) < 0) return -1;
    return O_STALE;
}

/* DataSourceStats.add_flow for the data source ``ds`` (its flow_drops, totals and
   sampling_rate attributes are written when they change). */
static int fs_add_flow(FlowStream *f, PyObject *ds, uint32_t seq, uint32_t pool, uint32_t drops,
                       uint32_t rate, int64_t uptime) {
    int outcome = fs_observe(f, seq, pool, uptime);
    if (outcome < 0 || outcome == O_DUPLICATE) return outcome;
    int late = outcome == O_LATE || outcome == O_STALE;
    if (f->has_last_drops && outcome != O_FIRST && !late) {
        long long delta = drops >= f->last_drops ? (long long)drops - f->last_drops : (long long)drops;
        if (delta) {
            if (bump(ds, s_flow_drops, delta) < 0) return -1;
            PyObject *totals = PyObject_GetAttr(ds, s_totals);
            if (!totals) return -1;
            int rc = bump(totals, s_flow_drops, delta);
            Py_DECREF(totals);
            if (rc < 0) return -1;
        }
    }
    if (!late) {
        f->last_drops = drops;
        f->has_last_drops = 1;
    }
    if (outcome == O_FIRST || outcome == O_RESTART || !f->has_rate || rate != f->rate) {
        f->pool_last = pool;
        f->has_pool = 1;
        f->pool_span = f->pool_samples = 0;
    } else if (!late && f->has_pool) {
        f->pool_span += (uint32_t)(pool - f->pool_last);
        f->pool_last = pool;
        f->pool_samples++;
    }
    if (!f->has_rate || rate != f->rate) {
        PyObject *r = PyLong_FromUnsignedLong(rate);
        if (!r) return -1;
        int rc = PyObject_SetAttr(ds, s_sampling_rate, r);
        Py_DECREF(r);
        if (rc < 0) return -1;
        f->rate = rate;
        f->has_rate = 1;
    }
    return outcome;
}

static int FlowStream_init(FlowStream *f, PyObject *args, PyObject *kw) {
    static char *names[] = {"totals", NULL};
    PyObject *totals = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", names, &totals)) return -1;
    Py_XSETREF(f->totals, Py_NewRef(totals));
    for (int i = 0; i < RW; i++) f->ring[i] = RING_NEVER;
    return 0;
}

static void FlowStream_dealloc(FlowStream *f) {
    Py_XDECREF(f->totals);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

/* observe(seq, fingerprint, uptime) -> outcome code (SequenceTracker.observe) */
static PyObject *FlowStream_observe(FlowStream *f, PyObject *args) {
    unsigned long seq;
    long long fp, uptime = 0;
    PyObject *up = Py_None;
    if (!PyArg_ParseTuple(args, "kL|O", &seq, &fp, &up)) return NULL;
    if (up != Py_None && (uptime = PyLong_AsLongLong(up)) == -1 && PyErr_Occurred()) return NULL;
    int rc = fs_observe(f, (uint32_t)seq, fp, uptime);
    return rc < 0 ? NULL : PyLong_FromLong(rc);
}

/* add_flow(ds, seq, sample_pool, drops, sampling_rate, uptime) -> outcome code */
static PyObject *FlowStream_add_flow(FlowStream *f, PyObject *args) {
    PyObject *ds;
    unsigned long seq, pool, drops, rate;
    long long uptime;
    if (!PyArg_ParseTuple(args, "OkkkkL", &ds, &seq, &pool, &drops, &rate, &uptime)) return NULL;
    int rc = fs_add_flow(f, ds, (uint32_t)seq, (uint32_t)pool, (uint32_t)drops, (uint32_t)rate, uptime);
    return rc < 0 ? NULL : PyLong_FromLong(rc);
}

static PyObject *FlowStream_force_restart(FlowStream *f, PyObject *Py_UNUSED(ignored)) {
    if (f->has_head) {
        f->has_head = 0;
        f->pending_restart = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *FlowStream_get_last(FlowStream *f, void *Py_UNUSED(c)) {
    if (!f->has_head) Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(f->head);
}
static PyObject *FlowStream_get_last_uptime(FlowStream *f, void *Py_UNUSED(c)) {
    if (!f->has_head) Py_RETURN_NONE;
    return PyLong_FromLongLong(f->head_uptime);
}
static PyObject *FlowStream_get_effective(FlowStream *f, void *Py_UNUSED(c)) {
    if (!f->pool_samples) Py_RETURN_NONE;
    return PyFloat_FromDouble((double)f->pool_span / (double)f->pool_samples);
}
static PyObject *FlowStream_get_ring(FlowStream *f, void *Py_UNUSED(c)) {
    if (!f->has_head && !f->pending_restart && !f->received) Py_RETURN_NONE;
    PyObject *t = PyTuple_New(RW);
    if (!t) return NULL;
    for (int i = 0; i < RW; i++) {
        PyObject *v = PyLong_FromLongLong(f->ring[i]);
        if (!v) { Py_DECREF(t); return NULL; }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyMemberDef FlowStream_members[] = {
    {"received", T_LONGLONG, offsetof(FlowStream, received), READONLY, NULL},
    {"lost", T_LONGLONG, offsetof(FlowStream, lost), READONLY, NULL},
    {"duplicates", T_LONGLONG, offsetof(FlowStream, duplicates), READONLY, NULL},
    {"out_of_order", T_LONGLONG, offsetof(FlowStream, out_of_order), READONLY, NULL},
    {"restarts", T_LONGLONG, offsetof(FlowStream, restarts), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef FlowStream_getset[] = {
    {"last", (getter)FlowStream_get_last, NULL, "The head: highest number of the run.", NULL},
    {"last_uptime", (getter)FlowStream_get_last_uptime, NULL, "The head's uptime.", NULL},
    {"effective_sampling_rate", (getter)FlowStream_get_effective, NULL,
     "sample_pool advance per received sample (None before two samples).", NULL},
    {"ring", (getter)FlowStream_get_ring, NULL, "The fingerprint ring (tests).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef FlowStream_methods[] = {
    {"observe", (PyCFunction)FlowStream_observe, METH_VARARGS, "SequenceTracker.observe."},
    {"add_flow", (PyCFunction)FlowStream_add_flow, METH_VARARGS, "DataSourceStats.add_flow."},
    {"force_restart", (PyCFunction)FlowStream_force_restart, METH_NOARGS,
     "The agent started again: the next number starts a new run (a RESTART)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FlowStreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flowrt._core._ingest.FlowStream",
    .tp_basicsize = sizeof(FlowStream),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One data source's flow_sample stream accounting (SequenceTracker in C).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FlowStream_init,
    .tp_dealloc = (destructor)FlowStream_dealloc,
    .tp_members = FlowStream_members,
    .tp_getset = FlowStream_getset,
    .tp_methods = FlowStream_methods,
};

/* ---------------------------------------------------------------- Python methods */
static PyObject *Core_set_program(Core *c, PyObject *arg) {
    /* arg: list of (flow_id, key_fids, fs: str, value_fid, code) where code is a tuple of
       (op, fid, negate, want_null, count, values: tuple[str, ...]) */
    if (!PyList_Check(arg)) { PyErr_SetString(PyExc_TypeError, "expected a list"); return NULL; }
    free_programs(c);
    Py_ssize_t n = PyList_GET_SIZE(arg);
    c->programs = PyMem_Calloc((size_t)n + 1, sizeof(Program));
    if (!c->programs) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        Program *p = &c->programs[i];
        PyObject *keys, *code;
        const char *fs;
        Py_ssize_t fs_len;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(arg, i), "iO!s#iO!", &p->flow_id, &PyTuple_Type,
                              &keys, &fs, &fs_len, &p->value_fid, &PyTuple_Type, &code))
            goto fail;
        c->nprograms = (int)i + 1;
        p->fs = PyMem_Malloc((size_t)fs_len + 1);
        if (!p->fs) { PyErr_NoMemory(); goto fail; }
        memcpy(p->fs, fs, (size_t)fs_len);
        p->fs_len = (size_t)fs_len;
        if (PyTuple_GET_SIZE(keys) > MAX_KEYS) { PyErr_SetString(PyExc_ValueError, "too many keys"); goto fail; }
        p->nkeys = (int)PyTuple_GET_SIZE(keys);
        for (int k = 0; k < p->nkeys; k++) {
            long fid = PyLong_AsLong(PyTuple_GET_ITEM(keys, k));
            if (fid < 0 || fid >= N_SPECS * MAX_DEPTH) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad field"); goto fail; }
            p->keys[k] = (int)fid;
        }
        if (p->value_fid != VALUE_FRAMES && (p->value_fid < 0 || p->value_fid >= N_SPECS * MAX_DEPTH)) {
            PyErr_SetString(PyExc_ValueError, "bad value field");
            goto fail;
        }
        p->ninstr = (int)PyTuple_GET_SIZE(code);
        p->code = PyMem_Calloc((size_t)p->ninstr + 1, sizeof(Instr));
        if (!p->code) { PyErr_NoMemory(); goto fail; }
        int depth = 0;
        for (int k = 0; k < p->ninstr; k++) {
            Instr *in = &p->code[k];
            PyObject *values;
            if (!PyArg_ParseTuple(PyTuple_GET_ITEM(code, k), "iiiiiO!", &in->op, &in->fid,
                                  &in->negate, &in->want_null, &in->count, &PyTuple_Type, &values))
                goto fail;
            if (in->op == OP_CMP) {
                if (in->fid < 0 || in->fid >= N_SPECS * MAX_DEPTH) { PyErr_SetString(PyExc_ValueError, "bad field"); goto fail; }
                depth++;
            } else if ((in->op == OP_AND || in->op == OP_OR) && in->count >= 1 && in->count <= depth) {
                depth -= in->count - 1;
            } else {
                PyErr_SetString(PyExc_ValueError, "bad filter program");
                goto fail;
            }
            if (depth > 256) { PyErr_SetString(PyExc_ValueError, "filter too deep"); goto fail; }
            in->nvalues = (int)PyTuple_GET_SIZE(values);
            in->values = PyMem_Calloc((size_t)in->nvalues + 1, sizeof(char *));
            in->lens = PyMem_Calloc((size_t)in->nvalues + 1, sizeof(size_t));
            if (!in->values || !in->lens) { PyErr_NoMemory(); goto fail; }
            for (int j = 0; j < in->nvalues; j++) {
                Py_ssize_t len;
                const char *text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(values, j), &len);
                if (!text) goto fail;
                in->values[j] = PyMem_Malloc((size_t)len + 1);
                if (!in->values[j]) { PyErr_NoMemory(); goto fail; }
                memcpy(in->values[j], text, (size_t)len);
                in->lens[j] = (size_t)len;
            }
        }
        if (p->ninstr && depth != 1) { PyErr_SetString(PyExc_ValueError, "bad filter program"); goto fail; }
    }
    Py_RETURN_NONE;
fail:
    free_programs(c);
    return NULL;
}

static PyObject *make_light_datagram(Core *c, const uint32_t *hdr) {
    PyObject *samples = PyList_New(c->nsamples);
    if (!samples) return NULL;
    for (int i = 0; i < c->nsamples; i++) {
        Sample *s = &c->samples[i];
        PyObject *records = PyList_New(0);
        if (!records) { Py_DECREF(samples); return NULL; }
        PyObject *obj = PyObject_CallFunction(
            c->flow_sample_type, "IIIIIIIIIINO", s->seq, s->stype, s->sindex, s->rate, s->pool,
            s->drops, s->ifmt, s->ival, s->ofmt, s->oval, records, s->expanded ? Py_True : Py_False);
        if (!obj) { Py_DECREF(samples); return NULL; }
        PyList_SET_ITEM(samples, i, obj);
    }
    PyObject *errors = PyList_New(0);
    if (!errors) { Py_DECREF(samples); return NULL; }
    return PyObject_CallFunction(c->datagram_type, "s#IIINiNI", c->agent, (Py_ssize_t)c->agent_len,
                                 hdr[0], hdr[1], hdr[2], samples, 5, errors, hdr[3]);
}

/* walk(payload) -> (datagram, shapes, python_samples) | None
   datagram: a Datagram of FlowSamples without records (for sequence accounting), or None
   when the datagram also holds counter samples (Python decodes it for those; sample
   indices below count flow samples only);
   shapes: ((layer string, sample index), ...) first sample of each header shape;
   python_samples: indices of samples the core cannot count (no sampled_header). */
static PyObject *walk_common(Core *c, PyObject *payload, int light);
static PyObject *Core_walk(Core *c, PyObject *payload) { return walk_common(c, payload, 1); }

/* scan(payload) -> (header, shapes, python_samples) | None: walk() without the
   record-less Datagram; header is (agent, sub agent, sequence, uptime), or None when the
   datagram also holds counter samples. */
static PyObject *Core_scan(Core *c, PyObject *payload) { return walk_common(c, payload, 0); }

static PyObject *walk_common(Core *c, PyObject *payload, int light) {
    Py_buffer view;
    if (!PyBytes_Check(payload)) {
        PyErr_SetString(PyExc_TypeError, "payload must be bytes");
        return NULL;
    }
    if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t hdr[4];
    c->walked++;
    int rc = walk_datagram(c, view.buf, (size_t)view.len, hdr);
    if (rc < 0) {
        c->nsamples = 0;
        c->refused++;
        PyBuffer_Release(&view);
        Py_CLEAR(c->pending_payload);
        Py_RETURN_NONE;
    }
    for (int i = 0; i < c->nsamples; i++) {
        if (c->samples[i].has_header) locate(&c->samples[i]);
    }
    PyBuffer_Release(&view);
    /* keep the payload alive while samples point into it (bytes are immutable) */
    Py_XSETREF(c->pending_payload, Py_NewRef(payload));
    memcpy(c->hdr, hdr, sizeof c->hdr);
    PyObject *dgram;
    if (light) {
        dgram = c->mixed ? Py_NewRef(Py_None) : make_light_datagram(c, hdr);
    } else {
        PyObject *counters = Py_NewRef(Py_None);
        if (c->mixed) {
            size_t total = c->header_end;
            for (int i = 0; i < c->ncounters; i++) total += c->counter_end[i] - c->counter_at[i];
            Py_SETREF(counters, PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total));
            if (!counters) return NULL;
            char *out = PyBytes_AS_STRING(counters);
            const char *src = PyBytes_AS_STRING(payload);
            memcpy(out, src, c->header_end);
            uint32_t n = htonl((uint32_t)c->ncounters);
            memcpy(out + c->header_end - 4, &n, 4);
            size_t at = c->header_end;
            for (int i = 0; i < c->ncounters; i++) {
                size_t len = c->counter_end[i] - c->counter_at[i];
                memcpy(out + at, src + c->counter_at[i], len);
                at += len;
            }
        }
        dgram = Py_BuildValue("(s#IIIN)", c->agent, (Py_ssize_t)c->agent_len, hdr[0], hdr[1],
                              hdr[2], counters);
    }
    if (!dgram) return NULL;
    PyObject *shapes = PyList_New(0), *py = PyList_New(0);
    if (!shapes || !py) goto fail;
    for (int i = 0; i < c->nsamples; i++) {
        Sample *s = &c->samples[i];
        if (!s->has_header) {
            PyObject *idx = PyLong_FromLong(i);
            if (!idx || PyList_Append(py, idx) < 0) { Py_XDECREF(idx); goto fail; }
            Py_DECREF(idx);
            continue;
        }
        int dup = 0;
        for (int j = 0; j < i; j++) {
            if (c->samples[j].has_header && strcmp(c->samples[j].L.kinds, s->L.kinds) == 0) { dup = 1; break; }
        }
        if (dup) continue;
        PyObject *item = Py_BuildValue("(si)", s->L.kinds, i);
        if (!item || PyList_Append(shapes, item) < 0) { Py_XDECREF(item); goto fail; }
        Py_DECREF(item);
    }
    return Py_BuildValue("(NNN)", dgram, shapes, py);
fail:
    Py_DECREF(dgram);
    Py_XDECREF(shapes);
    Py_XDECREF(py);
    return NULL;
}

/* Count the walked datagram's samples in every program, except those whose ``mask``
   byte (``mlen`` of them, NULL: none) is nonzero; the datagram is then done. Returns the
   number of (sample, program) counts, or -1 (out of memory, exception set). */
static long commit_samples(Core *c, const char *mask, Py_ssize_t mlen) {
    long counted = 0;
    char key[KEYBUF];
    for (int i = 0; i < c->nsamples; i++) {
        Sample *s = &c->samples[i];
        if (!s->has_header || (mask && i < mlen && mask[i])) continue;
        next_sample_fields(c);
        size_t prefix = key_prefix(c, s, key);
        for (int k = 0; k < c->nprograms; k++) {
            int r = count_sample(c, &c->programs[k], s, key, prefix);
            if (r < 0) { PyErr_NoMemory(); return -1; }
            counted += r;
        }
        c->committed_samples++;
    }
    c->nsamples = 0;
    Py_CLEAR(c->pending_payload);
    return counted;
}

/* commit(skip=None): count the walked datagram's samples in every program, except the
   sample indices in ``skip`` (a bytes mask, one byte per sample, nonzero = skip). */
static PyObject *Core_commit(Core *c, PyObject *args) {
    PyObject *skip = Py_None;
    if (!PyArg_ParseTuple(args, "|O", &skip)) return NULL;
    const char *mask = NULL;
    Py_ssize_t mlen = 0;
    if (skip != Py_None) {
        if (PyBytes_AsStringAndSize(skip, (char **)&mask, &mlen) < 0) return NULL;
    }
    if (!c->pending_payload || !c->fcache) Py_RETURN_NONE;
    long counted = commit_samples(c, mask, mlen);
    return counted < 0 ? NULL : PyLong_FromLong(counted);
}

/* keys: the index of one of the few samples just before ``i`` with the same data source
   (account() reuses its lookups: a datagram's samples often share a few sources), or -1.
   Bounded look-back, so a datagram of thousands of samples stays linear. */
#define SAME_SOURCE_LOOKBACK 8
static int same_source_before(const Core *c, int i) {
    const Sample *s = &c->samples[i];
    for (int j = i - 1; j >= 0 && j >= i - SAME_SOURCE_LOOKBACK; j--) {
        if (c->samples[j].stype == s->stype && c->samples[j].sindex == s->sindex) return j;
    }
    return -1;
}

/* account(by_code, stream, epoch, uptime, now, commit=False) -> bytes | None | False
   AgentTable.observe's per-sample loop for the walked datagram (flow samples only, no
   counter samples) after Python accounted its datagram header: for each sample, its
   DataSourceStats from ``by_code`` (keyed ``source_type << 32 | index``) gets
   ``last_seen = now``, the restart coupling with the sub-agent ``stream`` at ``epoch``
   (its restart count), and FlowStream.add_flow. Returns the skip mask of duplicate
   samples (one byte per sample), None when there is none, or False, having changed
   nothing, when a data source is not known yet or has no FlowStream (Python accounts
   that datagram: caps and new data sources stay in one place). With ``commit`` true,
   a datagram accounted here is also committed in the same call (commit(mask) done:
   one call per datagram instead of two); one returned False is not. */
static PyObject *Core_account(Core *c, PyObject *args) {
    PyObject *by_code, *stream, *now;
    long long epoch, uptime;
    int commit = 0;
    if (!PyArg_ParseTuple(args, "O!OLLO|p", &PyDict_Type, &by_code, &stream, &epoch, &uptime,
                          &now, &commit))
        return NULL;
    int n = c->nsamples;
    if (!c->pending_payload || n == 0) {
        if (commit && c->pending_payload && c->fcache && commit_samples(c, NULL, 0) < 0) return NULL;
        Py_RETURN_NONE;
    }
    PyObject **ds = PyMem_Calloc((size_t)n * 2, sizeof(PyObject *));
    if (!ds) return PyErr_NoMemory();
    PyObject **flow = ds + n;
    PyObject *result = NULL, *mask = NULL, *epoch_obj = NULL;
    for (int i = 0; i < n; i++) {
        Sample *s = &c->samples[i];
        int j = same_source_before(c, i);
        if (j >= 0) { /* keys: no second lookup for a data source seen just before */
            ds[i] = Py_NewRef(ds[j]);
            flow[i] = Py_NewRef(flow[j]);
            continue;
        }
        PyObject *key = PyLong_FromUnsignedLongLong((unsigned long long)s->stype << 32 | s->sindex);
        if (!key) goto done;
        PyObject *d = PyDict_GetItemWithError(by_code, key);
        Py_DECREF(key);
        if (!d) {
            if (!PyErr_Occurred()) result = Py_NewRef(Py_False);
            goto done;
        }
        ds[i] = Py_NewRef(d);
        flow[i] = PyObject_GetAttr(d, s_flow);
        if (!flow[i]) goto done;
        if (Py_TYPE(flow[i]) != &FlowStreamType) { result = Py_NewRef(Py_False); goto done; }
    }
    char *bits = NULL;
    for (int i = 0; i < n; i++) {
        Sample *s = &c->samples[i];
        PyObject *d = ds[i];
        if (same_source_before(c, i) >= 0) goto add; /* its last_seen, stream, epoch are set */
        if (PyObject_SetAttr(d, s_last_seen, now) < 0) goto done;
        PyObject *e = PyObject_GetAttr(d, s_epoch);
        if (!e) goto done;
        long long ev = PyLong_AsLongLong(e);
        Py_DECREF(e);
        if (ev == -1 && PyErr_Occurred()) goto done;
        PyObject *st = PyObject_GetAttr(d, s_stream);
        if (!st) goto done;
        int same = st == stream;
        Py_DECREF(st);
        if (ev != epoch || !same) {
            if (same) {
                PyObject *r = PyObject_CallMethodNoArgs(d, s_restart);
                if (!r) goto done;
                Py_DECREF(r);
            }
            if (!epoch_obj && !(epoch_obj = PyLong_FromLongLong(epoch))) goto done;
            if (PyObject_SetAttr(d, s_stream, stream) < 0 || PyObject_SetAttr(d, s_epoch, epoch_obj) < 0)
                goto done;
        }
    add:;
        int rc = fs_add_flow((FlowStream *)flow[i], d, s->seq, s->pool, s->drops, s->rate, uptime);
        if (rc < 0) goto done;
        if (rc == O_DUPLICATE) {
            if (!mask) {
                mask = PyBytes_FromStringAndSize(NULL, n);
                if (!mask) goto done;
                bits = PyBytes_AS_STRING(mask);
                memset(bits, 0, (size_t)n);
            }
            bits[i] = 1;
        }
    }
    if (commit && commit_samples(c, mask ? PyBytes_AS_STRING(mask) : NULL, n) < 0) goto done;
    result = mask ? Py_NewRef(mask) : Py_NewRef(Py_None);
done:
    for (int i = 0; i < 2 * n; i++) Py_XDECREF(ds[i]);
    PyMem_Free(ds);
    Py_XDECREF(mask);
    Py_XDECREF(epoch_obj);
    return result;
}

/* light() -> the walked datagram as a record-less Datagram (for Python's accounting when
   account() returned False). */
static PyObject *Core_light(Core *c, PyObject *Py_UNUSED(ignored)) {
    if (!c->pending_payload || c->mixed) Py_RETURN_NONE;
    return make_light_datagram(c, c->hdr);
}

/* drain() -> list of (flow_id, agent, data source code, key, value, samples) */
static PyObject *Core_drain(Core *c, PyObject *Py_UNUSED(ignored)) {
    Agg *a = &c->agg;
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    for (size_t i = 0; i < a->cap; i++) {
        Slot *s = &a->slots[i];
        if (!s->hash) continue;
        const char *k = a->arena + s->off;
        int flow_id;
        uint64_t code;
        memcpy(&flow_id, k, sizeof(int));
        memcpy(&code, k + sizeof(int), sizeof code);
        size_t p = sizeof(int) + sizeof code;
        size_t alen = (uint8_t)k[p++];
        PyObject *item = Py_BuildValue("(is#Ks#dI)", flow_id, k + p, (Py_ssize_t)alen,
                                       (unsigned long long)code, k + p + alen,
                                       (Py_ssize_t)(s->len - p - alen), s->sum, s->count);
        if (!item || PyList_Append(out, item) < 0) { Py_XDECREF(item); Py_DECREF(out); return NULL; }
        Py_DECREF(item);
    }
    agg_clear(a);
    return out;
}

/* drain_to(resolve, now) -> keys handed to tables
   The aggregated sums straight into the flow tables, with no Python object per key:
   the drain's slots are grouped per (flow, agent, data source), groups in the order
   their first slot comes in the aggregation table (the seeded hash's order, as drain()
   lists them), and for each group ``resolve(flow_id, agent, code)`` (Python) names the
   target: None drops the group (a data source over the flow's cap); a (SumStore, growth)
   pair gets every key added in C (SumStore.add at that growth and ``now``); any other
   callable is called ``target(key, value)`` per key (a table that is not a SumStore, or
   a flow whose threshold watcher must see each key). Each table gets its keys in the
   same relative order as drain() lists them. The aggregation is detached first, so
   Python code run by resolve or a target cannot change what is being drained (anything
   it commits waits for the next drain); it is empty afterwards, also when resolve or a
   target raised (the exception propagates; the rest of that drain is dropped). */
typedef struct {
    uint32_t hash;
    uint32_t first, count; /* its slots: order[first .. first + count) */
    const char *prefix;    /* flow id, code, agent length, agent (in the arena) */
    size_t len;
} DrainGroup;

static int drain_group_apply(const Agg *a, const uint32_t *order, const DrainGroup *g,
                             PyObject *resolve, double now, long long *handed) {
    const char *k = g->prefix;
    int flow_id;
    uint64_t code;
    memcpy(&flow_id, k, sizeof(int));
    memcpy(&code, k + sizeof(int), sizeof code);
    size_t p = sizeof(int) + sizeof code;
    Py_ssize_t alen = (uint8_t)k[p];
    PyObject *target = PyObject_CallFunction(resolve, "is#K", flow_id, k + p + 1, alen,
                                             (unsigned long long)code);
    if (!target) return -1;
    int rc = 0;
    if (target == Py_None) goto done;
    if (PyTuple_CheckExact(target) && PyTuple_GET_SIZE(target) == 2 &&
        Py_IS_TYPE(PyTuple_GET_ITEM(target, 0), &SumStoreType)) {
        SumStore *store = (SumStore *)PyTuple_GET_ITEM(target, 0);
        double growth = PyFloat_AsDouble(PyTuple_GET_ITEM(target, 1));
        if (growth == -1.0 && PyErr_Occurred()) { rc = -1; goto done; }
        for (uint32_t i = 0; i < g->count; i++) { /* no Python code runs in this loop */
            const Slot *s = &a->slots[order[g->first + i]];
            if (st_add(store, a->arena + s->off + g->len, s->len - g->len, s->sum, growth, now) < 0) {
                rc = -1;
                goto done;
            }
        }
        *handed += g->count;
        goto done;
    }
    if (!PyCallable_Check(target)) {
        PyErr_SetString(PyExc_TypeError,
                        "drain_to: resolve must return None, (SumStore, growth) or a callable");
        rc = -1;
        goto done;
    }
    for (uint32_t i = 0; i < g->count; i++) {
        const Slot *s = &a->slots[order[g->first + i]];
        PyObject *key = PyUnicode_DecodeUTF8(a->arena + s->off + g->len,
                                             (Py_ssize_t)(s->len - g->len), "surrogatepass");
        PyObject *value = key ? PyFloat_FromDouble(s->sum) : NULL;
        PyObject *r = value ? PyObject_CallFunctionObjArgs(target, key, value, NULL) : NULL;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (!r) { rc = -1; goto done; }
        Py_DECREF(r);
        (*handed)++;
    }
done:
    Py_DECREF(target);
    return rc;
}

static PyObject *Core_drain_to(Core *c, PyObject *args) {
    PyObject *resolve;
    double now;
    if (!PyArg_ParseTuple(args, "Od", &resolve, &now)) return NULL;
    if (!PyCallable_Check(resolve)) {
        PyErr_SetString(PyExc_TypeError, "drain_to: resolve must be callable");
        return NULL;
    }
    Agg a = c->agg; /* detached: see above */
    memset(&c->agg, 0, sizeof c->agg);
    size_t n = a.used, mcap = 16, ngroups = 0;
    while (mcap < n * 2 + 2) mcap *= 2;
    uint32_t *map = PyMem_Calloc(mcap, sizeof(uint32_t));      /* group index + 1 */
    DrainGroup *groups = PyMem_Calloc(n + 1, sizeof(DrainGroup));
    uint32_t *slot_group = PyMem_Calloc(n + 1, sizeof(uint32_t)); /* per live slot, in order */
    uint32_t *order = PyMem_Calloc(n + 1, sizeof(uint32_t));      /* slot indices by group */
    PyObject *result = NULL;
    long long handed = 0;
    if (!map || !groups || !slot_group || !order) { PyErr_NoMemory(); goto done; }
    size_t live = 0;
    for (size_t i = 0; i < a.cap; i++) {
        const Slot *s = &a.slots[i];
        if (!s->hash) continue;
        const char *k = a.arena + s->off;
        size_t plen = sizeof(int) + sizeof(uint64_t) + 1 + (uint8_t)k[sizeof(int) + sizeof(uint64_t)];
        uint32_t h = key_hash32(k, plen);
        size_t j = h & (mcap - 1);
        while (map[j]) {
            const DrainGroup *g = &groups[map[j] - 1];
            if (g->hash == h && g->len == plen && memcmp(g->prefix, k, plen) == 0) break;
            j = (j + 1) & (mcap - 1);
        }
        if (!map[j]) {
            DrainGroup *g = &groups[ngroups++];
            g->hash = h;
            g->prefix = k;
            g->len = plen;
            map[j] = (uint32_t)ngroups;
        }
        groups[map[j] - 1].count++;
        slot_group[live++] = map[j] - 1;
    }
    uint32_t at = 0;
    for (size_t g = 0; g < ngroups; g++) {
        groups[g].first = at;
        at += groups[g].count;
        groups[g].count = 0;
    }
    live = 0;
    for (size_t i = 0; i < a.cap; i++) {
        if (!a.slots[i].hash) continue;
        DrainGroup *g = &groups[slot_group[live++]];
        order[g->first + g->count++] = (uint32_t)i;
    }
    for (size_t g = 0; g < ngroups; g++) {
        if (drain_group_apply(&a, order, &groups[g], resolve, now, &handed) < 0) goto done;
    }
    result = PyLong_FromLongLong(handed);
done:
    PyMem_Free(map);
    PyMem_Free(groups);
    PyMem_Free(slot_group);
    PyMem_Free(order);
    agg_clear(&a);
    if (!c->agg.slots && !c->agg.arena) {
        c->agg = a; /* keep its memory for the next batch */
    } else { /* Python code committed meanwhile: keep that, free the drained one */
        PyMem_Free(a.slots);
        PyMem_Free(a.arena);
    }
    return result;
}

static PyObject *Core_get_pending(Core *c, void *Py_UNUSED(closure)) {
    return PyLong_FromSize_t(c->agg.used);
}

static PyObject *Core_get_walked_samples(Core *c, void *Py_UNUSED(closure)) {
    return PyLong_FromLong(c->pending_payload ? c->nsamples : 0);
}

static PyGetSetDef Core_getset[] = {
    {"walked_samples", (getter)Core_get_walked_samples, NULL,
     "Flow samples of the walked datagram (until commit).", NULL},
    {"pending", (getter)Core_get_pending, NULL, "Aggregated keys waiting for drain().", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *Core_stats(Core *c, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("{sKsKsKsn}", "walked", c->walked, "refused", c->refused,
                         "samples", c->committed_samples, "pending", (Py_ssize_t)c->agg.used);
}

/* recv(fd, max, timeout_ms) -> list of (payload, source address, source port): up to
   ``max`` datagrams with one recvmmsg, waiting at most ``timeout_ms`` for the first; the
   GIL is released while waiting and receiving. Also returns the kernel drop count seen
   in SO_RXQ_OVFL (or -1). */
#define RECV_MAX 256
#define RECV_SIZE 65536
static PyObject *Core_recv(Core *c, PyObject *args) {
    int fd, max, timeout;
    if (!PyArg_ParseTuple(args, "iii", &fd, &max, &timeout)) return NULL;
    if (max < 1) max = 1;
    if (max > RECV_MAX) max = RECV_MAX;
    if (c->rx_busy) {
        PyErr_SetString(PyExc_RuntimeError, "Core.recv is already running in another thread");
        return NULL;
    }
    if (!c->rx_bufs) { /* once: RECV_MAX slots; pages are touched only as datagrams fill them */
        c->rx_bufs = PyMem_RawMalloc((size_t)RECV_MAX * RECV_SIZE);
        c->rx_msgs = PyMem_Calloc(RECV_MAX, sizeof(struct mmsghdr));
        c->rx_iov = PyMem_Calloc(RECV_MAX, sizeof(struct iovec));
        c->rx_addrs = PyMem_Calloc(RECV_MAX, sizeof(struct sockaddr_storage));
        c->rx_ctrl = PyMem_Calloc(RECV_MAX, 64);
        if (!c->rx_bufs || !c->rx_msgs || !c->rx_iov || !c->rx_addrs || !c->rx_ctrl) {
            PyMem_RawFree(c->rx_bufs); PyMem_Free(c->rx_msgs); PyMem_Free(c->rx_iov);
            PyMem_Free(c->rx_addrs); PyMem_Free(c->rx_ctrl);
            c->rx_bufs = NULL; c->rx_msgs = NULL; c->rx_iov = NULL; c->rx_addrs = NULL;
            c->rx_ctrl = NULL;
            return PyErr_NoMemory();
        }
    }
    uint8_t *bufs = c->rx_bufs;
    struct mmsghdr *msgs = c->rx_msgs;
    struct iovec *iov = c->rx_iov;
    struct sockaddr_storage *addrs = c->rx_addrs;
    char *ctrl = c->rx_ctrl;
    c->rx_busy = 1;
    for (int i = 0; i < max; i++) {
        iov[i].iov_base = bufs + (size_t)i * RECV_SIZE;
        iov[i].iov_len = RECV_SIZE;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        msgs[i].msg_hdr.msg_control = ctrl + (size_t)i * 64;
        msgs[i].msg_hdr.msg_controllen = 64;
    }
    int got, err = 0;
    Py_BEGIN_ALLOW_THREADS
    struct pollfd pfd = {fd, POLLIN, 0};
    got = poll(&pfd, 1, timeout);
    if (got > 0) {
        got = recvmmsg(fd, msgs, (unsigned)max, MSG_DONTWAIT, NULL);
        if (got < 0) err = errno;
    } else if (got < 0) {
        err = errno;
    }
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    long long drops = -1;
    if (got < 0) {
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) got = 0;
        else { errno = err; PyErr_SetFromErrno(PyExc_OSError); goto done; }
    }
    out = PyList_New(got);
    if (!out) goto done;
    for (int i = 0; i < got; i++) {
        char host[INET6_ADDRSTRLEN + 1] = "";
        int port = 0;
        struct sockaddr_storage *sa = &addrs[i];
        if (sa->ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
            port = ntohs(s4->sin_port);
        } else if (sa->ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            port = ntohs(s6->sin6_port);
            if (strncmp(host, "::ffff:", 7) == 0 && strchr(host + 7, '.'))
                memmove(host, host + 7, strlen(host + 7) + 1);
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm;
             cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == 40 /* SO_RXQ_OVFL */ &&
                cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
                uint32_t v;
                memcpy(&v, CMSG_DATA(cm), sizeof v);
                drops = v;
            }
        }
        PyObject *item = Py_BuildValue("(y#si)", (const char *)iov[i].iov_base,
                                       (Py_ssize_t)msgs[i].msg_len, host, port);
        if (!item) { Py_CLEAR(out); goto done; }
        PyList_SET_ITEM(out, i, item);
    }
done:
    c->rx_busy = 0;
    if (!out) return NULL;
    return Py_BuildValue("(NL)", out, drops);
}

static PyMethodDef Core_methods[] = {
    {"set_program", (PyCFunction)Core_set_program, METH_O, "Install the lowered flow programs."},
    {"walk", (PyCFunction)Core_walk, METH_O, "Walk one datagram (None: use the reference path)."},
    {"scan", (PyCFunction)Core_scan, METH_O, "walk() without the record-less Datagram."},
    {"account", (PyCFunction)Core_account, METH_VARARGS, "Per-sample flow accounting in C."},
    {"light", (PyCFunction)Core_light, METH_NOARGS, "The walked datagram, record-less."},
    {"commit", (PyCFunction)Core_commit, METH_VARARGS, "Count the walked datagram's samples."},
    {"drain", (PyCFunction)Core_drain, METH_NOARGS, "Aggregated updates since the last drain."},
    {"drain_to", (PyCFunction)Core_drain_to, METH_VARARGS,
     "Aggregated sums since the last drain, straight into the flow tables' SumStores."},
    {"stats", (PyCFunction)Core_stats, METH_NOARGS, "Counters of the core."},
    {"recv", (PyCFunction)Core_recv, METH_VARARGS, "recvmmsg a batch with the GIL released."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flowrt._core._ingest.Core",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Core_init,
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_methods = Core_methods,
    .tp_getset = Core_getset,
    .tp_doc = "The compiled ingest core: datagram walk, header parse, flow aggregation.",
};

/* FIELDS: {key name: (field id, is_text)} for every key the core extracts. */
static PyObject *make_fields(void) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (int i = 0; i < N_SPECS; i++) {
        int depths = FIELD_SPECS[i].kind ? MAX_DEPTH : 1;
        for (int depth = 0; depth < depths; depth++) {
            char name[64];
            if (depth) snprintf(name, sizeof name, "%s.%d", FIELD_SPECS[i].name, depth);
            else snprintf(name, sizeof name, "%s", FIELD_SPECS[i].name);
            PyObject *v = Py_BuildValue("(iO)", i * MAX_DEPTH + depth,
                                        FIELD_SPECS[i].text ? Py_True : Py_False);
            if (!v || PyDict_SetItemString(d, name, v) < 0) { Py_XDECREF(v); Py_DECREF(d); return NULL; }
            Py_DECREF(v);
        }
    }
    return d;
}

/* keys: format_text(kind, value) -> str, the core's key text for one value ("ip4",
   "ip6", "mac": bytes of that address; "int": an int), so tests compare it with the
   reference extractors' text. */
static PyObject *format_text(PyObject *Py_UNUSED(m), PyObject *args) {
    const char *kind;
    PyObject *value;
    if (!PyArg_ParseTuple(args, "sO", &kind, &value)) return NULL;
    FieldValue v;
    if (strcmp(kind, "int") == 0) {
        long long x = PyLong_AsLongLong(value);
        if (x == -1 && PyErr_Occurred()) return NULL;
        v.len = fmt_i64(v.text, (int64_t)x);
        return PyUnicode_FromStringAndSize(v.text, (Py_ssize_t)v.len);
    }
    char *raw;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(value, &raw, &n) < 0) return NULL;
    const uint8_t *p = (const uint8_t *)raw;
    if (strcmp(kind, "ip4") == 0 && n == 4) set_ip4(&v, p);
    else if (strcmp(kind, "ip6") == 0 && n == 16) set_ip6(&v, p);
    else if (strcmp(kind, "mac") == 0 && n == 6) set_mac(&v, p);
    else {
        PyErr_SetString(PyExc_ValueError, "kind must be ip4, ip6, mac (with that many bytes) or int");
        return NULL;
    }
    return PyUnicode_FromStringAndSize(v.text, (Py_ssize_t)v.len);
}

static PyMethodDef module_methods[] = {
    {"format_text", format_text, METH_VARARGS, "The core's key text of one value (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ingest", "FlowRT's compiled ingest core.", -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ingest(void) {
    if (key_seed_init() < 0) return NULL; /* PyModule_AddType readies the types */
    struct { PyObject **slot; const char *text; } names[] = {
        {&s_lost, "lost"}, {&s_duplicates, "duplicates"}, {&s_out_of_order, "out_of_order"},
        {&s_restarts, "restarts"}, {&s_flow_drops, "flow_drops"},
        {&s_sampling_rate, "sampling_rate"}, {&s_totals, "totals"}, {&s_last_seen, "last_seen"},
        {&s_epoch, "epoch"}, {&s_stream, "stream"}, {&s_restart, "restart"}, {&s_flow, "flow"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!*names[i].slot && !(*names[i].slot = PyUnicode_InternFromString(names[i].text)))
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    PyObject *fields = make_fields();
    if (!fields || PyModule_AddObject(m, "FIELDS", fields) < 0 ||
        PyModule_AddIntConstant(m, "VALUE_FRAMES", VALUE_FRAMES) < 0 ||
        PyModule_AddIntConstant(m, "AGG_LIMIT", AGG_LIMIT) < 0 ||
        PyModule_AddIntConstant(m, "OP_CMP", OP_CMP) < 0 ||
        PyModule_AddIntConstant(m, "OP_AND", OP_AND) < 0 ||
        PyModule_AddIntConstant(m, "OP_OR", OP_OR) < 0) {
        Py_XDECREF(fields);
        Py_DECREF(m);
        return NULL;
    }
    PyTypeObject *types[] = {&FlowStreamType, &SumStoreType, &CoreType};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyModule_AddType(m, types[i]) < 0) { /* named by tp_name's last part */
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
