/* Feed arbitrary bytes, as JSON, to matrix_from_state_json(): it must accept or refuse cleanly,
 * and whatever it accepts must serialize and load again to the same document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lockwatch/matrix.h"
#include "lockwatch/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        json_t *j, *out = NULL, *out2 = NULL, *doc = NULL;
        Matrix *m = NULL, *back = NULL;
        char *a, *b;

        j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!j)
                return 0;
        if (matrix_from_state_json(j, &m) < 0) {
                json_decref(j);
                return 0;
        }
        if (matrix_to_state_json(m, &out) < 0)
                abort();
        if (matrix_from_state_json(out, &back) < 0)
                abort();
        if (matrix_to_state_json(back, &out2) < 0)
                abort();
        a = json_dumps(out, JSON_COMPACT);
        b = json_dumps(out2, JSON_COMPACT);
        if (!a || !b || strcmp(a, b) != 0)
                abort();
        /* A loaded matrix must also render. */
        if (render_matrix_json(m, NULL, &doc) < 0)
                abort();
        free(a);
        free(b);
        json_decref(doc);
        json_decref(out);
        json_decref(out2);
        json_decref(j);
        matrix_free(m);
        matrix_free(back);
        return 0;
}
