/* libFuzzer target: the json adapter's rows and column specs, arbitrary bytes through the
 * check hook; "ROWS\nCOLUMNS" inputs that pass are then walked over a fixed document. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc[] =
    "{\"data\": [{\"id\": \"m1\", \"a.b\": {\"c:d\": [\"x\", \"y\"]}, \"host\": \"h\", "
    "\"regions\": [\"r1\", [\"r2\"]]}, [\"m2\", \"h2\"], \"m3\", 3, null],"
    " \"m4\": {\"id\": \"m4\", \"\": {\"\": \"e\"}}, \"q\\\"x\": {\"id\": \"m5\"}}";

/* A failed check names a place inside the spec and says why; a good one is repeatable. */
static void check(const Adapter *a, const AdapterOptions *opts, size_t len)
{
        AdapterError err = {0}, again = {0};
        int r = a->check(opts, &err);

        if (r < 0 && (err.message[0] == '\0' || err.offset > len))
                abort();
        if (r > 0 || a->check(opts, &again) != r || strcmp(err.message, again.message) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const Adapter *a = adapter_find("json");
        char *s = malloc(size + 1);
        char *nl;

        if (!a || !a->check)
                abort();
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        check(a, &(AdapterOptions){.rows = s}, size);
        check(a, &(AdapterOptions){.columns = s}, size);
        check(a, &(AdapterOptions){.columns = s, .provider = "p"}, size);

        nl = strchr(s, '\n');
        if (nl) {
                AdapterOptions opts = {
                    .rows = s, .columns = nl + 1, .provider = "p", .max_rows = 32};
                AdapterError err = {0};
                ObservationList l = {0};

                *nl = '\0';
                if (a->check(&opts, &err) == 0) {
                        if (adapter_parse(a, doc, sizeof(doc) - 1, &opts, &l, &err) < 0) {
                                if (err.message[0] == '\0' || l.n != 0)
                                        abort();
                        } else if (l.n == 0 || l.n > opts.max_rows) {
                                abort();
                        }
                        observation_list_clear(&l);
                }
        }
        free(s);
        return 0;
}
