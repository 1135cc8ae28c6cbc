/* The GET-only responder; see include/lockwatch/httpd.h. */
#include "lockwatch/httpd.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "lockwatch/util.h"

typedef struct HttpdConn HttpdConn;

struct HttpdConn {
        Httpd *httpd;
        HttpdConn *prev, *next;
        int fd;
        sd_event_source *io, *timer;
        char in[HTTPD_MAX_REQUEST];
        size_t in_len;
        char *out;
        size_t out_len, out_done;
        bool draining; /* answered: reading what the client still sends, until it closes */
};

struct Httpd {
        sd_event *event;
        int fd;
        sd_event_source *listen;
        httpd_handler_fn handler;
        void *userdata;
        HttpdConn *conns;
        size_t n_conns;
};

int httpd_parse_request(const char *buf, size_t len, HttpdRequest *ret)
{
        HttpdRequest rq = {0};
        const char *end = NULL, *p = buf, *eol;
        size_t n;

        /* The head ends at an empty line; bare LF is tolerated as curl's tests send it. */
        for (size_t i = 0; i + 1 < len && !end; i++) {
                if (buf[i] == '\n' && buf[i + 1] == '\n')
                        end = buf + i + 2;
                else if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0)
                        end = buf + i + 4;
        }
        eol = memchr(buf, '\n', len);
        if (!eol)
                return len >= HTTPD_MAX_REQUEST ? -EBADMSG : 0;

        /* Request line: METHOD SP PATH SP HTTP/1.x */
        for (n = 0; p < eol && isupper((unsigned char)*p); p++, n++)
                if (n + 1 >= sizeof(rq.method))
                        return -EBADMSG;
        if (n == 0 || p >= eol || *p != ' ')
                return -EBADMSG;
        memcpy(rq.method, buf, n);
        p++;
        if (*p != '/')
                return -EBADMSG;
        const char *target = p;
        while (p < eol && *p != ' ') {
                if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                        return -EBADMSG;
                p++;
        }
        size_t tl = (size_t)(p - target);
        size_t pl = 0;
        while (pl < tl && target[pl] != '?')
                pl++;
        if (pl >= sizeof(rq.path) || p >= eol)
                return -EBADMSG;
        memcpy(rq.path, target, pl);
        p++;
        size_t vl = (size_t)(eol - p);
        if (vl > 0 && p[vl - 1] == '\r')
                vl--;
        if (vl != 8 || (memcmp(p, "HTTP/1.0", 8) != 0 && memcmp(p, "HTTP/1.1", 8) != 0))
                return -EBADMSG;
        if (!end)
                return len >= HTTPD_MAX_REQUEST ? -EBADMSG : 0;
        /* Header lines: printable text only; their content is not used. */
        for (const char *h = eol + 1; h < end; h++)
                if ((unsigned char)*h < 0x20 && *h != '\r' && *h != '\n' && *h != '\t')
                        return -EBADMSG;
        *ret = rq;
        return 1;
}

int httpd_listen_fd(const char *name)
{
        char **names = NULL;
        int n = sd_listen_fds_with_names(false, &names), fd = -ENOENT;

        for (int i = 0; i < n; i++) {
                if (fd < 0 && names && names[i] && streq(names[i], name))
                        fd = SD_LISTEN_FDS_START + i;
                if (names)
                        free(names[i]);
        }
        free(names);
        if (fd >= 0) {
                int fl = fcntl(fd, F_GETFL);
                if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                        return -errno;
                if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
                        return -ENOTSOCK;
        }
        return fd;
}

static void conn_free(HttpdConn *c)
{
        Httpd *h = c->httpd;

        if (c->prev)
                c->prev->next = c->next;
        else
                h->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        h->n_conns--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        free(c->out);
        free(c);
}

static const char *reason(int status)
{
        switch (status) {
        case 200:
                return "OK";
        case 400:
                return "Bad Request";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 431:
                return "Request Header Fields Too Large";
        default:
                return "Internal Server Error";
        }
}

static void conn_respond(HttpdConn *c, int status, const char *type, const char *body,
                         size_t body_len, bool head)
{
        char *hdr = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n%s\r\n",
                              status, reason(status), type, body_len,
                              status == 405 ? "Allow: GET, HEAD\r\n" : "");
        size_t hl = strlen(hdr), bl = head ? 0 : body_len;

        c->out = xmalloc(hl + bl + 1);
        memcpy(c->out, hdr, hl);
        if (bl)
                memcpy(c->out + hl, body, bl);
        c->out_len = hl + bl;
        c->out_done = 0;
        free(hdr);
}

/* Write what the socket takes; true when the connection is finished. */
static bool conn_flush(HttpdConn *c)
{
        while (c->out_done < c->out_len) {
                ssize_t w = send(c->fd, c->out + c->out_done, c->out_len - c->out_done,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return false;
                        return true;
                }
                c->out_done += (size_t)w;
        }
        return true;
}

static void conn_handle(HttpdConn *c, const HttpdRequest *rq)
{
        static const char text[] = "text/plain; charset=utf-8";
        bool head = streq(rq->method, "HEAD");

        if (!streq(rq->method, "GET") && !head) {
                conn_respond(c, 405, text, "GET or HEAD only\n", 17, false);
                return;
        }
        HttpdResponse resp = {.status = 404, .content_type = text};
        c->httpd->handler(rq->path, c->httpd->userdata, &resp);
        if (!resp.body) {
                static const char nf[] = "not found; try /metrics\n";
                conn_respond(c, resp.status, resp.content_type ? resp.content_type : text, nf,
                             sizeof(nf) - 1, head);
        } else {
                conn_respond(c, resp.status, resp.content_type ? resp.content_type : text,
                             resp.body, resp.body_len, head);
        }
        free(resp.body);
}

/* Closing with unread input would make the kernel reset the connection, and the client
 * could lose the answer (a 431 to an oversized head): half-close, then read until it closes
 * (the connection's timer still bounds this). */
static void conn_finish(HttpdConn *c)
{
        if (shutdown(c->fd, SHUT_WR) < 0 || sd_event_source_set_io_events(c->io, EPOLLIN) < 0) {
                conn_free(c);
                return;
        }
        c->draining = true;
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        HttpdConn *c = userdata;

        if (c->draining) {
                char sink[4096];
                for (;;) {
                        ssize_t n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
                        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                return 0;
                        if (n <= 0) {
                                conn_free(c);
                                return 0;
                        }
                }
        }
        if (c->out) {
                if (conn_flush(c))
                        conn_finish(c);
                return 0;
        }
        for (;;) {
                if (c->in_len >= sizeof(c->in)) {
                        conn_respond(c, 431, "text/plain", "request too large\n", 18, false);
                        break;
                }
                ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n <= 0) {
                        conn_free(c);
                        return 0;
                }
                c->in_len += (size_t)n;
                HttpdRequest rq;
                int r = httpd_parse_request(c->in, c->in_len, &rq);
                if (r == 0)
                        continue;
                if (r < 0)
                        conn_respond(c, c->in_len >= sizeof(c->in) ? 431 : 400, "text/plain",
                                     "bad request\n", 12, false);
                else
                        conn_handle(c, &rq);
                break;
        }
        /* The request is read: from now on only writing matters. */
        if (conn_flush(c)) {
                conn_finish(c);
                return 0;
        }
        if (sd_event_source_set_io_events(c->io, EPOLLOUT) < 0)
                conn_free(c);
        return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        conn_free(userdata);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Httpd *h = userdata;

        for (unsigned i = 0; i < 64; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0)
                        return 0;
                if (h->n_conns >= HTTPD_MAX_CONNECTIONS) {
                        close(cfd);
                        continue;
                }
                HttpdConn *c = xcalloc(1, sizeof(*c));
                c->httpd = h;
                c->fd = cfd;
                c->next = h->conns;
                if (h->conns)
                        h->conns->prev = c;
                h->conns = c;
                h->n_conns++;
                if (sd_event_add_io(h->event, &c->io, cfd, EPOLLIN, on_conn_io, c) < 0 ||
                    sd_event_add_time_relative(h->event, &c->timer, CLOCK_MONOTONIC,
                                               HTTPD_TIMEOUT_USEC, USEC_PER_MSEC * 10,
                                               on_conn_timeout, c) < 0) {
                        conn_free(c);
                        continue;
                }
                (void)sd_event_source_set_description(c->io, "metrics-client");
                (void)sd_event_source_set_description(c->timer, "metrics-client-timeout");
        }
        return 0;
}

static int httpd_bind(const char *address)
{
        struct sockaddr_storage ss;
        unsigned len;
        int one = 1, fd;

        if (util_parse_listen(address, &ss, &len) < 0)
                return -EINVAL;
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int httpd_new(sd_event *event, int listen_fd, const char *address, httpd_handler_fn handler,
              void *userdata, Httpd **ret)
{
        Httpd *h;
        int r;

        if (!event || !handler || !ret || (listen_fd < 0 && !address))
                return -EINVAL;
        if (listen_fd < 0) {
                listen_fd = httpd_bind(address);
                if (listen_fd < 0)
                        return listen_fd;
        }
        h = xcalloc(1, sizeof(*h));
        h->event = sd_event_ref(event);
        h->fd = listen_fd;
        h->handler = handler;
        h->userdata = userdata;
        r = sd_event_add_io(event, &h->listen, listen_fd, EPOLLIN, on_accept, h);
        if (r < 0) {
                httpd_free(h);
                return r;
        }
        (void)sd_event_source_set_description(h->listen, "metrics-listen");
        *ret = h;
        return 0;
}

void httpd_free(Httpd *h)
{
        if (!h)
                return;
        while (h->conns)
                conn_free(h->conns);
        sd_event_source_disable_unref(h->listen);
        if (h->fd >= 0)
                close(h->fd);
        sd_event_unref(h->event);
        free(h);
}

size_t httpd_connections(const Httpd *h)
{
        return h ? h->n_conns : 0;
}
