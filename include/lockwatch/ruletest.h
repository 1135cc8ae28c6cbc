/* Rule unit tests (lockwatchd --test-rules): a test file gives a timeline of
 * matrices and source states and the alert transitions expected at each step;
 * the runner feeds them to a fresh rule engine and reports every mismatch.
 * The file format is described in rules/README.md. */
#pragma once

#include <stddef.h>
#include <stdio.h>

/* Run the tests of every file, printing results to out; returns the number of failed
 * tests (and files that could not be read or parsed), 0 when all passed. */
int ruletest_run_files(const char *const *paths, size_t n, FILE *out);
