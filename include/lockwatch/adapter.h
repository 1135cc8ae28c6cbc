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

#define ADAPTER_JSONPATH_MAX_LEN   256 /* bytes of one json path (rows, or one column's) */
#define ADAPTER_JSONPATH_MAX_STEPS 16  /* steps of one json path */

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
        const char *columns;  /* table or json column spec, may be NULL */
        const char *rows;     /* json: path to the rows, NULL = the root array's elements */
        const char *region;   /* the region this body lists (per-region APIs), or NULL */
        size_t max_bytes;     /* 0 = ADAPTER_MAX_BYTES_DEFAULT */
        size_t max_rows;      /* 0 = ADAPTER_MAX_ROWS_DEFAULT */
} AdapterOptions;

typedef int (*adapter_parse_fn)(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);

/* Check the options that are set (columns, rows; provider as context) without any input.
 * An option left NULL is not checked (whether it is required is needs_columns' business),
 * so a caller that sets one at a time knows which one err is about. */
typedef int (*adapter_check_fn)(const AdapterOptions *opts, AdapterError *err);

/* Whether a format's listing may decide its provider columns (DESIGN 5a). */
typedef enum AdapterAuthority {
        ADAPTER_AUTHORITY_NEVER,   /* a catalogue of many providers: never authoritative */
        ADAPTER_AUTHORITY_OPT_IN,  /* generic formats: `authoritative = yes` if the operator vouches */
        ADAPTER_AUTHORITY_DEFAULT, /* the cloud's own listing: authoritative unless set to no */
} AdapterAuthority;

/* How a format's API authenticates: the default of a source's `auth =`. */
typedef enum AdapterAuth {
        ADAPTER_AUTH_NONE,
        ADAPTER_AUTH_BEARER,       /* Authorization: Bearer TOKEN */
        ADAPTER_AUTH_X_API_KEY,    /* x-api-key: KEY (Anthropic) */
        ADAPTER_AUTH_GOOG_API_KEY, /* x-goog-api-key: KEY (Gemini API): never in the URL */
        ADAPTER_AUTH_AWS,          /* SigV4 with an access key, or a Bedrock API key as bearer */
        _ADAPTER_AUTH_MAX,
} AdapterAuth;

/* A format's official API: what a source of that format polls when it names no url. */
typedef struct AdapterEndpoint {
        const char *const *urls;    /* URL templates, NULL-terminated; {region} is replaced */
        const char *method;         /* NULL: GET */
        const char *body;           /* the first page's request body (POST), or NULL */
        const char *const *headers; /* fixed request headers, NULL-terminated, or NULL */
        AdapterAuth auth;           /* the default `auth =` */
        bool regional;              /* one listing per region: `regions =` is required */
        const char *api;            /* the API's name as its owner documents it (explain) */
        const char *sigv4_service;  /* AWS service name for SigV4, or NULL */
} AdapterEndpoint;

/* From one page's body and the request that fetched it (url, and body for POST), the
 * request for the next page: 0 with *ret_url NULL when this page was the last, 1 with
 * *ret_url (and *ret_body for POST) set. A malformed paging field is -EBADMSG with err. */
typedef int (*adapter_next_page_fn)(const char *data, size_t len, const char *url,
                                    const char *body, char **ret_url, char **ret_body,
                                    AdapterError *err);

typedef struct Adapter {
        const char *name;        /* the config's `format =` value */
        const char *description; /* one line for --help and docs */
        bool needs_provider;     /* true if rows do not name their provider */
        bool needs_columns;      /* true for html-table, markdown-table, json */
        adapter_parse_fn parse;
        adapter_check_fn check;  /* NULL: the format takes no options to check */
        AdapterAuthority authority;
        const AdapterEndpoint *endpoint; /* NULL: `url =` is required, one request a poll */
        adapter_next_page_fn next_page;  /* NULL: one page per request */
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
/* Name of an auth kind as the config spells it: none, bearer, x-api-key, goog-api-key, aws. */
const char *adapter_auth_name(AdapterAuth a);
/* Parse an auth kind as the config spells it; -EINVAL if unknown. */
int adapter_auth_from_string(const char *s);
/* Name of a lifecycle value: active, preview, legacy, deprecated, retired, unknown. */
const char *lifecycle_name(Lifecycle l);
/* Parse a lifecycle word as published (case-insensitive, e.g. "Active", "LEGACY"). */
Lifecycle lifecycle_from_string(const char *s);

/* Helpers shared by the JSON adapters. jansson's type is only named here so that this
 * header does not pull jansson into every module that includes it. */
struct json_t;

/* Flags of adapter_json_check_depth() and adapter_json_load(). */
enum {
        ADAPTER_JSON_INT_AS_REAL = 1u << 0,   /* so a huge integer in an ignored field loads */
        ADAPTER_JSON_DEPTH_EBADMSG = 1u << 1, /* too deep nesting is -EBADMSG, not -ELOOP */
};
/* Flags of adapter_parse_date(). */
enum {
        ADAPTER_DATE_TIME_SUFFIX = 1u << 0, /* accept "T..." or " ..." after the date */
        ADAPTER_DATE_FROM_EPOCH = 1u << 1,  /* reject years before 1970 */
};
/* Flags of adapter_json_price(). */
enum {
        ADAPTER_PRICE_PER_TOKEN = 1u << 0, /* published per token: scale to per million */
        ADAPTER_PRICE_STRING = 1u << 1,    /* a plain decimal string is a price too */
};

/* Fail (err with offset, line, col) if JSON data nests deeper than ADAPTER_MAX_DEPTH. */
int adapter_json_check_depth(const char *data, size_t len, unsigned flags, AdapterError *err);
/* Depth check, then parse data into *ret; jansson's errors fill err with line/col. */
int adapter_json_load(const char *data, size_t len, unsigned flags, struct json_t **ret,
                      AdapterError *err);
/* Drop the reference in *p (for _cleanup_). */
void adapter_json_decrefp(struct json_t **p);
/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12, not checked). */
int64_t adapter_days_from_civil(int64_t y, unsigned m, unsigned d);
/* "YYYY-MM-DD" to seconds since the epoch at 00:00 UTC; -EINVAL if not a real day. */
int adapter_parse_date(const char *s, unsigned flags, int64_t *ret);
/* USD per token to USD per million tokens; NAN if negative or not finite. */
double adapter_price_per_mtok(double usd_per_token);
/* A price as published in v, in USD per million tokens, or NAN when unknown. */
double adapter_json_price(struct json_t *v, unsigned flags);
/* v's text if v is a string of min..max bytes, else NULL. */
const char *adapter_json_string(struct json_t *v, size_t min, size_t max);
/* Member names[field] of obj, or NULL; when present sets bit field of *seen. */
struct json_t *adapter_json_field(struct json_t *obj, const char *const *names, unsigned field,
                                  uint64_t *seen);
/* Member names[field] if a string of 1..max bytes, else NULL; sets *seen as above. */
const char *adapter_json_field_string(struct json_t *obj, const char *const *names, unsigned field,
                                      size_t max, uint64_t *seen);
/* Structure hash: shape, then each names[i] (sorted) whose bit i is set in present. */
uint64_t adapter_fingerprint_fields(const char *shape, const char *const *names, size_t n,
                                    uint64_t present);
/* observation_list_add() under opts->max_rows; past the cap err says "more than N rows". */
int adapter_add_observation(ObservationList *out, const AdapterOptions *opts, AdapterError *err,
                            Observation **ret);

/* One entry of a list page: its observations into out, its fields' bits into *seen. */
typedef int (*adapter_entry_fn)(struct json_t *entry, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err, uint64_t *seen);

/* A format whose page is a JSON object holding one list of entries (the official APIs). */
typedef struct AdapterListPage {
        const char *shape;       /* fingerprint shape, "FORMAT:object" */
        const char *shape_error; /* the error when the page is not that object */
        const char *const *fields;
        unsigned n_fields;
        unsigned list_field;     /* the member holding the entries */
        unsigned id_field;       /* an entry member some entry must have */
        int also_field;          /* a further top-level member in the fingerprint, or -1 */
        bool list_may_be_absent; /* Google's JSON: {} or a bare nextPageToken is an empty page */
        adapter_entry_fn entry;
} AdapterListPage;

/* Parse such a page: load (BOM, depth), check the shape, walk the object entries, require
 * id_field in some entry of a non-empty list, and set out's fingerprint. */
int adapter_list_page_parse(const AdapterListPage *lp, const char *data, size_t len,
                            const AdapterOptions *opts, ObservationList *out, AdapterError *err);

/* Paging and request building shared by the formats' next_page hooks. */
#define ADAPTER_PAGE_TOKEN_MAX 4096 /* bytes of one paging token or cursor */
#define ADAPTER_URL_MAX        8192 /* bytes of a URL built for the next page */
#define ADAPTER_BODY_MAX       65536 /* bytes of a request body built for the next page */

/* url with query parameter name set to value (percent-escaped, RFC 3986 unreserved
 * characters kept), replacing every earlier name=...; -E2BIG past ADAPTER_URL_MAX. */
int adapter_url_set_query(const char *url, const char *name, const char *value, char **ret);
/* The JSON object body (NULL or "" = {}) with member name set to the string value,
 * compact; -EINVAL if body is not a JSON object or value not UTF-8, -E2BIG past
 * ADAPTER_BODY_MAX. */
int adapter_json_body_set(const char *body, const char *name, const char *value, char **ret);
/* The string member field of the JSON object page: 1 with *ret set, 0 with *ret NULL when
 * absent, null or "" (the last page), -EBADMSG with err when not a string, longer than
 * ADAPTER_PAGE_TOKEN_MAX or holding a control character. */
int adapter_json_page_token(const char *data, size_t len, const char *field, char **ret,
                            AdapterError *err);
/* A next_page hook's work for APIs whose page names its successor in member field and
 * take it back as query parameter param: 0 and *ret_url NULL on the last page, 1 and
 * *ret_url set, -EBADMSG when the token is malformed or the one url already carries. */
int adapter_next_page_query(const char *data, size_t len, const char *url, const char *field,
                            const char *param, char **ret_url, AdapterError *err);

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
/* Any JSON document: opts->rows says where the rows are, opts->columns what each gives. */
int adapter_json_generic_parse(const char *data, size_t len, const AdapterOptions *opts,
                               ObservationList *out, AdapterError *err);
/* The json format's check hook: parses opts->rows and opts->columns when set. */
int adapter_json_generic_check(const AdapterOptions *opts, AdapterError *err);
/* bedrock-api's paging: nextToken in the body -> nextToken= in the query. */
int adapter_bedrock_api_next_page(const char *data, size_t len, const char *url, const char *body,
                                  char **ret_url, char **ret_body, AdapterError *err);
/* The daily per-region merge of ListFoundationModels + ListInferenceProfiles. */
int adapter_bedrock_regions_parse(const char *data, size_t len, const AdapterOptions *opts,
                                  ObservationList *out, AdapterError *err);
/* Azure AI Foundry catalog (asset-gallery v1.0 models): {"summaries":[...]}. */
int adapter_azure_foundry_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);
/* Its paging: continuationToken in the response -> the same member in the next body. */
int adapter_azure_foundry_next_page(const char *data, size_t len, const char *url,
                                    const char *body, char **ret_url, char **ret_body,
                                    AdapterError *err);
/* Vertex AI Model Garden publishers.models.list: {"publisherModels":[...]}. */
int adapter_vertex_garden_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);
/* Its paging: nextPageToken -> pageToken=. */
int adapter_vertex_garden_next_page(const char *data, size_t len, const char *url,
                                    const char *body, char **ret_url, char **ret_body,
                                    AdapterError *err);
/* Anthropic GET /v1/models: {"data":[...],"has_more","last_id"}. */
int adapter_anthropic_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                                   ObservationList *out, AdapterError *err);
/* Its paging: while has_more, after_id=last_id. */
int adapter_anthropic_models_next_page(const char *data, size_t len, const char *url,
                                       const char *body, char **ret_url, char **ret_body,
                                       AdapterError *err);
/* OpenAI GET /v1/models (and OpenAI-compatible lists): {"object":"list","data":[...]}. */
int adapter_openai_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);
/* Gemini API models.list: {"models":[{"name":"models/..."}],"nextPageToken"}. */
int adapter_gemini_models_parse(const char *data, size_t len, const AdapterOptions *opts,
                                ObservationList *out, AdapterError *err);
/* Its paging: nextPageToken -> pageToken=. */
int adapter_gemini_models_next_page(const char *data, size_t len, const char *url,
                                    const char *body, char **ret_url, char **ret_body,
                                    AdapterError *err);
