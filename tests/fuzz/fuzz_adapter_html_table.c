/* libFuzzer target: the html-table adapter over arbitrary bytes with two column specs, one
 * per shape of the real pages (checks in fuzz_adapter.h). */
#include "fuzz_adapter.h"

static const char *const specs[] = {
    "Model:model, Type:name, Capabilities:regions",
    "Model:name, Hub/Project Region for Deployment:regions, Lifecycle:lifecycle, "
    "Price:price_in, Output:price_out, Retirement:eol, Vendor:vendor, Provider:provider",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++)
                fuzz_adapter_check("html-table", "p", specs[s], data, size);
        return 0;
}
