/* Arbitrary bytes through the Varlink framer and the request and reply parsers, fed in
 * pieces whose sizes come from the input itself. The framer's "a whole message waits" must
 * agree with what it cuts, and a reply assembled in parts must be the encoded one. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lockwatch/util.h"
#include "lockwatch/varlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VarlinkBuffer b;
        size_t off = 0;

        if (size == 0)
                return 0;
        /* A small max so the oversize paths are reached too. */
        varlink_buffer_init(&b, 256 + data[0]);
        off = 1;
        while (off < size) {
                size_t chunk = 1 + (size_t)data[off] % 97;
                const char *msg;
                size_t len;
                int r;

                chunk = MIN(chunk, size - off);
                if (varlink_buffer_append(&b, data + off, chunk) < 0)
                        break;
                off += chunk;
                for (;;) {
                        bool complete = varlink_buffer_complete(&b);

                        r = varlink_buffer_next(&b, &msg, &len);
                        if (r >= 0 && complete != (r == 1))
                                __builtin_trap();
                        if (r != 1)
                                break;
                        VarlinkRequest rq;
                        VarlinkReply rp;
                        const char *reason = NULL;

                        if (varlink_request_parse(msg, len, &rq, &reason) == 0) {
                                char *out;
                                size_t n;
                                const char *bad;
                                const char *s;
                                long long v;
                                bool bv;
                                if (varlink_reply_encode(rq.parameters, true, &out, &n) == 0) {
                                        char *p = json_dumps(rq.parameters, VARLINK_DUMP_FLAGS);
                                        size_t cl, pl = p ? strlen(p) : 0;
                                        const char *close = varlink_reply_close(true, &cl);
                                        size_t ol = strlen(VARLINK_REPLY_OPEN);
                                        if (!p || n != ol + pl + cl ||
                                            memcmp(out, VARLINK_REPLY_OPEN, ol) != 0 ||
                                            memcmp(out + ol, p, pl) != 0 ||
                                            memcmp(out + ol + pl, close, cl) != 0)
                                                __builtin_trap();
                                        free(p);
                                        free(out);
                                }
                                (void)varlink_params_only(rq.parameters, NULL, &bad);
                                (void)varlink_param_string(rq.parameters, "model", true, &s);
                                (void)varlink_param_int(rq.parameters, "limit", &v);
                                (void)varlink_param_bool(rq.parameters, "text", &bv);
                                varlink_request_clear(&rq);
                        }
                        if (varlink_reply_parse(msg, len, &rp) == 0)
                                varlink_reply_clear(&rp);
                }
                if (r < 0)
                        break;
        }
        varlink_buffer_clear(&b);
        return 0;
}
