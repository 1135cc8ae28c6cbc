/* Finding and parsing the rule files: the shipped directory plus the configured
 * glob patterns, where a configured file masks a shipped file of the same name. */
#pragma once

#include "lockwatch/rules.h"

/* Parse every *.rules file of shipped_dir (may be NULL or absent) and every file the
 * space-separated glob patterns match, in file-name order, into a new RuleSet. On
 * error ret_error gets "file:line:col: message" with the caret lines. */
int ruleload_files(const char *shipped_dir, const char *patterns, RuleSet **ret,
                   size_t *ret_n_files, char **ret_error);
