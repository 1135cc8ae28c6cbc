/* libFuzzer target: the column spec parser, and the cell helpers it shares with the
 * table adapters (header keys, prices, dates), over arbitrary text. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/adapter.h"
#include "lockwatch/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        TableColumns *c = NULL;
        AdapterError err = {0};
        int64_t t;

        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        if (table_columns_parse(s, &c, &err) < 0) {
                if (c || err.message[0] == '\0' || err.offset > size)
                        abort();
        } else {
                bool named = false;
                if (c->n == 0 || c->n > TABLE_MAX_COLUMNS)
                        abort();
                for (size_t i = 0; i < c->n; i++) {
                        if (!c->columns[i].key[0] || !c->columns[i].header[0])
                                abort();
                        if (strlen(c->columns[i].header) > TABLE_MAX_HEADER_LEN)
                                abort();
                        for (size_t j = 0; j < i; j++)
                                if (c->columns[i].field == c->columns[j].field)
                                        abort();
                        named |= c->columns[i].field == TABLE_FIELD_MODEL ||
                                 c->columns[i].field == TABLE_FIELD_NAME;
                }
                if (!named)
                        abort();
                table_columns_free(c);
        }

        char *k = table_header_key(s);
        if (strlen(k) > size)
                abort();
        free(k);
        double p = table_parse_price(s);
        if (p < 0)
                abort();
        if (table_parse_date(s, &t) == 0 && t < 0)
                abort();
        free(s);
        return 0;
}
