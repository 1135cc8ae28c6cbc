/* The INI configuration: one [daemon] section and one [source NAME] section per
 * source. Parsing is pure (text in, objects or a file:line:col error out). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_BYTES   (1024 * 1024)
#define CONFIG_MAX_SOURCES 256
#define CONFIG_MAX_LINE    4096 /* longest line, without its line ending */
#define CONFIG_MAX_NAME    64   /* longest source name in [source NAME] */
#define CONFIG_MAX_SINKS   16   /* [alertmanager NAME] and [webhook NAME] sections together */
#define CONFIG_MAX_REGIONS 64   /* regions of one source */
#define CONFIG_MAX_REGION  32   /* bytes of one region name */

/* Fetch settings: set in [daemon] as defaults, overridable per [source]. */
typedef struct FetchLimits {
        uint64_t connect_timeout_usec; /* connect_timeout, default 10s */
        uint64_t timeout_usec;         /* timeout (whole transfer), default 60s */
        uint64_t low_speed_time_usec;  /* low_speed_time, default 20s */
        uint64_t low_speed_limit;      /* low_speed_limit bytes/s, default 64 */
        uint64_t max_body;             /* max_body, default 32M */
        uint64_t max_redirects;        /* max_redirects, default 5 */
        uint64_t retries;              /* retries after the first attempt, default 3 */
        uint64_t retry_backoff_usec;   /* retry_backoff: first backoff, doubles, default 2s */
        uint64_t retry_backoff_max_usec; /* retry_backoff_max, default 5m */
        char *ca_file;                 /* ca_file, NULL = system store */
} FetchLimits;

typedef struct SourceConfig {
        char *name;     /* from the section header, [source NAME] */
        char *url;      /* http://, https:// or file://; a bare path is resolved against
                           the config file's directory and turned into file:// */
        char *format;   /* adapter name: litellm, models-dev, openrouter, ... */
        char *provider; /* default upstream provider name, for formats that do not say */
        char *columns;  /* html-table, markdown-table: "Header:field, Header:field";
                           json: "path:field, path:field" */
        char *rows;     /* json: path from the document root to the rows */
        char *vendor;   /* optional vendor hint for every row of this source */
        uint64_t interval_usec; /* poll interval; default from [daemon] interval */
        bool enabled;
        bool authoritative; /* authoritative = yes|no; default from the format (DESIGN 5a) */
        char *endpoint;     /* endpoint: replaces scheme://host of a format's own API URLs */
        char **regions;     /* regions = a, b: one listing per region ({region} in URLs) */
        size_t n_regions;
        int auth;           /* auth = (an AdapterAuth); default from the format */
        char *credential;   /* credential: a secret spec (a path, or credential:NAME) */
        unsigned provider_line, provider_col; /* where `provider =`'s value is, for messages */
        FetchLimits limits;
        unsigned line; /* where the section starts, for messages */
} SourceConfig;

/* Where alerts go beyond the journal (DESIGN 9a). */
typedef enum SinkKind {
        SINK_ALERTMANAGER, /* [alertmanager NAME]: Alertmanager API v2 */
        SINK_WEBHOOK,      /* [webhook NAME]: one JSON document per transition */
        _SINK_KIND_MAX,
} SinkKind;

typedef struct SinkConfig {
        char *name;                     /* from the section header */
        SinkKind kind;
        char *url;                      /* http:// or https:// */
        char *ca_file;                  /* ca_file, NULL = system store */
        char *bearer_token_file;        /* a path, or "credential:NAME" ($CREDENTIALS_DIRECTORY) */
        char *basic_auth_user;          /* with basic_auth_password_file */
        char *basic_auth_password_file; /* a path, or "credential:NAME" */
        char *generator_url;            /* alertmanager: base of each alert's generatorURL */
        uint64_t timeout_usec;          /* timeout: one delivery attempt, default 10s */
        uint64_t resend_delay_usec;     /* alertmanager: resend_delay, default 1m */
        uint64_t max_queue;             /* webhook: undelivered transitions kept, default 1000 */
        bool text;                      /* webhook: add a plain-text "text" field */
        unsigned line;                  /* where the section starts, for messages */
} SinkConfig;

typedef struct Config {
        char *path; /* the file this came from (as given) */

        /* [daemon] */
        char *state_dir;     /* state_dir, default /var/lib/lockwatch ($STATE_DIRECTORY wins) */
        char *socket_path;   /* socket, default /run/lockwatch/io.lockwatch */
        char *aliases_path;  /* aliases, default /etc/lockwatch/aliases.conf */
        char *providers_path; /* providers, default /etc/lockwatch/providers.conf */
        char *rules;         /* rules = PATH-or-GLOB, default /etc/lockwatch/rules.d/ *.rules;
                                "none": no rules, and no error for having none */
        char *log_level;     /* log_level: err, warning, notice, info, debug; NULL = info */
        uint64_t interval_usec;   /* interval, default 6h */
        uint64_t jitter_percent;  /* jitter, default 10 (percent of the interval) */
        uint64_t removal_polls;   /* removal_polls (K of DESIGN 6.2), default 2 */
        uint64_t max_removal_percent; /* max_removal (DESIGN 6.3), default 20 */
        uint64_t max_rows;        /* max_rows per source parse, default 100000 */
        uint64_t evaluation_interval_usec; /* evaluation_interval: one rule round; 0 = interval */
        uint64_t repeat_interval_usec; /* repeat_interval for firing alerts, default 1d; 0 = never */
        char *user_agent_extra;   /* user_agent_extra: appended to the User-Agent */
        char *metrics_listen;     /* metrics_listen: "ADDRESS:PORT" of /metrics, NULL = off */
        char *instance;           /* instance label of alerts, NULL = the host name */
        uint64_t history_retention_usec; /* history_retention, default 2y (history.h) */
        uint64_t history_max_size;       /* history_max_size, default 256M */
        FetchLimits limits;

        SourceConfig *sources;
        size_t n_sources;

        SinkConfig *sinks; /* in file order */
        size_t n_sinks;
} Config;

/* A parse error: "path:line:col: message". */
typedef struct ConfigError {
        unsigned line, col;
        char message[512]; /* the full formatted text including path:line:col */
} ConfigError;

/* Parse text (len bytes, need not be NUL-terminated) named path into a new Config. */
int config_parse(const char *path, const char *text, size_t len, Config **ret, ConfigError *err);
/* Read and parse the file at path; I/O errors are reported in err as well. */
int config_load(const char *path, Config **ret, ConfigError *err);
/* Free a Config; NULL is fine. */
void config_free(Config *c);
/* The syslog priority of a log level name (err, warning, notice, info, debug), or -EINVAL. */
int config_log_level(const char *name);
/* Name of a sink kind as in its section header: alertmanager, webhook. */
const char *config_sink_kind_name(SinkKind k);
/* Find a source by name, or NULL. */
const SourceConfig *config_find_source(const Config *c, const char *name);
