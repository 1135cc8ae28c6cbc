#include "lockwatch/fetch.h"

#include "lockwatch/util.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

typedef enum FetchJobState {
        FETCH_JOB_QUEUED,     /* waiting for its host slot */
        FETCH_JOB_RUNNING,    /* easy handle inside the multi handle */
        FETCH_JOB_BACKOFF,    /* waiting out a retry delay, host slot kept */
        FETCH_JOB_FINISHED,   /* result ready, delivery scheduled */
        FETCH_JOB_DELIVERING, /* detached from the fetcher, callback running */
} FetchJobState;

typedef struct FetchHost FetchHost;
typedef struct FetchSocket FetchSocket;

struct FetchHost {
        char *key; /* "host:port" */
        FetchJob *active;
        FetchJob *queue_head, *queue_tail;
        FetchHost *prev, *next;
};

struct FetchSocket {
        Fetcher *fetcher;
        curl_socket_t fd;
        sd_event_source *source;
        FetchSocket *prev, *next;
};

struct FetchJob {
        Fetcher *fetcher;
        FetchJob *prev, *next; /* every live job of the fetcher */
        FetchJob *queue_next;  /* the host's FIFO */
        FetchHost *host;       /* NULL: not serialized (file://) */
        FetchJobState state;

        char *url;
        FetchLimits limits;
        FetchValidators req_validators;
        char *user_agent;
        char *method;   /* NULL: GET */
        char *req_body; /* POST body, req_body_len bytes */
        size_t req_body_len;
        char **req_headers; /* NULL-terminated */
        char *aws_sigv4;
        char *userpwd;
        bool secret;
        fetch_done_fn done;
        void *userdata;

        CURL *easy;
        struct curl_slist *headers;
        sd_event_source *event_source; /* retry timer or delivery defer */
        char curl_error[CURL_ERROR_SIZE];

        /* The current attempt's response; reset on every attempt and redirect hop. */
        char *body;
        size_t body_len, body_cap;
        bool body_too_large;
        FetchResponseHeaders resp;

        uint64_t start_usec;
        unsigned attempts;
        uint64_t last_retry_after_usec;

        FetchResult result;
};

struct Fetcher {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        sd_event_source *kick; /* starts queued jobs whose host slot came free */
        FetchJob *jobs;
        FetchHost *hosts;
        FetchSocket *sockets;
        size_t n_pending;
        bool freeing;
};

static const char *const class_names[_FETCH_CLASS_MAX] = {
    [FETCH_OK] = "ok",
    [FETCH_NOT_MODIFIED] = "not-modified",
    [FETCH_DNS] = "dns",
    [FETCH_CONNECT] = "connect",
    [FETCH_TLS] = "tls",
    [FETCH_TIMEOUT] = "timeout",
    [FETCH_AUTH] = "auth",
    [FETCH_HTTP] = "http",
    [FETCH_TOO_LARGE] = "too-large",
    [FETCH_TRUNCATED] = "truncated",
    [FETCH_REDIRECTS] = "redirects",
    [FETCH_ERROR] = "error",
};

const char *fetch_class_name(FetchClass c)
{
        if ((unsigned)c >= _FETCH_CLASS_MAX)
                return "unknown";
        return class_names[c];
}

const char *fetch_result_class(const FetchResult *r, char *buf, size_t size)
{
        if (!buf || size == 0)
                return fetch_class_name(r->klass);
        if (r->klass == FETCH_HTTP)
                snprintf(buf, size, "http-%ld", r->http_status);
        else
                snprintf(buf, size, "%s", fetch_class_name(r->klass));
        return buf;
}

const char *fetch_user_agent(void)
{
        return "lockwatch/" LOCKWATCH_VERSION;
}

void fetch_validators_clear(FetchValidators *v)
{
        if (!v)
                return;
        free(v->etag);
        free(v->last_modified);
        v->etag = v->last_modified = NULL;
}

void fetch_validators_copy(FetchValidators *dst, const FetchValidators *src)
{
        FetchValidators n = {};
        if (src) {
                n.etag = xstrdup(src->etag);
                n.last_modified = xstrdup(src->last_modified);
        }
        fetch_validators_clear(dst);
        *dst = n;
}

/* splitmix64: only jitter depends on it, so statistical quality is enough. */
static uint64_t fetch_random(void)
{
        static uint64_t state;
        static bool seeded;

        if (!seeded) {
                uint64_t seed = 0;
                if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
                        seed = util_now_real() ^ ((uint64_t)getpid() << 32) ^ util_now_mono();
                state = seed;
                seeded = true;
        }
        uint64_t z = (state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t fetch_backoff_usec(const FetchLimits *l, unsigned attempt)
{
        uint64_t d = l->retry_backoff_usec;
        uint64_t cap = l->retry_backoff_max_usec;

        for (unsigned i = 1; i < attempt && d < cap; i++)
                d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
        if (d > cap)
                d = cap;
        /* +/-20%: scale by a factor drawn uniformly from [0.8, 1.2]. */
        double factor = 0.8 + 0.4 * ((double)(fetch_random() >> 11) / (double)(UINT64_C(1) << 53));
        double j = (double)d * factor;
        return j >= (double)UINT64_MAX ? UINT64_MAX : (uint64_t)j;
}

static long usec_to_ms_long(uint64_t usec)
{
        uint64_t ms = (usec + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return ms > LONG_MAX ? LONG_MAX : (long)ms;
}

static bool has_control_chars(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* Parses "Retry-After": delta-seconds or an HTTP-date (all three RFC 9110 forms). */
static int fetch_parse_retry_after(const char *v, uint64_t now_usec, uint64_t *ret_usec)
{
        uint64_t secs;

        if (isdigit((unsigned char)*v)) {
                if (util_parse_uint(v, &secs) < 0)
                        secs = FETCH_RETRY_AFTER_MAX_SEC;
        } else {
                time_t t = curl_getdate(v, NULL);
                if (t == (time_t)-1)
                        return -EINVAL;
                uint64_t now = now_usec / USEC_PER_SEC;
                secs = (uint64_t)t > now ? (uint64_t)t - now : 0;
        }
        if (secs > FETCH_RETRY_AFTER_MAX_SEC)
                secs = FETCH_RETRY_AFTER_MAX_SEC;
        *ret_usec = secs * USEC_PER_SEC;
        return 0;
}

void fetch_response_headers_clear(FetchResponseHeaders *h)
{
        free(h->etag);
        free(h->last_modified);
        *h = (FetchResponseHeaders){0};
}

static void fetch_job_reset_response(FetchJob *j)
{
        j->body_len = 0;
        if (j->body)
                j->body[0] = '\0';
        j->body_too_large = false;
        fetch_response_headers_clear(&j->resp);
        j->curl_error[0] = '\0';
}

static size_t fetch_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
        FetchJob *j = userdata;
        size_t n = size * nmemb;

        if (n > j->limits.max_body || j->body_len > j->limits.max_body - n) {
                j->body_too_large = true;
                return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        }
        util_grow((void **)&j->body, &j->body_cap, j->body_len + n + 1, 1);
        memcpy(j->body + j->body_len, data, n);
        j->body_len += n;
        j->body[j->body_len] = '\0';
        return n;
}

void fetch_response_header(FetchResponseHeaders *h, const char *data, size_t n, uint64_t now)
{
        char line[FETCH_HEADER_VALUE_MAX + 64];

        /* A status line starts a new response (redirect hop or 1xx): forget the last one. */
        if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                fetch_response_headers_clear(h);
                return;
        }
        if (n >= sizeof(line))
                return;
        memcpy(line, data, n);
        line[n] = '\0';
        line[strcspn(line, "\r\n")] = '\0';

        char *colon = strchr(line, ':');
        if (!colon)
                return;
        *colon = '\0';
        char *value = colon + 1;
        value += strspn(value, " \t");
        size_t vl = strlen(value);
        while (vl > 0 && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
                value[--vl] = '\0';
        if (vl == 0 || has_control_chars(value))
                return;

        /* A validator goes into the state file, status replies and JSON: it must be
         * UTF-8. One that is not is dropped rather than repaired, since a repaired one
         * is a validator the server never sent (and might one day match). */
        if (strcasecmp(line, "ETag") == 0) {
                free(h->etag);
                h->etag = util_utf8_valid(value, vl) ? xstrdup(value) : NULL;
        } else if (strcasecmp(line, "Last-Modified") == 0) {
                free(h->last_modified);
                h->last_modified = util_utf8_valid(value, vl) ? xstrdup(value) : NULL;
        } else if (strcasecmp(line, "Content-Length") == 0) {
                uint64_t cl;
                if (util_parse_uint(value, &cl) >= 0) {
                        h->has_length = true;
                        h->content_length = cl;
                }
        } else if (strcasecmp(line, "Content-Encoding") == 0) {
                h->encoded = strcasecmp(value, "identity") != 0;
        } else if (strcasecmp(line, "Retry-After") == 0) {
                uint64_t usec;
                if (fetch_parse_retry_after(value, now, &usec) >= 0) {
                        h->has_retry_after = true;
                        h->retry_after_usec = usec;
                }
        }
}

static size_t fetch_header_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
        FetchJob *j = userdata;
        size_t n = size * nmemb;

        fetch_response_header(&j->resp, data, n, util_now_real());
        return n;
}

/* The serialization key: lower-case "host:port", or NULL for URLs that need none. */
static char *fetch_host_key(const char *url)
{
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL, *port = NULL, *key = NULL;

        if (!u)
                util_oom();
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
                goto out;
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
                goto out;
        if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
                goto out;
        if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
                goto out;
        if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
                goto out;
        key = xasprintf("%s:%s", host, port);
        for (char *p = key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
out:
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return key;
}

static FetchHost *fetch_host_get(Fetcher *f, const char *key)
{
        for (FetchHost *h = f->hosts; h; h = h->next)
                if (streq(h->key, key))
                        return h;
        FetchHost *h = xcalloc(1, sizeof(*h));
        h->key = xstrdup(key);
        h->next = f->hosts;
        if (f->hosts)
                f->hosts->prev = h;
        f->hosts = h;
        return h;
}

static void fetch_host_maybe_free(Fetcher *f, FetchHost *h)
{
        if (h->active || h->queue_head)
                return;
        if (h->prev)
                h->prev->next = h->next;
        else
                f->hosts = h->next;
        if (h->next)
                h->next->prev = h->prev;
        free(h->key);
        free(h);
}

static void fetch_job_free(FetchJob *j)
{
        if (!j)
                return;
        if (j->easy) {
                if (j->state == FETCH_JOB_RUNNING && j->fetcher)
                        curl_multi_remove_handle(j->fetcher->multi, j->easy);
                curl_easy_cleanup(j->easy);
        }
        /* Extra headers and keys may carry credentials: leave no copy in freed memory. */
        for (struct curl_slist *l = j->headers; l; l = l->next)
                if (l->data)
                        explicit_bzero(l->data, strlen(l->data));
        curl_slist_free_all(j->headers);
        if (j->userpwd) {
                explicit_bzero(j->userpwd, strlen(j->userpwd));
                free(j->userpwd);
        }
        free(j->aws_sigv4);
        sd_event_source_disable_unref(j->event_source);
        free(j->url);
        free(j->limits.ca_file);
        fetch_validators_clear(&j->req_validators);
        free(j->user_agent);
        free(j->method);
        free(j->req_body);
        for (char **h = j->req_headers; h && *h; h++) {
                explicit_bzero(*h, strlen(*h));
                free(*h);
        }
        free(j->req_headers);
        free(j->body);
        fetch_response_headers_clear(&j->resp);
        free(j->result.body);
        fetch_validators_clear(&j->result.validators);
        free(j);
}
DEFINE_FREEP(FetchJob, fetch_job_free)

static void fetch_job_unlink(Fetcher *f, FetchJob *j)
{
        if (j->prev)
                j->prev->next = j->next;
        else
                f->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->prev = j->next = NULL;
        f->n_pending--;
}

static int fetch_job_start_attempt(FetchJob *j)
{
        Fetcher *f = j->fetcher;

        if (j->attempts == 0)
                j->start_usec = util_now_mono();
        j->attempts++;
        fetch_job_reset_response(j);
        j->state = FETCH_JOB_RUNNING;
        if (curl_multi_add_handle(f->multi, j->easy) != CURLM_OK) {
                j->state = FETCH_JOB_BACKOFF;
                return -ENOMEM;
        }
        return 0;
}

static void fetch_job_finish(FetchJob *j, FetchClass klass, long status);

/* Starts, for every host whose slot is free, the next queued job; a job that cannot start
 * fails in its turn (its delivery is deferred like any other). */
static int fetch_kick_handler(sd_event_source *s, void *userdata)
{
        Fetcher *f = userdata;
        FetchHost *h, *hnext;

        for (h = f->hosts; h; h = hnext) {
                hnext = h->next;
                if (h->active || !h->queue_head)
                        continue;
                FetchJob *next = h->queue_head;
                h->queue_head = next->queue_next;
                if (!h->queue_head)
                        h->queue_tail = NULL;
                next->queue_next = NULL;
                h->active = next;
                if (fetch_job_start_attempt(next) < 0) {
                        snprintf(next->curl_error, sizeof(next->curl_error),
                                 "cannot add transfer to the multi handle");
                        fetch_job_finish(next, FETCH_ERROR, 0);
                }
        }
        return 0;
}

/* Frees the job's host slot. The next queued job is started from the loop, never from
 * here: a release inside fetch_cancel() must not call back into a caller that is tearing
 * down its requests (a poller freeing its runs, a loop that has exited). */
static void fetch_host_release(Fetcher *f, FetchJob *j)
{
        FetchHost *h = j->host;

        if (!h)
                return;
        j->host = NULL;
        if (h->active == j)
                h->active = NULL;
        if (!f->freeing && !h->active && h->queue_head) {
                int r = 0;
                if (!f->kick) {
                        r = sd_event_add_defer(f->event, &f->kick, fetch_kick_handler, f);
                        if (r >= 0)
                                (void)sd_event_source_set_description(f->kick, "fetch-kick");
                }
                if (r >= 0)
                        (void)sd_event_source_set_enabled(f->kick, SD_EVENT_ONESHOT);
                /* Without a loop to run the kick (it has exited) the queued jobs stay
                 * queued until their owner cancels them. */
        }
        fetch_host_maybe_free(f, h);
}

static void fetch_host_dequeue(FetchJob *j)
{
        FetchHost *h = j->host;
        FetchJob **p;

        for (p = &h->queue_head; *p; p = &(*p)->queue_next)
                if (*p == j)
                        break;
        if (!*p)
                return;
        *p = j->queue_next;
        if (h->queue_tail == j) {
                h->queue_tail = NULL;
                for (FetchJob *q = h->queue_head; q; q = q->queue_next)
                        h->queue_tail = q;
        }
        j->queue_next = NULL;
}

static int fetch_deliver_handler(sd_event_source *s, void *userdata)
{
        FetchJob *j = userdata;
        Fetcher *f = j->fetcher;

        /* Detach first: the callback may submit, cancel or even free the fetcher. */
        fetch_job_unlink(f, j);
        j->state = FETCH_JOB_DELIVERING;
        j->fetcher = NULL;
        if (j->done)
                j->done(j, &j->result, j->userdata);
        fetch_job_free(j);
        return 0;
}

static void fetch_job_finish(FetchJob *j, FetchClass klass, long status)
{
        Fetcher *f = j->fetcher;
        FetchResult *r = &j->result;

        r->klass = klass;
        r->http_status = status;
        r->attempts = j->attempts;
        r->elapsed_usec = j->start_usec ? util_now_mono() - j->start_usec : 0;
        r->retry_after_usec = j->last_retry_after_usec;
        fetch_validators_clear(&r->validators);
        if (klass == FETCH_OK) {
                r->validators.etag = TAKE_PTR(j->resp.etag);
                r->validators.last_modified = TAKE_PTR(j->resp.last_modified);
                if (!j->body)
                        j->body = xstrdup("");
                r->body = TAKE_PTR(j->body);
                r->body_len = j->body_len;
                j->body_len = j->body_cap = 0;
                r->error[0] = '\0';
        } else {
                fetch_validators_copy(&r->validators, &j->req_validators);
                if (klass == FETCH_TOO_LARGE)
                        snprintf(r->error, sizeof(r->error),
                                 "body exceeds max_body of %" PRIu64 " bytes", j->limits.max_body);
                else if (j->curl_error[0])
                        snprintf(r->error, sizeof(r->error), "%s", j->curl_error);
                else if (klass == FETCH_HTTP)
                        snprintf(r->error, sizeof(r->error), "HTTP status %ld", status);
                else if (klass == FETCH_AUTH)
                        snprintf(r->error, sizeof(r->error),
                                 "HTTP status %ld: the server refused the credentials", status);
                else if (klass == FETCH_TRUNCATED)
                        snprintf(r->error, sizeof(r->error),
                                 "body of %zu bytes is shorter than Content-Length %" PRIu64,
                                 j->body_len, j->resp.content_length);
                else
                        r->error[0] = '\0';
                /* curl's text can quote what a server sent (a redirect's host, a TLS
                 * name), and snprintf counts bytes, not characters. */
                util_utf8_fix_truncated(r->error);
        }

        j->state = FETCH_JOB_FINISHED;
        j->event_source = sd_event_source_disable_unref(j->event_source);
        fetch_host_release(f, j);

        int k = sd_event_add_defer(f->event, &j->event_source, fetch_deliver_handler, j);
        if (k < 0) {
                /* Out of event resources: deliver inline rather than lose the job. */
                fetch_deliver_handler(NULL, j);
                return;
        }
        (void)sd_event_source_set_description(j->event_source, "fetch-deliver");
}

static bool fetch_status_retryable(long status)
{
        switch (status) {
        case 408:
        case 429:
        case 500:
        case 502:
        case 503:
        case 504:
                return true;
        default:
                return false;
        }
}

static FetchClass fetch_classify(FetchJob *j, CURLcode code, long status)
{
        switch (code) {
        case CURLE_OK:
                break;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return FETCH_DNS;
        case CURLE_COULDNT_CONNECT:
                return FETCH_CONNECT;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
                return FETCH_TLS;
        case CURLE_OPERATION_TIMEDOUT:
                return FETCH_TIMEOUT;
        case CURLE_FILESIZE_EXCEEDED:
                return FETCH_TOO_LARGE;
        case CURLE_WRITE_ERROR:
                return j->body_too_large ? FETCH_TOO_LARGE : FETCH_ERROR;
        case CURLE_PARTIAL_FILE:
                return FETCH_TRUNCATED;
        case CURLE_RECV_ERROR:
                /* A connection cut after the response began is a truncated body. */
                return status > 0 ? FETCH_TRUNCATED : FETCH_ERROR;
        case CURLE_TOO_MANY_REDIRECTS:
                return FETCH_REDIRECTS;
        default:
                return FETCH_ERROR;
        }

        if (status == 304)
                return FETCH_NOT_MODIFIED;
        if (status == 401 || status == 403)
                return FETCH_AUTH;
        if (status != 0 && (status < 200 || status > 299))
                return FETCH_HTTP;
        if (j->resp.has_length && !j->resp.encoded && j->body_len < j->resp.content_length)
                return FETCH_TRUNCATED;
        return FETCH_OK;
}

static int fetch_retry_handler(sd_event_source *s, uint64_t usec, void *userdata)
{
        FetchJob *j = userdata;

        j->event_source = sd_event_source_disable_unref(j->event_source);
        if (fetch_job_start_attempt(j) < 0) {
                snprintf(j->curl_error, sizeof(j->curl_error),
                         "cannot add transfer to the multi handle");
                fetch_job_finish(j, FETCH_ERROR, 0);
        }
        return 0;
}

static void fetch_job_done(FetchJob *j, CURLcode code)
{
        Fetcher *f = j->fetcher;
        long status = 0;

        curl_multi_remove_handle(f->multi, j->easy);
        j->state = FETCH_JOB_BACKOFF;
        (void)curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);

        FetchClass klass = fetch_classify(j, code, status);
        if (j->resp.has_retry_after)
                j->last_retry_after_usec = j->resp.retry_after_usec;

        bool retry;
        switch (klass) {
        case FETCH_DNS:
        case FETCH_CONNECT:
        case FETCH_TIMEOUT:
        case FETCH_TRUNCATED:
                retry = true;
                break;
        case FETCH_HTTP:
                retry = fetch_status_retryable(status);
                break;
        default:
                retry = false;
                break;
        }
        if (retry && j->attempts > j->limits.retries)
                retry = false;

        uint64_t delay = 0;
        if (retry) {
                delay = fetch_backoff_usec(&j->limits, j->attempts);
                if ((status == 429 || status == 503) && j->resp.has_retry_after) {
                        /* Asked to stay away longer than we would wait: leave it to the
                         * scheduler, which sees retry_after_usec in the result. */
                        if (j->resp.retry_after_usec > j->limits.retry_backoff_max_usec)
                                retry = false;
                        else
                                delay = MAX(delay, j->resp.retry_after_usec);
                }
        }

        if (retry) {
                uint64_t now = util_now_mono();
                uint64_t when = delay > UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + delay;
                int k = sd_event_add_time(f->event, &j->event_source, CLOCK_MONOTONIC, when, 1,
                                          fetch_retry_handler, j);
                if (k >= 0) {
                        (void)sd_event_source_set_description(j->event_source, "fetch-retry");
                        return;
                }
        }
        fetch_job_finish(j, klass, status);
}

static void fetch_process_messages(Fetcher *f)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(f->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                char *priv = NULL;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
                    !priv)
                        continue;
                fetch_job_done((FetchJob *)priv, msg->data.result);
        }
}

static int fetch_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        FetchSocket *sock = userdata;
        Fetcher *f = sock->fetcher;
        int action = 0, running;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        (void)curl_multi_socket_action(f->multi, fd, action, &running);
        fetch_process_messages(f);
        return 0;
}

static int fetch_timer_handler(sd_event_source *s, uint64_t usec, void *userdata)
{
        Fetcher *f = userdata;
        int running;

        (void)curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        fetch_process_messages(f);
        return 0;
}

static void fetch_socket_free(Fetcher *f, FetchSocket *sock)
{
        if (sock->prev)
                sock->prev->next = sock->next;
        else
                f->sockets = sock->next;
        if (sock->next)
                sock->next->prev = sock->prev;
        sd_event_source_disable_unref(sock->source);
        free(sock);
}

static int fetch_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        Fetcher *f = userp;
        FetchSocket *sock = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (sock) {
                        curl_multi_assign(f->multi, fd, NULL);
                        fetch_socket_free(f, sock);
                }
                return 0;
        }
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
                events |= EPOLLIN;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
                events |= EPOLLOUT;

        if (sock) {
                r = sd_event_source_set_io_events(sock->source, events);
                if (r < 0)
                        return -1;
                r = sd_event_source_set_enabled(sock->source, SD_EVENT_ON);
                return r < 0 ? -1 : 0;
        }

        sock = xcalloc(1, sizeof(*sock));
        sock->fetcher = f;
        sock->fd = fd;
        r = sd_event_add_io(f->event, &sock->source, fd, events, fetch_io_handler, sock);
        if (r < 0) {
                free(sock);
                return -1;
        }
        (void)sd_event_source_set_description(sock->source, "fetch-socket");
        if (curl_multi_assign(f->multi, fd, sock) != CURLM_OK) {
                sd_event_source_disable_unref(sock->source);
                free(sock);
                return -1;
        }
        sock->next = f->sockets;
        if (f->sockets)
                f->sockets->prev = sock;
        f->sockets = sock;
        return 0;
}

static int fetch_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        Fetcher *f = userp;
        uint64_t when;
        int r;

        if (timeout_ms < 0) {
                if (f->timer)
                        (void)sd_event_source_set_enabled(f->timer, SD_EVENT_OFF);
                return 0;
        }
        /* 0 asks for "as soon as possible": any time in the past fires on the next iteration. */
        when = timeout_ms == 0 ? 1 : util_now_mono() + (uint64_t)timeout_ms * USEC_PER_MSEC;

        if (f->timer) {
                r = sd_event_source_set_time(f->timer, when);
                if (r < 0)
                        return -1;
                r = sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
                return r < 0 ? -1 : 0;
        }
        r = sd_event_add_time(f->event, &f->timer, CLOCK_MONOTONIC, when, 1, fetch_timer_handler,
                              f);
        if (r < 0)
                return -1;
        (void)sd_event_source_set_description(f->timer, "fetch-curl-timer");
        return 0;
}

int fetch_new(sd_event *event, Fetcher **ret)
{
        if (!event || !ret)
                return -EINVAL;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;

        Fetcher *f = xcalloc(1, sizeof(*f));
        f->event = sd_event_ref(event);
        f->multi = curl_multi_init();
        if (!f->multi) {
                sd_event_unref(f->event);
                free(f);
                curl_global_cleanup();
                return -ENOMEM;
        }
        if (curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, fetch_socket_cb) != CURLM_OK ||
            curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f) != CURLM_OK ||
            curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, fetch_timer_cb) != CURLM_OK ||
            curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f) != CURLM_OK) {
                fetch_free(f);
                return -EIO;
        }
        *ret = f;
        return 0;
}

void fetch_free(Fetcher *f)
{
        if (!f)
                return;
        f->freeing = true;
        while (f->jobs)
                fetch_cancel(f, f->jobs);
        if (f->multi)
                curl_multi_cleanup(f->multi);
        while (f->sockets)
                fetch_socket_free(f, f->sockets);
        sd_event_source_disable_unref(f->timer);
        sd_event_source_disable_unref(f->kick);
        sd_event_unref(f->event);
        free(f);
        curl_global_cleanup();
}

void fetch_cancel(Fetcher *f, FetchJob *job)
{
        if (!f || !job || job->fetcher != f || job->state == FETCH_JOB_DELIVERING)
                return;
        if (job->state == FETCH_JOB_RUNNING) {
                curl_multi_remove_handle(f->multi, job->easy);
                job->state = FETCH_JOB_BACKOFF;
        }
        job->event_source = sd_event_source_disable_unref(job->event_source);
        if (job->state == FETCH_JOB_QUEUED && job->host) {
                fetch_host_dequeue(job);
                FetchHost *h = job->host;
                job->host = NULL;
                fetch_host_maybe_free(f, h);
        } else {
                fetch_host_release(f, job);
        }
        fetch_job_unlink(f, job);
        fetch_job_free(job);
}

size_t fetch_pending(const Fetcher *f)
{
        return f ? f->n_pending : 0;
}

static char *fetch_build_user_agent(const char *extra)
{
        if (!extra || !*extra)
                return xstrdup(fetch_user_agent());
        char *ua = xasprintf("%s %s", fetch_user_agent(), extra);
        /* The value goes into a header line: keep it on one line. */
        for (char *p = ua; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        *p = ' ';
        return ua;
}

static int fetch_job_setup(FetchJob *j)
{
        const FetchLimits *l = &j->limits;
        CURL *e;

        e = j->easy = curl_easy_init();
        if (!e)
                return -ENOMEM;

        if (j->req_validators.etag && !has_control_chars(j->req_validators.etag)) {
                _cleanup_free_ char *h = xasprintf("If-None-Match: %s", j->req_validators.etag);
                struct curl_slist *n = curl_slist_append(j->headers, h);
                if (!n)
                        return -ENOMEM;
                j->headers = n;
        }
        if (j->req_validators.last_modified &&
            !has_control_chars(j->req_validators.last_modified)) {
                _cleanup_free_ char *h =
                    xasprintf("If-Modified-Since: %s", j->req_validators.last_modified);
                struct curl_slist *n = curl_slist_append(j->headers, h);
                if (!n)
                        return -ENOMEM;
                j->headers = n;
        }

        for (char **x = j->req_headers; x && *x; x++) {
                if (has_control_chars(*x))
                        return -EINVAL;
                struct curl_slist *n = curl_slist_append(j->headers, *x);
                if (!n)
                        return -ENOMEM;
                j->headers = n;
        }
        if (j->method) {
                /* No "Expect: 100-continue" round trip before a small body. */
                struct curl_slist *n = curl_slist_append(j->headers, "Expect:");
                if (!n)
                        return -ENOMEM;
                j->headers = n;
        }

        curl_off_t max_body =
            l->max_body > (uint64_t)INT64_MAX ? INT64_MAX : (curl_off_t)l->max_body;
        long redirs = l->max_redirects > LONG_MAX ? LONG_MAX : (long)l->max_redirects;
        long low_speed_limit = l->low_speed_limit > LONG_MAX ? LONG_MAX : (long)l->low_speed_limit;
        uint64_t lst = (l->low_speed_time_usec + USEC_PER_SEC - 1) / USEC_PER_SEC;
        long low_speed_time = lst > LONG_MAX ? LONG_MAX : (long)lst;

        CURLcode c = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
        do {                                                                                       \
                if (c == CURLE_OK)                                                                 \
                        c = curl_easy_setopt(e, opt, val);                                         \
        } while (0)
        SETOPT(CURLOPT_URL, j->url);
        SETOPT(CURLOPT_PRIVATE, (void *)j);
        SETOPT(CURLOPT_ERRORBUFFER, j->curl_error);
        SETOPT(CURLOPT_NOSIGNAL, 1L);
        /* A cancelled job must not wait for its name lookup: without this, libcurl joins the
         * resolver thread, and a lookup against an unreachable nameserver blocks the loop (and
         * a stop) for the resolver's whole timeout, long enough for the watchdog to fire. */
        SETOPT(CURLOPT_QUICK_EXIT, 1L);
        SETOPT(CURLOPT_USERAGENT, j->user_agent);
        SETOPT(CURLOPT_HTTPHEADER, j->headers);
        SETOPT(CURLOPT_ACCEPT_ENCODING, "");
        SETOPT(CURLOPT_WRITEFUNCTION, fetch_write_cb);
        SETOPT(CURLOPT_WRITEDATA, (void *)j);
        SETOPT(CURLOPT_HEADERFUNCTION, fetch_header_cb);
        SETOPT(CURLOPT_HEADERDATA, (void *)j);
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, usec_to_ms_long(l->connect_timeout_usec));
        SETOPT(CURLOPT_TIMEOUT_MS, usec_to_ms_long(l->timeout_usec));
        SETOPT(CURLOPT_LOW_SPEED_LIMIT, low_speed_limit);
        SETOPT(CURLOPT_LOW_SPEED_TIME, low_speed_time);
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, max_body);
        SETOPT(CURLOPT_FOLLOWLOCATION, j->secret ? 0L : 1L);
        if (j->aws_sigv4) {
                SETOPT(CURLOPT_AWS_SIGV4, j->aws_sigv4);
                SETOPT(CURLOPT_USERPWD, j->userpwd);
        }
        SETOPT(CURLOPT_MAXREDIRS, redirs);
        SETOPT(CURLOPT_PROTOCOLS_STR, "http,https,file");
        SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
        if (l->ca_file)
                SETOPT(CURLOPT_CAINFO, l->ca_file);
        if (j->method && streq(j->method, "POST")) {
                SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->req_body_len);
                SETOPT(CURLOPT_POSTFIELDS, j->req_body ? j->req_body : "");
                /* A redirect must not turn a delivery into a GET, nor go to file://. */
                SETOPT(CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
                SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
        } else if (j->method) {
                return -EINVAL;
        }
#undef SETOPT
        if (c != CURLE_OK)
                return c == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
        return 0;
}

int fetch_submit(Fetcher *f, const FetchRequest *req, fetch_done_fn done, void *userdata,
                 FetchJob **ret)
{
        if (!f || !req || !req->url || !req->limits || f->freeing)
                return -EINVAL;

        _cleanup_(fetch_job_freep) FetchJob *j = xcalloc(1, sizeof(*j));
        j->url = xstrdup(req->url);
        j->limits = *req->limits;
        j->limits.ca_file = xstrdup(req->limits->ca_file);
        fetch_validators_copy(&j->req_validators, req->validators);
        j->user_agent = fetch_build_user_agent(req->user_agent_extra);
        j->method = xstrdup(req->method);
        if (req->body) {
                j->req_body = xmalloc(req->body_len + 1);
                memcpy(j->req_body, req->body, req->body_len);
                j->req_body[req->body_len] = '\0';
                j->req_body_len = req->body_len;
        }
        if (req->headers) {
                size_t n = 0;
                while (req->headers[n])
                        n++;
                j->req_headers = xcalloc(n + 1, sizeof(char *));
                for (size_t i = 0; i < n; i++)
                        j->req_headers[i] = xstrdup(req->headers[i]);
        }
        j->aws_sigv4 = xstrdup(req->aws_sigv4);
        j->userpwd = xstrdup(req->userpwd);
        j->secret = req->secret;
        j->done = done;
        j->userdata = userdata;
        j->state = FETCH_JOB_QUEUED;

        int r = fetch_job_setup(j);
        if (r < 0)
                return r;

        _cleanup_free_ char *key = fetch_host_key(j->url);
        FetchHost *h = key ? fetch_host_get(f, key) : NULL;

        j->fetcher = f;
        if (h && h->active) {
                j->host = h;
                if (h->queue_tail)
                        h->queue_tail->queue_next = j;
                else
                        h->queue_head = j;
                h->queue_tail = j;
        } else {
                if (h) {
                        j->host = h;
                        h->active = j;
                }
                r = fetch_job_start_attempt(j);
                if (r < 0) {
                        if (h) {
                                h->active = NULL;
                                j->host = NULL;
                                fetch_host_maybe_free(f, h);
                        }
                        j->fetcher = NULL;
                        return r;
                }
        }

        j->next = f->jobs;
        if (f->jobs)
                f->jobs->prev = j;
        f->jobs = j;
        f->n_pending++;

        if (ret)
                *ret = j;
        TAKE_PTR(j);
        return 0;
}
