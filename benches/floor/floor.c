// floor: what the kernel alone charges a server per request on this machine.
//
// A server that does nothing but echo: every request of `size` bytes gets a
// reply of `size` bytes, over loopback TCP (127.0.0.1, TCP_NODELAY on both
// ends), one connection. The client sends `batch` requests in one system call
// and waits for their replies, so `--batch 1` is a client with one request
// outstanding: every request arrives alone and finds the server parked, as each
// of cload's requests does against a server that keeps up with it. The server
// thread's CPU (user + system, getrusage(RUSAGE_THREAD)) divided by the
// requests is the least CPU per request any server pays on this kernel for
// that pattern, whatever it does in user space.
//
// Two server loops:
//   epoll  wait in epoll_wait (edge-triggered), recv what is there, answer the
//          complete requests with one writev: what a tokio server does
//          (epoll_wait, recvfrom, writev per wakeup);
//   uring  io_uring: one recv outstanding; each completion queues the send of
//          the replies and the next recv, and one io_uring_enter submits both
//          and waits for both completions: one system call per wakeup instead
//          of three.
//
// Where the two threads run matters as much on a VM: `--cpus same` pins both to
// CPU 0 (a wakeup is a switch on that CPU), `--cpus apart` the client to CPU 0
// and the server to CPU 1 (every wakeup reaches across: an inter-processor
// interrupt to a CPU that may have halted), `--cpus free` (the default) leaves
// it to the scheduler.
//
// usage: floor [--mode epoll|uring] [--batch K] [--requests N] [--size B]
//              [--cpus free|same|apart]
// prints one line: mode, batch, requests, round trip (wall, per batch), the
// server thread's CPU per request and the client thread's.
//
// Build: gcc -O2 -Wall -o floor benches/floor/floor.c -luring -lpthread
// (Debian: liburing-dev). Not a test: a measurement; CI builds it and runs a
// few requests of each mode (tests/floor.rs).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum mode { EPOLL, URING };
enum cpus { FREE, SAME, APART };

static enum mode mode = EPOLL;
static enum cpus cpus = FREE;
static long batch = 1, requests = 100000, size = 100;
static double server_cpu_us;
static long server_served;

static void die(const char *what) {
    perror(what);
    exit(2);
}

// Pin the calling thread to one CPU.
static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pthread_setaffinity_np");
}

static double thread_cpu_us(void) {
    struct rusage r;
    if (getrusage(RUSAGE_THREAD, &r) != 0) die("getrusage");
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec +
           r.ru_stime.tv_usec;
}

// Bytes received so far that do not yet make a whole request.
static long partial;

// How many whole requests `n` more bytes complete.
static long complete(long n) {
    partial += n;
    long k = partial / size;
    partial -= k * size;
    return k;
}

static void serve_epoll(int c, char *in, long cap, char *out) {
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) != 0) die("epoll_ctl");
    for (;;) { // until the client shuts its side down
        struct epoll_event got[4];
        if (epoll_wait(ep, got, 4, -1) < 0 && errno != EINTR) die("epoll_wait");
        for (;;) {
            ssize_t n = recv(c, in, cap, 0);
            if (n == 0) return;
            if (n < 0) {
                if (errno == EAGAIN) break;
                die("recv");
            }
            long k = complete(n);
            if (k > 0) {
                struct iovec iov = {out, (size_t)(k * size)};
                if (writev(c, &iov, 1) != k * size) die("writev");
                server_served += k;
            }
            if (n < cap) break; // a short read: the socket is empty
        }
    }
    close(ep);
}

static void serve_uring(int c, char *in, long cap, char *out) {
    struct io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) != 0) die("io_uring_queue_init");
    enum { RECV = 1, SEND = 2 };
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv(sqe, c, in, cap, 0);
    io_uring_sqe_set_data64(sqe, RECV);
    long inflight = 1;
    for (;;) { // until the client shuts its side down
        // Submit what is queued and wait until everything in flight completes:
        // the send finishes inline, so this waits for the next request.
        if (io_uring_submit_and_wait(&ring, inflight) < 0) die("io_uring_submit_and_wait");
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        long k = 0;
        int closed = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            if (cqe->user_data == SEND) {
                if (cqe->res < 0) { errno = -cqe->res; die("send"); }
            } else {
                if (cqe->res < 0) { errno = -cqe->res; die("recv"); }
                if (cqe->res == 0) closed = 1;
                k += complete(cqe->res);
            }
        }
        io_uring_cq_advance(&ring, seen);
        inflight -= seen;
        if (closed) break;
        // A recv can complete before the send it followed: queue the next
        // pair only once both are in.
        if (inflight == 0) {
            if (k > 0) {
                sqe = io_uring_get_sqe(&ring);
                io_uring_prep_send(sqe, c, out, k * size, 0);
                io_uring_sqe_set_data64(sqe, SEND);
                inflight++;
                server_served += k;
            }
            sqe = io_uring_get_sqe(&ring);
            io_uring_prep_recv(sqe, c, in, cap, 0);
            io_uring_sqe_set_data64(sqe, RECV);
            inflight++;
        }
    }
    io_uring_queue_exit(&ring);
}

static void *server(void *arg) {
    int listener = *(int *)arg;
    if (cpus != FREE) pin(cpus == SAME ? 0 : 1);
    int c = accept(listener, NULL, NULL);
    if (c < 0) die("accept");
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long cap = 64 * 1024;
    char *in = malloc(cap), *out = calloc(1, cap > batch * size ? cap : batch * size);
    if (!in || !out) die("malloc");
    if (mode == EPOLL) {
        if (fcntl(c, F_SETFL, O_NONBLOCK) != 0) die("fcntl");
    }
    double t0 = thread_cpu_us();
    if (mode == EPOLL)
        serve_epoll(c, in, cap, out);
    else
        serve_uring(c, in, cap, out);
    server_cpu_us = thread_cpu_us() - t0;
    close(c);
    free(in);
    free(out);
    return NULL;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "epoll")) mode = EPOLL;
            else if (!strcmp(v, "uring")) mode = URING;
            else goto usage;
        } else if (!strcmp(a, "--cpus")) {
            if (!strcmp(v, "free")) cpus = FREE;
            else if (!strcmp(v, "same")) cpus = SAME;
            else if (!strcmp(v, "apart")) cpus = APART;
            else goto usage;
        } else if (!strcmp(a, "--batch")) batch = atol(v);
        else if (!strcmp(a, "--requests")) requests = atol(v);
        else if (!strcmp(a, "--size")) size = atol(v);
        else goto usage;
        i++;
    }
    if (batch < 1 || requests < batch || size < 1 || batch * size > (1 << 20)) goto usage;
    requests -= requests % batch;

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, (void *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (void *)&addr, &len) != 0)
        die("listen on 127.0.0.1");
    if (cpus != FREE) pin(0);
    pthread_t t;
    if (pthread_create(&t, NULL, server, &listener) != 0) die("pthread_create");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (void *)&addr, sizeof addr) != 0) die("connect");
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long bytes = batch * size;
    char *req = calloc(1, bytes), *rep = malloc(bytes);
    if (!req || !rep) die("malloc");

    struct timespec s, e;
    clock_gettime(CLOCK_MONOTONIC, &s);
    double c0 = thread_cpu_us();
    for (long done = 0; done < requests; done += batch) {
        if (send(c, req, bytes, 0) != bytes) die("send");
        for (long got = 0; got < bytes;) {
            ssize_t n = recv(c, rep + got, bytes - got, 0);
            if (n <= 0) die("recv (the server closed)");
            got += n;
        }
    }
    double client_cpu = thread_cpu_us() - c0;
    clock_gettime(CLOCK_MONOTONIC, &e);
    shutdown(c, SHUT_WR);
    pthread_join(t, NULL);
    if (server_served != requests) {
        fprintf(stderr, "floor: the server answered %ld of %ld requests\n", server_served, requests);
        return 1;
    }
    double wall = (e.tv_sec - s.tv_sec) * 1e6 + (e.tv_nsec - s.tv_nsec) / 1e3;
    printf("mode %s cpus %s batch %ld requests %ld size %ld: round trip %.1f us, server CPU %.2f us "
           "per request, client CPU %.2f us per request\n",
           mode == EPOLL ? "epoll" : "uring",
           cpus == FREE ? "free" : cpus == SAME ? "same" : "apart", batch, requests, size, wall / (requests / batch),
           server_cpu_us / requests, client_cpu / requests);
    return 0;
usage:
    fprintf(stderr, "usage: floor [--mode epoll|uring] [--batch K] [--requests N] [--size B] "
                    "[--cpus free|same|apart]\n");
    return 2;
}
