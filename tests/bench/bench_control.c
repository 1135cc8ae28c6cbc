/* GetStatus round trips over the control socket of a running lockwatchd with 64 concurrent
 * clients (each keeping one call outstanding) for about two seconds; prints p50, p99 and max.
 * tests/bench/bench_control.py starts a daemon and runs this.
 *
 * With --window a second line follows: "window START END CALLS", the CLOCK_MONOTONIC
 * microseconds at which the first calls were sent (every client already connected) and at
 * which the measurement stopped, so a caller can tell what else ran inside the window.
 *
 *   bench_control [--window] SOCKET [CLIENTS] [SECONDS]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lockwatch/util.h"

#define REQUEST "{\"method\":\"io.lockwatch.GetStatus\",\"parameters\":{}}"

typedef struct BenchClient {
        int fd;
        uint64_t t0;
} BenchClient;

static int bench_cmp(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static int bench_send(BenchClient *c)
{
        c->t0 = util_now_mono();
        return send(c->fd, REQUEST, sizeof(REQUEST), MSG_NOSIGNAL) == (ssize_t)sizeof(REQUEST)
                   ? 0
                   : -errno;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {{"window", no_argument, NULL, 'w'}, {0}};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        unsigned clients = 64;
        double seconds = 2.0;
        uint64_t *lat = NULL, start, end, stop;
        size_t n = 0, cap = 0;
        BenchClient *cs;
        static char buf[1 << 16];
        bool window = false;
        const char *path;
        int ep, o;

        while ((o = getopt_long(argc, argv, "w", longopts, NULL)) != -1) {
                if (o != 'w')
                        goto usage;
                window = true;
        }
        argc -= optind;
        argv += optind;
        if (argc < 1)
                goto usage;
        path = argv[0];
        if (argc > 1)
                clients = (unsigned)atoi(argv[1]);
        if (argc > 2)
                seconds = atof(argv[2]);
        if (strlen(path) >= sizeof(sa.sun_path) || clients == 0 || !(seconds > 0))
                goto usage;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        ep = epoll_create1(EPOLL_CLOEXEC);
        cs = xcalloc(clients, sizeof(*cs));
        for (unsigned i = 0; i < clients; i++) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
                cs[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (cs[i].fd < 0 || connect(cs[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
                    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0) {
                        perror("connect");
                        return 1;
                }
        }
        start = util_now_mono();
        for (unsigned i = 0; i < clients; i++)
                if (bench_send(&cs[i]) < 0)
                        return 1;
        end = start + (uint64_t)(seconds * 1e6);
        while (util_now_mono() < end) {
                struct epoll_event evs[64];
                int k = epoll_wait(ep, evs, 64, 1000);
                for (int i = 0; i < k; i++) {
                        BenchClient *c = evs[i].data.ptr;
                        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
                        if (r <= 0) {
                                fprintf(stderr, "the daemon closed a connection\n");
                                return 1;
                        }
                        /* One call outstanding per client: the reply ends with its NUL. */
                        if (buf[r - 1] != 0)
                                continue;
                        util_grow((void **)&lat, &cap, n + 1, sizeof(*lat));
                        lat[n++] = util_now_mono() - c->t0;
                        if (bench_send(c) < 0)
                                return 1;
                }
        }
        stop = util_now_mono();
        if (n == 0) {
                fprintf(stderr, "no replies\n");
                return 1;
        }
        qsort(lat, n, sizeof(*lat), bench_cmp);
        printf("GetStatus round trip with %u concurrent clients: p50 %.3f ms, p99 %.3f ms, "
               "max %.3f ms (budget p99 2 ms); %zu calls in %.1f s\n",
               clients, (double)lat[n / 2] / 1000.0,
               (double)lat[MIN(n - 1, (size_t)((double)n * 0.99))] / 1000.0,
               (double)lat[n - 1] / 1000.0, n, seconds);
        if (window)
                printf("window %" PRIu64 " %" PRIu64 " %zu\n", start, stop, n);
        for (unsigned i = 0; i < clients; i++)
                close(cs[i].fd);
        close(ep);
        free(cs);
        free(lat);
        return 0;
usage:
        fprintf(stderr, "usage: bench_control [--window] SOCKET [CLIENTS] [SECONDS]\n");
        return 2;
}
