/* lockwatchd: command line, table loading, and the event loop. Every event
 * source the daemon has is registered here, in this order:
 *   1. signals SIGTERM, SIGINT (exit) and SIGHUP (reload)
 *   2. the watchdog (sd_event_set_watchdog), when systemd asks for one
 *   3. the fetcher's sockets and timer (created by fetch_new, driven by curl)
 *   4. one poll timer per source (poller_start)
 *   5. the alert sinks (sinks_new): a kick after each rule round, a delivery timer per
 *      Alertmanager and webhook; their requests go through the fetcher of 3
 *   6. the control socket (control_new): its listening socket and clients
 *   7. /metrics (metrics_new), when configured: its listening socket and clients
 *   8. a post source that keeps sd_notify STATUS= current
 */
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "lockwatch/adapter.h"
#include "lockwatch/config.h"
#include "lockwatch/control.h"
#include "lockwatch/fetch.h"
#include "lockwatch/httpd.h"
#include "lockwatch/log.h"
#include "lockwatch/metrics.h"
#include "lockwatch/normalize.h"
#include "lockwatch/poller.h"
#include "lockwatch/secret.h"
#include "lockwatch/journal.h"
#include "lockwatch/render.h"
#include "lockwatch/replay.h"
#include "lockwatch/ruleload.h"
#include "lockwatch/rules_eval.h"
#include "lockwatch/ruletest.h"
#include "lockwatch/sink.h"
#include "lockwatch/state.h"
#include "lockwatch/tableload.h"
#include "lockwatch/util.h"

#define DEFAULT_CONFIG "/etc/lockwatch/lockwatch.conf"
#define TABLE_MAX_BYTES (4u * 1024u * 1024u)

static const char *arg_config = DEFAULT_CONFIG;
static const char *arg_state_dir;
static const char *arg_socket;
static const char *arg_providers;
static const char *arg_aliases;
static const char *arg_model;
static const char *arg_replay;
static const char *arg_rules_dir;
static char **arg_test_files;
static size_t arg_n_test_files;
static bool arg_once, arg_fetch_only, arg_json, arg_check, arg_ascii, arg_wide, arg_test;
static int arg_log_level = LOG_INFO;
static bool arg_log_level_set;

static void help(void)
{
        printf("Usage: lockwatchd [OPTIONS]\n"
               "\n"
               "Watch where AI models can be called; alert when one narrows to a single cloud.\n"
               "\n"
               "Modes:\n"
               "      (default)          run as a daemon in the foreground (systemd Type=notify)\n"
               "      --once             poll every enabled source once, print the results and\n"
               "                         the matrix, exit 0 if every source was ok, 1 otherwise\n"
               "      --check-config     validate the config, provider and alias tables and the\n"
               "                         rules; print 'configuration OK' and exit 0, or the\n"
               "                         errors and exit 1\n"
               "      --replay DIR       feed DIR/<time>/<source>[.ext] snapshot sets through\n"
               "                         the pipeline with a simulated clock; print every\n"
               "                         transition as the journal would show it\n"
               "      --test-rules FILE...  run rule unit tests; exit 1 on any mismatch\n"
               "\n"
               "Options:\n"
               "  -c, --config PATH      configuration file (default " DEFAULT_CONFIG ")\n"
               "      --state-dir DIR    state directory (default: $STATE_DIRECTORY, then the\n"
               "                         config's state_dir; --once keeps no state without it)\n"
               "      --socket PATH      control socket path (overrides the config's socket)\n"
               "      --providers PATH   provider table (overrides the config's providers)\n"
               "      --aliases PATH     alias table (overrides the config's aliases)\n"
               "      --rules-dir DIR    shipped rules (default: share/lockwatch/rules beside\n"
               "                         the installed binary; none for a build tree)\n"
               "      --fetch-only       with --once: fetch and classify, do not parse\n"
               "      --json             with --once: print one JSON document; with --replay:\n"
               "                         one JSON object per transition\n"
               "      --model GLOB       with --once: show only models whose id matches GLOB,\n"
               "                         and the alerts about them\n"
               "      --ascii            with --once: plain ASCII marks in the grid\n"
               "      --wide             with --once: a column for every provider, not only\n"
               "                         the clouds with direct and aggregator summaries\n"
               "      --log-level LEVEL  err, warning, notice, info (default) or debug\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Source formats (format = in a [source NAME] section):\n");
        /* From the adapter table itself, so the list cannot go stale. */
        for (const Adapter *const *a = adapter_all(); *a; a++) {
                const Adapter *f = *a;
                printf("  %-21s  %s%s\n", f->name, f->description,
                       f->needs_provider && f->needs_columns ? " (needs provider, columns)"
                       : f->needs_columns                    ? " (needs columns)"
                                                             : "");
        }
        printf("\nSee also: lockwatchctl --help; README.md and docs/ in the sources.\n");
}

enum {
        OPT_STATE_DIR = 0x100,
        OPT_SOCKET,
        OPT_PROVIDERS,
        OPT_ALIASES,
        OPT_ONCE,
        OPT_FETCH_ONLY,
        OPT_JSON,
        OPT_MODEL,
        OPT_CHECK,
        OPT_ASCII,
        OPT_WIDE,
        OPT_LOG_LEVEL,
        OPT_VERSION,
        OPT_REPLAY,
        OPT_TEST_RULES,
        OPT_RULES_DIR,
};

static int parse_argv(int argc, char **argv)
{
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                {"socket", required_argument, NULL, OPT_SOCKET},
                {"providers", required_argument, NULL, OPT_PROVIDERS},
                {"aliases", required_argument, NULL, OPT_ALIASES},
                {"once", no_argument, NULL, OPT_ONCE},
                {"fetch-only", no_argument, NULL, OPT_FETCH_ONLY},
                {"json", no_argument, NULL, OPT_JSON},
                {"model", required_argument, NULL, OPT_MODEL},
                {"check-config", no_argument, NULL, OPT_CHECK},
                {"ascii", no_argument, NULL, OPT_ASCII},
                {"wide", no_argument, NULL, OPT_WIDE},
                {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {"replay", required_argument, NULL, OPT_REPLAY},
                {"test-rules", no_argument, NULL, OPT_TEST_RULES},
                {"rules-dir", required_argument, NULL, OPT_RULES_DIR},
                {},
        };
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"err", LOG_ERR},       {"error", LOG_ERR},   {"warning", LOG_WARNING},
                      {"notice", LOG_NOTICE}, {"info", LOG_INFO},   {"debug", LOG_DEBUG}};
        int c;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case OPT_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case OPT_SOCKET:
                        arg_socket = optarg;
                        break;
                case OPT_PROVIDERS:
                        arg_providers = optarg;
                        break;
                case OPT_ALIASES:
                        arg_aliases = optarg;
                        break;
                case OPT_ONCE:
                        arg_once = true;
                        break;
                case OPT_FETCH_ONLY:
                        arg_fetch_only = true;
                        break;
                case OPT_JSON:
                        arg_json = true;
                        break;
                case OPT_MODEL:
                        arg_model = optarg;
                        break;
                case OPT_CHECK:
                        arg_check = true;
                        break;
                case OPT_ASCII:
                        arg_ascii = true;
                        break;
                case OPT_WIDE:
                        arg_wide = true;
                        break;
                case OPT_REPLAY:
                        arg_replay = optarg;
                        break;
                case OPT_TEST_RULES:
                        arg_test = true;
                        break;
                case OPT_RULES_DIR:
                        arg_rules_dir = optarg;
                        break;
                case OPT_LOG_LEVEL: {
                        bool found = false;
                        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                                if (streq(optarg, levels[i].name)) {
                                        arg_log_level = levels[i].level;
                                        arg_log_level_set = true;
                                        found = true;
                                }
                        if (!found) {
                                fprintf(stderr, "lockwatchd: unknown log level '%s'\n", optarg);
                                return -EINVAL;
                        }
                        break;
                }
                case 'h':
                        help();
                        return 0;
                case OPT_VERSION:
                        printf("lockwatchd " LOCKWATCH_VERSION "\n");
                        return 0;
                default:
                        fprintf(stderr, "Try 'lockwatchd --help'.\n");
                        return -EINVAL;
                }
        }
        if (arg_test) {
                if (optind >= argc) {
                        fprintf(stderr, "lockwatchd: --test-rules needs at least one FILE\n");
                        return -EINVAL;
                }
                arg_test_files = argv + optind;
                arg_n_test_files = (size_t)(argc - optind);
        } else if (optind < argc) {
                fprintf(stderr, "lockwatchd: unexpected argument '%s'\nTry 'lockwatchd --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        if ((arg_fetch_only || arg_model || arg_ascii || arg_wide) && !arg_once) {
                fprintf(stderr, "lockwatchd: --fetch-only, --model, --ascii and --wide need "
                                "--once\n");
                return -EINVAL;
        }
        if (arg_json && !arg_once && !arg_replay) {
                fprintf(stderr, "lockwatchd: --json needs --once or --replay\n");
                return -EINVAL;
        }
        if ((int)arg_once + (int)arg_check + (int)!!arg_replay + (int)arg_test > 1) {
                fprintf(stderr, "lockwatchd: --once, --check-config, --replay and --test-rules "
                                "exclude each other\n");
                return -EINVAL;
        }
        return 1;
}

/* Relative table paths in the config are relative to the config file. */
static char *resolve_path(const char *config_path, const char *p)
{
        if (p[0] == '/')
                return xstrdup(p);
        _cleanup_free_ char *copy = xstrdup(config_path);
        return xasprintf("%s/%s", dirname(copy), p);
}

/* The last error load_tables() reported, for a Reload() over the control socket. */
static char load_error[1024];

static void load_failed(const char *msg)
{
        log_error("%s", msg);
        snprintf(load_error, sizeof(load_error), "%s", msg);
}

/* p made absolute against the working directory: the control socket's path must be, and
 * a reload must find the same one. */
static char *absolute_path(const char *p)
{
        _cleanup_free_ char *cwd = NULL;

        if (p[0] == '/' || !(cwd = getcwd(NULL, 0)))
                return xstrdup(p);
        return xasprintf("%s/%s", cwd, p);
}

/* Load config and both tables into t; every error is printed as file:line:col. */
/* A `provider =` that maps to nothing would make every row of the source unlisted: the
 * source would parse to nothing, silently. */
static int check_source_providers(const Config *c, const ProviderMap *pm, const char *ppath)
{
        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceConfig *s = &c->sources[i];
                const char *hint;
                int r;

                if (!s->provider)
                        continue;
                r = provider_map_lookup(pm, s->provider, NULL, NULL);
                if (r == 0)
                        continue;
                hint = provider_map_suggest(pm, s->provider);
                _cleanup_free_ char *m = xasprintf(
                    "%s:%u:%u: [source %s]: provider '%s' %s %s%s%s%s", c->path,
                    s->provider_line, s->provider_col, s->name, s->provider,
                    r == -ESRCH ? "is ignored ('= -') by"
                                : "is neither a provider column nor an upstream name in",
                    ppath, hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
                load_failed(m);
                return -EINVAL;
        }
        return 0;
}

/* What one load read, for --check-config to say. */
typedef struct LoadReport {
        char *providers_files, *aliases_files, *rules_dir;
        size_t n_rule_files;
} LoadReport;

static void load_report_clear(LoadReport *r)
{
        free(r->providers_files);
        free(r->aliases_files);
        free(r->rules_dir);
        *r = (LoadReport){0};
}

/* The shipped rules: --rules-dir, else share/lockwatch/rules beside the installed binary. */
static char *shipped_rules_dir(void)
{
        const char *data = tableload_data_dir();

        if (arg_rules_dir)
                return xstrdup(arg_rules_dir);
        return data ? xasprintf("%s/rules", data) : NULL;
}

static int load_tables(PollerTables *t, LoadReport *rep)
{
        PollerTables n = {0};
        LoadReport lr = {0};
        _cleanup_free_ char *ppath = NULL, *apath = NULL, *rerr = NULL, *terr = NULL;
        ConfigError cerr;
        bool no_rules;
        int r;

        r = config_load(arg_config, &n.config, &cerr);
        if (r < 0) {
                load_failed(cerr.message);
                return r;
        }
        if (arg_socket) {
                free(n.config->socket_path);
                n.config->socket_path = absolute_path(arg_socket);
        }
        /* The command line's --log-level wins over the configuration's. */
        if (!arg_log_level_set && n.config->log_level)
                log_set_max_priority(config_log_level(n.config->log_level));

        /* Each table is the shipped one with the administrator's file and drop-ins over it. */
        ppath = arg_providers ? xstrdup(arg_providers)
                              : resolve_path(arg_config, n.config->providers_path);
        r = tableload_providers(ppath, &n.providers, &lr.providers_files, &terr);
        if (r < 0) {
                _cleanup_free_ char *m = xasprintf("cannot read the provider table: %s", terr);
                load_failed(m);
                goto fail;
        }
        r = check_source_providers(n.config, n.providers, lr.providers_files);
        if (r < 0)
                goto fail;

        apath = arg_aliases ? xstrdup(arg_aliases) : resolve_path(arg_config, n.config->aliases_path);
        r = tableload_aliases(apath, &n.aliases, &lr.aliases_files, &terr);
        if (r < 0) {
                _cleanup_free_ char *m = xasprintf("cannot read the alias table: %s", terr);
                load_failed(m);
                goto fail;
        }

        no_rules = n.config->rules && streq(n.config->rules, "none");
        lr.rules_dir = shipped_rules_dir();
        r = ruleload_files(lr.rules_dir, no_rules ? NULL : n.config->rules, &n.rules,
                           &lr.n_rule_files, &rerr);
        if (r < 0) {
                load_failed(rerr ? rerr : strerror(-r));
                goto fail;
        }
        /* A daemon without rules watches and never says anything: that must be meant. */
        if (lr.n_rule_files == 0 && !no_rules) {
                _cleanup_free_ char *m = xasprintf(
                    "%s: no rule files: none shipped%s%s%s, none matching 'rules = %s'; set "
                    "'rules = none' to run without rules",
                    n.config->path, lr.rules_dir ? " in " : "", lr.rules_dir ? lr.rules_dir : "",
                    lr.rules_dir ? "" : " (not installed, and no --rules-dir)",
                    n.config->rules ? n.config->rules : "");
                load_failed(m);
                r = -ENOENT;
                goto fail;
        }
        *t = n;
        if (rep)
                *rep = lr;
        else
                load_report_clear(&lr);
        return 0;
fail:
        load_report_clear(&lr);
        poller_tables_clear(&n);
        return r;
}

/* --check-config: what was loaded, so a missing rules directory or table is seen. */
static void print_loaded(const PollerTables *t, const LoadReport *lr)
{
        const Config *c = t->config;
        size_t enabled = 0, auth = 0;

        printf("configuration: %s\n", c->path);
        for (size_t i = 0; i < c->n_sources; i++) {
                enabled += c->sources[i].enabled;
                auth += c->sources[i].enabled && c->sources[i].authoritative;
        }
        printf("sources: %zu (%zu enabled, %zu authoritative)\n", c->n_sources, enabled, auth);
        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceConfig *sc = &c->sources[i];
                const char *cred = sc->credential ? sc->credential : NULL;
                if (cred && startswith(cred, "credential:"))
                        cred += strlen("credential:");
                printf("  %s: %s%s%s", sc->name, sc->format, sc->provider ? ", provider " : "",
                       sc->provider ? sc->provider : "");
                if (sc->n_regions > 0)
                        printf(", %zu region%s", sc->n_regions, sc->n_regions == 1 ? "" : "s");
                /* The credential's name or path, never what it holds. */
                if (cred)
                        printf(", auth %s with credential %s",
                               adapter_auth_name((AdapterAuth)sc->auth), cred);
                printf("%s%s\n", sc->authoritative ? ", authoritative" : "",
                       sc->enabled ? "" : ", disabled");
        }
        printf("provider table: %zu lines from %s\n", provider_map_count(t->providers),
               lr->providers_files);
        printf("alias table: %zu aliases from %s\n", alias_table_count(t->aliases),
               lr->aliases_files);
        printf("rules: %zu from %zu file%s (shipped: %s; rules = %s)\n",
               t->rules ? t->rules->n_rules : (size_t)0, lr->n_rule_files,
               lr->n_rule_files == 1 ? "" : "s", lr->rules_dir ? lr->rules_dir : "none",
               c->rules ? c->rules : "-");
        printf("log level: %s\n", c->log_level ? c->log_level : "info");
}

/* --check-config reads every secret the configuration names (and forgets it): a key that
 * is missing at the first poll would only show as a degraded source. */
static int check_secrets(const Config *c)
{
        int ret = 0;

        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceConfig *sc = &c->sources[i];
                _cleanup_free_ char *error = NULL;

                if (!sc->enabled || !sc->credential)
                        continue;
                if (secret_check(sc->credential, SECRET_MULTILINE, &error) < 0) {
                        log_error("%s:%u: [source %s]: %s", c->path, sc->line, sc->name, error);
                        ret = -ENOENT;
                }
        }
        for (size_t i = 0; i < c->n_sinks; i++) {
                const SinkConfig *k = &c->sinks[i];
                const char *specs[] = {k->bearer_token_file, k->basic_auth_password_file};

                for (size_t j = 0; j < ELEMENTSOF(specs); j++) {
                        _cleanup_free_ char *error = NULL;
                        if (specs[j] && secret_check(specs[j], 0, &error) < 0) {
                                log_error("%s:%u: [%s %s]: %s", c->path, k->line,
                                          config_sink_kind_name(k->kind), k->name, error);
                                ret = -ENOENT;
                        }
                }
        }
        return ret;
}

static const char *state_dir_for(const Config *c)
{
        if (arg_state_dir)
                return arg_state_dir;
        if (arg_once)
                return NULL;
        const char *env = getenv("STATE_DIRECTORY");
        if (env && *env) {
                /* systemd may pass several, colon-separated: the first is ours. */
                static char first[4096];
                snprintf(first, sizeof(first), "%s", env);
                char *colon = strchr(first, ':');
                if (colon)
                        *colon = '\0';
                return first;
        }
        return c->state_dir;
}

static int load_state_file(const char *dir, const RuleSet *rules, State **ret);

/* The state and, beside it, the history store. */
static int load_state(const char *dir, const PollerTables *t, State **ret)
{
        int r = load_state_file(dir, t->rules, ret);

        if (r < 0 || !dir)
                return r;
        r = poller_history_open(*ret, dir, t->config);
        if (r < 0) {
                state_free(*ret);
                *ret = NULL;
        }
        return r;
}

static int load_state_file(const char *dir, const RuleSet *rules, State **ret)
{
        _cleanup_free_ char *error = NULL;
        int r;

        if (!dir)
                return state_new(ret);
        r = state_dir_prepare(dir, &error);
        if (r >= 0)
                r = state_dir_lock(dir, &error);
        if (r < 0) {
                log_error("%s", error);
                return r;
        }
        r = state_load(dir, rules, ret, &error);
        if (r == -EBADMSG) {
                const char *fields[] = {"MESSAGE_ID=" LW_MESSAGE_STATE_CORRUPT, NULL};
                log_fields(LOG_ERR, fields,
                           "state file is corrupt and was not trusted: %s; starting empty", error);
                return state_new(ret);
        }
        if (r < 0)
                log_error("%s", error ? error : strerror(-r));
        return r;
}

/* A text that is not UTF-8 is printed repaired: a failed encode is not memory exhaustion. */
static json_t *str_or_null(const char *s)
{
        json_t *j;

        if (!s)
                return json_null();
        j = json_string(s);
        if (!j) {
                _cleanup_free_ char *clean = util_utf8_dup(s, SIZE_MAX);
                j = json_string(clean);
        }
        return j;
}

/* The alerts after this evaluation: firing ones with their summary, pending ones
 * (waiting out their `for`) by name. */
/* With --model, only the alerts about the models shown (source alerts are left out too). */
static bool alert_shown(const Alert *a, AlertPhase phase)
{
        return a->phase == phase && (!arg_model || fnmatch(arg_model, a->key, FNM_CASEFOLD) == 0);
}

static void print_alerts(const AlertTable *at)
{
        size_t firing = 0, pending = 0;

        for (size_t i = 0; at && i < at->n; i++) {
                firing += alert_shown(at->alerts[i], ALERT_FIRING);
                pending += alert_shown(at->alerts[i], ALERT_PENDING);
        }
        printf("\nalerts: %zu firing, %zu pending\n", firing, pending);
        for (size_t i = 0; at && i < at->n; i++) {
                const Alert *a = at->alerts[i];
                if (alert_shown(a, ALERT_FIRING))
                        printf("  firing   %s %s: %s\n", a->rule, a->key,
                               a->summary ? a->summary : "");
        }
        for (size_t i = 0; at && i < at->n; i++) {
                const Alert *a = at->alerts[i];
                if (alert_shown(a, ALERT_PENDING))
                        printf("  pending  %s %s\n", a->rule, a->key);
        }
}

static int print_once(const Poller *p)
{
        const Config *c = poller_config(p);
        const State *st = poller_state(p);
        RenderOptions ro = {.model_glob = arg_model,
                            .color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR"),
                            .ascii = arg_ascii,
                            .compact = !arg_wide};
        bool all_ok = true;
        json_t *sources = json_array();
        int r;

        for (size_t i = 0; i < c->n_sources; i++) {
                const SourceConfig *sc = &c->sources[i];
                const PollOutcome *o = poller_outcome(p, i);
                SourceState *ss = state_source((State *)st, sc->name);
                const FetchValidators *v = &ss->validators;

                if (!sc->enabled)
                        continue;
                bool ok = o->done && (streq(o->result, "ok") || streq(o->result, "not-modified"));
                if (!ok)
                        all_ok = false;
                if (arg_json) {
                        json_t *j = json_pack(
                                "{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "name",
                                sc->name, "result", o->done ? o->result : "not-polled",
                                "http_status", (json_int_t)o->http_status, "bytes",
                                (json_int_t)o->bytes, "ms",
                                (json_int_t)(o->elapsed_usec / USEC_PER_MSEC), "attempts",
                                (json_int_t)o->attempts, "etag", str_or_null(v->etag),
                                "last_modified", str_or_null(v->last_modified), "error",
                                str_or_null(o->error[0] ? o->error : NULL));
                        if (!j)
                                util_oom();
                        if (o->ingested) {
                                json_object_set_new(j, "observations",
                                                    json_integer((json_int_t)o->report.observations));
                                json_object_set_new(j, "applied",
                                                    json_integer((json_int_t)o->report.applied));
                                json_object_set_new(j, "unlisted",
                                                    json_integer((json_int_t)o->report.unlisted));
                                json_t *um = json_array();
                                size_t nu = MIN(o->report.n_unmapped,
                                                (size_t)INGEST_MAX_REPORTED);
                                for (size_t k = 0; k < nu; k++)
                                        json_array_append_new(um,
                                                              json_string(o->report.unmapped[k]));
                                json_object_set_new(j, "unmapped", um);
                                json_object_set_new(j, "unmapped_count",
                                                    json_integer((json_int_t)o->report.n_unmapped));
                        }
                        json_array_append_new(sources, j);
                        continue;
                }
                printf("%s %s bytes=%zu ms=%" PRIu64 " attempts=%u", sc->name,
                       o->done ? o->result : "not-polled", o->bytes,
                       o->elapsed_usec / USEC_PER_MSEC, o->attempts);
                printf(v->etag ? " etag=\"%s\"" : " etag=%s", v->etag ? v->etag : "-");
                printf(v->last_modified ? " last-modified=\"%s\"" : " last-modified=%s",
                       v->last_modified ? v->last_modified : "-");
                if (o->ingested) {
                        printf(" rows=%zu unlisted=%zu unmapped=%zu", o->report.applied,
                               o->report.unlisted, o->report.n_unmapped);
                        /* Upstream provider names the table maps to no column, so the
                         * operator sees what a relabel upstream turned into. */
                        for (size_t k = 0; k < o->report.n_unlisted_names && k < 5; k++)
                                printf("%s%s", k ? "," : " unlisted-providers=",
                                       o->report.unlisted_names[k]);
                }
                printf("\n");
                if (o->ingested && !ok && o->error[0])
                        printf("  %s: %s\n", o->result, o->error);
        }

        const AlertTable *at = rules_engine_alerts(st->engine);
        if (arg_json) {
                json_t *root = json_pack("{s:o}", "sources", sources);
                if (!arg_fetch_only) {
                        json_t *mj, *aj = json_array();
                        r = render_matrix_json(st->matrix, &ro, &mj);
                        if (r < 0)
                                return r;
                        json_object_set_new(root, "matrix", mj);
                        for (size_t i = 0; at && i < at->n; i++) {
                                const Alert *a = at->alerts[i];
                                if (!alert_shown(a, ALERT_FIRING) &&
                                    !alert_shown(a, ALERT_PENDING))
                                        continue;
                                json_array_append_new(
                                        aj, json_pack("{s:s, s:s, s:s, s:o}", "rule", a->rule,
                                                      "key", a->key, "state",
                                                      alert_phase_name(a->phase), "summary",
                                                      str_or_null(a->summary)));
                        }
                        json_object_set_new(root, "alerts", aj);
                }
                r = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                json_decref(root);
                if (r < 0)
                        return -EIO;
                printf("\n");
        } else {
                json_decref(sources);
                if (!arg_fetch_only) {
                        printf("\n");
                        r = render_matrix_text(stdout, st->matrix, &ro);
                        if (r < 0)
                                return r;
                        print_alerts(at);
                }
        }
        fflush(stdout);
        return all_ok ? 0 : 1;
}

/* --replay: no loop, no network, a simulated clock; transitions on stdout. */
static int run_replay(PollerTables *t)
{
        _cleanup_free_ char *error = NULL;
        State *st = NULL;
        size_t steps = 0;
        int r;

        r = load_state(arg_state_dir, t, &st);
        if (r < 0)
                return r;
        rules_engine_set_repeat_interval(st->engine, t->config->repeat_interval_usec);
        r = rules_engine_set_rules(st->engine, t->rules);
        if (r >= 0) {
                journal_setup(arg_json ? JOURNAL_MODE_REPLAY_JSON : JOURNAL_MODE_REPLAY_TEXT,
                              stdout);
                poller_record_history(st, true);
                r = replay_run(t, st, arg_replay, &steps, &error);
                poller_record_history(st, false);
                fflush(stdout);
        }
        if (r < 0)
                log_error("%s", error ? error : strerror(-r));
        else
                log_info("replayed %zu step(s) of %s", steps, arg_replay);
        if (r >= 0 && arg_state_dir) {
                r = state_save(arg_state_dir, st);
                if (r < 0)
                        log_errno(LOG_ERR, r, "cannot write state to %s", arg_state_dir);
        }
        state_free(st);
        return r;
}

/* sd_notify() with a non-blocking send: libsystemd's blocks when the receiver's queue
 * is full, and nothing may block the loop. A message that does not fit is dropped:
 * STATUS= is refreshed at the next change anyway. */
static void notify(const char *fmt, ...) _printf_(1, 2);

static void notify(const char *fmt, ...)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char msg[512];
        va_list ap;

        if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
                return;
        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(msg))
                return;
        size_t plen = strlen(path);
        memcpy(sa.sun_path, path, plen);
        if (path[0] == '@')
                sa.sun_path[0] = '\0'; /* an abstract socket */
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return;
        (void)sendto(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
                     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen));
        close(fd);
}

typedef struct Daemon {
        sd_event *event;
        Poller *poller;
        ControlServer *control;
        Sinks *sinks;
        Metrics *metrics;
        char status[256];
} Daemon;

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Daemon *d = userdata;
        log_info("received %s, stopping", strsignal((int)si->ssi_signo));
        notify("STOPPING=1");
        return sd_event_exit(d->event, 0);
}

/* SIGHUP and the control socket's Reload(): < 0 when the previous configuration stays. */
static int reload(void *userdata, char **ret_error)
{
        Daemon *d = userdata;
        PollerTables t = {0};
        int r;

        load_error[0] = '\0';
        notify("RELOADING=1\nMONOTONIC_USEC=%" PRIu64, util_now_mono());
        log_info("reloading %s", arg_config);
        r = load_tables(&t, NULL);
        if (r < 0) {
                log_error("reload failed; the previous configuration keeps running");
                if (ret_error && load_error[0])
                        *ret_error = xstrdup(load_error);
        } else {
                r = poller_reload(d->poller, &t);
                if (r >= 0)
                        r = sinks_configure(d->sinks, poller_config(d->poller));
                if (r < 0)
                        log_errno(LOG_ERR, r, "reload could not restart polling");
                else
                        log_info("configuration reloaded: %zu source(s)",
                                 poller_config(d->poller)->n_sources);
        }
        notify("READY=1");
        return r;
}

static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        (void)reload(userdata, NULL);
        return 0;
}

static int on_post(sd_event_source *s, void *userdata)
{
        Daemon *d = userdata;
        char line[256];

        poller_status_line(d->poller, line, sizeof(line));
        if (!streq(line, d->status)) {
                snprintf(d->status, sizeof(d->status), "%s", line);
                notify("STATUS=%s", line);
        }
        return 0;
}

static int run(PollerTables *tables)
{
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        Fetcher *fetcher = NULL;
        State *state = NULL;
        Daemon d = {0};
        sd_event_source *src;
        const char *state_dir = state_dir_for(tables->config);
        int r;

        r = load_state(state_dir, tables, &state);
        if (r < 0)
                return r;
        rules_engine_set_repeat_interval(state->engine, tables->config->repeat_interval_usec);

        r = sd_event_default(&event);
        if (r < 0)
                return log_errno(LOG_ERR, r, "cannot create the event loop");
        d.event = event;

        /* 1. signals */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (!arg_once) {
                r = sd_event_add_signal(event, &src, SIGTERM, on_exit_signal, &d);
                if (r >= 0) {
                        (void)sd_event_source_set_description(src, "signal-term");
                        r = sd_event_add_signal(event, &src, SIGINT, on_exit_signal, &d);
                }
                if (r >= 0) {
                        (void)sd_event_source_set_description(src, "signal-int");
                        r = sd_event_add_signal(event, &src, SIGHUP, on_reload_signal, &d);
                }
                if (r < 0) {
                        state_free(state);
                        return log_errno(LOG_ERR, r, "cannot watch signals");
                }
                (void)sd_event_source_set_description(src, "signal-hup");

                /* 2. watchdog: pinged from the loop, so a stalled loop gets restarted */
                r = sd_event_set_watchdog(event, true);
                if (r < 0)
                        log_errno(LOG_WARNING, r, "cannot enable the watchdog");
        }

        /* 3. the fetcher */
        r = fetch_new(event, &fetcher);
        if (r < 0) {
                state_free(state);
                return log_errno(LOG_ERR, r, "cannot set up the fetcher");
        }

        /* 4. the pollers' timers */
        PollerOptions po = {.state_dir = state_dir, .fetch_only = arg_fetch_only, .once = arg_once};
        r = poller_new(event, fetcher, tables, state, &po, &d.poller);
        if (r < 0) {
                fetch_free(fetcher);
                state_free(state);
                return r;
        }

        if (arg_once) {
                r = poller_poll_now(d.poller, NULL, false);
                if (r >= 0)
                        r = sd_event_loop(event);
                if (r >= 0)
                        r = print_once(d.poller);
        } else {
                r = poller_start(d.poller);
                if (r >= 0) {
                        /* 5. the alert sinks */
                        r = sinks_new(event, fetcher, d.poller, state_dir, &d.sinks);
                        if (r >= 0)
                                r = sinks_configure(d.sinks, poller_config(d.poller));
                        if (r < 0)
                                log_errno(LOG_ERR, r, "cannot set up the alert sinks");
                }
                if (r >= 0) {
                        /* 6. the control socket */
                        ControlOptions co = {.socket_path = poller_config(d.poller)->socket_path,
                                             .reload = reload,
                                             .userdata = &d,
                                             .sinks = d.sinks};
                        r = control_new(event, d.poller, &co, &d.control);
                        if (r == -EINVAL &&
                            strlen(co.socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                                log_error("cannot listen on %s: a socket path has at most %zu "
                                          "bytes",
                                          co.socket_path,
                                          sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                        else if (r < 0)
                                log_errno(LOG_ERR, r, "cannot listen on %s",
                                          poller_config(d.poller)->socket_path);
                }
                if (r >= 0) {
                        /* 7. /metrics: a socket systemd passes wins over metrics_listen */
                        const char *maddr = poller_config(d.poller)->metrics_listen;
                        int fd = httpd_listen_fd(HTTPD_LISTEN_FD_NAME);
                        if (fd >= 0 || maddr) {
                                r = metrics_new(event, d.poller, d.sinks, fd, maddr,
                                                &d.metrics);
                                if (r < 0)
                                        log_errno(LOG_ERR, r, "cannot serve metrics on %s",
                                                  fd >= 0 ? "the socket systemd passed"
                                                          : maddr);
                        } else if (fd != -ENOENT) {
                                r = log_errno(LOG_ERR, fd, "cannot use the metrics socket");
                        }
                }
                if (r >= 0) {
                        /* 8. STATUS= kept current after every dispatched event */
                        r = sd_event_add_post(event, &src, on_post, &d);
                        if (r >= 0)
                                (void)sd_event_source_set_description(src, "notify-status");
                }
                if (r >= 0) {
                        on_post(NULL, &d);
                        log_info("started with %zu source(s); state in %s",
                                 poller_config(d.poller)->n_sources,
                                 state_dir ? state_dir : "(none)");
                        notify("READY=1");
                        r = sd_event_loop(event);
                }
        }
        metrics_free(d.metrics);
        control_free(d.control);
        sinks_free(d.sinks);
        poller_free(d.poller);
        fetch_free(fetcher);
        return r;
}

int main(int argc, char **argv)
{
        PollerTables tables = {0};
        unsigned seed = 0;
        int r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        if (arg_test)
                return ruletest_run_files((const char *const *)arg_test_files, arg_n_test_files,
                                          stdout) == 0
                               ? 0
                               : 1;

        if (arg_once || arg_check || arg_replay)
                log_setup(LOG_TARGET_STDERR, false, arg_log_level);
        else
                log_setup(LOG_TARGET_AUTO, getenv("JOURNAL_STREAM") == NULL, arg_log_level);

        util_memory_setup();
        if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
                seed = (unsigned)(util_now_mono() ^ (uint64_t)getpid());
        srandom(seed);

        LoadReport lr = {0};
        r = load_tables(&tables, arg_check ? &lr : NULL);
        if (r < 0)
                return 1;
        if (arg_check) {
                print_loaded(&tables, &lr);
                if (check_secrets(tables.config) < 0) {
                        load_report_clear(&lr);
                        poller_tables_clear(&tables);
                        return 1;
                }
                printf("configuration OK\n");
                load_report_clear(&lr);
                poller_tables_clear(&tables);
                return 0;
        }

        if (arg_replay)
                r = run_replay(&tables);
        else
                r = run(&tables);
        poller_tables_clear(&tables);
        if (r < 0)
                return 1;
        return arg_once ? r : 0;
}
