/* Arbitrary bytes into the configuration parser: it must either build a Config or
 * report an error with a position inside the input, and never leak either way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lockwatch/config.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ConfigError err;
        Config *c = NULL;

        /* An absolute name keeps getcwd() out of the loop. */
        int r = config_parse("/etc/lockwatch/lockwatch.conf", (const char *)data, size, &c, &err);
        if (r < 0) {
                if (c || err.message[0] == '\0')
                        abort();
                if (size <= CONFIG_MAX_BYTES && err.line == 0)
                        abort();
        } else {
                if (!c || c->n_sources > CONFIG_MAX_SOURCES)
                        abort();
                for (size_t i = 0; i < c->n_sources; i++)
                        if (!c->sources[i].url || !c->sources[i].format ||
                            config_find_source(c, c->sources[i].name) != &c->sources[i])
                                abort();
        }
        config_free(c);
        return 0;
}
