/* The Varlink framing, request parsing and reply encoding, with exact wire strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/util.h"
#include "lockwatch/varlink.h"

static void test_several_messages_in_one_append(void **state)
{
        static const char wire[] = "{\"method\":\"a.B\"}\0{\"method\":\"c.D\"}\0{\"meth";
        VarlinkBuffer b;
        const char *msg;
        size_t len;

        varlink_buffer_init(&b, 0);
        assert_int_equal(varlink_buffer_append(&b, wire, sizeof(wire) - 1), 0);
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 1);
        assert_int_equal(len, 16);
        assert_string_equal(msg, "{\"method\":\"a.B\"}");
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 1);
        assert_string_equal(msg, "{\"method\":\"c.D\"}");
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 0);
        assert_int_equal(varlink_buffer_pending(&b), 6);
        assert_int_equal(varlink_buffer_append(&b, "od\":\"e.F\"}", 11), 0);
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 1);
        assert_string_equal(msg, "{\"method\":\"e.F\"}");
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 0);
        assert_int_equal(varlink_buffer_pending(&b), 0);
        varlink_buffer_clear(&b);
}

/* Two requests cut at every byte offset arrive whole and in order. */
static void test_split_at_every_offset(void **state)
{
        static const char wire[] = "{\"method\":\"io.lockwatch.GetStatus\",\"parameters\":{}}\0"
                                   "{\"method\":\"io.lockwatch.Explain\",\"parameters\":"
                                   "{\"model\":\"a/b\"}}";
        const size_t n = sizeof(wire); /* both NULs */

        for (size_t cut = 0; cut <= n; cut++) {
                VarlinkBuffer b;
                const char *msg;
                size_t len;
                int got = 0;
                char names[2][64] = {{0}};

                varlink_buffer_init(&b, 0);
                for (int part = 0; part < 2; part++) {
                        const char *p = part == 0 ? wire : wire + cut;
                        size_t l = part == 0 ? cut : n - cut;
                        assert_int_equal(varlink_buffer_append(&b, p, l), 0);
                        while (varlink_buffer_next(&b, &msg, &len) == 1) {
                                VarlinkRequest rq;
                                assert_true(got < 2);
                                assert_int_equal(varlink_request_parse(msg, len, &rq, NULL), 0);
                                snprintf(names[got++], sizeof(names[0]), "%s", rq.name);
                                varlink_request_clear(&rq);
                        }
                }
                assert_int_equal(got, 2);
                assert_string_equal(names[0], "GetStatus");
                assert_string_equal(names[1], "Explain");
                assert_int_equal(varlink_buffer_pending(&b), 0);
                varlink_buffer_clear(&b);
        }
}

static void test_oversized(void **state)
{
        VarlinkBuffer b;
        const char *msg;
        size_t len;
        char big[100];

        memset(big, 'x', sizeof(big));
        varlink_buffer_init(&b, 64);
        /* Within max, then past it without a NUL. */
        assert_int_equal(varlink_buffer_append(&b, big, 64), 0);
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 0);
        assert_int_equal(varlink_buffer_append(&b, big, 1), 0);
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), -EMSGSIZE);
        /* The pending bytes never pass twice max, whatever the caller does. */
        assert_int_equal(varlink_buffer_append(&b, big, 63), 0);
        assert_int_equal(varlink_buffer_append(&b, big, 1), -EMSGSIZE);
        assert_int_equal(varlink_buffer_pending(&b), 128);
        varlink_buffer_clear(&b);

        /* A terminated message one byte too long; exactly max is fine. */
        varlink_buffer_init(&b, 64);
        big[64] = 0;
        assert_int_equal(varlink_buffer_append(&b, big, 65), 0);
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 1);
        assert_int_equal(len, 64);
        big[64] = 'x';
        big[65] = 0;
        assert_int_equal(varlink_buffer_append(&b, big, 66), 0);
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), -EMSGSIZE);
        varlink_buffer_clear(&b);
}

static void test_request_flags(void **state)
{
        static const struct {
                const char *json;
                unsigned flags;
                const char *iface, *name, *params;
        } cases[] = {
            {"{\"method\":\"io.lockwatch.GetStatus\"}", 0, "io.lockwatch", "GetStatus", "{}"},
            {"{\"method\":\"io.lockwatch.Subscribe\",\"more\":true}", VARLINK_MORE, "io.lockwatch",
             "Subscribe", "{}"},
            {"{\"method\":\"io.lockwatch.Poll\",\"oneway\":true,\"parameters\":"
             "{\"source\":\"x\"}}",
             VARLINK_ONEWAY, "io.lockwatch", "Poll", "{\"source\":\"x\"}"},
            {"{\"method\":\"org.varlink.service.GetInfo\",\"upgrade\":true,\"more\":false,"
             "\"parameters\":null}",
             VARLINK_UPGRADE, "org.varlink.service", "GetInfo", "{}"},
            {"{\"method\":\"a-b.c.X1\",\"oneway\":false,\"more\":true,\"upgrade\":true}",
             VARLINK_MORE | VARLINK_UPGRADE, "a-b.c", "X1", "{}"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                VarlinkRequest rq;
                assert_int_equal(
                    varlink_request_parse(cases[i].json, strlen(cases[i].json), &rq, NULL), 0);
                assert_int_equal(rq.flags, cases[i].flags);
                assert_string_equal(rq.interface, cases[i].iface);
                assert_string_equal(rq.name, cases[i].name);
                char *p = json_dumps(rq.parameters, JSON_COMPACT);
                assert_string_equal(p, cases[i].params);
                free(p);
                varlink_request_clear(&rq);
        }
}

static void test_request_errors(void **state)
{
        static const struct {
                const char *json;
                int r;
                const char *reason;
        } cases[] = {
            {"", -EBADMSG, "not a JSON object"},
            {"{\"method\":", -EBADMSG, "not a JSON object"},
            {"[\"io.lockwatch.GetStatus\"]", -EBADMSG, "not a JSON object"},
            {"\"io.lockwatch.GetStatus\"", -EBADMSG, "not a JSON object"},
            {"42", -EBADMSG, "not a JSON object"},
            {"{\"method\":\"a.B\",\"method\":\"a.C\"}", -EBADMSG, "not a JSON object"},
            {"{}", -EINVAL, "no method"},
            {"{\"parameters\":{}}", -EINVAL, "no method"},
            {"{\"method\":7}", -EINVAL, "method is not a string"},
            {"{\"method\":\"GetStatus\"}", -EINVAL, "malformed method name"},
            {"{\"method\":\"io.lockwatch.getStatus\"}", -EINVAL, "malformed method name"},
            {"{\"method\":\"io..lockwatch.X\"}", -EINVAL, "malformed method name"},
            {"{\"method\":\".X\"}", -EINVAL, "malformed method name"},
            {"{\"method\":\"io.lockwatch.Get-Status\"}", -EINVAL, "malformed method name"},
            {"{\"method\":\"1o.lockwatch.X\"}", -EINVAL, "malformed method name"},
            {"{\"method\":\"a.B\",\"parameters\":[]}", -EINVAL, "parameters is not an object"},
            {"{\"method\":\"a.B\",\"parameters\":\"x\"}", -EINVAL, "parameters is not an object"},
            {"{\"method\":\"a.B\",\"more\":1}", -EINVAL, "more is not a boolean"},
            {"{\"method\":\"a.B\",\"oneway\":\"yes\"}", -EINVAL, "oneway is not a boolean"},
            {"{\"method\":\"a.B\",\"upgrade\":{}}", -EINVAL, "upgrade is not a boolean"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                VarlinkRequest rq = {0};
                const char *reason = NULL;
                assert_int_equal(
                    varlink_request_parse(cases[i].json, strlen(cases[i].json), &rq, &reason),
                    cases[i].r);
                assert_non_null(reason);
                assert_string_equal(reason, cases[i].reason);
                assert_null(rq.method);
        }
}

static void test_depth_cap(void **state)
{
        char buf[512];
        size_t n = 0;
        VarlinkRequest rq;
        const char *reason;

        /* VARLINK_MAX_DEPTH levels including the outer object pass, one more does not. */
        for (unsigned extra = 0; extra < 2; extra++) {
                unsigned arrays = VARLINK_MAX_DEPTH - 2 + extra;
                n = (size_t)snprintf(buf, sizeof(buf),
                                     "{\"method\":\"a.B\",\"parameters\":{\"x\":");
                for (unsigned i = 0; i < arrays; i++)
                        buf[n++] = '[';
                for (unsigned i = 0; i < arrays; i++)
                        buf[n++] = ']';
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}}");
                int r = varlink_request_parse(buf, n, &rq, &reason);
                if (extra == 0) {
                        assert_int_equal(r, 0);
                        varlink_request_clear(&rq);
                } else
                        assert_int_equal(r, -EBADMSG);
        }
        /* Brackets inside strings do not count. */
        n = (size_t)snprintf(buf, sizeof(buf), "{\"method\":\"a.B\",\"parameters\":{\"x\":\"");
        for (unsigned i = 0; i < 100; i++)
                buf[n++] = '[';
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\\\"{\"}}");
        assert_int_equal(varlink_request_parse(buf, n, &rq, &reason), 0);
        varlink_request_clear(&rq);
}

static void test_encoding(void **state)
{
        char *buf;
        size_t len;
        json_t *p = json_pack("{s:s, s:i}", "model", "a/b", "n", 2);

        assert_int_equal(varlink_reply_encode(p, false, &buf, &len), 0);
        assert_string_equal(buf, "{\"parameters\":{\"model\":\"a/b\",\"n\":2}}");
        assert_int_equal(len, strlen(buf) + 1);
        free(buf);
        assert_int_equal(varlink_reply_encode(NULL, true, &buf, &len), 0);
        assert_string_equal(buf, "{\"parameters\":{},\"continues\":true}");
        free(buf);
        assert_int_equal(varlink_error_encode(VARLINK_ERROR_NO_SUCH_MODEL, p, &buf, &len), 0);
        assert_string_equal(buf, "{\"error\":\"io.lockwatch.NoSuchModel\",\"parameters\":"
                                 "{\"model\":\"a/b\",\"n\":2}}");
        free(buf);
        assert_int_equal(varlink_error_encode(VARLINK_ERROR_PERMISSION_DENIED, NULL, &buf, &len),
                         0);
        assert_string_equal(buf, "{\"error\":\"io.lockwatch.PermissionDenied\",\"parameters\":{}}");
        free(buf);
        assert_int_equal(varlink_request_encode("io.lockwatch.Subscribe", NULL,
                                                VARLINK_MORE | VARLINK_ONEWAY, &buf, &len),
                         0);
        assert_string_equal(buf, "{\"method\":\"io.lockwatch.Subscribe\",\"parameters\":{},"
                                 "\"oneway\":true,\"more\":true}");
        free(buf);
        json_decref(p);
}

static void test_reply_parse(void **state)
{
        static const char ok[] = "{\"parameters\":{\"x\":1},\"continues\":true}";
        static const char err[] = "{\"error\":\"io.lockwatch.NoSuchModel\"}";
        VarlinkReply rp;

        assert_int_equal(varlink_reply_parse(ok, strlen(ok), &rp), 0);
        assert_null(rp.error);
        assert_true(rp.continues);
        assert_int_equal(json_integer_value(json_object_get(rp.parameters, "x")), 1);
        varlink_reply_clear(&rp);
        assert_int_equal(varlink_reply_parse(err, strlen(err), &rp), 0);
        assert_string_equal(rp.error, "io.lockwatch.NoSuchModel");
        assert_false(rp.continues);
        assert_int_equal(json_object_size(rp.parameters), 0);
        varlink_reply_clear(&rp);
        assert_int_equal(varlink_reply_parse("[]", 2, &rp), -EBADMSG);
        assert_int_equal(varlink_reply_parse("{\"error\":1}", 11, &rp), -EBADMSG);
        assert_int_equal(varlink_reply_parse("{\"continues\":\"y\"}", 17, &rp), -EBADMSG);
}

static void test_params(void **state)
{
        json_t *p =
            json_pack("{s:s, s:i, s:b, s:n}", "model", "a/b", "limit", 5, "text", 1, "since");
        static const char *const allowed[] = {"model", "limit", "text", "since", NULL};
        static const char *const fewer[] = {"model", NULL};
        const char *s, *bad = NULL;
        long long n = -1;
        bool b = false;

        assert_int_equal(varlink_params_only(p, allowed, &bad), 0);
        assert_int_equal(varlink_params_only(p, fewer, &bad), -EINVAL);
        assert_string_equal(bad, "limit");
        assert_int_equal(varlink_param_string(p, "model", true, &s), 0);
        assert_string_equal(s, "a/b");
        assert_int_equal(varlink_param_string(p, "limit", false, &s), -EINVAL);
        assert_int_equal(varlink_param_string(p, "nope", true, &s), -EINVAL);
        assert_int_equal(varlink_param_string(p, "since", false, &s), 0);
        assert_null(s);
        assert_int_equal(varlink_param_int(p, "limit", &n), 1);
        assert_int_equal(n, 5);
        assert_int_equal(varlink_param_int(p, "model", &n), -EINVAL);
        assert_int_equal(varlink_param_int(p, "since", &n), 0);
        assert_int_equal(n, 5);
        assert_int_equal(varlink_param_bool(p, "text", &b), 1);
        assert_true(b);
        assert_int_equal(varlink_param_bool(p, "limit", &b), -EINVAL);
        json_decref(p);
}

/* A reply assembled from VARLINK_REPLY_OPEN, parameters dumped apart, and
 * varlink_reply_close() is byte for byte what varlink_reply_encode() makes. */
static void test_reply_in_parts(void **state)
{
        json_t *params = json_pack("{s:[i, f, s], s:n}", "models", 1, 0.5, "a\"b", "x");
        for (int more = 0; more < 2; more++) {
                char *whole, *p = json_dumps(params, VARLINK_DUMP_FLAGS);
                size_t wlen, clen;
                const char *close = varlink_reply_close(more, &clen);
                char built[256];
                int n;

                assert_non_null(p);
                assert_int_equal(varlink_reply_encode(params, more, &whole, &wlen), 0);
                n = snprintf(built, sizeof(built), "%s%s%s", VARLINK_REPLY_OPEN, p, close);
                assert_true(n > 0 && (size_t)n + 1 < sizeof(built));
                assert_int_equal((size_t)n + 1, strlen(VARLINK_REPLY_OPEN) + strlen(p) + clen);
                assert_int_equal(wlen, (size_t)n + 1);
                assert_memory_equal(whole, built, wlen);
                free(whole);
                free(p);
        }
        json_decref(params);
}

/* Whether a whole message waits: a NUL among the bytes not yet cut. */
static void test_buffer_complete(void **state)
{
        VarlinkBuffer b;
        const char *msg;
        size_t len;

        varlink_buffer_init(&b, 0);
        assert_false(varlink_buffer_complete(&b));
        assert_int_equal(varlink_buffer_append(&b, "{\"method\":", 10), 0);
        assert_false(varlink_buffer_complete(&b));
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 0); /* scanned, still partial */
        assert_false(varlink_buffer_complete(&b));
        assert_int_equal(varlink_buffer_append(&b, "\"a.B\"}\0{", 8), 0);
        assert_true(varlink_buffer_complete(&b));
        assert_int_equal(varlink_buffer_next(&b, &msg, &len), 1);
        assert_false(varlink_buffer_complete(&b));
        varlink_buffer_clear(&b);
}

static void test_interface_description(void **state)
{
        const char *t = varlink_interface_description("io.lockwatch");

        assert_non_null(t);
        assert_true(startswith(strstr(t, "interface "), "interface io.lockwatch\n"));
        static const char *const must[] = {"type Status (",
                                           "type Source (",
                                           "type Cell (",
                                           "type Evidence (",
                                           "type Model (",
                                           "type Alert (",
                                           "type Event (",
                                           "method GetStatus() ->",
                                           "method GetMatrix(",
                                           "method ListAlerts(state: ?string) -> (alerts: []Alert)",
                                           "method Explain(model: string) -> (",
                                           ("method GetHistory(\n  since: ?int,\n  until: "
                                            "?int,\n  model: ?string,\n  limit: ?int,\n  "
                                            "quiet: ?bool\n) -> (events: []Event)"),
                                           "method GetMatrixAt(\n  at: int,\n",
                                           "error NoHistory ()",
                                           "method Subscribe() -> (event: Event)",
                                           "method Poll(source: ?string, accept: ?bool) -> ()",
                                           "method Reload() -> ()",
                                           "error NoSuchModel (model: string, suggestions: ?[]string)",
                                           "error NoSuchSource (source: string)",
                                           "error PermissionDenied ()",
                                           "error ReloadFailed (message: string)"};
        for (size_t i = 0; i < ELEMENTSOF(must); i++)
                if (!strstr(t, must[i]))
                        fail_msg("interface description lacks \"%s\"", must[i]);
        assert_non_null(strstr(varlink_interface_description("org.varlink.service"),
                               "interface org.varlink.service\n"));
        assert_null(varlink_interface_description("org.example"));
        assert_null(varlink_interface_description(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_several_messages_in_one_append),
            cmocka_unit_test(test_split_at_every_offset),
            cmocka_unit_test(test_oversized),
            cmocka_unit_test(test_request_flags),
            cmocka_unit_test(test_request_errors),
            cmocka_unit_test(test_depth_cap),
            cmocka_unit_test(test_encoding),
            cmocka_unit_test(test_reply_parse),
            cmocka_unit_test(test_params),
            cmocka_unit_test(test_interface_description),
            cmocka_unit_test(test_reply_in_parts),
            cmocka_unit_test(test_buffer_complete),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
