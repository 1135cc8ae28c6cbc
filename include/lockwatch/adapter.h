/* Adapters: pure functions from a fetched body to a list of observations.
 * They never log, never read the clock, and cap everything sized by the input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADAPTER_MAX_BYTES_DEFAULT (64u * 1024u * 1024u)
#define ADAPTER_MAX_DEPTH         64
#define ADAPTER_MAX_ROWS_DEFAULT  100000u
#define ADAPTER_MAX_REGIONS       128 /* per observation */
#define ADAPTER_MAX_ID_LEN        256 /* longer model/provider ids are skipped */

typedef enum Lifecycle {
        LIFECYCLE_UNKNOWN,
        LIFECYCLE_ACTIVE,
        LIFECYCLE_PREVIEW,
        LIFECYCLE_LEGACY,
        LIFECYCLE_DEPRECATED,
        LIFECYCLE_RETIRED,
        _LIFECYCLE_MAX,
} Lifecycle;

/* One statement of a source: "provider P offers model M (or positively does not)". */
typedef struct Observation {
        char *provider;   /* upstream provider name as published ("bedrock_converse",
                             "amazon-bedrock", "azure_ai"); NULL = the source's default */
        char *model;      /* upstream model id as published */
        char *vendor;     /* vendor hint as published ("Anthropic", "anthropic"), or NULL */
        char *name;       /* display name if the source has one, or NULL */
        bool available;   /* false: positively shown absent, retired or not offered */
        char **regions;   /* region names as published; may be empty */
        size_t n_regions;
        double price_in;  /* USD per million input tokens, NAN if unknown */
        double price_out; /* USD per million output tokens, NAN if unknown */
        Lifecycle lifecycle;
        int64_t eol;      /* end of life, seconds since the epoch (UTC), 0 if unknown */
} Observation;

typedef struct ObservationList {
        Observation *items;
        size_t n, cap;
        /* Hash of the page's structure (field names / table headers the adapter relied
         * on), not its content: a change means the layout moved (DESIGN 6.3). */
        uint64_t fingerprint;
} ObservationList;

/* Where a parse failed and why. */
typedef struct AdapterError {
        size_t offset;      /* byte offset into the input, or 0 */
        unsigned line, col; /* 1-based when known, else 0 */
        char message[256];
} AdapterError;

/* Per-source options handed to every adapter. */
typedef struct AdapterOptions {
        const char *provider; /* the source's default provider, may be NULL */
        const char *vendor;   /* vendor hint for every row, may be NULL */
        const char *columns;  /* html-table column spec, may be NULL */
        size_t max_bytes;     /* 0 = ADAPTER_MAX_BYTES_DEFAULT */
        size_t max_rows;      /* 0 = ADAPTER_MAX_ROWS_DEFAULT */
} AdapterOptions;

typedef int (*adapter_parse_fn)(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);

typedef struct Adapter {
        const char *name;        /* the config's `format =` value */
        const char *description; /* one line for --help and docs */
        bool needs_provider;     /* true if rows do not name their provider */
        bool needs_columns;      /* true for html-table */
        adapter_parse_fn parse;
} Adapter;

/* Find an adapter by format name, or NULL. */
const Adapter *adapter_find(const char *name);
/* The table of all adapters, NULL-terminated. */
const Adapter *const *adapter_all(void);
/* Run an adapter with caps applied: on failure out is left empty and err says why. */
int adapter_parse(const Adapter *a, const char *data, size_t len, const AdapterOptions *opts,
                  ObservationList *out, AdapterError *err);

/* Append a new zeroed observation (prices NAN) and return it; -E2BIG past max_rows. */
int observation_list_add(ObservationList *l, size_t max_rows, Observation **ret);
/* Add a region to an observation (copied; duplicates and overflow past the cap ignored). */
void observation_add_region(Observation *o, const char *region);
/* Free every observation and reset the list to empty. */
void observation_list_clear(ObservationList *l);
/* Set err's message (printf-style) and offset/line/col; returns -EBADMSG for chaining. */
int adapter_error(AdapterError *err, size_t offset, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Name of a lifecycle value: active, preview, legacy, deprecated, retired, unknown. */
const char *lifecycle_name(Lifecycle l);
/* Parse a lifecycle word as published (case-insensitive, e.g. "Active", "LEGACY"). */
Lifecycle lifecycle_from_string(const char *s);

/* The adapters (each in daemon/adapters/<name>.c). */
int adapter_litellm_parse(const char *data, size_t len, const AdapterOptions *opts,
                          ObservationList *out, AdapterError *err);
/* models.dev api.json: providers -> models. */
int adapter_models_dev_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err);
/* OpenRouter GET /api/v1/models. */
int adapter_openrouter_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err);
/* Scrape of the AWS Bedrock model cards (regions with inRegion/geo/global). */
int adapter_bedrock_cards_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);
/* aws bedrock list-foundation-models or list-inference-profiles JSON. */
int adapter_bedrock_api_parse(const char *data, size_t len, const AdapterOptions *opts,
                              ObservationList *out, AdapterError *err);
/* az cognitiveservices model list JSON. */
int adapter_azure_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                               ObservationList *out, AdapterError *err);
/* Any HTML page; the table is chosen by its header names from opts->columns. */
int adapter_html_table_parse(const char *data, size_t len, const AdapterOptions *opts,
                             ObservationList *out, AdapterError *err);
/* Any Markdown (GFM pipe) table, chosen by header names like html-table. */
int adapter_markdown_table_parse(const char *data, size_t len, const AdapterOptions *opts,
                                 ObservationList *out, AdapterError *err);
