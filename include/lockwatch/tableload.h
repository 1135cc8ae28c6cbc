/* Loading the provider and alias tables in layers, systemd-style: an administrator's
 * drop-ins and file in /etc over the table shipped with the release, so an upgrade brings
 * new aliases while local edits stay (docs/normalize.md "Where the tables come from"). */
#pragma once

#include <stddef.h>

#include "lockwatch/normalize.h"

/* Where the shipped data lives: $LOCKWATCH_DATADIR, or <prefix>/share/lockwatch beside an
 * installed <prefix>/bin binary; NULL for a binary run from its build tree. */
const char *tableload_data_dir(void);
/* The files of one table, highest precedence first: PATH's drop-ins (PATH without .conf,
 * plus .d/ *.conf; a later name wins), PATH if it exists, then the shipped file named
 * shipped_name. ret_files is NULL-terminated; -ENOENT (with ret_error) if there is none. */
int tableload_files(const char *path, const char *shipped_name, char ***ret_files,
                    char **ret_error);
/* Load the layered provider table for the configured path; ret_files lists what was read. */
int tableload_providers(const char *path, ProviderMap **ret, char **ret_files, char **ret_error);
/* Load the layered alias table for the configured path; ret_files lists what was read. */
int tableload_aliases(const char *path, AliasTable **ret, char **ret_files, char **ret_error);
/* Free a NULL-terminated list of strings; NULL is fine. */
void tableload_strv_free(char **v);
