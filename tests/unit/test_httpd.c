/* The /metrics responder's request-head parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lockwatch/httpd.h"
#include "lockwatch/util.h"

static void test_http_request(void **state)
{
        static const struct {
                const char *in;
                int r;
                const char *method, *path;
        } cases[] = {
            {"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 1, "GET", "/metrics"},
            {"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", 1, "HEAD", "/metrics"},
            {"GET / HTTP/1.1\n\n", 1, "GET", "/"},
            {"POST /metrics HTTP/1.1\r\n\r\n", 1, "POST", "/metrics"},
            {"GET /metrics HTTP/1.1\r\nHost: x\r\n", 0, NULL, NULL},
            {"GET /metr", 0, NULL, NULL},
            {"get /metrics HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET metrics HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET /metrics HTTP/2\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET /me trics HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GETTINGLONG / HTTP/1.1\r\n\r\n", -EBADMSG, NULL, NULL},
            {"GET /metrics HTTP/1.1\r\nX: \x01\r\n\r\n", -EBADMSG, NULL, NULL},
            {"\x16\x03\x01\n\n", -EBADMSG, NULL, NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                HttpdRequest rq;
                memset(&rq, 0, sizeof(rq));
                int r = httpd_parse_request(cases[i].in, strlen(cases[i].in), &rq);
                if (r != cases[i].r)
                        fail_msg("case %zu: got %d, want %d", i, r, cases[i].r);
                if (r == 1) {
                        assert_string_equal(rq.method, cases[i].method);
                        assert_string_equal(rq.path, cases[i].path);
                }
        }
        /* A path too long for the buffer, and a head that never ends, are refused. */
        _cleanup_free_ char *longpath = xasprintf("GET /%0*d HTTP/1.1\r\n\r\n", 300, 0);
        HttpdRequest rq;
        assert_int_equal(httpd_parse_request(longpath, strlen(longpath), &rq), -EBADMSG);
        char *big = xmalloc(HTTPD_MAX_REQUEST);
        memset(big, 'a', HTTPD_MAX_REQUEST);
        memcpy(big, "GET / HTTP/1.1\r\n", 16);
        assert_int_equal(httpd_parse_request(big, HTTPD_MAX_REQUEST, &rq), -EBADMSG);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_http_request),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
