#include "lockwatch/replay.h"

#include <dirent.h>
#include <sys/stat.h>

#include "lockwatch/adapter.h"
#include "lockwatch/journal.h"
#include "lockwatch/log.h"
#include "lockwatch/util.h"

#define REPLAY_MAX_STEPS 100000

int replay_parse_time(const char *name, uint64_t *ret)
{
        unsigned y, mo, d, h = 0, mi = 0, s = 0;
        int n = 0;

        if (sscanf(name, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3 || n != 10)
                return -EINVAL;
        const char *p = name + n;
        if (*p == 'T') {
                int k = 0;
                if (sscanf(p, "T%2u:%2u%n", &h, &mi, &k) != 2 || k != 6)
                        return -EINVAL;
                p += k;
                if (*p == ':') {
                        if (sscanf(p, ":%2u%n", &s, &k) != 1 || k != 3)
                                return -EINVAL;
                        p += k;
                }
                if (*p != 'Z')
                        return -EINVAL;
                p++;
        }
        if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
            s > 60)
                return -EINVAL;
        int64_t days = adapter_days_from_civil(y, mo, d);
        *ret = ((uint64_t)days * 86400 + h * 3600 + mi * 60 + s) * USEC_PER_SEC;
        return 0;
}

typedef struct Step {
        char *name;
        uint64_t time;
} Step;

static int cmp_step(const void *a, const void *b)
{
        const Step *x = a, *y = b;
        return x->time < y->time ? -1 : x->time > y->time;
}

/* The body for source name in step dir: the file NAME or NAME.<ext>. */
static int find_body(const char *stepdir, const char *name, char **ret_path)
{
        DIR *d = opendir(stepdir);
        struct dirent *de;
        size_t l = strlen(name);
        char *found = NULL;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, name, l) != 0)
                        continue;
                if (de->d_name[l] != '\0' && de->d_name[l] != '.')
                        continue;
                if (found) {
                        /* Two candidates: ambiguous; the exact name wins. */
                        if (de->d_name[l] == '\0') {
                                free(found);
                                found = xasprintf("%s/%s", stepdir, de->d_name);
                        }
                        continue;
                }
                found = xasprintf("%s/%s", stepdir, de->d_name);
        }
        closedir(d);
        if (!found)
                return -ENOENT;
        *ret_path = found;
        return 0;
}

int replay_run(const PollerTables *t, State *st, const char *dir, size_t *ret_steps,
               char **ret_error)
{
        const Config *c = t->config;
        Step *steps = NULL;
        size_t n = 0;
        int r = 0;

        DIR *d = opendir(dir);
        if (!d) {
                r = -errno;
                *ret_error = xasprintf("%s: cannot open: %s", dir, strerror(-r));
                return r;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat sb;
                uint64_t when;

                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, de->d_name);
                if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
                        continue;
                if (replay_parse_time(de->d_name, &when) < 0) {
                        *ret_error = xasprintf("%s: step directory '%s' is not named by a time "
                                               "(e.g. 2026-06-09T00:00Z)",
                                               dir, de->d_name);
                        r = -EINVAL;
                        break;
                }
                if (n >= REPLAY_MAX_STEPS) {
                        *ret_error = xasprintf("%s: more than %d steps", dir, REPLAY_MAX_STEPS);
                        r = -E2BIG;
                        break;
                }
                steps = xreallocarray(steps, n + 1, sizeof(Step));
                steps[n++] = (Step){.name = xstrdup(de->d_name), .time = when};
        }
        closedir(d);
        if (r >= 0 && n == 0) {
                *ret_error = xasprintf("%s: no step directories", dir);
                r = -ENOENT;
        }
        if (r < 0)
                goto out;
        qsort(steps, n, sizeof(Step), cmp_step);
        r = poller_authority(st, c);
        if (r < 0) {
                *ret_error = xasprintf("cannot set the authoritative sources: %s", strerror(-r));
                goto out;
        }

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *stepdir = xasprintf("%s/%s", dir, steps[i].name);

                for (size_t k = 0; k < c->n_sources; k++) {
                        const SourceConfig *sc = &c->sources[k];
                        _cleanup_free_ char *path = NULL;
                        FetchResult res = {.attempts = 1};
                        PollOutcome o = {0};

                        if (!sc->enabled)
                                continue;
                        r = find_body(stepdir, sc->name, &path);
                        if (r == -ENOENT) {
                                /* No file in this step: the poll failed. */
                                res.klass = FETCH_ERROR;
                                snprintf(res.error, sizeof(res.error), "no file for %s in %s",
                                         sc->name, steps[i].name);
                        } else if (r < 0) {
                                *ret_error = xasprintf("%s: %s", stepdir, strerror(-r));
                                goto out;
                        } else {
                                r = util_read_file(path, (size_t)sc->limits.max_body, &res.body,
                                                   &res.body_len);
                                if (r == -EFBIG) {
                                        res.klass = FETCH_TOO_LARGE;
                                } else if (r < 0) {
                                        *ret_error = xasprintf("%s: cannot read: %s", path,
                                                               strerror(-r));
                                        goto out;
                                } else {
                                        res.klass = FETCH_OK;
                                }
                        }
                        r = poller_apply(st, t, sc, &res, NULL, 0, false, false, steps[i].time, &o);
                        free(res.body);
                        poller_outcome_clear(&o);
                        if (r < 0)
                                goto out;
                }
                r = poller_evaluate(st, c, steps[i].time);
                if (r < 0) {
                        *ret_error = xasprintf("rule evaluation failed at %s: %s", steps[i].name,
                                               strerror(-r));
                        goto out;
                }
                (void)poller_history_sync(st, steps[i].time);
        }
        if (ret_steps)
                *ret_steps = n;
        r = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(steps[i].name);
        free(steps);
        return r;
}
