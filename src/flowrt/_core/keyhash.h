/* keyhash.h: the one key hash of the compiled core (included by sumtable.h and _ingest.c).
 *
 * Both open-addressing tables hash key bytes with it: the aggregation of a batch
 * (_ingest.c) and a flow table's SumStore (sumtable.h), and the drain's grouping per
 * (flow, agent, data source). 8 bytes a step with a multiply-mix, then the murmur3
 * finaliser, which spreads every input bit over the low bits that pick the
 * linear-probing slot (byte-wise FNV-1a was a visible share of a sample's cost).
 *
 * Seeded per process from Python's randomised str hash (PYTHONHASHSEED), so traffic
 * cannot be crafted offline to pile keys into one probe run. Never 0 (the aggregation
 * marks an empty slot with 0).
 */
#ifndef FLOWRT_KEYHASH_H
#define FLOWRT_KEYHASH_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

static uint64_t key_seed;

static inline uint64_t key_fmix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t key_hash(const char *p, size_t n) {
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    const char *end = p + n;
    uint64_t h = k ^ (uint64_t)n ^ key_seed;
    int longer = n >= 8;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 31;
    }
    if (n) { /* the tail: the key's last 8 bytes (overlapping; the length is in h) */
        uint64_t w = 0;
        if (longer) memcpy(&w, end - 8, 8);
        else for (size_t i = 0; i < n; i++) w |= (uint64_t)(uint8_t)p[i] << (8 * i);
        h = (h ^ w) * k;
        h ^= h >> 31;
    }
    h = key_fmix(h);
    return h ? h : 1;
}

/* 32 bits of key_hash, for tables that store a 32-bit hash per entry. */
static inline uint32_t key_hash32(const char *p, size_t n) {
    uint64_t h = key_hash(p, n);
    return (uint32_t)(h ^ (h >> 32));
}

/* The seed, once at module import. */
static int key_seed_init(void) {
    PyObject *text = PyUnicode_FromString("flowrt.keyhash");
    if (!text) return -1;
    Py_hash_t h = PyObject_Hash(text);
    Py_DECREF(text);
    if (h == -1 && PyErr_Occurred()) return -1;
    key_seed = key_fmix((uint64_t)h ^ 0x2545F4914F6CDD1DULL);
    return 0;
}

#endif /* FLOWRT_KEYHASH_H */
