/* Arbitrary bytes as a /metrics request head, fed in growing prefixes as a connection
 * would deliver them. */
#include <stddef.h>
#include <stdint.h>

#include "lockwatch/httpd.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        HttpdRequest rq;
        size_t step = size > 0 ? 1 + data[0] % 64 : 1;

        if (size > HTTPD_MAX_REQUEST)
                size = HTTPD_MAX_REQUEST;
        for (size_t n = 0; n <= size; n += step) {
                int r = httpd_parse_request((const char *)data, n, &rq);
                if (r != 0)
                        break;
        }
        (void)httpd_parse_request((const char *)data, size, &rq);
        return 0;
}
