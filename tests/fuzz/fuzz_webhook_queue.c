/* Arbitrary bytes as a webhook queue file (STATE_DIR/webhook-NAME.queue.json), read back
 * into a queue with a small bound; whatever loads must serialize and load again. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lockwatch/util.h"
#include "lockwatch/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        WebhookQueue q = {.max = 4}, again = {.max = 4};
        char *text = NULL;
        size_t len = 0;

        if (webhook_queue_from_text(&q, (const char *)data, size) == 0) {
                (void)webhook_queue_to_text(&q, &text, &len);
                if (webhook_queue_from_text(&again, text, len) != 0 || again.n != q.n)
                        abort();
                free(text);
        }
        webhook_queue_clear(&q);
        webhook_queue_clear(&again);
        return 0;
}
