/* Normalization: upstream provider names -> (provider, kind) through a provider
 * table, and upstream model ids -> canonical "vendor/model" ids through built-in
 * steps plus an alias table. Pure: tables and text in, results out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define NORMALIZE_MAX_ID 256

typedef enum ProviderKind {
        PROVIDER_CLOUD,
        PROVIDER_DIRECT,
        PROVIDER_AGGREGATOR,
        _PROVIDER_KIND_MAX,
} ProviderKind;

/* The provider table: lines "upstream-glob = provider kind", e.g.
 * "vertex_ai-* = gcp cloud". First match wins; file order is kept. */
typedef struct ProviderMap ProviderMap;

/* The alias table: lines "raw-id-or-glob = vendor/model"; exact ids beat globs. */
typedef struct AliasTable AliasTable;

/* A parse error in either table: "path:line:col: message". */
typedef struct NormalizeError {
        unsigned line, col;
        char message[512];
} NormalizeError;

/* Parse a provider table from text named path. */
int provider_map_parse(const char *path, const char *text, size_t len, ProviderMap **ret,
                       NormalizeError *err);
/* An empty provider table, to add files to. */
int provider_map_new(ProviderMap **ret);
/* Add a file's lines after those already in m (an earlier line matches first). */
int provider_map_add(ProviderMap *m, const char *path, const char *text, size_t len,
                     NormalizeError *err);
/* Lines in the table. */
size_t provider_map_count(const ProviderMap *m);
/* Free a provider table; NULL is fine. */
void provider_map_free(ProviderMap *m);
/* Map an upstream provider name, or a column id the table maps to ("aws"); -ENOENT if
 * neither (unlisted), -ESRCH if the first matching line is "glob = -" (deliberately ignored). */
int provider_map_lookup(const ProviderMap *m, const char *upstream, const char **ret_provider,
                        ProviderKind *ret_kind);
/* Kind of a provider id already mapped (e.g. "aws"); -ENOENT if the table never names it. */
int provider_map_kind(const ProviderMap *m, const char *provider, ProviderKind *ret_kind);
/* The column id or literal upstream name nearest to name, for "did you mean", or NULL. */
const char *provider_map_suggest(const ProviderMap *m, const char *name);
/* Name of a kind: cloud, direct, aggregator. */
const char *provider_kind_name(ProviderKind k);
/* Parse a kind name; -EINVAL if unknown. */
int provider_kind_from_string(const char *s, ProviderKind *ret);

/* _cleanup_(provider_map_freep) for a ProviderMap pointer. */
DEFINE_FREEP(ProviderMap, provider_map_free)

/* Parse an alias table from text named path. */
int alias_table_parse(const char *path, const char *text, size_t len, AliasTable **ret,
                      NormalizeError *err);
/* Free an alias table; NULL is fine. */
void alias_table_free(AliasTable *t);
/* An empty alias table, to add files to. */
int alias_table_new(AliasTable **ret);
/* Add a file; for an id an earlier file already maps, the earlier file wins. */
int alias_table_add(AliasTable *t, const char *path, const char *text, size_t len,
                    NormalizeError *err);
/* Aliases (exact ids and globs) in the table. */
size_t alias_table_count(const AliasTable *t);
/* _cleanup_(alias_table_freep) for an AliasTable pointer. */
DEFINE_FREEP(AliasTable, alias_table_free)

/* Canonicalize a model id as seen at provider (mapped provider id, e.g. "aws").
 * vendor_hint may be NULL. *ret_mapped is false when neither a built-in step nor an
 * alias knew the id: the result is then "unmapped/<cleaned id>" and must be reported. */
int normalize_model(const AliasTable *aliases, const char *provider, const char *raw_id,
                    const char *vendor_hint, char **ret_canonical, bool *ret_mapped);

/* True if s is a valid canonical id ("vendor/model", see docs/normalize.md), at most
 * NORMALIZE_MAX_ID. */
bool normalize_canonical_valid(const char *s);

/* Vendor part of a canonical id ("anthropic" of "anthropic/claude-opus-4-7") into buf. */
const char *normalize_vendor_of(const char *canonical, char *buf, size_t size);
