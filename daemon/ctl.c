/* lockwatchctl: ask a running lockwatchd over its Varlink control socket. Human tables by
 * default, --json for scripts, and exit codes a script can rely on (see help()). */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "lockwatch/journal.h"
#include "lockwatch/util.h"
#include "lockwatch/varlink.h"

#define DEFAULT_SOCKET "/run/lockwatch/io.lockwatch"
#define CTL_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

enum {
        EXIT_OK = 0,
        EXIT_FIRING = 1,
        EXIT_USAGE = 2,
        EXIT_CONNECT = 3,
        EXIT_DAEMON = 4,
        EXIT_DENIED = 5,
};

static const char *arg_socket;
static bool arg_json, arg_ascii, arg_wide, arg_exit_status, arg_accept, arg_no_pager;
static bool arg_single_cloud;
static const char *arg_model, *arg_vendor, *arg_provider, *arg_state, *arg_on, *arg_not_on;
static const char *arg_since, *arg_until, *arg_at;
static long long arg_limit = -1, arg_clouds = -1;
static size_t ctl_columns; /* the terminal's width, 0 when output is not to one */
static pid_t ctl_pager_pid;

static void help(void)
{
        printf("Usage: lockwatchctl [OPTIONS] COMMAND [ARGS]\n"
               "\n"
               "Ask a running lockwatchd over its control socket. Tables fit the terminal\n"
               "($COLUMNS, else its width); long ones go through a pager.\n"
               "\n"
               "Commands:\n"
               "  status                 the daemon at a glance and a table of its sources\n"
               "  matrix [GLOB]          the provider-by-model grid (models matching GLOB)\n"
               "  alerts                 alerts that are pending, firing or resolved\n"
               "  explain MODEL          every cell of MODEL with what each source said, when\n"
               "  history [MODEL]        recorded transitions, oldest first (MODEL: every\n"
               "                         change of that model, unannounced ones too)\n"
               "  timeline MODEL         MODEL's cells over time, one line per provider\n"
               "  watch                  print every transition as it happens (until ^C)\n"
               "  poll [SOURCE]          poll SOURCE, or every enabled source, now (*)\n"
               "  reload                 reload the configuration and tables (*)\n"
               "  (*) root or the daemon's own user only\n"
               "\n"
               "Options:\n"
               "      --socket PATH      control socket (default $LOCKWATCH_SOCKET, then\n"
               "                         " DEFAULT_SOCKET ")\n"
               "      --json             print the reply as JSON (matrix: the\n"
               "                         lockwatch.matrix/1 document; watch: one object a line)\n"
               "      --no-pager         do not page long output (a pager runs only on a\n"
               "                         terminal: $PAGER, else less -FRSX)\n"
               "      --ascii            matrix: plain ASCII marks (the default when the\n"
               "                         locale is not UTF-8)\n"
               "      --wide             matrix: a column for every provider\n"
               "      --vendor GLOB      matrix: only models of vendors matching GLOB\n"
               "      --provider GLOB    matrix: only cells of providers matching GLOB\n"
               "      --single-cloud     matrix: only models on one cloud that another\n"
               "                         cloud dropped (what SingleCloud watches)\n"
               "      --clouds N         matrix: only models available on exactly N clouds\n"
               "      --on PROVIDER      matrix: only models available on PROVIDER (a glob)\n"
               "      --not-on PROVIDER  matrix: only models not available on PROVIDER\n"
               "      --exit-status      alerts: exit 1 if any alert is firing\n"
               "      --accept           poll SOURCE: fetch afresh and apply the page even if\n"
               "                         the guard finds it suspect (you have checked it)\n"
               "      --state STATE      alerts: only pending, firing, resolved or inactive\n"
               "      --model GLOB       history: only events of models matching GLOB\n"
               "      --limit N          history: only the last N events\n"
               "      --since DATE       history, timeline: from DATE on\n"
               "      --until DATE       history, timeline: up to DATE\n"
               "      --at DATE          matrix: as it was at DATE, rebuilt from the history\n"
               "                         (DATE: 2026-07-01 (a whole day), 2026-07-01T12:00Z,\n"
               "                         an ISO 8601 time with an offset, now, or an age\n"
               "                         such as 30d, 12h, 2w, 1y)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Exit status:\n"
               "  0  success\n"
               "  1  alerts --exit-status: at least one alert is firing\n"
               "  2  usage error\n"
               "  3  cannot connect to the daemon, or the connection broke\n"
               "  4  the daemon answered with an error (e.g. no such model), or a pattern\n"
               "     or filter matched no model\n"
               "  5  permission denied (poll and reload)\n");
}

/* ---- the connection ------------------------------------------------------------------ */

typedef struct CtlConn {
        int fd;
        VarlinkBuffer in;
} CtlConn;

static int ctl_connect(const char *path, CtlConn *ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "lockwatchctl: socket path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                fprintf(stderr, "lockwatchctl: cannot connect to %s: %s\n", path, strerror(-r));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        ret->fd = fd;
        varlink_buffer_init(&ret->in, VARLINK_MAX_REPLY);
        return 0;
}

static void ctl_close(CtlConn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        varlink_buffer_clear(&c->in);
}

static int ctl_send(CtlConn *c, const char *method, const json_t *params, unsigned flags)
{
        _cleanup_free_ char *buf = NULL;
        size_t len, off = 0;
        int r = varlink_request_encode(method, params, flags, &buf, &len);

        if (r < 0)
                return r;
        while (off < len) {
                ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                off += (size_t)n;
        }
        return 0;
}

/* The next reply: 0, or -ECONNRESET when the daemon closed the connection. */
static int ctl_receive(CtlConn *c, VarlinkReply *ret)
{
        char buf[65536];
        const char *msg;
        size_t len;
        int r;

        for (;;) {
                r = varlink_buffer_next(&c->in, &msg, &len);
                if (r < 0)
                        return r;
                if (r > 0)
                        return varlink_reply_parse(msg, len, ret);
                ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                r = varlink_buffer_append(&c->in, buf, (size_t)n);
                if (r < 0)
                        return r;
        }
}

static int ctl_report_error(const char *method, const VarlinkReply *rp)
{
        const json_t *p = rp->parameters;
        const char *v;

        if (streq(rp->error, VARLINK_ERROR_PERMISSION_DENIED)) {
                fprintf(stderr,
                        "lockwatchctl: permission denied: %s needs root or the daemon's "
                        "user\n",
                        method);
                return EXIT_DENIED;
        }
        if (streq(rp->error, VARLINK_ERROR_NO_SUCH_MODEL) &&
            (v = json_string_value(json_object_get(p, "model")))) {
                const json_t *sug = json_object_get(p, "suggestions"), *x;
                size_t i;
                fprintf(stderr, "lockwatchctl: no such model: %s\n", v);
                if (json_array_size(sug) > 0) {
                        fprintf(stderr, "lockwatchctl: did you mean");
                        json_array_foreach(sug, i, x) fprintf(stderr, "%s %s", i ? "," : "",
                                                              json_string_value(x));
                        fprintf(stderr, "?\n");
                }
        }
        else if (streq(rp->error, VARLINK_ERROR_NO_SUCH_SOURCE) &&
                 (v = json_string_value(json_object_get(p, "source"))))
                fprintf(stderr, "lockwatchctl: no such source: %s\n", v);
        else if (streq(rp->error, VARLINK_ERROR_TOO_MANY_CONNECTIONS)) {
                fprintf(stderr,
                        "lockwatchctl: the daemon refused the connection: it has %lld "
                        "connections%s already; try again later\n",
                        (long long)json_integer_value(json_object_get(p, "limit")),
                        json_is_true(json_object_get(p, "per_user")) ? " of this user" : "");
                return EXIT_CONNECT;
        } else if (streq(rp->error, VARLINK_ERROR_RELOAD_FAILED) &&
                   (v = json_string_value(json_object_get(p, "message"))))
                fprintf(stderr, "lockwatchctl: reload failed: %s\n", v);
        else {
                _cleanup_free_ char *s = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fprintf(stderr, "lockwatchctl: %s failed: %s %s\n", method, rp->error, s ? s : "");
        }
        return EXIT_DAEMON;
}

/* Connect and send one call: 0 and an open c, or an exit code. A daemon that refuses the
 * connection (too many) says why before it closes, so a send that fails still reads. */
static int ctl_start(const char *method, json_t *params, unsigned flags, CtlConn *c)
{
        int r;

        if (ctl_connect(arg_socket, c) < 0) {
                json_decref(params);
                return EXIT_CONNECT;
        }
        r = ctl_send(c, method, params, flags);
        json_decref(params);
        if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
                fprintf(stderr, "lockwatchctl: %s: %s\n", method, strerror(-r));
                ctl_close(c);
                return EXIT_CONNECT;
        }
        return 0;
}

/* The next reply of a call: 0 and rp, or an exit code (errors reported). */
static int ctl_next(const char *method, CtlConn *c, VarlinkReply *rp)
{
        int r = ctl_receive(c, rp);

        if (r < 0) {
                fprintf(stderr, "lockwatchctl: %s: %s\n", method,
                        r == -ECONNRESET ? "the daemon closed the connection" : strerror(-r));
                return EXIT_CONNECT;
        }
        if (rp->error) {
                int code = ctl_report_error(method, rp);
                varlink_reply_clear(rp);
                return code;
        }
        return 0;
}

/* One call, one reply: 0 and ret (the reply parameters), or an exit code. */
static int ctl_call(const char *method, json_t *params, json_t **ret)
{
        CtlConn c = {.fd = -1};
        VarlinkReply rp = {0};
        int r;

        r = ctl_start(method, params, 0, &c);
        if (r != 0)
                return r;
        r = ctl_next(method, &c, &rp);
        ctl_close(&c);
        if (r != 0)
                return r;
        *ret = json_incref(rp.parameters);
        varlink_reply_clear(&rp);
        return 0;
}

/* What to do with each reply of a streamed call, as it arrives: 0 to go on, or an exit
 * code. last: no reply follows. */
typedef int (*ctl_part_fn)(const json_t *params, bool last, void *userdata);

/* One call with "more": each reply to part() as it arrives. 0, or an exit code. */
static int ctl_call_more(const char *method, json_t *params, ctl_part_fn part, void *userdata)
{
        CtlConn c = {.fd = -1};
        int r;

        r = ctl_start(method, params, VARLINK_MORE, &c);
        while (r == 0) {
                VarlinkReply rp = {0};
                bool last;

                r = ctl_next(method, &c, &rp);
                if (r != 0)
                        break;
                last = !rp.continues;
                r = part(rp.parameters, last, userdata);
                varlink_reply_clear(&rp);
                if (last)
                        break;
        }
        ctl_close(&c);
        return r;
}

static int ctl_print_json(const json_t *j)
{
        if (json_dumpf(j, stdout, CTL_JSON_FLAGS) < 0)
                return EXIT_CONNECT;
        printf("\n");
        return EXIT_OK;
}

/* Print v as ctl_print_json() would print it nested `indent` spaces deep (its first line
 * where the cursor is). Encoded strings hold no newline, so every newline starts a line. */
static void ctl_print_nested(const json_t *v, size_t indent)
{
        _cleanup_free_ char *s = json_dumps(v, CTL_JSON_FLAGS | JSON_ENCODE_ANY);

        for (const char *p = s ? s : "null"; *p; p++) {
                putchar(*p);
                if (*p == '\n')
                        printf("%*s", (int)indent, "");
        }
}

static void ctl_print_key(const char *k)
{
        json_t *s = json_string(k);

        ctl_print_nested(s, 0);
        json_decref(s);
        printf(": ");
}

/* A document streamed in parts, printed as ctl_print_json() prints the whole: the first
 * part's members, then the items of its array member `key` from every part as they come
 * (that array is the document's last member). With `outer`, the document is that member of
 * each part, printed last, after the first part's other members (GetMatrixAt's at, from,
 * shown and matrix). */
typedef struct CtlJsonStream {
        const char *outer;
        const char *key;
        size_t items;
        bool begun, members;
} CtlJsonStream;

/* Print the members of o other than skip, each on a line of its own `indent` spaces deep;
 * *members says whether one was printed before (a comma goes first) and is set. */
static void ctl_print_members(const json_t *o, const char *skip, size_t indent, bool *members)
{
        const json_t *v;
        const char *k;

        json_object_foreach((json_t *)o, k, v)
        {
                if (streq(k, skip))
                        continue;
                printf("%s\n%*s", *members ? "," : "", (int)indent, "");
                ctl_print_key(k);
                ctl_print_nested(v, indent);
                *members = true;
        }
}

static void ctl_json_stream_part(CtlJsonStream *js, const json_t *part, bool last)
{
        const json_t *doc = js->outer ? json_object_get(part, js->outer) : part, *v;
        int in = js->outer ? 4 : 2; /* the document's members' indent */
        size_t i;

        if (!js->begun) {
                printf("{");
                if (js->outer) {
                        bool top = false;
                        ctl_print_members(part, js->outer, 2, &top);
                        printf("%s\n  ", top ? "," : "");
                        ctl_print_key(js->outer);
                        printf("{");
                }
                ctl_print_members(doc, js->key, (size_t)in, &js->members);
                js->begun = true;
        }
        json_array_foreach(json_object_get(doc, js->key), i, v)
        {
                if (js->items++ == 0) {
                        printf("%s\n%*s", js->members ? "," : "", in, "");
                        ctl_print_key(js->key);
                        printf("[\n%*s", in + 2, "");
                } else
                        printf(",\n%*s", in + 2, "");
                ctl_print_nested(v, (size_t)in + 2);
        }
        if (!last)
                return;
        if (js->items == 0) {
                printf("%s\n%*s", js->members ? "," : "", in, "");
                ctl_print_key(js->key);
                printf("[]");
        } else
                printf("\n%*s]", in, "");
        if (js->outer)
                printf("\n  }");
        printf("\n}\n");
}

/* ---- formatting ------------------------------------------------------------------------ */

static const char *ctl_str(const json_t *o, const char *key, const char *fallback)
{
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : fallback;
}

static long long ctl_int(const json_t *o, const char *key)
{
        return (long long)json_integer_value(json_object_get(o, key));
}

static const char *ctl_time(char *buf, size_t size, const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return "-";
        return journal_format_time(buf, size, (uint64_t)json_integer_value(v));
}

/* How long ago a time was, for tables a person reads: "12s ago", "3h ago", "2d ago". */
static const char *ctl_age(char *buf, size_t size, const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);
        uint64_t now = util_now_real(), t, d;

        if (!json_is_integer(v) || json_integer_value(v) <= 0)
                return "-";
        t = (uint64_t)json_integer_value(v);
        d = now > t ? (now - t) / USEC_PER_SEC : 0;
        if (d < 120)
                snprintf(buf, size, "%" PRIu64 "s ago", d);
        else if (d < 2 * 3600)
                snprintf(buf, size, "%" PRIu64 "m ago", d / 60);
        else if (d < 2 * 86400)
                snprintf(buf, size, "%" PRIu64 "h ago", d / 3600);
        else
                snprintf(buf, size, "%" PRIu64 "d ago", d / 86400);
        return buf;
}

/* A table: rows of cells, every column as wide as its widest cell, the last unpadded. */
typedef struct CtlTable {
        char **cells;
        size_t n_cols, n_cells, cap;
} CtlTable;

static void ctl_table_add(CtlTable *t, const char *s)
{
        util_grow((void **)&t->cells, &t->cap, t->n_cells + 1, sizeof(char *));
        t->cells[t->n_cells++] = xstrdup(s ? s : "-");
}

static bool ctl_utf8; /* the locale's character set is UTF-8 */

/* Display columns of a UTF-8 text (one per character). */
static size_t ctl_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                w += ((unsigned char)*s & 0xc0) != 0x80;
        return w;
}

/* Print s cut to max columns, with an ellipsis when cut. */
static void ctl_put_cut(const char *s, size_t max)
{
        const char *ell = ctl_utf8 ? "\u2026" : "...";
        size_t ell_w = ctl_utf8 ? 1 : 3, keep, used = 0;

        if (ctl_width(s) <= max) {
                fputs(s, stdout);
                return;
        }
        keep = max > ell_w ? max - ell_w : 0;
        for (; *s && used < keep; used++) {
                size_t n = 1;
                while (((unsigned char)s[n] & 0xc0) == 0x80)
                        n++;
                fwrite(s, 1, n, stdout);
                s += n;
        }
        fputs(ell, stdout);
}

/* Columns as wide as their widest cell; on a terminal the last column (a summary, an
 * error) is cut with an ellipsis where the line would pass the terminal's width. */
static void ctl_table_print(CtlTable *t)
{
        size_t *w = xcalloc(t->n_cols, sizeof(size_t)), before = 0, room = SIZE_MAX;

        for (size_t i = 0; i < t->n_cells; i++)
                w[i % t->n_cols] = MAX(w[i % t->n_cols], ctl_width(t->cells[i]));
        for (size_t c = 0; c + 1 < t->n_cols; c++)
                before += w[c] + 2;
        if (ctl_columns > 0)
                room = ctl_columns > before + 10 ? ctl_columns - before : 10;
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_cols;
                if (col + 1 == t->n_cols) {
                        ctl_put_cut(t->cells[i], room);
                        printf("\n");
                } else
                        printf("%s%*s  ", t->cells[i],
                               (int)(w[col] - ctl_width(t->cells[i])), "");
        }
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        free(w);
}

static const char *ctl_price(char *buf, size_t size, const json_t *o, const char *key)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_number(v))
                return "-";
        snprintf(buf, size, "%g", json_number_value(v));
        return buf;
}

static void ctl_print_regions(const json_t *a)
{
        size_t i;
        const json_t *v;

        if (json_array_size(a) == 0) {
                printf("-");
                return;
        }
        json_array_foreach(a, i, v) printf("%s%s", i ? " " : "", json_string_value(v));
}

/* ---- the terminal ---------------------------------------------------------------------- */

/* Width: $COLUMNS when set (so scripts and tests can ask for one), else the terminal's;
 * 0 (no limit) when output goes elsewhere. */
static size_t ctl_terminal_columns(void)
{
        const char *env = getenv("COLUMNS");
        struct winsize ws;
        uint64_t v;

        if (env && util_parse_uint(env, &v) == 0 && v >= 20 && v <= 10000)
                return (size_t)v;
        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 0;
}

/* Copy standard input to standard output: the pager of last resort. */
static int ctl_cat(void)
{
        char buf[65536];
        ssize_t n;

        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
                if (write(STDOUT_FILENO, buf, (size_t)n) != n)
                        return 1;
        return n < 0;
}

/* On a terminal, page the output as git does: $PAGER, else less -FRSX (which exits at
 * once when the output fits the screen). Never when piped, never with --no-pager. */
static void ctl_pager_start(void)
{
        const char *pager = getenv("PAGER");
        int fds[2];
        pid_t pid;

        if (arg_no_pager || !isatty(STDOUT_FILENO))
                return;
        if (pager && (!*pager || streq(pager, "cat")))
                return;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        if (pid == 0) {
                if (dup2(fds[0], STDIN_FILENO) < 0)
                        _exit(1);
                if (!getenv("LESS"))
                        setenv("LESS", "FRSX", 1);
                if (pager)
                        execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
                else
                        execlp("less", "less", (char *)NULL);
                /* No pager on this machine (a minimal install): show it plainly. */
                _exit(ctl_cat());
        }
        if (dup2(fds[1], STDOUT_FILENO) < 0) {
                close(fds[0]);
                close(fds[1]);
                return;
        }
        close(fds[0]);
        close(fds[1]);
        ctl_pager_pid = pid;
}

static void ctl_pager_end(void)
{
        if (ctl_pager_pid <= 0)
                return;
        fflush(stdout);
        close(STDOUT_FILENO);
        while (waitpid(ctl_pager_pid, NULL, 0) < 0 && errno == EINTR)
                ;
        ctl_pager_pid = 0;
}

/* ---- commands --------------------------------------------------------------------------- */

static int cmd_status(char **args, size_t n)
{
        json_t *rp = NULL, *st;
        CtlTable t = {.n_cols = 9};
        const json_t *src;
        char when[64];
        size_t i;
        int r;

        if (n != 0) {
                fprintf(stderr, "lockwatchctl: status takes no arguments\n");
                return EXIT_USAGE;
        }
        r = ctl_call("io.lockwatch.GetStatus", NULL, &rp);
        if (r != 0)
                return r;
        if (arg_json) {
                r = ctl_print_json(rp);
                json_decref(rp);
                return r;
        }
        st = json_object_get(rp, "status");
        printf("lockwatchd %s, running since %s\n", ctl_str(st, "version", "?"),
               ctl_time(when, sizeof(when), st, "start_time"));
        printf("models:        %lld\n", ctl_int(st, "models"));
        printf("single-cloud:  %lld (on one cloud, dropped by another)\n",
               ctl_int(st, "single_cloud"));
        printf("degraded:      %lld source%s\n", ctl_int(st, "sources_degraded"),
               ctl_int(st, "sources_degraded") == 1 ? "" : "s");
        printf("alerts:        %lld firing, %lld pending\n", ctl_int(st, "alerts_firing"),
               ctl_int(st, "alerts_pending"));
        printf("\n");
        /* Fits 80 columns: ages instead of dates, and an authoritative source marked '*'
         * (--json has the times and every field). */
        for (const char *const *h =
                 (const char *const[]){"SOURCE", "STATUS", "RESULT", "LAST OK", "FAILS", "ROWS",
                                       "UNLISTED", "LAGS", "ERROR", NULL};
             *h; h++)
                ctl_table_add(&t, *h);
        json_array_foreach(json_object_get(st, "sources"), i, src)
        {
                char num[4][32], name[80];
                const json_t *rows = json_object_get(src, "rows");
                const json_t *unlisted = json_object_get(src, "unlisted");
                bool enabled = json_is_true(json_object_get(src, "enabled"));

                snprintf(name, sizeof(name), "%s%s", ctl_str(src, "name", "?"),
                         json_is_true(json_object_get(src, "authoritative")) ? "*" : "");
                snprintf(num[0], sizeof(num[0]), "%lld", ctl_int(src, "consecutive_failures"));
                if (json_is_integer(rows))
                        snprintf(num[1], sizeof(num[1]), "%lld", ctl_int(src, "rows"));
                else
                        snprintf(num[1], sizeof(num[1]), "-");
                /* Rows of the last parse that map to no provider column, and the cells where
                 * a provider's own listing overrules this source. */
                if (json_is_integer(unlisted))
                        snprintf(num[2], sizeof(num[2]), "%lld", ctl_int(src, "unlisted"));
                else
                        snprintf(num[2], sizeof(num[2]), "-");
                snprintf(num[3], sizeof(num[3]), "%lld", ctl_int(src, "lagging"));
                ctl_table_add(&t, name);
                ctl_table_add(&t, enabled ? ctl_str(src, "status", "?") : "disabled");
                ctl_table_add(&t, ctl_str(src, "last_result", "-"));
                ctl_table_add(&t, ctl_age(when, sizeof(when), src, "last_ok"));
                ctl_table_add(&t, num[0]);
                ctl_table_add(&t, num[1]);
                ctl_table_add(&t, num[2]);
                ctl_table_add(&t, num[3]);
                ctl_table_add(&t, ctl_str(src, "last_error", "-"));
        }
        ctl_table_print(&t);
        printf("* authoritative: the provider's own listing, which decides its columns\n");
        /* Where alerts go beyond the journal, and whether they get there. */
        if (json_array_size(json_object_get(st, "sinks")) > 0) {
                CtlTable k = {.n_cols = 7};
                printf("\n");
                for (const char *const *h = (const char *const[]){"SINK", "KIND", "STATE",
                                                                  "LAST SUCCESS", "FAILURES",
                                                                  "QUEUED", "ERROR", NULL};
                     *h; h++)
                        ctl_table_add(&k, *h);
                json_array_foreach(json_object_get(st, "sinks"), i, src)
                {
                        char num[2][32];
                        snprintf(num[0], sizeof(num[0]), "%lld",
                                 ctl_int(src, "consecutive_failures"));
                        snprintf(num[1], sizeof(num[1]), "%lld", ctl_int(src, "queued"));
                        ctl_table_add(&k, ctl_str(src, "name", "?"));
                        ctl_table_add(&k, ctl_str(src, "kind", "?"));
                        ctl_table_add(&k, ctl_str(src, "state", "?"));
                        ctl_table_add(&k, ctl_age(when, sizeof(when), src, "last_success"));
                        ctl_table_add(&k, num[0]);
                        ctl_table_add(&k, num[1]);
                        ctl_table_add(&k, ctl_str(src, "last_error", "-"));
                }
                ctl_table_print(&k);
        }
        json_decref(rp);
        return EXIT_OK;
}

static int ctl_matrix_at(char **args, size_t n);

typedef struct CtlMatrixPrint {
        const char *pattern;
        bool filtered;
        bool checked;
        CtlJsonStream js;
} CtlMatrixPrint;

/* Each part of the matrix as it arrives: the grid's lines, or the document's models. */
static int ctl_matrix_part(const json_t *rp, bool last, void *userdata)
{
        CtlMatrixPrint *mp = userdata;
        const char *pat = mp->pattern;

        /* A pattern or filter that matches nothing says so: an empty grid looks like an
         * empty matrix. Patterns match the whole id. Every part tells how many match. */
        if (!mp->checked && json_integer_value(json_object_get(rp, "shown")) == 0 && mp->filtered) {
                fprintf(stderr, "lockwatchctl: no model matches%s%s%s\n",
                        pat ? " '" : " the filters", pat ? pat : "", pat ? "'" : "");
                if (pat && !strchr(pat, '/') && !strchr(pat, '*'))
                        fprintf(stderr, "lockwatchctl: patterns match the whole id: try '*%s*'\n",
                                pat);
                else if (pat && !strchr(pat, '/'))
                        fprintf(stderr, "lockwatchctl: ids are vendor/model: try '*/%s'\n", pat);
                return EXIT_DAEMON;
        }
        mp->checked = true;
        if (arg_json)
                ctl_json_stream_part(&mp->js, json_object_get(rp, "matrix"), last);
        else
                fputs(ctl_str(rp, "text", ""), stdout);
        if (last && json_is_true(json_object_get(rp, "changed"))) {
                fflush(stdout);
                fprintf(stderr, "lockwatchctl: the matrix changed while it was sent (a poll "
                                "ended); run it again for one view\n");
        }
        return ferror(stdout) ? EXIT_CONNECT : EXIT_OK;
}

static int cmd_matrix(char **args, size_t n)
{
        json_t *params = json_object();
        CtlMatrixPrint mp = {0};

        if (n > 1) {
                fprintf(stderr, "lockwatchctl: matrix takes at most one GLOB\n");
                json_decref(params);
                return EXIT_USAGE;
        }
        if (arg_at) {
                json_decref(params);
                return ctl_matrix_at(args, n);
        }
        if (n == 1)
                json_object_set_new(params, "model", json_string(args[0]));
        if (arg_vendor)
                json_object_set_new(params, "vendor", json_string(arg_vendor));
        if (arg_provider)
                json_object_set_new(params, "provider", json_string(arg_provider));
        if (arg_on)
                json_object_set_new(params, "on", json_string(arg_on));
        if (arg_not_on)
                json_object_set_new(params, "not_on", json_string(arg_not_on));
        if (arg_clouds >= 0)
                json_object_set_new(params, "clouds", json_integer(arg_clouds));
        if (arg_single_cloud)
                json_object_set_new(params, "single_cloud", json_true());
        if (!arg_json) {
                json_object_set_new(params, "text", json_true());
                if (arg_ascii || !ctl_utf8)
                        json_object_set_new(params, "ascii", json_true());
                if (arg_wide)
                        json_object_set_new(params, "wide", json_true());
                if (ctl_columns > 0)
                        json_object_set_new(params, "width", json_integer((json_int_t)ctl_columns));
        }
        mp.pattern = n == 1 ? args[0] : NULL;
        mp.filtered = n == 1 || arg_vendor || arg_provider || arg_on || arg_not_on ||
                      arg_clouds >= 0 || arg_single_cloud;
        mp.js.key = "models";
        return ctl_call_more("io.lockwatch.GetMatrix", params, ctl_matrix_part, &mp);
}

static const char *ctl_alert_since(const json_t *a)
{
        const char *state = ctl_str(a, "state", "");

        if (streq(state, "firing"))
                return "fired_at";
        if (streq(state, "resolved"))
                return "resolved_at";
        return "pending_since";
}

static int cmd_alerts(char **args, size_t n)
{
        json_t *params = json_object(), *rp = NULL;
        CtlTable t = {.n_cols = 5};
        const json_t *a;
        bool firing = false;
        char when[64];
        size_t i;
        int r;

        if (n != 0) {
                fprintf(stderr, "lockwatchctl: alerts takes no arguments\n");
                json_decref(params);
                return EXIT_USAGE;
        }
        if (arg_state)
                json_object_set_new(params, "state", json_string(arg_state));
        r = ctl_call("io.lockwatch.ListAlerts", params, &rp);
        if (r != 0)
                return r;
        json_array_foreach(json_object_get(rp, "alerts"), i, a) firing =
            firing || streq(ctl_str(a, "state", ""), "firing");
        if (arg_json)
                r = ctl_print_json(rp);
        else if (json_array_size(json_object_get(rp, "alerts")) == 0)
                printf("no alerts\n");
        else {
                for (const char *const *h =
                         (const char *const[]){"STATE", "RULE", "KEY", "SINCE", "SUMMARY", NULL};
                     *h; h++)
                        ctl_table_add(&t, *h);
                json_array_foreach(json_object_get(rp, "alerts"), i, a)
                {
                        ctl_table_add(&t, ctl_str(a, "state", "?"));
                        ctl_table_add(&t, ctl_str(a, "rule", "?"));
                        ctl_table_add(&t, ctl_str(a, "key", "?"));
                        ctl_table_add(&t, ctl_age(when, sizeof(when), a, ctl_alert_since(a)));
                        ctl_table_add(&t, ctl_str(a, "summary", "-"));
                }
                ctl_table_print(&t);
        }
        json_decref(rp);
        if (r == 0 && arg_exit_status && firing)
                return EXIT_FIRING;
        return r;
}

static int cmd_explain(char **args, size_t n)
{
        json_t *rp = NULL, *m;
        const json_t *cell, *ev;
        char t1[64], t2[64], p1[32], p2[32];
        size_t i, k;
        int r;

        if (n != 1) {
                fprintf(stderr, "lockwatchctl: explain needs exactly one MODEL\n");
                return EXIT_USAGE;
        }
        r = ctl_call("io.lockwatch.Explain", json_pack("{s:s}", "model", args[0]), &rp);
        if (r != 0)
                return r;
        if (arg_json) {
                r = ctl_print_json(rp);
                json_decref(rp);
                return r;
        }
        m = json_object_get(rp, "model");
        if (ctl_str(m, "asked", NULL))
                printf("(%s is %s)\n", ctl_str(m, "asked", ""), ctl_str(m, "id", "?"));
        printf("%s: available on %lld cloud%s%s\n", ctl_str(m, "id", "?"),
               ctl_int(m, "clouds_available"), ctl_int(m, "clouds_available") == 1 ? "" : "s",
               json_is_false(json_object_get(m, "mapped")) ? " (unmapped id)" : "");
        json_array_foreach(json_object_get(m, "cells"), i, cell)
        {
                printf("\n%s (%s): %s", ctl_str(cell, "provider", "?"), ctl_str(cell, "kind", "?"),
                       ctl_str(cell, "state", "?"));
                printf(", lifecycle %s, regions ", ctl_str(cell, "lifecycle", "?"));
                ctl_print_regions(json_object_get(cell, "regions"));
                printf(", price %s / %s USD per Mtok", ctl_price(p1, sizeof(p1), cell, "price_in"),
                       ctl_price(p2, sizeof(p2), cell, "price_out"));
                if (json_is_string(json_object_get(cell, "eol")))
                        printf(", end of life %s", ctl_str(cell, "eol", ""));
                printf("\n");
                {
                        const json_t *auth = json_object_get(cell, "authorities"), *a;
                        size_t q;
                        if (json_array_size(auth) > 0) {
                                printf("  decided by the provider's own listing:");
                                json_array_foreach(auth, q, a) printf(" %s", json_string_value(a));
                                printf("\n");
                        }
                }
                json_array_foreach(json_object_get(cell, "evidence"), k, ev)
                {
                        const char *standing = ctl_str(ev, "standing", "counts");
                        const char *tag = streq(standing, "decides")       ? " (authority)"
                                          : streq(standing, "overruled")   ? " (overruled, lags)"
                                          : streq(standing, "unconfirmed") ? " (unconfirmed)"
                                                                           : "";
                        printf("  %s%s said %s as %s: regions ", ctl_str(ev, "source", "?"), tag,
                               ctl_str(ev, "said", "?"), ctl_str(ev, "raw_id", "?"));
                        ctl_print_regions(json_object_get(ev, "regions"));
                        if (json_is_string(json_object_get(ev, "api"))) {
                                printf("; from %s", ctl_str(ev, "api", "?"));
                                if (json_array_size(json_object_get(ev, "asked_regions")) > 0) {
                                        printf(" (regions asked: ");
                                        ctl_print_regions(json_object_get(ev, "asked_regions"));
                                        printf(")");
                                }
                        }
                        printf("; price %s / %s; lifecycle %s; seen %s .. %s",
                               ctl_price(p1, sizeof(p1), ev, "price_in"),
                               ctl_price(p2, sizeof(p2), ev, "price_out"),
                               ctl_str(ev, "lifecycle", "?"),
                               ctl_time(t1, sizeof(t1), ev, "first_seen"),
                               ctl_time(t2, sizeof(t2), ev, "last_seen"));
                        if (ctl_int(ev, "missing") > 0)
                                printf("; missing from %lld parse%s", ctl_int(ev, "missing"),
                                       ctl_int(ev, "missing") == 1 ? "" : "s");
                        printf("\n");
                }
        }
        json_decref(rp);
        return EXIT_OK;
}

static void ctl_print_event(const json_t *ev)
{
        char when[64];
        const char *msg = ctl_str(ev, "message", NULL);

        printf("%s  %-8s  ", ctl_time(when, sizeof(when), ev, "time"), ctl_str(ev, "kind", "?"));
        if (msg)
                printf("%s\n", msg);
        else
                printf("%s %s %s\n", ctl_str(ev, "model", ctl_str(ev, "source", "-")),
                       ctl_str(ev, "provider", ""), ctl_str(ev, "state", "-"));
}

/* ---- history and time ------------------------------------------------------------------- */

/* A time a person types: a date (its first microsecond, or with end its last), an ISO 8601
 * date-time with Z or an offset, "now", or an age back from now ("30d", "12h", "1y"). */
static int ctl_parse_time(const char *s, bool end, uint64_t *ret)
{
        unsigned y, mo, d, h = 0, mi = 0, sec = 0;
        uint64_t age;
        int n = 0;

        if (streq(s, "now")) {
                *ret = util_now_real();
                return 0;
        }
        if (util_parse_duration(s, &age) == 0 && strchr("0123456789", s[strlen(s) - 1]) == NULL) {
                uint64_t now = util_now_real();
                *ret = age < now ? now - age : 0;
                return 0;
        }
        if (sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3 || n != 10 || y < 1970 || mo < 1 ||
            mo > 12 || d < 1 || d > 31)
                return -EINVAL;
        const char *p = s + n;
        long offset = 0;
        bool whole_day = *p == '\0';
        if (*p == 'T' || *p == ' ') {
                int k = 0;
                if (sscanf(p + 1, "%2u:%2u%n", &h, &mi, &k) != 2 || k != 5)
                        return -EINVAL;
                p += 1 + k;
                if (*p == ':') {
                        if (sscanf(p + 1, "%2u%n", &sec, &k) != 1 || k != 2)
                                return -EINVAL;
                        p += 3;
                        if (*p == '.') /* fractions of a second: dropped */
                                for (p++; *p >= '0' && *p <= '9'; p++)
                                        ;
                }
                if (*p == 'Z' || *p == 'z')
                        p++;
                else if (*p == '+' || *p == '-') {
                        unsigned oh, om;
                        int sign = *p == '-' ? -1 : 1;
                        if (sscanf(p + 1, "%2u:%2u%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 ||
                            om > 59)
                                return -EINVAL;
                        offset = sign * (long)(oh * 3600 + om * 60);
                        p += 1 + k;
                }
                if (*p || h > 23 || mi > 59 || sec > 60)
                        return -EINVAL;
        } else if (*p)
                return -EINVAL;
        struct tm tm = {.tm_year = (int)y - 1900,
                        .tm_mon = (int)mo - 1,
                        .tm_mday = (int)d,
                        .tm_hour = (int)h,
                        .tm_min = (int)mi,
                        .tm_sec = (int)sec};
        time_t t = timegm(&tm);
        if (t == (time_t)-1 || tm.tm_mday != (int)d)
                return -EINVAL;
        t -= offset;
        if (t < 0)
                return -EINVAL;
        *ret = (uint64_t)t * USEC_PER_SEC + (whole_day && end ? USEC_PER_DAY - 1 : 0);
        return 0;
}

static int ctl_time_option(const char *name, const char *value, bool end, uint64_t *ret)
{
        if (ctl_parse_time(value, end, ret) < 0) {
                fprintf(stderr,
                        "lockwatchctl: invalid --%s '%s' (a date such as 2026-07-01, a time such "
                        "as 2026-07-01T12:00Z, now, or an age such as 30d)\n",
                        name, value);
                return -EINVAL;
        }
        return 0;
}

/* A model as typed: "claude-opus-4" means any vendor's; a glob is taken as it is. */
static char *ctl_model_glob(const char *arg)
{
        if (strpbrk(arg, "*?[/"))
                return xstrdup(arg);
        return xasprintf("*/%s", arg);
}

typedef struct CtlHistory {
        size_t n;
        CtlJsonStream js;
} CtlHistory;

/* Printed as the pages come: a long history never sits whole in memory, here or there. */
static int ctl_history_page(const json_t *params, bool last, void *userdata)
{
        CtlHistory *h = userdata;
        const json_t *ev;
        size_t i;

        if (arg_json)
                ctl_json_stream_part(&h->js, params, last);
        else
                json_array_foreach(json_object_get(params, "events"), i, ev)
                {
                        ctl_print_event(ev);
                        h->n++;
                }
        return ferror(stdout) ? EXIT_CONNECT : EXIT_OK;
}

static int cmd_history(char **args, size_t n)
{
        json_t *params = json_object();
        _cleanup_free_ char *glob = NULL;
        CtlHistory h = {.js.key = "events"};
        uint64_t since = 0, until = 0;
        int r;

        if (n > 1 || (n == 1 && arg_model)) {
                fprintf(stderr,
                        "lockwatchctl: history takes at most one MODEL (or --model GLOB)\n");
                json_decref(params);
                return EXIT_USAGE;
        }
        if ((arg_since && ctl_time_option("since", arg_since, false, &since) < 0) ||
            (arg_until && ctl_time_option("until", arg_until, true, &until) < 0)) {
                json_decref(params);
                return EXIT_USAGE;
        }
        if (n == 1) {
                /* One model's whole story: the cells its first parse filled belong to it. */
                glob = ctl_model_glob(args[0]);
                json_object_set_new(params, "model", json_string(glob));
                json_object_set_new(params, "quiet", json_true());
        } else if (arg_model)
                json_object_set_new(params, "model", json_string(arg_model));
        if (arg_limit >= 0)
                json_object_set_new(params, "limit", json_integer(arg_limit));
        if (since)
                json_object_set_new(params, "since", json_integer((json_int_t)since));
        if (until)
                json_object_set_new(params, "until", json_integer((json_int_t)until));
        r = ctl_call_more("io.lockwatch.GetHistory", params, ctl_history_page, &h);
        if (!arg_json && r == EXIT_OK && h.n == 0)
                printf("no events\n");
        return r;
}

typedef struct CtlMatrixAt {
        uint64_t at;
        const char *pattern;
        bool begun;
        CtlJsonStream js;
} CtlMatrixAt;

/* Each part of the matrix as it was, printed as it arrives; the first says what the history
 * could not tell and whether the pattern matched (every part carries at, from and shown). */
static int ctl_matrix_at_part(const json_t *rp, bool last, void *userdata)
{
        CtlMatrixAt *ma = userdata;
        char when[64];

        if (!ma->begun) {
                const json_t *from = json_object_get(rp, "from");
                if (!json_is_integer(from) || (uint64_t)json_integer_value(from) > ma->at)
                        fprintf(
                            stderr, "lockwatchctl: the history %s%s: nothing is known before it\n",
                            json_is_integer(from) ? "begins at " : "is empty",
                            json_is_integer(from) ? ctl_time(when, sizeof(when), rp, "from") : "");
                if (ma->pattern && json_integer_value(json_object_get(rp, "shown")) == 0) {
                        fprintf(stderr, "lockwatchctl: no model matches '%s' at %s\n", ma->pattern,
                                journal_format_time(when, sizeof(when), ma->at));
                        return EXIT_DAEMON;
                }
                if (!arg_json)
                        printf("as it was at %s\n",
                               journal_format_time(when, sizeof(when), ma->at));
                ma->begun = true;
        }
        if (arg_json)
                ctl_json_stream_part(&ma->js, rp, last);
        else
                fputs(ctl_str(rp, "text", ""), stdout);
        return ferror(stdout) ? EXIT_CONNECT : EXIT_OK;
}

/* `matrix --at`: the grid as it was, rebuilt by the daemon from its history and streamed
 * in parts as the live one is. */
static int ctl_matrix_at(char **args, size_t n)
{
        json_t *params = json_object();
        CtlMatrixAt ma = {.pattern = n == 1 ? args[0] : NULL,
                          .js = {.outer = "matrix", .key = "models"}};

        if (arg_vendor || arg_provider || arg_on || arg_not_on || arg_clouds >= 0 ||
            arg_single_cloud) {
                fprintf(stderr,
                        "lockwatchctl: matrix --at takes a GLOB, --ascii and --wide only\n");
                json_decref(params);
                return EXIT_USAGE;
        }
        if (ctl_time_option("at", arg_at, true, &ma.at) < 0) {
                json_decref(params);
                return EXIT_USAGE;
        }
        json_object_set_new(params, "at", json_integer((json_int_t)ma.at));
        if (n == 1)
                json_object_set_new(params, "model", json_string(args[0]));
        if (!arg_json) {
                json_object_set_new(params, "text", json_true());
                if (arg_ascii || !ctl_utf8)
                        json_object_set_new(params, "ascii", json_true());
                if (arg_wide)
                        json_object_set_new(params, "wide", json_true());
                if (ctl_columns > 0)
                        json_object_set_new(params, "width", json_integer((json_int_t)ctl_columns));
        }
        return ctl_call_more("io.lockwatch.GetMatrixAt", params, ctl_matrix_at_part, &ma);
}

/* ---- timeline ------------------------------------------------------------------------------ */

#define CTL_TIMELINE_MAX_ROWS    64u   /* providers drawn */
#define CTL_TIMELINE_MAX_CHANGES 2048u /* cell changes kept per model */
#define CTL_TIMELINE_DATED       6u    /* changes dated under one line; more are counted */

typedef struct CtlChange {
        uint64_t time;
        int state; /* CELL_* order: 0 unknown, 1 available, 2 unavailable */
        bool quiet;
} CtlChange;

typedef struct CtlRow {
        char *provider;
        int initial;
        CtlChange *changes;
        size_t n_changes;
} CtlRow;

typedef struct CtlTimeline {
        char *model; /* the one model the glob matched */
        bool ambiguous;
        CtlRow rows[CTL_TIMELINE_MAX_ROWS];
        size_t n_rows;
        uint64_t first; /* the first change's time */
        size_t dropped;
} CtlTimeline;

static int ctl_state_index(const char *s)
{
        return s && streq(s, "available") ? 1 : s && streq(s, "unavailable") ? 2 : 0;
}

static CtlRow *ctl_timeline_row(CtlTimeline *t, const char *provider)
{
        for (size_t i = 0; i < t->n_rows; i++)
                if (streq(t->rows[i].provider, provider))
                        return &t->rows[i];
        if (t->n_rows == CTL_TIMELINE_MAX_ROWS)
                return NULL;
        CtlRow *r = &t->rows[t->n_rows++];
        *r = (CtlRow){.provider = xstrdup(provider)};
        return r;
}

static bool ctl_timeline_model(CtlTimeline *t, const char *model)
{
        if (!model)
                return false;
        if (!t->model)
                t->model = xstrdup(model);
        else if (!streq(t->model, model)) {
                t->ambiguous = true;
                return false;
        }
        return true;
}

static int ctl_timeline_page(const json_t *params, bool last, void *userdata)
{
        CtlTimeline *t = userdata;
        const json_t *ev;
        size_t i;

        json_array_foreach(json_object_get(params, "events"), i, ev)
        {
                const char *provider = ctl_str(ev, "provider", NULL);
                CtlRow *row;
                if (!streq(ctl_str(ev, "kind", ""), "cell") || !provider ||
                    !ctl_timeline_model(t, ctl_str(ev, "model", NULL)))
                        continue;
                if (!(row = ctl_timeline_row(t, provider)) ||
                    row->n_changes >= CTL_TIMELINE_MAX_CHANGES) {
                        t->dropped++;
                        continue;
                }
                row->changes = xreallocarray(row->changes, row->n_changes + 1, sizeof(CtlChange));
                row->changes[row->n_changes++] =
                    (CtlChange){.time = (uint64_t)ctl_int(ev, "time"),
                                .state = ctl_state_index(ctl_str(ev, "state", NULL)),
                                .quiet = json_is_true(json_object_get(ev, "quiet"))};
                if (!t->first || (uint64_t)ctl_int(ev, "time") < t->first)
                        t->first = (uint64_t)ctl_int(ev, "time");
        }
        return EXIT_OK;
}

static void ctl_date(char *buf, size_t size, uint64_t usec)
{
        time_t s = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&s, &tm) || strftime(buf, size, "%Y-%m-%d", &tm) == 0)
                snprintf(buf, size, "?");
}

/* The state of row at time t: its initial state, then each change up to t. */
static int ctl_row_state(const CtlRow *row, uint64_t t)
{
        int st = row->initial;
        for (size_t i = 0; i < row->n_changes && row->changes[i].time <= t; i++)
                st = row->changes[i].state;
        return st;
}

static void ctl_timeline_draw(const CtlTimeline *t, uint64_t since, uint64_t until)
{
        static const char *const utf8_marks[3] = {"\u00b7", "\u2588", "\u2715"};
        static const char *const ascii_marks[3] = {".", "#", "x"};
        static const char *const names[3] = {"unknown", "available", "unavailable"};
        const char *const *mark = arg_ascii || !ctl_utf8 ? ascii_marks : utf8_marks;
        const char *tick = arg_ascii || !ctl_utf8 ? "^" : "\u2514";
        const char *tick_left = arg_ascii || !ctl_utf8 ? "^" : "\u2518";
        size_t width = ctl_columns ? ctl_columns : 80, label = 4;
        char d1[32], d2[32];

        for (size_t i = 0; i < t->n_rows; i++)
                label = MAX(label, ctl_width(t->rows[i].provider) + 2);
        label = MIN(label, (size_t)16);
        size_t bar = width > label + 20 ? width - label - 1 : 20;
        uint64_t span = until > since ? until - since : 1;

        ctl_date(d1, sizeof(d1), since);
        ctl_date(d2, sizeof(d2), until);
        printf("%s  %s .. %s\n", t->model, d1, d2);
        printf("%*s%s%*s%s\n", (int)label, "", d1,
               (int)(bar > 2 * strlen(d1) ? bar - strlen(d1) - strlen(d2) : 1), "", d2);
        for (size_t i = 0; i < t->n_rows; i++) {
                const CtlRow *row = &t->rows[i];
                ctl_put_cut(row->provider, label - 2);
                printf("%*s", (int)(label - MIN(ctl_width(row->provider), label - 2)), "");
                /* Each column shows the state at the end of its slice of time. */
                for (size_t col = 0; col < bar; col++) {
                        uint64_t end =
                            since + (uint64_t)((double)span * (double)(col + 1) / (double)bar);
                        fputs(mark[ctl_row_state(row, col + 1 == bar ? until : end)], stdout);
                }
                printf("\n");
                size_t dated = 0, shown_changes = 0;
                int prev = row->initial;
                for (size_t k = 0; k < row->n_changes; k++) {
                        const CtlChange *ch = &row->changes[k];
                        if (ch->state == prev || ch->time < since || ch->time > until) {
                                prev = ch->state;
                                continue;
                        }
                        prev = ch->state;
                        shown_changes++;
                        if (dated == CTL_TIMELINE_DATED)
                                continue;
                        dated++;
                        char when[32], text[96];
                        size_t col =
                            (size_t)((double)(ch->time - since) / (double)span * (double)bar);
                        col = MIN(col, bar - 1);
                        ctl_date(when, sizeof(when), ch->time);
                        snprintf(text, sizeof(text), "%s %s", when, names[ch->state]);
                        if (label + col + 2 + strlen(text) <= width)
                                printf("%*s%s %s\n", (int)(label + col), "", tick, text);
                        else {
                                size_t at = label + col + 1 > strlen(text) + 1
                                                ? label + col - strlen(text) - 1
                                                : 0;
                                printf("%*s%s %s\n", (int)at, "", text, tick_left);
                        }
                }
                if (shown_changes > dated)
                        printf("%*s(%zu more change%s: lockwatchctl history %s)\n", (int)label, "",
                               shown_changes - dated, shown_changes - dated == 1 ? "" : "s",
                               t->model);
        }
        printf("legend: %s available  %s unavailable  %s unknown  %s change\n", mark[1], mark[2],
               mark[0], tick);
}

/* The parts of a GetMatrixAt document gathered into doc: the providers of the first part,
 * the models of every one. */
static int ctl_matrix_gather(const json_t *params, bool last, void *userdata)
{
        const json_t *m = json_object_get(params, "matrix");
        json_t *doc = userdata, *providers = json_object_get(m, "providers"),
               *models = json_object_get(m, "models");

        (void)last;
        if (providers && json_object_set(doc, "providers", providers) < 0)
                util_oom();
        if (models && json_array_extend(json_object_get(doc, "models"), models) < 0)
                util_oom();
        return EXIT_OK;
}

static int cmd_timeline(char **args, size_t n)
{
        _cleanup_free_ char *glob = NULL;
        CtlTimeline t = {0};
        uint64_t since = 0, until = 0;
        json_t *doc = NULL, *params;
        int r;

        if (n != 1) {
                fprintf(stderr, "lockwatchctl: timeline takes one MODEL\n");
                return EXIT_USAGE;
        }
        if (arg_json) {
                fprintf(stderr, "lockwatchctl: timeline is a picture; for data use history "
                                "--json\n");
                return EXIT_USAGE;
        }
        if ((arg_since && ctl_time_option("since", arg_since, false, &since) < 0) ||
            (arg_until && ctl_time_option("until", arg_until, true, &until) < 0))
                return EXIT_USAGE;
        if (!until)
                until = util_now_real();
        if (since && since >= until) {
                fprintf(stderr, "lockwatchctl: --since must come before --until\n");
                return EXIT_USAGE;
        }
        glob = ctl_model_glob(args[0]);
        doc = json_pack("{s:[], s:[]}", "providers", "models");
        if (!doc)
                util_oom();
        params =
            json_pack("{s:s, s:b, s:I}", "model", glob, "quiet", true, "until", (json_int_t)until);
        if (since)
                json_object_set_new(params, "since", json_integer((json_int_t)since));
        r = ctl_call_more("io.lockwatch.GetHistory", params, ctl_timeline_page, &t);
        if (r != EXIT_OK)
                goto out;
        if (t.ambiguous) {
                fprintf(stderr, "lockwatchctl: '%s' matches more than one model; name one\n",
                        args[0]);
                r = EXIT_USAGE;
                goto out;
        }
        if (!since)
                since = t.first;
        /* Where each cell stood when the picture begins: the matrix rebuilt at that time,
         * which also orders the rows as the matrix orders its columns. */
        if (since) {
                r = ctl_call_more("io.lockwatch.GetMatrixAt",
                                  json_pack("{s:I, s:s}", "at", (json_int_t)(since - 1), "model",
                                            t.model ? t.model : glob),
                                  ctl_matrix_gather, doc);
                if (r != 0)
                        goto out;
        }
        const json_t *mj, *pj;
        size_t i;
        json_array_foreach(json_object_get(doc, "models"), i, mj)
        {
                const char *key;
                const json_t *cj;
                if (!ctl_timeline_model(&t, ctl_str(mj, "id", NULL)))
                        continue;
                json_object_foreach((json_t *)json_object_get(mj, "cells"), key, cj)
                {
                        CtlRow *row = ctl_timeline_row(&t, key);
                        if (row)
                                row->initial = ctl_state_index(ctl_str(cj, "state", NULL));
                }
        }
        if (t.ambiguous || !t.model || t.n_rows == 0) {
                fprintf(stderr, "lockwatchctl: %s\n",
                        t.ambiguous ? "the model is ambiguous; name one"
                                    : "no recorded cell of that model in that time");
                r = t.ambiguous ? EXIT_USAGE : EXIT_DAEMON;
                goto out;
        }
        /* Rows in the matrix's column order (clouds first); columns it no longer has after. */
        CtlRow sorted[CTL_TIMELINE_MAX_ROWS];
        size_t ns = 0;
        json_array_foreach(json_object_get(doc, "providers"), i, pj)
        {
                for (size_t k = 0; k < t.n_rows; k++)
                        if (t.rows[k].provider &&
                            streq(t.rows[k].provider, ctl_str(pj, "id", ""))) {
                                sorted[ns++] = t.rows[k];
                                t.rows[k].provider = NULL;
                        }
        }
        for (size_t k = 0; k < t.n_rows; k++)
                if (t.rows[k].provider)
                        sorted[ns++] = t.rows[k];
        memcpy(t.rows, sorted, ns * sizeof(CtlRow));
        ctl_timeline_draw(&t, since, until);
        if (t.dropped)
                printf("(%zu change%s not drawn: more than %u providers or changes)\n", t.dropped,
                       t.dropped == 1 ? "" : "s", CTL_TIMELINE_MAX_CHANGES);
out:
        for (size_t k = 0; k < t.n_rows; k++) {
                free(t.rows[k].provider);
                free(t.rows[k].changes);
        }
        free(t.model);
        json_decref(doc);
        return r;
}

static int cmd_watch(char **args, size_t n)
{
        CtlConn c = {.fd = -1};
        VarlinkReply rp = {0};
        int r;

        if (n != 0) {
                fprintf(stderr, "lockwatchctl: watch takes no arguments\n");
                return EXIT_USAGE;
        }
        if (ctl_connect(arg_socket, &c) < 0)
                return EXIT_CONNECT;
        r = ctl_send(&c, "io.lockwatch.Subscribe", NULL, VARLINK_MORE);
        while (r >= 0) {
                r = ctl_receive(&c, &rp);
                if (r < 0)
                        break;
                if (rp.error) {
                        int code = ctl_report_error("io.lockwatch.Subscribe", &rp);
                        varlink_reply_clear(&rp);
                        ctl_close(&c);
                        return code;
                }
                const json_t *ev = json_object_get(rp.parameters, "event");
                if (arg_json) {
                        _cleanup_free_ char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
                        printf("%s\n", s ? s : "{}");
                } else
                        ctl_print_event(ev);
                fflush(stdout);
                bool more = rp.continues;
                varlink_reply_clear(&rp);
                if (!more)
                        break;
        }
        ctl_close(&c);
        if (r == -ECONNRESET) {
                fprintf(stderr, "lockwatchctl: the daemon closed the connection\n");
                return EXIT_CONNECT;
        }
        if (r < 0) {
                fprintf(stderr, "lockwatchctl: watch: %s\n", strerror(-r));
                return EXIT_CONNECT;
        }
        return EXIT_OK;
}

static int cmd_poll(char **args, size_t n)
{
        json_t *rp = NULL;
        int r;

        if (n > 1) {
                fprintf(stderr, "lockwatchctl: poll takes at most one SOURCE\n");
                return EXIT_USAGE;
        }
        if (arg_accept && n != 1) {
                fprintf(stderr, "lockwatchctl: poll --accept needs a SOURCE\n");
                return EXIT_USAGE;
        }
        r = ctl_call("io.lockwatch.Poll",
                     n ? json_pack("{s:s, s:b}", "source", args[0], "accept", arg_accept) : NULL,
                     &rp);
        if (r == 0 && arg_json)
                r = ctl_print_json(rp);
        json_decref(rp);
        return r;
}

static int cmd_reload(char **args, size_t n)
{
        json_t *rp = NULL;
        int r;

        if (n != 0) {
                fprintf(stderr, "lockwatchctl: reload takes no arguments\n");
                return EXIT_USAGE;
        }
        r = ctl_call("io.lockwatch.Reload", NULL, &rp);
        if (r == 0 && arg_json)
                r = ctl_print_json(rp);
        json_decref(rp);
        return r;
}

enum {
        OPT_SOCKET = 0x100,
        OPT_JSON,
        OPT_NO_PAGER,
        OPT_ASCII,
        OPT_WIDE,
        OPT_EXIT_STATUS,
        OPT_ACCEPT,
        OPT_MODEL,
        OPT_LIMIT,
        OPT_VENDOR,
        OPT_PROVIDER,
        OPT_SINGLE_CLOUD,
        OPT_CLOUDS,
        OPT_ON,
        OPT_NOT_ON,
        OPT_STATE,
        OPT_SINCE,
        OPT_UNTIL,
        OPT_AT,
        OPT_VERSION,
};

#define BIT(o) (UINT32_C(1) << ((o)-OPT_SOCKET))
/* Options every command takes. */
#define OPTS_ANY (BIT(OPT_SOCKET) | BIT(OPT_JSON) | BIT(OPT_NO_PAGER))

static const struct {
        const char *name;
        int (*fn)(char **args, size_t n);
        uint32_t opts; /* the options that apply, beyond OPTS_ANY */
        bool pager;    /* output worth paging */
} commands[] = {
    {"status", cmd_status, 0, true},
    {"matrix", cmd_matrix,
     BIT(OPT_ASCII) | BIT(OPT_WIDE) | BIT(OPT_VENDOR) | BIT(OPT_PROVIDER) | BIT(OPT_SINGLE_CLOUD) |
         BIT(OPT_CLOUDS) | BIT(OPT_ON) | BIT(OPT_NOT_ON) | BIT(OPT_AT),
     true},
    {"alerts", cmd_alerts, BIT(OPT_EXIT_STATUS) | BIT(OPT_STATE), true},
    {"explain", cmd_explain, 0, true},
    {"history", cmd_history, BIT(OPT_MODEL) | BIT(OPT_LIMIT) | BIT(OPT_SINCE) | BIT(OPT_UNTIL),
     true},
    {"timeline", cmd_timeline, BIT(OPT_SINCE) | BIT(OPT_UNTIL) | BIT(OPT_ASCII), true},
    {"watch", cmd_watch, 0, false},
    {"poll", cmd_poll, BIT(OPT_ACCEPT), false},
    {"reload", cmd_reload, 0, false},
};

static const struct option options[] = {
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"json", no_argument, NULL, OPT_JSON},
    {"no-pager", no_argument, NULL, OPT_NO_PAGER},
    {"ascii", no_argument, NULL, OPT_ASCII},
    {"wide", no_argument, NULL, OPT_WIDE},
    {"exit-status", no_argument, NULL, OPT_EXIT_STATUS},
    {"accept", no_argument, NULL, OPT_ACCEPT},
    {"model", required_argument, NULL, OPT_MODEL},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"vendor", required_argument, NULL, OPT_VENDOR},
    {"provider", required_argument, NULL, OPT_PROVIDER},
    {"single-cloud", no_argument, NULL, OPT_SINGLE_CLOUD},
    {"clouds", required_argument, NULL, OPT_CLOUDS},
    {"on", required_argument, NULL, OPT_ON},
    {"not-on", required_argument, NULL, OPT_NOT_ON},
    {"state", required_argument, NULL, OPT_STATE},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"at", required_argument, NULL, OPT_AT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {},
};

static uint32_t opts_given;

static int parse_argv(int argc, char **argv)
{
        uint64_t v;
        int c;

        /* Options may follow the command ("lockwatchctl alerts --exit-status"). */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                if (c >= OPT_SOCKET && c <= OPT_VERSION)
                        opts_given |= BIT(c);
                switch (c) {
                case OPT_SOCKET:
                        arg_socket = optarg;
                        break;
                case OPT_JSON:
                        arg_json = true;
                        break;
                case OPT_NO_PAGER:
                        arg_no_pager = true;
                        break;
                case OPT_ASCII:
                        arg_ascii = true;
                        break;
                case OPT_WIDE:
                        arg_wide = true;
                        break;
                case OPT_ACCEPT:
                        arg_accept = true;
                        break;
                case OPT_EXIT_STATUS:
                        arg_exit_status = true;
                        break;
                case OPT_MODEL:
                        arg_model = optarg;
                        break;
                case OPT_VENDOR:
                        arg_vendor = optarg;
                        break;
                case OPT_PROVIDER:
                        arg_provider = optarg;
                        break;
                case OPT_SINGLE_CLOUD:
                        arg_single_cloud = true;
                        break;
                case OPT_ON:
                        arg_on = optarg;
                        break;
                case OPT_NOT_ON:
                        arg_not_on = optarg;
                        break;
                case OPT_STATE:
                        arg_state = optarg;
                        break;
                case OPT_SINCE:
                        arg_since = optarg;
                        break;
                case OPT_UNTIL:
                        arg_until = optarg;
                        break;
                case OPT_AT:
                        arg_at = optarg;
                        break;
                case OPT_CLOUDS:
                        if (util_parse_uint(optarg, &v) < 0 || v > 256) {
                                fprintf(stderr, "lockwatchctl: invalid --clouds '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_clouds = (long long)v;
                        break;
                case OPT_LIMIT:
                        if (util_parse_uint(optarg, &v) < 0 || v > INT32_MAX) {
                                fprintf(stderr, "lockwatchctl: invalid --limit '%s'\n", optarg);
                                return -EINVAL;
                        }
                        arg_limit = (long long)v;
                        break;
                case 'h':
                        help();
                        return 0;
                case OPT_VERSION:
                        printf("lockwatchctl " LOCKWATCH_VERSION "\n");
                        return 0;
                default:
                        fprintf(stderr, "Try 'lockwatchctl --help'.\n");
                        return -EINVAL;
                }
        }
        if (!arg_socket)
                arg_socket = getenv("LOCKWATCH_SOCKET");
        if (!arg_socket || !*arg_socket)
                arg_socket = DEFAULT_SOCKET;
        return 1;
}

/* An option that does not apply to the command is a mistake worth saying, not ignoring. */
static int check_options(size_t cmd)
{
        uint32_t stray = opts_given & ~(OPTS_ANY | commands[cmd].opts);

        for (const struct option *o = options; stray && o->name; o++)
                if (o->val >= OPT_SOCKET && o->val <= OPT_VERSION && (stray & BIT(o->val))) {
                        fprintf(stderr,
                                "lockwatchctl: --%s does not apply to '%s'\nTry 'lockwatchctl "
                                "--help'.\n",
                                o->name, commands[cmd].name);
                        return -EINVAL;
                }
        return 0;
}

int main(int argc, char **argv)
{
        const char *codeset;
        int r;

        setlocale(LC_CTYPE, "");
        codeset = nl_langinfo(CODESET);
        ctl_utf8 = codeset && (strcasecmp(codeset, "UTF-8") == 0 || strcasecmp(codeset, "utf8") == 0);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_OK;
        if (optind >= argc) {
                fprintf(stderr, "lockwatchctl: no command given\nTry 'lockwatchctl --help'.\n");
                return EXIT_USAGE;
        }
        signal(SIGPIPE, SIG_IGN);
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(argv[optind], commands[i].name)) {
                        if (check_options(i) < 0)
                                return EXIT_USAGE;
                        ctl_columns = ctl_terminal_columns();
                        if (commands[i].pager)
                                ctl_pager_start();
                        r = commands[i].fn(argv + optind + 1, (size_t)(argc - optind - 1));
                        fflush(stdout);
                        ctl_pager_end();
                        return r;
                }
        fprintf(stderr, "lockwatchctl: unknown command '%s'\nTry 'lockwatchctl --help'.\n",
                argv[optind]);
        return EXIT_USAGE;
}
