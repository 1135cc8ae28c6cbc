#include "lockwatch/ruleload.h"

#include <glob.h>
#include <stdio.h>

#include "lockwatch/util.h"

#define RULELOAD_MAX_FILES 1024

typedef struct RuleFile {
        char *path;
        const char *base; /* into path */
} RuleFile;

static int cmp_base(const void *a, const void *b)
{
        return strcmp(((const RuleFile *)a)->base, ((const RuleFile *)b)->base);
}

/* Add the files of one pattern; a later file with the same base name replaces an
 * earlier one (that is how /etc masks what is shipped). */
static int add_pattern(RuleFile **files, size_t *n, const char *pattern, char **ret_error)
{
        glob_t g = {0};
        int r = glob(pattern, GLOB_NOSORT, NULL, &g);

        if (r == GLOB_NOMATCH)
                return 0;
        if (r != 0) {
                *ret_error = xasprintf("%s: cannot expand the rules pattern", pattern);
                globfree(&g);
                return -EIO;
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
                const char *p = g.gl_pathv[i];
                const char *slash = strrchr(p, '/');
                const char *base = slash ? slash + 1 : p;
                size_t k;

                for (k = 0; k < *n; k++)
                        if (streq((*files)[k].base, base))
                                break;
                if (k == *n) {
                        if (*n >= RULELOAD_MAX_FILES) {
                                *ret_error = xasprintf("more than %d rule files",
                                                       RULELOAD_MAX_FILES);
                                globfree(&g);
                                return -E2BIG;
                        }
                        *files = xreallocarray(*files, *n + 1, sizeof(RuleFile));
                        (*n)++;
                } else {
                        free((*files)[k].path);
                }
                (*files)[k].path = xstrdup(p);
                slash = strrchr((*files)[k].path, '/');
                (*files)[k].base = slash ? slash + 1 : (*files)[k].path;
        }
        globfree(&g);
        return 0;
}

int ruleload_files(const char *shipped_dir, const char *patterns, RuleSet **ret,
                   size_t *ret_n_files, char **ret_error)
{
        RuleFile *files = NULL;
        RuleSet *set = NULL;
        size_t n = 0, parsed = 0;
        int r = 0;

        if (shipped_dir) {
                _cleanup_free_ char *pat = xasprintf("%s/*.rules", shipped_dir);
                r = add_pattern(&files, &n, pat, ret_error);
        }
        if (r >= 0 && patterns) {
                _cleanup_free_ char *copy = xstrdup(patterns);
                for (char *save = NULL, *tok = strtok_r(copy, " \t", &save); tok && r >= 0;
                     tok = strtok_r(NULL, " \t", &save))
                        r = add_pattern(&files, &n, tok, ret_error);
        }
        if (r < 0)
                goto out;
        if (n > 1)
                qsort(files, n, sizeof(RuleFile), cmp_base);

        r = rules_set_new(&set);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *text = NULL;
                RulesError err;
                size_t len;

                r = util_read_file(files[i].path, RULES_MAX_INPUT + 1, &text, &len);
                if (r < 0) {
                        *ret_error = xasprintf("%s: cannot read: %s", files[i].path,
                                               strerror(-r));
                        goto out;
                }
                /* An empty file only masks: it has nothing to parse. */
                r = rules_parse(set, files[i].path, text, len, &err);
                if (r < 0) {
                        *ret_error = xstrdup(err.message);
                        goto out;
                }
                parsed++;
        }
        *ret = TAKE_PTR(set);
        if (ret_n_files)
                *ret_n_files = parsed;
        r = 0;
out:
        rules_set_free(set);
        for (size_t i = 0; i < n; i++)
                free(files[i].path);
        free(files);
        return r;
}
