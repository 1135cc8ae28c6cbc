#include "lockwatch/tableload.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lockwatch/util.h"

#define TABLELOAD_MAX_BYTES (4u * 1024u * 1024u)
#define TABLELOAD_MAX_FILES 256

const char *tableload_data_dir(void)
{
        static char dir[PATH_MAX];
        static int found = -1;
        char exe[PATH_MAX], *slash;
        struct stat st;
        ssize_t n;

        if (found >= 0)
                return found ? dir : NULL;
        found = 0;
        const char *env = getenv("LOCKWATCH_DATADIR");
        if (env && *env) {
                snprintf(dir, sizeof(dir), "%s", env);
                found = 1;
                return dir;
        }
        /* <prefix>/bin/lockwatchd -> <prefix>/share/lockwatch, whatever prefix the tree was
         * installed to: a binary in its build tree finds nothing, so tests never read what
         * happens to be installed. */
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return NULL;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (!slash)
                return NULL;
        *slash = '\0';
        slash = strrchr(exe, '/');
        if (!slash || (!streq(slash, "/bin") && !streq(slash, "/sbin")))
                return NULL;
        *slash = '\0';
        if ((size_t)snprintf(dir, sizeof(dir), "%s/share/lockwatch", exe) >= sizeof(dir))
                return NULL;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
                return NULL;
        found = 1;
        return dir;
}

void tableload_strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static void strv_push(char ***v, size_t *n, char *s)
{
        *v = xreallocarray(*v, *n + 2, sizeof(char *));
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
}

static bool same_file(const char *a, const char *b)
{
        struct stat x, y;

        return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int tableload_files(const char *path, const char *shipped_name, char ***ret_files, char **ret_error)
{
        char **files = NULL;
        size_t n = 0, base;
        const char *data = tableload_data_dir();
        _cleanup_free_ char *shipped = data ? xasprintf("%s/%s", data, shipped_name) : NULL;
        glob_t g = {0};
        struct stat st;
        int r;

        if (!path || !ret_files)
                return -EINVAL;
        /* providers.conf -> providers.d/ *.conf */
        base = strlen(path);
        if (base > 5 && streq(path + base - 5, ".conf"))
                base -= 5;
        _cleanup_free_ char *pattern = xasprintf("%.*s.d/*.conf", (int)base, path);
        r = glob(pattern, 0, NULL, &g);
        if (r == 0) {
                if (g.gl_pathc > TABLELOAD_MAX_FILES) {
                        globfree(&g);
                        *ret_error =
                            xasprintf("%s: more than %d drop-ins", pattern, TABLELOAD_MAX_FILES);
                        return -E2BIG;
                }
                /* glob() sorts: the last name has the highest precedence, as in systemd. */
                for (size_t i = g.gl_pathc; i > 0; i--)
                        strv_push(&files, &n, xstrdup(g.gl_pathv[i - 1]));
        }
        globfree(&g);
        if (stat(path, &st) == 0)
                strv_push(&files, &n, xstrdup(path));
        else if (errno != ENOENT || !shipped) {
                int e = errno;
                tableload_strv_free(files);
                *ret_error = xasprintf("%s: %s%s", path, strerror(e),
                                       e == ENOENT ? " (and no shipped table: lockwatchd is not "
                                                     "installed, so name the table in the "
                                                     "configuration)"
                                                   : "");
                return -e;
        }
        if (shipped && stat(shipped, &st) == 0 && !same_file(shipped, path))
                strv_push(&files, &n, TAKE_PTR(shipped));
        if (n == 0) {
                *ret_error = xasprintf("%s: no such file, and no shipped %s", path, shipped_name);
                return -ENOENT;
        }
        *ret_files = files;
        return 0;
}

typedef int (*tableload_add_fn)(void *table, const char *path, const char *text, size_t len,
                                NormalizeError *err);

static int provider_add(void *t, const char *path, const char *text, size_t len,
                        NormalizeError *err)
{
        return provider_map_add(t, path, text, len, err);
}

static int alias_add(void *t, const char *path, const char *text, size_t len, NormalizeError *err)
{
        return alias_table_add(t, path, text, len, err);
}

static int tableload_layers(const char *path, const char *shipped_name, const char *what,
                            void *table, tableload_add_fn add, char **ret_files, char **ret_error)
{
        char **files = NULL;
        char *list = NULL;
        int r;

        r = tableload_files(path, shipped_name, &files, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; files[i]; i++) {
                _cleanup_free_ char *text = NULL;
                NormalizeError err;
                size_t len;

                r = util_read_file(files[i], TABLELOAD_MAX_BYTES, &text, &len);
                if (r < 0) {
                        *ret_error =
                            xasprintf("%s: cannot read the %s: %s", files[i], what, strerror(-r));
                        break;
                }
                r = add(table, files[i], text, len, &err);
                if (r < 0) {
                        *ret_error = xstrdup(err.message);
                        break;
                }
                char *next = xasprintf("%s%s%s", list ? list : "", list ? ", " : "", files[i]);
                free(list);
                list = next;
        }
        tableload_strv_free(files);
        if (r < 0) {
                free(list);
                return r;
        }
        if (ret_files)
                *ret_files = list;
        else
                free(list);
        return 0;
}

int tableload_providers(const char *path, ProviderMap **ret, char **ret_files, char **ret_error)
{
        _cleanup_(provider_map_freep) ProviderMap *m = NULL;
        int r;

        (void)provider_map_new(&m);
        r = tableload_layers(path, "providers.conf", "provider table", m, provider_add, ret_files,
                             ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int tableload_aliases(const char *path, AliasTable **ret, char **ret_files, char **ret_error)
{
        _cleanup_(alias_table_freep) AliasTable *t = NULL;
        int r;

        (void)alias_table_new(&t);
        r = tableload_layers(path, "aliases.conf", "alias table", t, alias_add, ret_files,
                             ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}
