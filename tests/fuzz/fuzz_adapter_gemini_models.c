/* libFuzzer target: the gemini-models adapter over arbitrary bytes (checks in fuzz_adapter.h). */
#include "fuzz_adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_adapter_check("gemini-models", NULL, NULL, data, size);
        return 0;
}
