/* Replay (backtest): a directory of snapshot sets, one subdirectory per poll named
 * by its time, fed through the full pipeline with a simulated clock. Every source
 * and alert transition is printed as the journal would show it. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "lockwatch/poller.h"

/* Parse a step directory name ("2026-06-09T00:00Z", "2026-06-09T00:00:00Z",
 * "2026-06-09") into realtime usec. */
int replay_parse_time(const char *name, uint64_t *ret);
/* Replay dir with the given tables into st (which keeps the result); events go to the
 * journal sink (journal_setup decides where). ret_steps gets the number of steps. */
int replay_run(const PollerTables *t, State *st, const char *dir, size_t *ret_steps,
               char **ret_error);
