/* The webhook sink's data: one JSON document per alert transition (a versioned schema,
 * docs/alerting.md) and the queue of documents not yet delivered, which is persisted so
 * delivery is at least once across restarts. Pure: the sink (sink.h) sends and saves. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lockwatch/rules_eval.h"

#define WEBHOOK_SCHEMA_VERSION  1
#define WEBHOOK_MAX_DOCUMENT    (64u * 1024u)          /* bytes of one document */
#define WEBHOOK_MAX_QUEUE       100000u                /* documents kept, whatever max_queue says */
#define WEBHOOK_QUEUE_MAX_BYTES (256u * 1024u * 1024u) /* the queue file */

typedef struct WebhookParams {
        const char *instance; /* who sends, or NULL */
        bool text;            /* add the plain-text "text" field for chat webhooks */
        uint64_t starts_at;   /* realtime usec the alert began firing, 0 = unknown */
} WebhookParams;

typedef struct WebhookItem {
        char *body; /* the document, NUL-terminated */
        size_t len;
        uint64_t enqueued_at; /* realtime usec */
} WebhookItem;

typedef struct WebhookQueue {
        WebhookItem *items; /* oldest first */
        size_t n, cap;
        size_t max;       /* the bound: the oldest is dropped to make room */
        uint64_t dropped; /* documents dropped that way since start */
} WebhookQueue;

/* The document announcing ev, as a new string (*ret_len bytes). */
int webhook_document(const RulesEvent *ev, const WebhookParams *p, char **ret, size_t *ret_len);
/* Append a copy of body; when full, the oldest document is dropped (returns 1, else 0). */
int webhook_queue_push(WebhookQueue *q, const char *body, size_t len, uint64_t now);
/* Drop the oldest document (delivered, or refused for good). */
void webhook_queue_pop(WebhookQueue *q);
/* Free every document and reset the queue (max is kept). */
void webhook_queue_clear(WebhookQueue *q);
/* Serialize the queue for its file. */
int webhook_queue_to_text(const WebhookQueue *q, char **ret, size_t *ret_len);
/* Replace q's documents by those in text (a webhook_queue_to_text() output), keeping the
 * newest q->max; -EBADMSG (q unchanged) on anything else. */
int webhook_queue_from_text(WebhookQueue *q, const char *text, size_t len);
