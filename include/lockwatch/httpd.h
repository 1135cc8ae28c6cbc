/* A small read-only HTTP/1.x responder on the event loop, for /metrics: GET and HEAD
 * only, one request per connection, and hard caps on connections, request size and
 * time, so a scraper (or anyone who can connect) can neither block the loop nor hold
 * memory. Why not libmicrohttpd: docs/decisions.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#define HTTPD_MAX_CONNECTIONS 16u              /* more are accepted and closed at once */
#define HTTPD_MAX_REQUEST     (8u * 1024u)     /* bytes of a request head */
#define HTTPD_TIMEOUT_USEC    (10u * 1000000u) /* a connection's whole life */
#define HTTPD_MAX_PATH        256u
#define HTTPD_LISTEN_FD_NAME  "metrics" /* FileDescriptorName= of the socket unit */

typedef struct HttpdRequest {
        char method[8];            /* "GET", "HEAD", ... */
        char path[HTTPD_MAX_PATH]; /* without its query */
} HttpdRequest;

/* The response to one request: status, content type (static) and a body taken over. */
typedef struct HttpdResponse {
        int status;
        const char *content_type;
        char *body;
        size_t body_len;
} HttpdResponse;

/* Answer a GET or HEAD of path; fill ret (the body is freed by the server). */
typedef void (*httpd_handler_fn)(const char *path, void *userdata, HttpdResponse *ret);

typedef struct Httpd Httpd;

/* Parse a request head (len bytes so far): 1 when complete (ret set), 0 when more is
 * needed, -EBADMSG when malformed. Pure; the fuzz target's entry. */
int httpd_parse_request(const char *buf, size_t len, HttpdRequest *ret);
/* The listening socket systemd passed with FileDescriptorName=name, or -ENOENT. */
int httpd_listen_fd(const char *name);
/* Serve on listen_fd (>= 0, taken over) or a new socket bound to address ("IP:PORT"). */
int httpd_new(sd_event *event, int listen_fd, const char *address, httpd_handler_fn handler,
              void *userdata, Httpd **ret);
/* Close every connection and the socket; NULL is fine. */
void httpd_free(Httpd *h);
/* Connections open now. */
size_t httpd_connections(const Httpd *h);
