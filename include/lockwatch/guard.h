/* The guard: decides whether one successful parse is believable enough to apply
 * (DESIGN 6.3). Pure: counts and fingerprints in, a verdict out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum GuardVerdict {
        GUARD_APPLY,             /* believable: merge it */
        GUARD_SUSPECT_REMOVAL,   /* would remove more than the allowed share of rows */
        GUARD_SUSPECT_STRUCTURE, /* the page's structure fingerprint changed */
        GUARD_SUSPECT_EMPTY,     /* parsed to nothing (first parse included) */
        GUARD_SUSPECT_PROVIDER,  /* rows the source mapped before now map to no provider */
} GuardVerdict;

typedef struct GuardInput {
        bool has_previous;         /* the source had a good parse before */
        uint64_t prev_fingerprint; /* its structure fingerprint then */
        uint64_t fingerprint;      /* the structure fingerprint now */
        size_t rows;               /* cells the source shows available now (in the matrix) */
        size_t absent;             /* of those, how many the new parse lacks */
        size_t new_rows;           /* observations in the new parse */
        size_t remapped;           /* rows mapped before that now map to no provider */
        const char *remapped_names; /* their upstream provider names now, for the detail */
        unsigned max_removal_percent;
} GuardInput;

/* Judge a parse; ret_detail (may be NULL) gets a one-line reason. */
GuardVerdict guard_check(const GuardInput *in, char *ret_detail, size_t detail_size);
/* Name of a verdict: apply, suspect-removal, suspect-structure, suspect-empty,
 * suspect-provider. */
const char *guard_verdict_name(GuardVerdict v);
