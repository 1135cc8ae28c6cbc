#include "lockwatch/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/adapter.h"
#include "lockwatch/secret.h"
#include "lockwatch/util.h"

static const AdapterEndpoint *request_endpoint(const SourceConfig *sc)
{
        const Adapter *a = sc->format ? adapter_find(sc->format) : NULL;
        return a ? a->endpoint : NULL;
}

/* template with every {region} replaced by region (NULL: left as is). */
static char *request_expand(const char *template, const char *region)
{
        const char *mark = "{region}";
        size_t ml = strlen(mark);
        const char *p = template, *hit;
        char *out, *next;

        if (!region)
                return xstrdup(template);
        out = xstrdup("");
        while ((hit = strstr(p, mark))) {
                next = xasprintf("%s%.*s%s", out, (int)(hit - p), p, region);
                free(out);
                out = next;
                p = hit + ml;
        }
        next = xasprintf("%s%s", out, p);
        free(out);
        return next;
}

/* The API's own URL moved under endpoint: its path and query kept, scheme://host replaced. */
static char *request_rebase(const char *endpoint, const char *url)
{
        const char *host = strstr(url, "://");
        const char *path = host ? host + 3 + strcspn(host + 3, "/?") : url;
        size_t n = strlen(endpoint);

        while (n > 0 && endpoint[n - 1] == '/')
                n--;
        return xasprintf("%.*s%s", (int)n, endpoint, path);
}

int request_plan(const SourceConfig *sc, RequestTarget **ret, size_t *ret_n)
{
        const AdapterEndpoint *e = request_endpoint(sc);
        const char *single[] = {sc->url, NULL};
        const char *const *urls = sc->url ? single : e && e->urls ? e->urls : NULL;
        size_t n_urls = 0, n_regions = sc->n_regions ? sc->n_regions : 1, n = 0;
        RequestTarget *t;

        if (!urls)
                return -EINVAL;
        while (urls[n_urls])
                n_urls++;
        if (n_urls == 0 || n_urls * n_regions > REQUEST_MAX_TARGETS)
                return -E2BIG;
        t = xcalloc(n_urls * n_regions, sizeof(RequestTarget));
        for (size_t u = 0; u < n_urls; u++)
                for (size_t r = 0; r < n_regions; r++) {
                        const char *region = sc->n_regions ? sc->regions[r] : NULL;
                        _cleanup_free_ char *url = request_expand(urls[u], region);

                        if (sc->endpoint) {
                                _cleanup_free_ char *base = request_expand(sc->endpoint, region);
                                t[n].url = request_rebase(base, url);
                        } else {
                                t[n].url = TAKE_PTR(url);
                        }
                        t[n].body = xstrdup(e ? e->body : NULL);
                        t[n].region = xstrdup(region);
                        n++;
                }
        *ret = t;
        *ret_n = n;
        return 0;
}

void request_targets_free(RequestTarget *t, size_t n)
{
        for (size_t i = 0; t && i < n; i++) {
                free(t[i].url);
                free(t[i].body);
                free(t[i].region);
        }
        free(t);
}

void request_auth_clear(RequestAuth *a)
{
        for (char **h = a->headers; h && *h; h++)
                secret_free(*h);
        free(a->headers);
        secret_free(a->userpwd);
        *a = (RequestAuth){0};
}

static void request_add_header(RequestAuth *a, size_t *n, char *h)
{
        a->headers = xreallocarray(a->headers, *n + 2, sizeof(char *));
        a->headers[(*n)++] = h;
        a->headers[*n] = NULL;
}

int request_auth(const SourceConfig *sc, RequestAuth *ret, char **ret_error)
{
        const AdapterEndpoint *e = request_endpoint(sc);
        _cleanup_(secret_freep) char *key = NULL;
        RequestAuth a = {0};
        size_t n = 0;
        int r;

        a.headers = xcalloc(1, sizeof(char *));
        for (size_t i = 0; e && e->headers && e->headers[i]; i++)
                request_add_header(&a, &n, xstrdup(e->headers[i]));
        if (e && e->body && !e->headers)
                request_add_header(&a, &n, xstrdup("Content-Type: application/json"));
        if (sc->auth == ADAPTER_AUTH_NONE || !sc->credential) {
                *ret = a;
                return 0;
        }
        r = secret_read(sc->credential, SECRET_MULTILINE, &key, ret_error);
        if (r < 0) {
                request_auth_clear(&a);
                return r;
        }
        a.secret = true;
        if (sc->auth != ADAPTER_AUTH_AWS && strpbrk(key, "\r\n\t ")) {
                request_auth_clear(&a);
                *ret_error = xstrdup("the key holds blanks or line breaks (only an AWS "
                                     "credentials file may span lines)");
                return -EINVAL;
        }
        switch ((AdapterAuth)sc->auth) {
        case ADAPTER_AUTH_AWS: {
                SecretAws aws = {0};
                r = secret_parse_aws(key, &aws, ret_error);
                if (r < 0) {
                        request_auth_clear(&a);
                        return r;
                }
                if (r > 0) {
                        a.sigv4 = true;
                        a.userpwd = xasprintf("%s:%s", aws.access_key_id, aws.secret_access_key);
                        if (aws.session_token)
                                request_add_header(&a, &n,
                                                   xasprintf("x-amz-security-token: %s",
                                                             aws.session_token));
                        secret_aws_clear(&aws);
                        break;
                }
                /* A Bedrock API key is a bearer token. */
                request_add_header(&a, &n, xasprintf("Authorization: Bearer %s", key));
                break;
        }
        case ADAPTER_AUTH_BEARER:
        case ADAPTER_AUTH_NONE:
        case _ADAPTER_AUTH_MAX:
                request_add_header(&a, &n, xasprintf("Authorization: Bearer %s", key));
                break;
        case ADAPTER_AUTH_X_API_KEY:
                request_add_header(&a, &n, xasprintf("x-api-key: %s", key));
                break;
        case ADAPTER_AUTH_GOOG_API_KEY:
                request_add_header(&a, &n, xasprintf("x-goog-api-key: %s", key));
                break;
        }
        *ret = a;
        return 0;
}

char *request_sigv4_scope(const SourceConfig *sc, const char *region)
{
        const AdapterEndpoint *e = request_endpoint(sc);

        if (sc->auth != ADAPTER_AUTH_AWS || !e || !e->sigv4_service)
                return NULL;
        if (!region)
                return xstrdup("aws:amz");
        return xasprintf("aws:amz:%s:%s", region, e->sigv4_service);
}

const char *request_method(const SourceConfig *sc)
{
        const AdapterEndpoint *e = request_endpoint(sc);
        return e ? e->method : NULL;
}

const char *request_api(const SourceConfig *sc)
{
        const AdapterEndpoint *e = request_endpoint(sc);
        return e ? e->api : NULL;
}

static int request_hex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* s[0..n) percent-decoded, then encoded as SigV4 wants: all but A-Z a-z 0-9 - _ . ~ as %XX. */
static char *request_sigv4_encode(const char *s, size_t n)
{
        char *out = xmalloc(n * 3 + 1), *o = out;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '%' && i + 2 < n && request_hex(s[i + 1]) >= 0 &&
                    request_hex(s[i + 2]) >= 0) {
                        c = (unsigned char)(request_hex(s[i + 1]) * 16 + request_hex(s[i + 2]));
                        i += 2;
                }
                if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~')
                        *o++ = (char)c;
                else
                        o += sprintf(o, "%%%02X", c);
        }
        *o = '\0';
        return out;
}

static int request_cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

char *request_sigv4_url(const char *url)
{
        const char *q = strchr(url, '?');
        size_t n = 0, cap = 0;
        char **parts = NULL, *out;

        if (!q || !q[1])
                return xstrdup(url);
        /* curl signs the query as written; AWS signs it sorted and strictly encoded. Writing
         * it that way makes both the same. */
        for (const char *p = q + 1; *p;) {
                size_t len = strcspn(p, "&#");
                const char *eq = memchr(p, '=', len);
                size_t nl = eq ? (size_t)(eq - p) : len;
                if (len > 0) {
                        _cleanup_free_ char *name = request_sigv4_encode(p, nl);
                        _cleanup_free_ char *value =
                            request_sigv4_encode(eq ? eq + 1 : "", eq ? len - nl - 1 : 0);
                        if (n == cap) {
                                cap = cap ? cap * 2 : 8;
                                parts = xreallocarray(parts, cap, sizeof(char *));
                        }
                        parts[n++] = xasprintf("%s=%s", name, value);
                }
                p += len;
                if (*p == '#')
                        break;
                if (*p == '&')
                        p++;
        }
        qsort(parts, n, sizeof(char *), request_cmp_str);
        out = xasprintf("%.*s", (int)(q - url), url);
        for (size_t i = 0; i < n; i++) {
                char *next = xasprintf("%s%c%s", out, i == 0 ? '?' : '&', parts[i]);
                free(out);
                free(parts[i]);
                out = next;
        }
        free(parts);
        return out;
}
