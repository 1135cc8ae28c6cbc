/* Feed arbitrary bytes to the reader of the state's snapshot and change log: the first four
 * bytes (little-endian) say how many of the rest are the snapshot, the others are the log.
 * It must accept or refuse cleanly, and whatever it accepts must be a state that a new
 * snapshot of it reads back to exactly (a compaction never changes the state), and that the
 * JSON form holds too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/state.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        State *s = NULL, *back = NULL, *json = NULL;
        char *error = NULL, *a = NULL, *b = NULL, *c = NULL;
        void *snap = NULL;
        size_t snap_len, n;

        if (size < 4)
                return 0;
        n = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 |
            (size_t)data[3] << 24;
        data += 4;
        size -= 4;
        n = MIN(n, size);
        if (state_replay(data, n, n < size ? data + n : NULL, size - n, NULL, &s, NULL,
                         &error) < 0) {
                if (!error)
                        abort();
                free(error);
                return 0;
        }
        if (state_format(s, &a) < 0 || !util_utf8_valid(a, strlen(a)))
                abort();
        if (state_encode_snapshot(s, 7, &snap, &snap_len) < 0)
                abort();
        if (state_replay(snap, snap_len, NULL, 0, NULL, &back, NULL, &error) < 0)
                abort();
        if (state_format(back, &b) < 0 || strcmp(a, b) != 0)
                abort();
        if (state_parse(a, strlen(a), NULL, &json, &error) < 0)
                abort();
        if (state_format(json, &c) < 0 || strcmp(a, c) != 0)
                abort();
        free(a);
        free(b);
        free(c);
        free(snap);
        state_free(s);
        state_free(back);
        state_free(json);
        return 0;
}
