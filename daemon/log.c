#include "lockwatch/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The entry's own fields say where it comes from; the C location would always be
 * this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#define LOG_FIELDS_MAX 32

static LogTarget log_target = LOG_TARGET_STDERR;
static bool log_also_stderr = true;
static int log_max_priority = LOG_INFO;
static bool syslog_opened;

static bool journal_present(void)
{
        struct stat st;
        return stat("/run/systemd/journal/socket", &st) == 0 && S_ISSOCK(st.st_mode);
}

void log_set_max_priority(int max_priority)
{
        log_max_priority = max_priority;
}

void log_setup(LogTarget target, bool also_stderr, int max_priority)
{
        if (target == LOG_TARGET_AUTO)
                target = journal_present() ? LOG_TARGET_JOURNAL : LOG_TARGET_SYSLOG;
        log_target = target;
        log_also_stderr = also_stderr && target != LOG_TARGET_STDERR;
        log_max_priority = max_priority;
        if (target == LOG_TARGET_SYSLOG && !syslog_opened) {
                openlog("lockwatchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
                syslog_opened = true;
        }
}

static void log_emit(int priority, const char *const *fields, const char *text)
{
        if (priority > log_max_priority)
                return;

        if (log_target == LOG_TARGET_STDERR || log_also_stderr) {
                static const char *const prefix[] = {
                        "emerg: ", "alert: ", "crit: ", "error: ",
                        "warning: ", "notice: ", "", "debug: ",
                };
                fprintf(stderr, "lockwatchd: %s%s\n", prefix[priority & 7], text);
        }

        if (log_target == LOG_TARGET_JOURNAL) {
                struct iovec iov[LOG_FIELDS_MAX + 3];
                char prio[32];
                _cleanup_free_ char *msg = xasprintf("MESSAGE=%s", text);
                size_t n = 0;

                snprintf(prio, sizeof(prio), "PRIORITY=%d", priority & 7);
                iov[n++] = (struct iovec){msg, strlen(msg)};
                iov[n++] = (struct iovec){prio, strlen(prio)};
                iov[n++] = (struct iovec){(char *)"SYSLOG_IDENTIFIER=lockwatchd",
                                          strlen("SYSLOG_IDENTIFIER=lockwatchd")};
                for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
                        iov[n++] = (struct iovec){(char *)fields[i], strlen(fields[i])};
                if (sd_journal_sendv(iov, (int)n) >= 0)
                        return;
                /* The journal went away: do not lose the message. */
                if (!syslog_opened) {
                        openlog("lockwatchd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
                        syslog_opened = true;
                }
        }

        if (log_target == LOG_TARGET_SYSLOG || log_target == LOG_TARGET_JOURNAL)
                syslog(priority, "%s", text);
}

void log_msg(int priority, const char *fmt, ...)
{
        char buf[2048];
        va_list ap;

        if (priority > log_max_priority)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_emit(priority, NULL, buf);
}

void log_fields(int priority, const char *const *fields, const char *fmt, ...)
{
        char buf[2048];
        va_list ap;

        if (priority > log_max_priority)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_emit(priority, fields, buf);
}

int log_errno(int priority, int err, const char *fmt, ...)
{
        char buf[2048];
        va_list ap;

        err = err < 0 ? -err : err;
        if (priority <= log_max_priority) {
                va_start(ap, fmt);
                vsnprintf(buf, sizeof(buf), fmt, ap);
                va_end(ap);
                char full[2304];
                snprintf(full, sizeof(full), "%s: %s", buf, strerror(err));
                log_emit(priority, NULL, full);
        }
        return -err;
}
