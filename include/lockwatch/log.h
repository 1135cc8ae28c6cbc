/* Logging for the daemon's impure modules: journal (structured), syslog(3) where
 * no journal runs, and stderr in the foreground. Pure modules never log. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "lockwatch/util.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if its socket exists, else syslog */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_SYSLOG,
        LOG_TARGET_STDERR,  /* stderr only (tests, --once, --check-config) */
} LogTarget;

/* Choose where messages go; also_stderr copies them to stderr (foreground). */
void log_setup(LogTarget target, bool also_stderr, int max_priority);
/* Log a plain message at priority (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
void log_msg(int priority, const char *fmt, ...) _printf_(2, 3);
/* Log with extra journal fields: NULL-terminated list of "FIELD=value" strings. */
void log_fields(int priority, const char *const *fields, const char *fmt, ...) _printf_(3, 4);
/* log_msg() then return -abs(err): `return log_error_errno(r, "...")`. */
int log_errno(int priority, int err, const char *fmt, ...) _printf_(3, 4);

#define log_error(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
