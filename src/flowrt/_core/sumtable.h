/* sumtable.h: SumStore, a plain-sum top-N table's entries in C (included by _ingest.c).
 *
 * flowrt.engine.topn.FlowTable keeps one Python list per key ([scaled sum, last update,
 * None]) in a dict: ~270 bytes a key, and on high-cardinality traffic (a new key per
 * sample per flow) most of the native path's time went into making, updating, draining
 * and sweeping those lists. A SumStore holds the same entries in C for
 * flowrt.engine.topn.NativeFlowTable, with exactly FlowTable's rules for a plain sum
 * table (no ``values`` slots):
 *
 *  - an entry is (scaled sum, last update time); Python owns the decay clock and hands
 *    the growth factor in (add: ``sum += value * growth``, a new key
 *    ``value * growth``: the same double arithmetic as Python's floats);
 *  - entries keep insertion order, as a dict does, because order decides ties: a full
 *    store (``capacity`` keys) inserting a new key first drops idle keys (last update
 *    before ``now - idle_timeout``), then keeps the ``keep`` largest sums, largest first
 *    and equal sums in their previous order (heapq.nlargest is a stable reverse sort),
 *    counting the dropped ones in ``evicted``; ``top`` ranks the same way;
 *  - memory is bounded: at most ``capacity`` entries, their key bytes, and an index.
 *
 * Layout (like CPython's compact dict): ``entries`` in insertion order (24 bytes each),
 * ``keys`` an arena of the key bytes (a 4-byte length, then the UTF-8 bytes),
 * ``index`` open addressing (linear probing, load <= 1/2) of entry position + 1.
 * Deletions happen only in bulk (expire, sweep, clear) and rebuild all three compactly,
 * so there are no tombstones. Keys are UTF-8 with surrogates passed through, so any
 * Python str round-trips and equals the bytes the core builds for the same text.
 *
 * The one documented difference from the Python table: a NaN sum (impossible from
 * sFlow's integer fields) ranks below every number instead of where Python's
 * inconsistent NaN comparisons happen to put it; C's sort needs a total order.
 */
#ifndef FLOWRT_SUMTABLE_H
#define FLOWRT_SUMTABLE_H

#include "keyhash.h" /* key_hash32: the core's one seeded key hash */

#define ST_MAX_CAPACITY (1 << 28)
#define ST_MIN_ENTRIES 8

typedef struct {
    double value;  /* the scaled (forward-decayed) sum: FlowTable entry[0] */
    double last;   /* when it was last added to (seconds): entry[1] */
    uint32_t hash; /* key_hash32 of the key bytes */
    uint32_t off;  /* where its length and bytes start in the key arena */
} StEntry;

typedef struct {
    PyObject_HEAD
    StEntry *entries;
    uint32_t count, entries_cap;
    uint32_t *index; /* entry position + 1; 0: empty */
    uint32_t icap;   /* a power of two, or 0 before the first key */
    char *keys;
    size_t keys_len, keys_cap;
    Py_ssize_t capacity, keep; /* FlowTable.capacity and int(capacity * RETAIN_FRACTION) */
    double idle_timeout;
    unsigned long long evicted; /* keys dropped by sweeps to make room (not idle expiry) */
} SumStore;

static PyTypeObject SumStoreType;

/* ---------------------------------------------------------------- key bytes */
static inline uint32_t st_key_len(const SumStore *s, const StEntry *e) {
    uint32_t len;
    memcpy(&len, s->keys + e->off, sizeof len);
    return len;
}
static inline const char *st_key(const SumStore *s, const StEntry *e) {
    return s->keys + e->off + sizeof(uint32_t);
}

/* A Python str key as the store's bytes (borrowed from the str, or from *holder). */
static const char *st_key_bytes(PyObject *key, Py_ssize_t *len, PyObject **holder) {
    *holder = NULL;
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "a flow key must be str, not %.100s", Py_TYPE(key)->tp_name);
        return NULL;
    }
    const char *p = PyUnicode_AsUTF8AndSize(key, len);
    if (p) return p;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
    PyErr_Clear(); /* lone surrogates: pass them through, as the decode below does */
    *holder = PyUnicode_AsEncodedString(key, "utf-8", "surrogatepass");
    if (!*holder) return NULL;
    *len = PyBytes_GET_SIZE(*holder);
    return PyBytes_AS_STRING(*holder);
}

static PyObject *st_key_str(const SumStore *s, const StEntry *e) {
    return PyUnicode_DecodeUTF8(st_key(s, e), (Py_ssize_t)st_key_len(s, e), "surrogatepass");
}

/* ---------------------------------------------------------------- index */
static int st_index_build(SumStore *s, uint32_t want) {
    uint32_t icap = 16;
    while (icap < want * 2) icap <<= 1;
    uint32_t *index = PyMem_Calloc(icap, sizeof(uint32_t));
    if (!index) return -1;
    for (uint32_t i = 0; i < s->count; i++) {
        uint32_t j = s->entries[i].hash & (icap - 1);
        while (index[j]) j = (j + 1) & (icap - 1);
        index[j] = i + 1;
    }
    PyMem_Free(s->index);
    s->index = index;
    s->icap = icap;
    return 0;
}

/* The entry of ``key`` or NULL; *slot: its index slot, or the empty slot to fill. */
static StEntry *st_find(const SumStore *s, const char *key, size_t len, uint32_t h,
                        uint32_t *slot) {
    uint32_t mask = s->icap - 1, j = h & mask, pos;
    while ((pos = s->index[j]) != 0) {
        StEntry *e = &s->entries[pos - 1];
        if (e->hash == h && st_key_len(s, e) == len && memcmp(st_key(s, e), key, len) == 0) {
            *slot = j;
            return e;
        }
        j = (j + 1) & mask;
    }
    *slot = j;
    return NULL;
}

/* ---------------------------------------------------------------- bulk rebuilds */
/* Keep the entries at positions order[0..m) (in that order) and nothing else: fresh
   entries, key arena and index, so the memory follows the live keys down. */
static int st_rebuild(SumStore *s, const uint32_t *order, uint32_t m) {
    uint32_t ecap = m > ST_MIN_ENTRIES ? m : ST_MIN_ENTRIES;
    if (ecap > s->capacity) ecap = (uint32_t)s->capacity;
    size_t bytes = 0;
    for (uint32_t k = 0; k < m; k++)
        bytes += sizeof(uint32_t) + st_key_len(s, &s->entries[order[k]]);
    size_t kcap = bytes + bytes / 2 + 64;
    StEntry *entries = PyMem_Malloc((size_t)ecap * sizeof(StEntry));
    char *keys = PyMem_Malloc(kcap);
    if (!entries || !keys) {
        PyMem_Free(entries);
        PyMem_Free(keys);
        return -1;
    }
    size_t at = 0;
    for (uint32_t k = 0; k < m; k++) {
        const StEntry *e = &s->entries[order[k]];
        size_t n = sizeof(uint32_t) + st_key_len(s, e);
        memcpy(keys + at, s->keys + e->off, n);
        entries[k] = *e;
        entries[k].off = (uint32_t)at;
        at += n;
    }
    PyMem_Free(s->entries);
    PyMem_Free(s->keys);
    s->entries = entries;
    s->entries_cap = ecap;
    s->count = m;
    s->keys = keys;
    s->keys_len = at;
    s->keys_cap = kcap;
    return st_index_build(s, ecap);
}

/* Drop keys idle since before ``now - idle_timeout`` (FlowTable.expire): the order of the
   rest is kept. Returns how many were dropped, or -1 (memory). */
static Py_ssize_t st_expire(SumStore *s, double now) {
    double cutoff = now - s->idle_timeout;
    uint32_t live = 0;
    for (uint32_t i = 0; i < s->count; i++) live += !(s->entries[i].last < cutoff);
    Py_ssize_t dropped = (Py_ssize_t)s->count - live;
    if (!dropped) return 0;
    uint32_t *order = PyMem_Malloc(((size_t)live + 1) * sizeof(uint32_t));
    if (!order) return -1;
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->count; i++)
        if (!(s->entries[i].last < cutoff)) order[k++] = i;
    int rc = st_rebuild(s, order, live);
    PyMem_Free(order);
    return rc < 0 ? -1 : dropped;
}

typedef struct { double v; uint32_t pos; } StRank;

/* Largest sum first, equal sums in entry order (a stable reverse sort); NaN last. */
static int st_rank_cmp(const void *a, const void *b) {
    const StRank *x = a, *y = b;
    int xn = x->v != x->v, yn = y->v != y->v;
    if (xn != yn) return xn - yn;
    if (!xn) {
        if (x->v > y->v) return -1;
        if (x->v < y->v) return 1;
    }
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Every entry ranked (caller frees), or NULL (memory). */
static StRank *st_ranked(const SumStore *s) {
    StRank *rank = PyMem_Malloc(((size_t)s->count + 1) * sizeof(StRank));
    if (!rank) return NULL;
    for (uint32_t i = 0; i < s->count; i++) {
        rank[i].v = s->entries[i].value;
        rank[i].pos = i;
    }
    qsort(rank, s->count, sizeof(StRank), st_rank_cmp);
    return rank;
}

/* FlowTable._sweep: expire, then keep the ``keep`` largest (largest first). */
static int st_sweep(SumStore *s, double now) {
    if (st_expire(s, now) < 0) return -1;
    if ((Py_ssize_t)s->count <= s->keep) return 0;
    StRank *rank = st_ranked(s);
    if (!rank) return -1;
    uint32_t keep = (uint32_t)s->keep;
    uint32_t *order = PyMem_Malloc(((size_t)keep + 1) * sizeof(uint32_t));
    if (!order) {
        PyMem_Free(rank);
        return -1;
    }
    for (uint32_t k = 0; k < keep; k++) order[k] = rank[k].pos;
    s->evicted += s->count - keep;
    int rc = st_rebuild(s, order, keep);
    PyMem_Free(order);
    PyMem_Free(rank);
    return rc;
}

/* ---------------------------------------------------------------- add */
/* FlowTable.add(key, value, None, now) at the clock's ``growth``: 0, or -1 (memory). */
static int st_add(SumStore *s, const char *key, size_t len, double value, double growth,
                  double now) {
    if (len > UINT32_MAX - sizeof(uint32_t)) {
        PyErr_SetString(PyExc_ValueError, "flow key too long");
        return -1;
    }
    uint32_t h = key_hash32(key, len), slot = 0;
    if (s->icap) {
        StEntry *e = st_find(s, key, len, h, &slot);
        if (e) {
            e->value += value * growth;
            e->last = now;
            return 0;
        }
    }
    if ((Py_ssize_t)s->count >= s->capacity) {
        if (st_sweep(s, now) < 0) goto nomem;
        st_find(s, key, len, h, &slot); /* the index was rebuilt */
    }
    if (s->count == s->entries_cap) {
        uint64_t ncap = (uint64_t)s->entries_cap + s->entries_cap / 2;
        if (ncap < ST_MIN_ENTRIES) ncap = ST_MIN_ENTRIES;
        if (ncap > (uint64_t)s->capacity) ncap = (uint64_t)s->capacity;
        StEntry *grown = PyMem_Realloc(s->entries, (size_t)ncap * sizeof(StEntry));
        if (!grown) goto nomem;
        s->entries = grown;
        s->entries_cap = (uint32_t)ncap;
    }
    if ((s->count + 1) * 2 > s->icap) {
        if (st_index_build(s, s->entries_cap) < 0) goto nomem;
        st_find(s, key, len, h, &slot);
    }
    size_t need = sizeof(uint32_t) + len;
    if (s->keys_len + need > UINT32_MAX) goto nomem; /* offsets are 32-bit */
    if (s->keys_len + need > s->keys_cap) {
        size_t ncap = s->keys_cap + s->keys_cap / 2 + need + 64;
        if (ncap > UINT32_MAX) ncap = UINT32_MAX;
        char *grown = PyMem_Realloc(s->keys, ncap);
        if (!grown) goto nomem;
        s->keys = grown;
        s->keys_cap = ncap;
    }
    uint32_t len32 = (uint32_t)len;
    memcpy(s->keys + s->keys_len, &len32, sizeof len32);
    memcpy(s->keys + s->keys_len + sizeof len32, key, len);
    StEntry *e = &s->entries[s->count];
    e->value = value * growth;
    e->last = now;
    e->hash = h;
    e->off = (uint32_t)s->keys_len;
    s->keys_len += need;
    s->index[slot] = ++s->count;
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

static void st_clear(SumStore *s) {
    PyMem_Free(s->entries);
    PyMem_Free(s->index);
    PyMem_Free(s->keys);
    s->entries = NULL;
    s->index = NULL;
    s->keys = NULL;
    s->count = s->entries_cap = s->icap = 0;
    s->keys_len = s->keys_cap = 0;
}

/* ---------------------------------------------------------------- the Python type */
static int SumStore_init(SumStore *s, PyObject *args, PyObject *kw) {
    static char *names[] = {"capacity", "keep", "idle_timeout", NULL};
    Py_ssize_t capacity, keep;
    double idle;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nnd", names, &capacity, &keep, &idle)) return -1;
    if (capacity < 2 || capacity > ST_MAX_CAPACITY || keep < 1 || keep >= capacity) {
        PyErr_Format(PyExc_ValueError, "need 2 <= capacity <= %d and 1 <= keep < capacity",
                     ST_MAX_CAPACITY);
        return -1;
    }
    st_clear(s);
    s->capacity = capacity;
    s->keep = keep;
    s->idle_timeout = idle;
    s->evicted = 0;
    return 0;
}

static void SumStore_dealloc(SumStore *s) {
    st_clear(s);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static Py_ssize_t SumStore_len(SumStore *s) { return (Py_ssize_t)s->count; }

/* add(key, value, growth, now): FlowTable.add(key, value, None, now) at ``growth``. */
static PyObject *SumStore_add(SumStore *s, PyObject *args) {
    PyObject *key, *holder;
    double value, growth, now;
    if (!PyArg_ParseTuple(args, "Oddd", &key, &value, &growth, &now)) return NULL;
    Py_ssize_t len;
    const char *p = st_key_bytes(key, &len, &holder);
    if (!p) return NULL;
    int rc = st_add(s, p, (size_t)len, value, growth, now);
    Py_XDECREF(holder);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

/* get(key) -> (scaled sum, last update) | None */
static PyObject *SumStore_get(SumStore *s, PyObject *key) {
    PyObject *holder;
    Py_ssize_t len;
    const char *p = st_key_bytes(key, &len, &holder);
    if (!p) return NULL;
    uint32_t slot;
    StEntry *e = s->icap ? st_find(s, p, (size_t)len, key_hash32(p, (size_t)len), &slot) : NULL;
    Py_XDECREF(holder);
    if (!e) Py_RETURN_NONE;
    return Py_BuildValue("(dd)", e->value, e->last);
}

/* rescale(shrink): every scaled sum times ``shrink`` (the clock's landmark moved). */
static PyObject *SumStore_rescale(SumStore *s, PyObject *arg) {
    double shrink = PyFloat_AsDouble(arg);
    if (shrink == -1.0 && PyErr_Occurred()) return NULL;
    for (uint32_t i = 0; i < s->count; i++) s->entries[i].value *= shrink;
    Py_RETURN_NONE;
}

/* expire(now) -> how many idle keys were dropped (FlowTable.expire). */
static PyObject *SumStore_expire(SumStore *s, PyObject *arg) {
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred()) return NULL;
    Py_ssize_t dropped = st_expire(s, now);
    if (dropped < 0) return PyErr_NoMemory();
    return PyLong_FromSsize_t(dropped);
}

/* top(limit) -> [(key, scaled sum)]: the ``limit`` largest, ranked as a sweep ranks. */
static PyObject *SumStore_top(SumStore *s, PyObject *arg) {
    Py_ssize_t limit = PyLong_AsSsize_t(arg);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (limit < 0) limit = 0;
    if (limit > (Py_ssize_t)s->count) limit = (Py_ssize_t)s->count;
    StRank *rank = st_ranked(s);
    if (!rank) return PyErr_NoMemory();
    PyObject *out = PyList_New(limit);
    for (Py_ssize_t k = 0; out && k < limit; k++) {
        const StEntry *e = &s->entries[rank[k].pos];
        PyObject *key = st_key_str(s, e);
        PyObject *row = key ? Py_BuildValue("(Nd)", key, e->value) : NULL;
        if (!row) Py_CLEAR(out);
        else PyList_SET_ITEM(out, k, row);
    }
    PyMem_Free(rank);
    return out;
}

/* items() -> [(key, scaled sum, last update)] in entry order (a dict's order). */
static PyObject *SumStore_items(SumStore *s, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(s->count);
    for (uint32_t i = 0; out && i < s->count; i++) {
        const StEntry *e = &s->entries[i];
        PyObject *key = st_key_str(s, e);
        PyObject *row = key ? Py_BuildValue("(Ndd)", key, e->value, e->last) : NULL;
        if (!row) Py_CLEAR(out);
        else PyList_SET_ITEM(out, i, row);
    }
    return out;
}

static PyObject *SumStore_clear(SumStore *s, PyObject *Py_UNUSED(ignored)) {
    st_clear(s);
    Py_RETURN_NONE;
}

static PyObject *SumStore_sizeof(SumStore *s, PyObject *Py_UNUSED(ignored)) {
    size_t n = sizeof(SumStore) + (size_t)s->entries_cap * sizeof(StEntry) +
               (size_t)s->icap * sizeof(uint32_t) + s->keys_cap;
    return PyLong_FromSize_t(n);
}

static PyMethodDef SumStore_methods[] = {
    {"add", (PyCFunction)SumStore_add, METH_VARARGS,
     "add(key, value, growth, now): FlowTable.add(key, value, None, now) at growth."},
    {"get", (PyCFunction)SumStore_get, METH_O, "get(key) -> (scaled sum, last update) | None."},
    {"rescale", (PyCFunction)SumStore_rescale, METH_O, "Every scaled sum times shrink."},
    {"expire", (PyCFunction)SumStore_expire, METH_O, "Drop idle keys; returns how many."},
    {"top", (PyCFunction)SumStore_top, METH_O, "top(limit) -> [(key, scaled sum)], largest first."},
    {"items", (PyCFunction)SumStore_items, METH_NOARGS,
     "[(key, scaled sum, last update)] in insertion order."},
    {"clear", (PyCFunction)SumStore_clear, METH_NOARGS, "Forget every key (not evicted)."},
    {"__sizeof__", (PyCFunction)SumStore_sizeof, METH_NOARGS, "Bytes held, arrays included."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef SumStore_members[] = {
    {"capacity", T_PYSSIZET, offsetof(SumStore, capacity), READONLY, "Keys held at most."},
    {"keep", T_PYSSIZET, offsetof(SumStore, keep), READONLY, "Keys a sweep keeps at most."},
    {"idle_timeout", T_DOUBLE, offsetof(SumStore, idle_timeout), READONLY,
     "Seconds without an update before a key is dropped."},
    {"evicted", T_ULONGLONG, offsetof(SumStore, evicted), READONLY,
     "Keys dropped by sweeps to make room (not idle expiry)."},
    {NULL, 0, 0, 0, NULL},
};

static PySequenceMethods SumStore_as_sequence = {.sq_length = (lenfunc)SumStore_len};

static PyTypeObject SumStoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "flowrt._core._ingest.SumStore",
    .tp_basicsize = sizeof(SumStore),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SumStore_init,
    .tp_dealloc = (destructor)SumStore_dealloc,
    .tp_methods = SumStore_methods,
    .tp_members = SumStore_members,
    .tp_as_sequence = &SumStore_as_sequence,
    .tp_doc = "A plain-sum top-N table's entries (flowrt.engine.topn.NativeFlowTable).",
};

#endif /* FLOWRT_SUMTABLE_H */
