#include "lockwatch/guard.h"

#include <inttypes.h>
#include <stdio.h>

GuardVerdict guard_check(const GuardInput *in, char *ret_detail, size_t detail_size)
{
        char dummy[1];
        if (!ret_detail) {
                ret_detail = dummy;
                detail_size = sizeof(dummy);
        }
        ret_detail[0] = '\0';

        /* A parse that applies nothing is never a success, the first one included: its
         * fingerprint would become the baseline that the real feed then fails. */
        if (in->new_rows == 0) {
                if (in->rows > 0)
                        snprintf(ret_detail, detail_size, "parsed to no rows where %zu were shown",
                                 in->rows);
                else
                        snprintf(ret_detail, detail_size, "parsed to no rows");
                return GUARD_SUSPECT_EMPTY;
        }
        /* The first good parse of a source has nothing else to compare with. */
        if (!in->has_previous)
                return GUARD_APPLY;

        if (in->fingerprint != in->prev_fingerprint) {
                snprintf(ret_detail, detail_size,
                         "page structure changed (fingerprint %016" PRIx64 " -> %016" PRIx64 ")",
                         in->prev_fingerprint, in->fingerprint);
                return GUARD_SUSPECT_STRUCTURE;
        }
        /* A relabelled provider upstream would otherwise look like its rows leaving. */
        if (in->remapped > 0) {
                snprintf(ret_detail, detail_size,
                         "%zu row%s mapped before now map to no provider (upstream provider "
                         "name%s now: %s); add the name to the provider table",
                         in->remapped, in->remapped == 1 ? "" : "s",
                         in->remapped == 1 ? "" : "s",
                         in->remapped_names ? in->remapped_names : "?");
                return GUARD_SUSPECT_PROVIDER;
        }
        /* Integer arithmetic: absent/rows > pct/100, without rounding surprises. */
        if (in->rows > 0 && (uint64_t)in->absent * 100 > (uint64_t)in->max_removal_percent * in->rows) {
                snprintf(ret_detail, detail_size,
                         "would remove %zu of %zu rows (%.1f%% > %u%%)", in->absent, in->rows,
                         100.0 * (double)in->absent / (double)in->rows, in->max_removal_percent);
                return GUARD_SUSPECT_REMOVAL;
        }
        return GUARD_APPLY;
}

const char *guard_verdict_name(GuardVerdict v)
{
        switch (v) {
        case GUARD_APPLY:
                return "apply";
        case GUARD_SUSPECT_REMOVAL:
                return "suspect-removal";
        case GUARD_SUSPECT_STRUCTURE:
                return "suspect-structure";
        case GUARD_SUSPECT_EMPTY:
                return "suspect-empty";
        case GUARD_SUSPECT_PROVIDER:
                return "suspect-provider";
        }
        return "unknown";
}
