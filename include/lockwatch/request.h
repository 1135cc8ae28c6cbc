/* What one poll of a source asks for: the URLs (one per API path and region), the first
 * request body, the fixed headers, and the credentials read for this poll. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lockwatch/config.h"

#define REQUEST_MAX_TARGETS 256 /* API paths x regions of one source */

/* Where one stream of pages starts. */
typedef struct RequestTarget {
        char *url;    /* {region} replaced */
        char *body;   /* the first page's request body (POST), or NULL */
        char *region; /* or NULL */
} RequestTarget;

/* How every request of one poll authenticates; built from the credential file at each
 * poll, so a refreshed token file is used without a reload. */
typedef struct RequestAuth {
        char **headers; /* fixed and auth headers, NULL-terminated (never NULL) */
        char *userpwd;  /* "ACCESS_KEY_ID:SECRET" for SigV4, or NULL */
        bool sigv4;     /* sign with SigV4 (userpwd set) */
        bool secret;    /* headers or userpwd hold a secret */
} RequestAuth;

/* The targets of one poll of sc, in config order (API path, then region). */
int request_plan(const SourceConfig *sc, RequestTarget **ret, size_t *ret_n);
/* Free n targets. */
void request_targets_free(RequestTarget *t, size_t n);
/* Headers and keys for sc's requests; on failure *ret_error says why (never the secret). */
int request_auth(const SourceConfig *sc, RequestAuth *ret, char **ret_error);
/* Overwrite and free what an auth holds. */
void request_auth_clear(RequestAuth *a);
/* The SigV4 scope of a request to region (or NULL: curl reads it off the host), e.g.
 * "aws:amz:us-east-1:bedrock"; NULL when sc does not sign. */
char *request_sigv4_scope(const SourceConfig *sc, const char *region);
/* url with its query sorted and strictly percent-encoded, as SigV4 signs it (a new string). */
char *request_sigv4_url(const char *url);
/* The method of sc's requests: NULL for GET, or "POST". */
const char *request_method(const SourceConfig *sc);
/* The name of sc's API for explain and status ("Amazon Bedrock ListFoundationModels"), or
 * NULL for a plain URL. */
const char *request_api(const SourceConfig *sc);
