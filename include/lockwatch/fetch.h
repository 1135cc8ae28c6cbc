/* The fetcher: libcurl's multi socket API driven by sd-event. Polite (one request
 * in flight per host, conditional GET, Retry-After, backoff with jitter) and
 * strict (timeouts, body cap, redirect cap, TLS verification). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "lockwatch/config.h"

typedef enum FetchClass {
        FETCH_OK,           /* 2xx with a complete body */
        FETCH_NOT_MODIFIED, /* 304: the previous body still holds */
        FETCH_DNS,          /* name resolution failed */
        FETCH_CONNECT,      /* connection refused/unreachable */
        FETCH_TLS,          /* handshake or verification failed */
        FETCH_TIMEOUT,      /* connect, total or low-speed timeout */
        FETCH_AUTH,         /* 401 or 403: the credentials were refused (or are missing) */
        FETCH_HTTP,         /* non-2xx, non-304 status: see http_status */
        FETCH_TOO_LARGE,    /* body over max_body */
        FETCH_TRUNCATED,    /* body shorter than announced / connection cut */
        FETCH_REDIRECTS,    /* too many redirects */
        FETCH_ERROR,        /* anything else (bad URL, file not found, ...) */
        _FETCH_CLASS_MAX,
} FetchClass;

/* Conditional-GET validators from the last good response. */
typedef struct FetchValidators {
        char *etag;          /* ETag, or NULL */
        char *last_modified; /* Last-Modified, or NULL */
} FetchValidators;

/* Response header values longer than this are ignored rather than stored: a validator we
 * cannot store whole is worse than none. */
#define FETCH_HEADER_VALUE_MAX 1024
/* Bounds a hostile Retry-After so later arithmetic cannot overflow. */
#define FETCH_RETRY_AFTER_MAX_SEC (7 * 24 * 3600)

/* What the fetcher keeps of one response's header lines. */
typedef struct FetchResponseHeaders {
        char *etag; /* UTF-8 without control characters, at most
                       FETCH_HEADER_VALUE_MAX bytes, or NULL; so is last_modified */
        char *last_modified;
        bool encoded; /* a Content-Encoding other than identity */
        bool has_length;
        uint64_t content_length;
        bool has_retry_after;
        uint64_t retry_after_usec; /* at most FETCH_RETRY_AFTER_MAX_SEC seconds */
} FetchResponseHeaders;

typedef struct FetchResult {
        FetchClass klass;
        long http_status; /* 0 for file:// or when no response came */
        char *body;       /* NUL-terminated; NULL unless FETCH_OK */
        size_t body_len;
        FetchValidators
            validators;        /* from this response (FETCH_OK), else copies of the request's */
        uint64_t elapsed_usec; /* from first attempt's start to the end, retries included */
        unsigned attempts;
        uint64_t retry_after_usec; /* the last Retry-After seen, 0 if none */
        char error[256];           /* human detail, e.g. curl's error text */
} FetchResult;

typedef struct FetchRequest {
        const char *url;
        const FetchLimits *limits;
        const FetchValidators *validators; /* may be NULL */
        const char *user_agent_extra;      /* may be NULL */
        const char *method;                /* NULL: GET; "POST" sends body */
        const char *body;                  /* the request body (POST), may hold NULs */
        size_t body_len;
        const char *const *headers;        /* extra "Name: value" lines, NULL-terminated */
        const char *aws_sigv4;  /* "aws:amz:REGION:SERVICE": sign with userpwd's key, or NULL */
        const char *userpwd;    /* "ACCESS_KEY_ID:SECRET" for aws_sigv4, or NULL */
        bool secret;            /* headers or userpwd hold a secret: never follow a redirect
                                   (it could carry them to another host); wipe them when done */
} FetchRequest;

typedef struct Fetcher Fetcher;
typedef struct FetchJob FetchJob;

/* Take one raw header line of a response (n bytes as curl hands it, CRLF included) into h,
 * with now (realtime usec) for a Retry-After date; a status line starts a new response. */
void fetch_response_header(FetchResponseHeaders *h, const char *data, size_t n, uint64_t now);
/* Free what h holds and reset it to nothing seen. */
void fetch_response_headers_clear(FetchResponseHeaders *h);

/* Called once per submitted job when it ends; result is owned by the fetcher
 * until the callback returns (steal body with TAKE_PTR if needed). */
typedef void (*fetch_done_fn)(FetchJob *job, FetchResult *result, void *userdata);

/* Create a fetcher whose sockets and timers live on event. */
int fetch_new(sd_event *event, Fetcher **ret);
/* Cancel every job (no callbacks) and free the fetcher; NULL is fine. */
void fetch_free(Fetcher *f);
/* Queue a request; copies everything in req. Jobs to one host run one at a time. */
int fetch_submit(Fetcher *f, const FetchRequest *req, fetch_done_fn done, void *userdata,
                 FetchJob **ret);
/* Cancel one job without calling its callback. */
void fetch_cancel(Fetcher *f, FetchJob *job);
/* Number of jobs queued or running. */
size_t fetch_pending(const Fetcher *f);
/* The User-Agent string sent: "lockwatch/VERSION". */
const char *fetch_user_agent(void);
/* Short name of a class: ok, not-modified, dns, connect, tls, timeout, http, ... */
const char *fetch_class_name(FetchClass c);
/* Format the class as reported: "http-404" for FETCH_HTTP, else the short name. */
const char *fetch_result_class(const FetchResult *r, char *buf, size_t size);
/* Free the strings of validators (not the struct). */
void fetch_validators_clear(FetchValidators *v);
/* Deep-copy validators. */
void fetch_validators_copy(FetchValidators *dst, const FetchValidators *src);
