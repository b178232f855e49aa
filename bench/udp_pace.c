/* udp_pace: the end-to-end benchmark's paced sFlow sender (bench/e2e.py compiles it).
 *
 *   udp_pace FILE HOST PORT RATE SECONDS [STATE]
 *
 * FILE holds sFlow v5 datagrams, each prefixed by its length (4 bytes, big-endian).
 * They are sent round-robin to HOST:PORT at RATE datagrams per second (0: as fast as
 * the socket takes them, to measure the sender's own ceiling) for SECONDS, in batches
 * of up to BATCH datagrams per sendmmsg call, paced against the monotonic clock.
 *
 * Every datagram is renumbered as it is sent so a collector sees one healthy agent: the
 * datagram sequence number counts up per sub-agent, each flow_sample / counters_sample
 * (compact and expanded) gets the next sequence number of its data source, and uptime
 * advances with the wall clock. STATE (a file, created when absent) keeps the sequence
 * numbers between runs, so successive runs against one collector continue one stream.
 *
 * Prints one line: "sent DATAGRAMS SAMPLES FLOW_SAMPLES ELAPSED_S".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define MAX_SOURCES 4096
#define MAX_SUBAGENTS 64

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

typedef struct { uint32_t key; uint32_t seq; int used; } Counter;
static Counter sources[MAX_SOURCES], subagents[MAX_SUBAGENTS];
static uint32_t uptime_base = 100000, uptime_last;

static Counter *slot(Counter *table, int size, uint32_t key) {
    unsigned h = (key * 2654435761u) % (unsigned)size;
    for (int i = 0; i < size; i++) {
        Counter *c = &table[(h + (unsigned)i) % (unsigned)size];
        if (!c->used) { c->used = 1; c->key = key; c->seq = 0; }
        if (c->key == key) return c;
    }
    return NULL; /* table full: never with the benchmark's traffic */
}

static uint32_t next_seq(Counter *table, int size, uint32_t key) {
    Counter *c = slot(table, size, key);
    return c ? ++c->seq : 0;
}

static void load_state(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char kind;
    unsigned key, seq;
    while (fscanf(f, " %c %u %u", &kind, &key, &seq) == 3) {
        if (kind == 'u') { uptime_base = seq; continue; }
        Counter *c = kind == 'a' ? slot(subagents, MAX_SUBAGENTS, key) : slot(sources, MAX_SOURCES, key);
        if (c) c->seq = seq;
    }
    fclose(f);
}

static void save_state(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); return; }
    fprintf(f, "u 0 %u\n", uptime_last + 1000);
    for (int i = 0; i < MAX_SUBAGENTS; i++)
        if (subagents[i].used) fprintf(f, "a %u %u\n", subagents[i].key, subagents[i].seq);
    for (int i = 0; i < MAX_SOURCES; i++)
        if (sources[i].used) fprintf(f, "s %u %u\n", sources[i].key, sources[i].seq);
    fclose(f);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Renumber one datagram in place; returns its (samples, flow samples) through the pointers. */
static void renumber(uint8_t *d, size_t len, uint32_t uptime, long *samples,
                     long *flows) {
    if (len < 28 || rd32(d) != 5) return;
    size_t off = rd32(d + 4) == 2 ? 24 : 12;
    if (off + 16 > len) return;
    uint32_t sub = rd32(d + off);
    wr32(d + off + 4, next_seq(subagents, MAX_SUBAGENTS, sub));
    wr32(d + off + 8, uptime);
    uint32_t count = rd32(d + off + 12);
    off += 16;
    for (uint32_t i = 0; i < count && off + 8 <= len; i++) {
        uint32_t tag = rd32(d + off), slen = rd32(d + off + 4);
        size_t start = off + 8;
        if (start + slen > len) return;
        uint32_t source = 0;
        int known = 1;
        if ((tag == 1 || tag == 2) && slen >= 8) source = rd32(d + start + 4);
        else if ((tag == 3 || tag == 4) && slen >= 12)
            source = rd32(d + start + 4) << 24 | (rd32(d + start + 8) & 0xFFFFFF);
        else known = 0;
        if (known) {
            /* flow and counter samples of one data source have their own sequences */
            uint32_t key = source ^ ((tag == 2 || tag == 4) ? 0x80000000u : 0);
            wr32(d + start, next_seq(sources, MAX_SOURCES, key));
            (*samples)++;
            if (tag == 1 || tag == 3) (*flows)++;
        }
        off = start + ((slen + 3) & ~3u);
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s FILE HOST PORT RATE SECONDS [STATE]\n", argv[0]);
        return 2;
    }
    double rate = atof(argv[4]), seconds = atof(argv[5]);
    const char *state = argc > 6 ? argv[6] : NULL;
    if (state) load_state(state);
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *blob = malloc((size_t)size);
    if (!blob || fread(blob, 1, (size_t)size, f) != (size_t)size) { perror("read"); return 1; }
    fclose(f);
    size_t n = 0, cap = 1024;
    uint8_t **dgrams = malloc(cap * sizeof *dgrams);
    size_t *lens = malloc(cap * sizeof *lens);
    for (long off = 0; off + 4 <= size;) {
        uint32_t len = rd32(blob + off);
        if (off + 4 + (long)len > size) break;
        if (n == cap) {
            cap *= 2;
            dgrams = realloc(dgrams, cap * sizeof *dgrams);
            lens = realloc(lens, cap * sizeof *lens);
        }
        dgrams[n] = blob + off + 4;
        lens[n] = len;
        n++;
        off += 4 + (long)len;
    }
    if (!n) { fprintf(stderr, "no datagrams in %s\n", argv[1]); return 1; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    if (fd < 0 || inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) { perror("socket"); return 1; }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    static uint8_t bufs[BATCH][65536];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long sent = 0, samples = 0, flows = 0;
    size_t next = 0;
    double t0 = now_s(), t = t0;
    while ((t = now_s()) - t0 < seconds) {
        long due = rate > 0 ? (long)((t - t0) * rate) + 1 - sent : BATCH;
        if (due <= 0) {
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
            continue;
        }
        int batch = due > BATCH ? BATCH : (int)due;
        uint32_t uptime = uptime_last = (uint32_t)(uptime_base + (t - t0) * 1000);
        for (int i = 0; i < batch; i++) {
            memcpy(bufs[i], dgrams[next], lens[next]);
            renumber(bufs[i], lens[next], uptime, &samples, &flows);
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = lens[next];
            memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_name = &to;
            msgs[i].msg_hdr.msg_namelen = sizeof to;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            next = (next + 1) % n;
        }
        int done = 0;
        while (done < batch) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(batch - done), 0);
            if (r < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
                if (errno == ECONNREFUSED) { r = 1; } else { perror("sendmmsg"); return 1; }
            }
            done += r;
        }
        sent += batch;
    }
    /* samples of the datagrams actually sent: the last batch is always whole */
    if (state) save_state(state);
    printf("sent %ld %ld %ld %.6f\n", sent, samples, flows, now_s() - t0);
    return 0;
}
