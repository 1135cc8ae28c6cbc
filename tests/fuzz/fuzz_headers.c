/* Feed arbitrary bytes, one header line per input line, to the fetcher's response header
 * handling: whatever a server sends, the validators kept are UTF-8 without control
 * characters and within the cap, a Retry-After stays within its bound, and the UTF-8
 * repairs every boundary uses always give valid text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/fetch.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *v)
{
        if (!v)
                return;
        size_t n = strlen(v);
        if (n == 0 || n > FETCH_HEADER_VALUE_MAX || !util_utf8_valid(v, n))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        FetchResponseHeaders h = {0};
        const char *p = (const char *)data, *end = p + size;
        /* A fixed clock: a Retry-After date is measured against it. */
        const uint64_t now = UINT64_C(1780000000) * USEC_PER_SEC;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
                fetch_response_header(&h, p, n, now);
                check_value(h.etag);
                check_value(h.last_modified);
                if (h.has_retry_after &&
                    h.retry_after_usec > (uint64_t)FETCH_RETRY_AFTER_MAX_SEC * USEC_PER_SEC)
                        abort();
                p += n;
        }
        fetch_response_headers_clear(&h);

        /* The repairs, on the same bytes as one string. */
        char *s = xstrndup((const char *)data, size);
        char *dup = util_utf8_dup(s, 300);
        if (!util_utf8_valid(dup, strlen(dup)) || strlen(dup) > 300)
                abort();
        util_utf8_fix_truncated(s);
        if (!util_utf8_valid(s, strlen(s)))
                abort();
        free(dup);
        free(s);
        return 0;
}
