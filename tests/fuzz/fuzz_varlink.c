/* Arbitrary bytes through the Varlink framer and the request and reply parsers, fed in
 * pieces whose sizes come from the input itself. */
#include <stddef.h>
#include <stdint.h>

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
                while ((r = varlink_buffer_next(&b, &msg, &len)) == 1) {
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
                                if (varlink_reply_encode(rq.parameters, true, &out, &n) == 0)
                                        free(out);
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
