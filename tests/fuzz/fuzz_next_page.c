/* libFuzzer target: every format's next_page over arbitrary bytes as the page, asked from
 * the format's first request and then from the request it built. The first byte picks
 * the format. A next request is a well-formed URL no longer than the cap, with the
 * request's own host and path and nothing unescaped a URL cannot carry; a POST body stays
 * a JSON object. Then adapter_url_set_query()'s escaping must give the value back. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_adapter.h"

static const Adapter *paged(uint8_t pick)
{
        const Adapter *list[32];
        size_t n = 0;

        for (const Adapter *const *a = adapter_all(); *a && n < 32; a++)
                if ((*a)->next_page && (*a)->endpoint)
                        list[n++] = *a;
        if (n == 0)
                abort();
        return list[pick % n];
}

static char *first_url(const char *tmpl)
{
        const char *p = strstr(tmpl, "{region}");
        size_t n = strlen(tmpl) + 16;
        char *s = malloc(n);

        if (!s)
                abort();
        if (p)
                snprintf(s, n, "%.*sus-east-1%s", (int)(p - tmpl), tmpl, p + strlen("{region}"));
        else
                snprintf(s, n, "%s", tmpl);
        return s;
}

static void check_url(const char *url, const char *from)
{
        size_t prefix = strcspn(from, "?");

        if (strlen(url) > ADAPTER_URL_MAX || strncmp(url, from, prefix) != 0)
                abort();
        for (const unsigned char *p = (const unsigned char *)url; *p; p++)
                if (*p <= ' ' || *p >= 0x7f)
                        abort();
}

static void check_body(const char *body)
{
        json_t *j;

        if (!body || strlen(body) > ADAPTER_BODY_MAX)
                abort();
        j = json_loads(body, 0, NULL);
        if (!json_is_object(j))
                abort();
        json_decref(j);
}

/* One call: 1 gives a URL (and a body for POST), 0 gives none, < 0 says why. */
static int step(const Adapter *a, const char *page, size_t len, const char *url, const char *body,
                char **ret_url, char **ret_body)
{
        AdapterError err = {0};
        int r;

        *ret_url = NULL;
        *ret_body = NULL;
        r = a->next_page(page, len, url, body, ret_url, ret_body, &err);
        if (r < 0) {
                if (err.message[0] == '\0' || *ret_url || *ret_body)
                        abort();
                return r;
        }
        if (r == 0) {
                if (*ret_url || *ret_body)
                        abort();
                return r;
        }
        if (r != 1 || !*ret_url)
                abort();
        check_url(*ret_url, url);
        if (a->endpoint->body)
                check_body(*ret_body);
        else if (*ret_body)
                abort();
        return r;
}

static void check_escaping(const char *value)
{
        char *url = NULL, *out, *o;
        const char *p;

        if (adapter_url_set_query("https://h/p?a=1&t=x", "t", value, &url) < 0)
                return;
        p = strstr(url, "&t=");
        if (!p || strncmp(url, "https://h/p?a=1&t=", 18) != 0)
                abort();
        out = o = malloc(strlen(p) + 1);
        if (!out)
                abort();
        for (p += 3; *p; p++) {
                if (*p == '&' || *p == '#' || *p == '=' || *p == '+' || *p == ' ')
                        abort();
                if (*p == '%') {
                        char hex[3] = {p[1], p[2], 0};
                        *o++ = (char)strtoul(hex, NULL, 16);
                        p += 2;
                } else {
                        *o++ = *p;
                }
        }
        *o = '\0';
        if (strcmp(out, value) != 0)
                abort();
        free(out);
        free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const Adapter *a;
        char *page, *url, *body, *url2 = NULL, *body2 = NULL, *url3 = NULL, *body3 = NULL;

        if (size < 1 || size > (1u << 20))
                return 0;
        a = paged(data[0]);
        page = malloc(size);
        if (!page)
                abort();
        memcpy(page, data + 1, size - 1);
        page[size - 1] = '\0';
        url = first_url(a->endpoint->urls[0]);
        body = a->endpoint->body ? strdup(a->endpoint->body) : NULL;

        if (step(a, page, size - 1, url, body, &url2, &body2) == 1) {
                /* The same page again, from the request it built: its token is now the
                 * request's own, so it must not be asked for again. */
                if (step(a, page, size - 1, url2, body2, &url3, &body3) == 1)
                        abort();
        }
        check_escaping(page);
        free(url3);
        free(body3);
        free(url2);
        free(body2);
        free(url);
        free(body);
        free(page);
        return 0;
}
