/* Feed arbitrary bytes to the state loader: it must accept or refuse cleanly, and whatever it
 * accepts must save and load again to the same text (a restart never changes the state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/state.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        State *s = NULL, *back = NULL;
        char *error = NULL, *a = NULL, *b = NULL;

        if (state_parse((const char *)data, size, NULL, &s, &error) < 0) {
                if (!error)
                        abort();
                free(error);
                return 0;
        }
        if (state_format(s, &a) < 0 || !util_utf8_valid(a, strlen(a)))
                abort();
        if (state_parse(a, strlen(a), NULL, &back, &error) < 0)
                abort();
        if (state_format(back, &b) < 0 || strcmp(a, b) != 0)
                abort();
        free(a);
        free(b);
        state_free(s);
        state_free(back);
        return 0;
}
