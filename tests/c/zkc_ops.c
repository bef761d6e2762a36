/*
 * Differential client on Apache ZooKeeper's C client (libzookeeper-mt): runs a fixed sequence
 * of operations against the server named on the command line and prints one JSON line per
 * operation, in the same shape as the kazoo scripts (tests/py/zkdiff.py), so the Rust side
 * (tests/tests/c_client.rs) normalises and compares it the same way.
 *
 * usage: zkc_ops HOST:PORT
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#define MAX_EVENTS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int connected = 0;
static struct {
    int type;
    int state;
    char path[256];
} events[MAX_EVENTS];
static int n_events = 0;

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
    (void)zh;
    (void)ctx;
    pthread_mutex_lock(&mu);
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) connected = 1;
    } else if (n_events < MAX_EVENTS) {
        events[n_events].type = type;
        events[n_events].state = state;
        snprintf(events[n_events].path, sizeof events[n_events].path, "%s", path ? path : "");
        n_events++;
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static struct timespec deadline_in(int secs) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    return ts;
}

/* Waits (bounded) until n events arrived; prints and clears them. */
static void emit_events(const char *step, int n) {
    struct timespec dl = deadline_in(5);
    pthread_mutex_lock(&mu);
    while (n_events < n) {
        if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) break;
    }
    printf("{\"step\":\"%s\",\"events\":[", step);
    for (int i = 0; i < n_events; i++) {
        printf("%s{\"type\":%d,\"state\":%d,\"path\":\"%s\"}", i ? "," : "", events[i].type,
               events[i].state, events[i].path);
    }
    printf("]}\n");
    n_events = 0;
    pthread_mutex_unlock(&mu);
    fflush(stdout);
}

static void print_stat(const struct Stat *s) {
    printf("{\"czxid\":%lld,\"mzxid\":%lld,\"ctime\":%lld,\"mtime\":%lld,\"version\":%d,"
           "\"cversion\":%d,\"aversion\":%d,\"ephemeralOwner\":%lld,\"dataLength\":%d,"
           "\"numChildren\":%d,\"pzxid\":%lld}",
           (long long)s->czxid, (long long)s->mzxid, (long long)s->ctime, (long long)s->mtime,
           s->version, s->cversion, s->aversion, (long long)s->ephemeralOwner, s->dataLength,
           s->numChildren, (long long)s->pzxid);
}

static void print_json_string(const char *s, int len) {
    putchar('"');
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c > 0x7e) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* {"step":..,"rc":N[,"path":..][,"stat":..]} */
static void emit_rc(const char *step, int rc, const char *path, const struct Stat *stat) {
    printf("{\"step\":\"%s\",\"rc\":%d", step, rc);
    if (rc == ZOK && path) printf(",\"path\":\"%s\"", path);
    if (rc == ZOK && stat) {
        printf(",\"stat\":");
        print_stat(stat);
    }
    printf("}\n");
    fflush(stdout);
}

static zhandle_t *zh;

static void create2(const char *step, const char *path, const char *data, int len, int mode) {
    char out[256] = "";
    struct Stat st;
    int rc = zoo_create2(zh, path, data, len, &ZOO_OPEN_ACL_UNSAFE, mode, out, sizeof out, &st);
    emit_rc(step, rc, out, &st);
}

static void get(const char *step, const char *path, int watch) {
    char buf[1024];
    int len = sizeof buf;
    struct Stat st;
    int rc = watch ? zoo_wget(zh, path, watcher, NULL, buf, &len, &st)
                   : zoo_get(zh, path, 0, buf, &len, &st);
    printf("{\"step\":\"%s\",\"rc\":%d", step, rc);
    if (rc == ZOK) {
        printf(",\"len\":%d,\"data\":", len);
        if (len >= 0) print_json_string(buf, len);
        else printf("null");
        printf(",\"stat\":");
        print_stat(&st);
    }
    printf("}\n");
    fflush(stdout);
}

static void children(const char *step, const char *path, int watch) {
    struct String_vector sv;
    struct Stat st;
    memset(&sv, 0, sizeof sv);
    int rc = watch ? zoo_wget_children2(zh, path, watcher, NULL, &sv, &st)
                   : zoo_get_children2(zh, path, 0, &sv, &st);
    printf("{\"step\":\"%s\",\"rc\":%d", step, rc);
    if (rc == ZOK) {
        /* sort: ZooKeeper leaves the order of children open */
        for (int i = 0; i < sv.count; i++)
            for (int j = i + 1; j < sv.count; j++)
                if (strcmp(sv.data[i], sv.data[j]) > 0) {
                    char *t = sv.data[i];
                    sv.data[i] = sv.data[j];
                    sv.data[j] = t;
                }
        printf(",\"children\":[");
        for (int i = 0; i < sv.count; i++) printf("%s\"%s\"", i ? "," : "", sv.data[i]);
        printf("],\"stat\":");
        print_stat(&st);
        deallocate_String_vector(&sv);
    }
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
        return 2;
    }
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zoo_set_log_stream(stderr);
    zh = zookeeper_init(argv[1], watcher, 10000, NULL, NULL, 0);
    if (!zh) {
        perror("zookeeper_init");
        return 1;
    }
    struct timespec dl = deadline_in(30);
    pthread_mutex_lock(&mu);
    while (!connected) {
        if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT) {
            fprintf(stderr, "not connected within 30 s\n");
            return 1;
        }
    }
    pthread_mutex_unlock(&mu);
    printf("{\"op\":\"session\",\"name\":\"c\",\"id\":%lld}\n",
           (long long)zoo_client_id(zh)->client_id);

    char out[256];
    struct Stat st;
    int rc = zoo_create2(zh, "/c", "base", 4, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, out,
                         sizeof out, &st);
    if (rc != ZOK) {
        fprintf(stderr, "create /c: %s\n", zerror(rc));
        return 1;
    }
    printf("{\"op\":\"base\",\"zxid\":%lld}\n", (long long)st.czxid);
    emit_rc("create2 /c", rc, out, &st);

    rc = zoo_create(zh, "/c/p", "v0", 2, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, out, sizeof out);
    emit_rc("create /c/p", rc, out, NULL);
    create2("create null data", "/c/null", NULL, -1, ZOO_PERSISTENT);
    get("get null data", "/c/null", 0);
    rc = zoo_set2(zh, "/c/null", "", 0, -1, &st);
    emit_rc("set empty over null", rc, NULL, &st);
    get("get empty after null", "/c/null", 0);
    rc = zoo_set2(zh, "/c/null", NULL, -1, -1, &st);
    emit_rc("set null data", rc, NULL, &st);
    get("get null after set", "/c/null", 0);
    create2("create existing", "/c/p", "x", 1, ZOO_PERSISTENT);
    create2("create no parent", "/c/none/x", "x", 1, ZOO_PERSISTENT);
    create2("create ephemeral", "/c/e", "e", 1, ZOO_EPHEMERAL);
    create2("create under ephemeral", "/c/e/x", "", 0, ZOO_PERSISTENT);
    create2("create seq", "/c/s-", "", 0, ZOO_PERSISTENT_SEQUENTIAL);
    create2("create ephemeral seq", "/c/es-", "", 0, ZOO_EPHEMERAL_SEQUENTIAL);
    create2("create container", "/c/cont", "", 0, ZOO_CONTAINER);
    rc = zoo_create2_ttl(zh, "/c/ttl", "t", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_WITH_TTL,
                         30000, out, sizeof out, &st);
    emit_rc("create ttl", rc, out, &st);
    rc = zoo_create2_ttl(zh, "/c/ttl0", "t", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_WITH_TTL,
                         0, out, sizeof out, &st);
    emit_rc("create ttl 0", rc, out, &st);

    /* data watch, set with versions */
    get("wget /c/p", "/c/p", 1);
    rc = zoo_set2(zh, "/c/p", "v1", 2, 0, &st);
    emit_rc("set v0", rc, NULL, &st);
    emit_events("events after set", 1);
    rc = zoo_set2(zh, "/c/p", "v2", 2, 0, &st);
    emit_rc("set stale", rc, NULL, &st);
    rc = zoo_set2(zh, "/c/nope", "v2", 2, -1, &st);
    emit_rc("set missing", rc, NULL, &st);

    /* exists watch on a missing node, child watch */
    rc = zoo_wexists(zh, "/c/later", watcher, NULL, &st);
    emit_rc("wexists missing", rc, NULL, &st);
    children("wget_children2 /c", "/c", 1);
    create2("create /c/later", "/c/later", "l", 1, ZOO_PERSISTENT);
    emit_events("events after create", 2);
    rc = zoo_exists(zh, "/c/later", 0, &st);
    emit_rc("exists /c/later", rc, NULL, &st);

    /* delete */
    get("wget /c/later", "/c/later", 1);
    rc = zoo_delete(zh, "/c/later", 5);
    emit_rc("delete bad version", rc, NULL, NULL);
    rc = zoo_delete(zh, "/c", -1);
    emit_rc("delete not empty", rc, NULL, NULL);
    rc = zoo_delete(zh, "/c/later", 0);
    emit_rc("delete", rc, NULL, NULL);
    emit_events("events after delete", 1);
    rc = zoo_delete(zh, "/c/later", -1);
    emit_rc("delete missing", rc, NULL, NULL);

    /* multi: success, then failure with per-op results */
    {
        zoo_op_t ops[4];
        zoo_op_result_t res[4];
        char p0[64] = "", p3[64] = "";
        struct Stat s1;
        zoo_create_op_init(&ops[0], "/c/m", "a", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, p0,
                           sizeof p0);
        zoo_set_op_init(&ops[1], "/c/m", "b", 1, 0, &s1);
        zoo_check_op_init(&ops[2], "/c/p", 1);
        /* null data (length -1) inside a multi */
        zoo_create_op_init(&ops[3], "/c/m/s-", NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
                           ZOO_PERSISTENT_SEQUENTIAL, p3, sizeof p3);
        rc = zoo_multi(zh, 4, ops, res);
        printf("{\"step\":\"multi ok\",\"rc\":%d,\"results\":[", rc);
        for (int i = 0; i < 4; i++) printf("%s%d", i ? "," : "", res[i].err);
        printf("],\"paths\":[\"%s\",\"%s\"],\"set_stat\":", p0, p3);
        print_stat(&s1);
        printf("}\n");
        get("get null data from multi", p3, 0);

        zoo_create_op_init(&ops[0], "/c/m2", "a", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, p0,
                           sizeof p0);
        zoo_check_op_init(&ops[1], "/c/m", 7);
        zoo_delete_op_init(&ops[2], "/c/nope", -1);
        rc = zoo_multi(zh, 3, ops, res);
        printf("{\"step\":\"multi fail\",\"rc\":%d,\"results\":[", rc);
        for (int i = 0; i < 3; i++) printf("%s%d", i ? "," : "", res[i].err);
        printf("]}\n");
        fflush(stdout);
    }
    rc = zoo_exists(zh, "/c/m2", 0, &st);
    emit_rc("exists rolled back", rc, NULL, &st);
    get("get /c/m", "/c/m", 0);
    children("children /c", "/c", 0);

    {
        struct ACL_vector acl;
        memset(&acl, 0, sizeof acl);
        rc = zoo_get_acl(zh, "/c/p", &acl, &st);
        printf("{\"step\":\"get_acl\",\"rc\":%d,\"acl\":[", rc);
        for (int i = 0; rc == ZOK && i < acl.count; i++)
            printf("%s{\"perms\":%d,\"scheme\":\"%s\",\"id\":\"%s\"}", i ? "," : "",
                   acl.data[i].perms, acl.data[i].id.scheme, acl.data[i].id.id);
        printf("]}\n");
        if (rc == ZOK) deallocate_ACL_vector(&acl);
    }
    rc = zoo_create(zh, "/c/badacl", "", 0, &ZOO_CREATOR_ALL_ACL, ZOO_PERSISTENT, out,
                    sizeof out);
    emit_rc("create auth acl without auth", rc, NULL, NULL);

    rc = zookeeper_close(zh);
    printf("{\"step\":\"close\",\"rc\":%d}\n", rc);
    return 0;
}
