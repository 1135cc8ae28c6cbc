/* Logging for the daemon's impure modules: journal (structured), syslog(3) where
 * no journal runs, and stderr in the foreground. Pure modules never log. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "lockwatch/util.h"

/* MESSAGE_ID of each event type (journalctl MESSAGE_ID=...); explained in
 * systemd/lockwatch.catalog. Fixed forever: operators filter on them. */
#define LW_MESSAGE_ALERT_FIRING     "e557b04a8a1e461ca006ba39e0abd722"
#define LW_MESSAGE_ALERT_RESOLVED   "4eae587110634a25ad2a57c3e2194ba4"
#define LW_MESSAGE_ALERT_REPEAT     "8f43cf7ebbbb4cef8211dc43c6fccf81"
#define LW_MESSAGE_SOURCE_DEGRADED  "4fa126142f934a0997a47105a8ce0f1b"
#define LW_MESSAGE_SOURCE_RECOVERED "efd1eb880b5d4ddc8b59e9dfe972ca3c"
#define LW_MESSAGE_SOURCE_SUSPECT   "19592aded03e44c6a594652e34965e27"
#define LW_MESSAGE_UNMAPPED_ID      "a5e11e79233d4511b8979fa1460c4268"
#define LW_MESSAGE_STATE_CORRUPT    "ae30eae46b004d509eae66678652421f"
#define LW_MESSAGE_CELL_CHANGED     "7bdf10f8867b4ddb89c1f31d4ccd61d7"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if its socket exists, else syslog */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_SYSLOG,
        LOG_TARGET_STDERR,  /* stderr only (tests, --once, --check-config) */
} LogTarget;

/* Choose where messages go; also_stderr copies them to stderr (foreground). */
void log_setup(LogTarget target, bool also_stderr, int max_priority);
/* Change the most verbose priority logged (from the configuration's log_level). */
void log_set_max_priority(int max_priority);
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
