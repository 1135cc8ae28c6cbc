/* placeholder until the adapter lands */
#include <errno.h>

#include "lockwatch/adapter.h"

int adapter_markdown_table_parse(const char *data, size_t len, const AdapterOptions *opts,
                       ObservationList *out, AdapterError *err)
{
        return adapter_error(err, 0, "not implemented"), -EOPNOTSUPP;
}
