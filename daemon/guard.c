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

        /* The first good parse of a source has nothing to compare with. */
        if (!in->has_previous)
                return GUARD_APPLY;

        if (in->fingerprint != in->prev_fingerprint) {
                snprintf(ret_detail, detail_size,
                         "page structure changed (fingerprint %016" PRIx64 " -> %016" PRIx64 ")",
                         in->prev_fingerprint, in->fingerprint);
                return GUARD_SUSPECT_STRUCTURE;
        }
        if (in->rows > 0 && in->new_rows == 0) {
                snprintf(ret_detail, detail_size, "parsed to no rows where %zu were shown",
                         in->rows);
                return GUARD_SUSPECT_EMPTY;
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
        }
        return "unknown";
}
