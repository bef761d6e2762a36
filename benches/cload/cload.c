/*
 * cload: a load generator on Apache ZooKeeper's own C client (libzookeeper_mt).
 *
 * Real clients send each request on its own system call; this one does too, through
 * Apache's C client: N sessions (one zhandle each, sessions spread round-robin over the
 * hosts given), each keeping M asynchronous requests outstanding (zoo_aset / zoo_aget, or
 * a mix), 100-byte values by default, for a fixed duration (after a warm-up) or a fixed
 * count. Each completion records its latency (from the call that queued the request to
 * its completion callback) and queues the next request from the completion thread.
 *
 * The result is one line of JSON on stdout (and in --json FILE), with the same field
 * names as zk-load's report: workload, ops, reads, writes, ops_per_s, errors, latency_ms
 * {p50, p99, p999, max, mean}, plus "generator": "cload".
 *
 * Build: gcc -O2 -o cload cload.c -lzookeeper_mt -lpthread  (benches/cload.sh does it)
 * Run:   cload --hosts 127.0.0.1:2181,127.0.0.1:2182 --workload mixed --read-ratio 0.9 \
 *              --sessions 4 --outstanding 32 --duration 10 --warmup 2
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* THREADED: the multi-threaded library, whose synchronous calls (zoo_create) exist. */
#define THREADED
#include <zookeeper/zookeeper.h>

enum workload { W_SET, W_GET, W_MIXED };

struct session;

/* One outstanding request's slot: reused for the next request when it completes. */
struct slot {
    struct session *s;
    uint64_t t0_ns;
    int is_read;
};

struct session {
    int idx;
    zhandle_t *zh;
    uint64_t rng;
    struct slot *slots;
    /* Latencies (microseconds) of requests measured; touched only by this session's
     * completion thread until the handle is closed. */
    uint32_t *lat;
    size_t nlat, caplat;
    uint64_t reads, writes, errors;
};

static struct {
    char *hosts;
    int sessions, outstanding, value_size, keys, timeout_ms;
    double read_ratio, duration, warmup;
    long count; /* >0: run exactly this many requests instead of for a duration */
    enum workload workload;
    const char *prefix;
    const char *json;
} opt = {
    .hosts = "127.0.0.1:2181",
    .sessions = 4,
    .outstanding = 32,
    .value_size = 100,
    .keys = 10000,
    .timeout_ms = 30000,
    .read_ratio = 0.9,
    .duration = 10.0,
    .warmup = 0.0,
    .count = 0,
    .workload = W_MIXED,
    .prefix = "/zk-load",
    .json = NULL,
};

static char *value;
static volatile int stopping;       /* no new requests once set */
static volatile uint64_t measure_from_ns, measure_to_ns; /* window of measured requests */
static long issued;                 /* count mode: requests handed out (atomic) */
static long in_flight;              /* atomic */
static long session_failures;       /* atomic: expired or auth failed */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *x)
{ /* xorshift64* */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 2685821657736338717ull;
}

static void key_path(char *out, size_t n, int k)
{
    snprintf(out, n, "%s/k%010d", opt.prefix, k);
}

static void issue(struct slot *sl);

static void record(struct slot *sl, int rc)
{
    struct session *s = sl->s;
    uint64_t t1 = now_ns();
    uint64_t from = measure_from_ns, to = measure_to_ns;
    if (sl->t0_ns >= from && (to == 0 || t1 <= to)) {
        if (rc != ZOK) {
            s->errors++;
        } else {
            if (sl->is_read)
                s->reads++;
            else
                s->writes++;
            if (s->nlat == s->caplat) {
                s->caplat = s->caplat ? s->caplat * 2 : 65536;
                s->lat = realloc(s->lat, s->caplat * sizeof(uint32_t));
                if (!s->lat) {
                    fprintf(stderr, "cload: out of memory\n");
                    exit(1);
                }
            }
            uint64_t us = (t1 - sl->t0_ns) / 1000;
            s->lat[s->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        }
    }
}

static void stat_done(int rc, const struct Stat *stat, const void *data)
{
    (void)stat;
    struct slot *sl = (struct slot *)data;
    record(sl, rc);
    issue(sl);
}

static void data_done(int rc, const char *v, int vlen, const struct Stat *stat, const void *data)
{
    (void)v;
    (void)vlen;
    (void)stat;
    struct slot *sl = (struct slot *)data;
    record(sl, rc);
    issue(sl);
}

/* Queues the next request in this slot, or retires the slot. */
static void issue(struct slot *sl)
{
    struct session *s = sl->s;
    if (stopping || (opt.count > 0 && __atomic_fetch_add(&issued, 1, __ATOMIC_RELAXED) >= opt.count)) {
        __atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
        return;
    }
    char path[256];
    key_path(path, sizeof path, (int)(next_rand(&s->rng) % (uint64_t)opt.keys));
    int read;
    switch (opt.workload) {
    case W_GET:
        read = 1;
        break;
    case W_SET:
        read = 0;
        break;
    default:
        read = (double)(next_rand(&s->rng) >> 11) / (double)(1ull << 53) < opt.read_ratio;
    }
    sl->is_read = read;
    sl->t0_ns = now_ns();
    int rc = read ? zoo_aget(s->zh, path, 0, data_done, sl)
                  : zoo_aset(s->zh, path, value, opt.value_size, -1, stat_done, sl);
    if (rc != ZOK) {
        /* Not queued (connection lost or closing): count it and retire the slot. */
        if (!stopping)
            s->errors++;
        __atomic_fetch_sub(&in_flight, 1, __ATOMIC_RELAXED);
    }
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    (void)ctx;
    if (type == ZOO_SESSION_EVENT &&
        (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)) {
        __atomic_fetch_add(&session_failures, 1, __ATOMIC_RELAXED);
    }
}

/* Setup: the prefix and the keys exist (NodeExists is fine), at most 256 creates outstanding. */
static sem_t setup_window;
static long setup_errors;
static void create_done(int rc, const char *name, const void *data)
{
    (void)name;
    (void)data;
    if (rc != ZOK && rc != ZNODEEXISTS)
        __atomic_fetch_add(&setup_errors, 1, __ATOMIC_RELAXED);
    sem_post(&setup_window);
}

static int setup(zhandle_t *zh)
{
    int rc = zoo_create(zh, opt.prefix, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) {
        fprintf(stderr, "cload: create %s: %s\n", opt.prefix, zerror(rc));
        return -1;
    }
    const int window = 256;
    sem_init(&setup_window, 0, window);
    char path[256];
    for (int k = 0; k < opt.keys; k++) {
        sem_wait(&setup_window);
        key_path(path, sizeof path, k);
        rc = zoo_acreate(zh, path, value, opt.value_size, &ZOO_OPEN_ACL_UNSAFE, 0, create_done, NULL);
        if (rc != ZOK) {
            fprintf(stderr, "cload: create %s: %s\n", path, zerror(rc));
            return -1;
        }
    }
    for (int i = 0; i < window; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 60;
        if (sem_timedwait(&setup_window, &ts) != 0) {
            fprintf(stderr, "cload: setup creates did not complete in 60 s\n");
            return -1;
        }
    }
    if (setup_errors) {
        fprintf(stderr, "cload: %ld setup creates failed\n", setup_errors);
        return -1;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double quantile_ms(const uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return 0.0;
    size_t i = (size_t)(q * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i] / 1000.0;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cload [--hosts H1,H2] [--workload set|get|mixed] [--read-ratio 0.9]\n"
            "             [--sessions 4] [--outstanding 32] [--value-size 100] [--keys 10000]\n"
            "             [--duration 10 | --count N] [--warmup 0] [--prefix /zk-load] [--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static struct option longopts[] = {
        {"hosts", required_argument, 0, 'h'},       {"workload", required_argument, 0, 'w'},
        {"read-ratio", required_argument, 0, 'r'},  {"sessions", required_argument, 0, 's'},
        {"outstanding", required_argument, 0, 'o'}, {"value-size", required_argument, 0, 'v'},
        {"keys", required_argument, 0, 'k'},        {"duration", required_argument, 0, 'd'},
        {"count", required_argument, 0, 'n'},       {"warmup", required_argument, 0, 'W'},
        {"prefix", required_argument, 0, 'p'},      {"json", required_argument, 0, 'j'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': opt.hosts = optarg; break;
        case 'w':
            if (!strcmp(optarg, "set")) opt.workload = W_SET;
            else if (!strcmp(optarg, "get")) opt.workload = W_GET;
            else if (!strcmp(optarg, "mixed")) opt.workload = W_MIXED;
            else usage();
            break;
        case 'r': opt.read_ratio = atof(optarg); break;
        case 's': opt.sessions = atoi(optarg); break;
        case 'o': opt.outstanding = atoi(optarg); break;
        case 'v': opt.value_size = atoi(optarg); break;
        case 'k': opt.keys = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'n': opt.count = atol(optarg); break;
        case 'W': opt.warmup = atof(optarg); break;
        case 'p': opt.prefix = optarg; break;
        case 'j': opt.json = optarg; break;
        default: usage();
        }
    }
    if (opt.sessions < 1 || opt.outstanding < 1 || opt.keys < 1 || opt.value_size < 0)
        usage();
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    value = malloc((size_t)opt.value_size + 1);
    memset(value, 'x', (size_t)opt.value_size);

    /* Hosts, one per session in turn. */
    char *hosts[64];
    int nhosts = 0;
    char *all = strdup(opt.hosts);
    for (char *t = strtok(all, ","); t && nhosts < 64; t = strtok(NULL, ","))
        hosts[nhosts++] = t;
    if (nhosts == 0)
        usage();

    struct session *ss = calloc((size_t)opt.sessions, sizeof *ss);
    for (int i = 0; i < opt.sessions; i++) {
        struct session *s = &ss[i];
        s->idx = i;
        s->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        s->zh = zookeeper_init(hosts[i % nhosts], watcher, opt.timeout_ms, NULL, s, 0);
        if (!s->zh) {
            fprintf(stderr, "cload: zookeeper_init %s: %s\n", hosts[i % nhosts], strerror(errno));
            return 1;
        }
    }
    /* Every session connected, within 30 s. */
    for (int tries = 0;; tries++) {
        int up = 0;
        for (int i = 0; i < opt.sessions; i++)
            up += zoo_state(ss[i].zh) == ZOO_CONNECTED_STATE;
        if (up == opt.sessions)
            break;
        if (tries >= 3000) {
            fprintf(stderr, "cload: %d of %d sessions connected after 30 s\n", up, opt.sessions);
            return 1;
        }
        usleep(10000);
    }
    if (setup(ss[0].zh) != 0)
        return 1;

    /* Load. */
    /* "measuring" / "measured" on stderr mark the measured window for whoever samples the
     * servers' CPU time (zk-compare). */
    int warm = opt.count <= 0 && opt.warmup > 0;
    measure_from_ns = warm ? UINT64_MAX : now_ns();
    if (!warm)
        fprintf(stderr, "cload: measuring\n");
    in_flight = (long)opt.sessions * opt.outstanding;
    for (int i = 0; i < opt.sessions; i++) {
        struct session *s = &ss[i];
        s->slots = calloc((size_t)opt.outstanding, sizeof *s->slots);
        for (int j = 0; j < opt.outstanding; j++) {
            s->slots[j].s = s;
            issue(&s->slots[j]);
        }
    }
    if (opt.count > 0) {
        /* Until every request has completed (bounded: 10 minutes). */
        for (int tries = 0; __atomic_load_n(&in_flight, __ATOMIC_RELAXED) > 0; tries++) {
            if (tries >= 600000) {
                fprintf(stderr, "cload: requests still outstanding after 10 minutes\n");
                return 1;
            }
            usleep(1000);
        }
        measure_to_ns = now_ns();
    } else {
        if (warm) {
            sleep_s(opt.warmup);
            measure_from_ns = now_ns();
            fprintf(stderr, "cload: measuring\n");
        }
        sleep_s(opt.duration);
        measure_to_ns = now_ns();
        stopping = 1;
        for (int tries = 0; __atomic_load_n(&in_flight, __ATOMIC_RELAXED) > 0 && tries < 30000; tries++)
            usleep(1000);
    }
    fprintf(stderr, "cload: measured\n");
    double secs = (double)(measure_to_ns - measure_from_ns) / 1e9;
    stopping = 1;
    for (int i = 0; i < opt.sessions; i++)
        zookeeper_close(ss[i].zh);

    /* Merge and report. */
    size_t n = 0;
    uint64_t reads = 0, writes = 0, errors = 0;
    for (int i = 0; i < opt.sessions; i++) {
        n += ss[i].nlat;
        reads += ss[i].reads;
        writes += ss[i].writes;
        errors += ss[i].errors;
    }
    uint32_t *lat = malloc((n ? n : 1) * sizeof(uint32_t));
    size_t at = 0;
    double sum = 0;
    for (int i = 0; i < opt.sessions; i++) {
        memcpy(lat + at, ss[i].lat, ss[i].nlat * sizeof(uint32_t));
        at += ss[i].nlat;
    }
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    qsort(lat, n, sizeof(uint32_t), cmp_u32);
    uint64_t ops = reads + writes;
    const char *wname = opt.workload == W_SET ? "set" : opt.workload == W_GET ? "get" : "mixed";
    double rr = opt.workload == W_MIXED ? opt.read_ratio : opt.workload == W_GET ? 1.0 : 0.0;
    char line[2048];
    snprintf(line, sizeof line,
             "{\"generator\": \"cload\", \"workload\": \"%s\", \"hosts\": \"%s\", \"sessions\": %d, "
             "\"outstanding\": %d, \"value_size\": %d, \"keys\": %d, \"read_ratio\": %g, "
             "\"seconds\": %.3f, \"ops\": %llu, \"reads\": %llu, \"writes\": %llu, "
             "\"ops_per_s\": %.1f, \"errors\": %llu, \"failed_sessions\": %ld, "
             "\"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f, "
             "\"mean\": %.3f}}",
             wname, opt.hosts, opt.sessions, opt.outstanding, opt.value_size, opt.keys, rr, secs,
             (unsigned long long)ops, (unsigned long long)reads, (unsigned long long)writes,
             secs > 0 ? (double)ops / secs : 0.0, (unsigned long long)errors, session_failures,
             quantile_ms(lat, n, 0.5), quantile_ms(lat, n, 0.99), quantile_ms(lat, n, 0.999),
             n ? lat[n - 1] / 1000.0 : 0.0, n ? sum / (double)n / 1000.0 : 0.0);
    printf("%s\n", line);
    fflush(stdout);
    if (opt.json) {
        FILE *f = fopen(opt.json, "w");
        if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0) {
            fprintf(stderr, "cload: cannot write %s\n", opt.json);
            return 1;
        }
    }
    return session_failures ? 1 : 0;
}
