#include "lockwatch/normalize.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lockwatch/util.h"

#define NORMALIZE_MAX_LINES    4096
#define NORMALIZE_MAX_LINE     1024
#define NORMALIZE_MAX_PROVIDER 64
#define NORMALIZE_MAX_VENDOR   64
#define NORMALIZE_MAX_SEGMENTS 16
/* Working buffers leave room for the few steps that insert characters. */
#define NORMALIZE_BUF (NORMALIZE_MAX_ID * 2 + 64)

typedef struct ProviderRule {
        char *glob;
        char *provider; /* NULL: the upstream name is deliberately ignored */
        ProviderKind kind;
        unsigned line;
} ProviderRule;

struct ProviderMap {
        ProviderRule *rules;
        size_t n, cap;
};

typedef struct AliasEntry {
        char *key; /* lower-cased */
        char *canonical;
        unsigned line;
        unsigned file; /* which added file: an earlier one has precedence */
        size_t literal; /* globs: length of the key's prefix before its first wildcard */
} AliasEntry;

struct AliasTable {
        AliasEntry *exact; /* sorted by key after parsing */
        size_t n_exact, cap_exact;
        AliasEntry *globs; /* file order */
        size_t n_globs, cap_globs;
        unsigned files; /* files added so far; the one being added is files - 1 */
};

static const char *const kind_names[_PROVIDER_KIND_MAX] = {
    [PROVIDER_CLOUD] = "cloud",
    [PROVIDER_DIRECT] = "direct",
    [PROVIDER_AGGREGATOR] = "aggregator",
};

const char *provider_kind_name(ProviderKind k)
{
        if ((unsigned)k >= _PROVIDER_KIND_MAX)
                return "unknown";
        return kind_names[k];
}

int provider_kind_from_string(const char *s, ProviderKind *ret)
{
        if (!s)
                return -EINVAL;
        for (unsigned i = 0; i < _PROVIDER_KIND_MAX; i++)
                if (streq(s, kind_names[i])) {
                        *ret = (ProviderKind)i;
                        return 0;
                }
        return -EINVAL;
}

static int normalize_error(NormalizeError *err, const char *path, unsigned line, unsigned col,
                           const char *fmt, ...) _printf_(5, 6);

static int normalize_error(NormalizeError *err, const char *path, unsigned line, unsigned col,
                           const char *fmt, ...)
{
        char msg[384];
        va_list ap;

        if (!err)
                return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        err->line = line;
        err->col = col;
        snprintf(err->message, sizeof(err->message), "%s:%u:%u: %s", path ? path : "<input>", line,
                 col, msg);
        return -EINVAL;
}

/* snprintf(dst, size, "%s", src) without the formatting machinery: this runs a dozen
 * times per model id on the ingest path. */
static void normalize_copy(char *dst, size_t size, const char *src)
{
        size_t n = strlen(src);
        if (size == 0)
                return;
        if (n >= size)
                n = size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
}


static bool normalize_is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool normalize_is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool normalize_is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* One non-blank, non-comment line split at its first '=': both sides trimmed, with
 * 1-based columns so errors point at the offending text. */
typedef struct TableLine {
        const char *left, *right;
        size_t left_len, right_len;
        unsigned left_col, right_col, eq_col, end_col;
} TableLine;

typedef int (*table_line_fn)(void *userdata, const char *path, unsigned lineno, const TableLine *tl,
                             NormalizeError *err);

static int normalize_parse_lines(const char *path, const char *text, size_t len, table_line_fn fn,
                                 void *userdata, NormalizeError *err)
{
        size_t pos = 0;
        unsigned lineno = 0;

        if (!text && len > 0)
                return -EINVAL;
        while (pos < len) {
                const char *line = text + pos, *nl;
                size_t n, end;
                TableLine tl = {0};

                nl = memchr(line, '\n', len - pos);
                n = nl ? (size_t)(nl - line) : len - pos;
                pos += n + (nl ? 1 : 0);
                lineno++;

                if (lineno > NORMALIZE_MAX_LINES)
                        return normalize_error(err, path, lineno, 1, "more than %u lines",
                                               NORMALIZE_MAX_LINES);
                if (n > NORMALIZE_MAX_LINE)
                        return normalize_error(err, path, lineno, NORMALIZE_MAX_LINE + 1,
                                               "line longer than %u bytes", NORMALIZE_MAX_LINE);
                if (memchr(line, '\0', n))
                        return normalize_error(
                            err, path, lineno,
                            (unsigned)((const char *)memchr(line, '\0', n) - line) + 1, "NUL byte");

                /* '#' starts a comment anywhere: no id or glob contains one. */
                end = n;
                for (size_t i = 0; i < n; i++)
                        if (line[i] == '#') {
                                end = i;
                                break;
                        }
                while (end > 0 && normalize_is_space(line[end - 1]))
                        end--;
                size_t start = 0;
                while (start < end && normalize_is_space(line[start]))
                        start++;
                if (start == end)
                        continue;

                const char *eq = memchr(line + start, '=', end - start);
                if (!eq)
                        return normalize_error(err, path, lineno, (unsigned)end + 1,
                                               "expected '=' (lines read 'NAME = VALUE')");
                size_t eqi = (size_t)(eq - line);
                size_t le = eqi, rs = eqi + 1;
                while (le > start && normalize_is_space(line[le - 1]))
                        le--;
                while (rs < end && normalize_is_space(line[rs]))
                        rs++;
                tl.left = line + start;
                tl.left_len = le - start;
                tl.left_col = (unsigned)start + 1;
                tl.right = line + rs;
                tl.right_len = end - rs;
                tl.right_col = (unsigned)rs + 1;
                tl.eq_col = (unsigned)eqi + 1;
                tl.end_col = (unsigned)end + 1;
                if (tl.left_len == 0)
                        return normalize_error(err, path, lineno, tl.left_col,
                                               "missing name before '='");
                if (tl.right_len == 0)
                        return normalize_error(err, path, lineno, tl.eq_col + 1,
                                               "missing value after '='");
                int r = fn(userdata, path, lineno, &tl, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool provider_map_valid_id(const char *s)
{
        if (!normalize_is_lower_alnum(s[0]))
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!normalize_is_lower_alnum(*p) && *p != '_' && *p != '-')
                        return false;
        return strlen(s) <= NORMALIZE_MAX_PROVIDER;
}

static bool normalize_has_space(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (normalize_is_space(s[i]))
                        return true;
        return false;
}

void provider_map_free(ProviderMap *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                free(m->rules[i].glob);
                free(m->rules[i].provider);
        }
        free(m->rules);
        free(m);
}

static int provider_map_line(void *userdata, const char *path, unsigned lineno, const TableLine *tl,
                             NormalizeError *err)
{
        ProviderMap *m = userdata;
        _cleanup_free_ char *glob = NULL, *provider = NULL, *kind = NULL;
        ProviderKind k = PROVIDER_CLOUD;
        const char *r = tl->right, *rend = tl->right + tl->right_len;

        if (tl->left_len > NORMALIZE_MAX_ID)
                return normalize_error(err, path, lineno, tl->left_col,
                                       "upstream name longer than %u bytes", NORMALIZE_MAX_ID);
        if (normalize_has_space(tl->left, tl->left_len))
                return normalize_error(err, path, lineno, tl->left_col,
                                       "upstream name must not contain spaces");
        glob = xstrndup(tl->left, tl->left_len);

        if (tl->right_len == 1 && r[0] == '-')
                goto add;

        const char *sp = r;
        while (sp < rend && !normalize_is_space(*sp))
                sp++;
        provider = xstrndup(r, (size_t)(sp - r));
        if (!provider_map_valid_id(provider))
                return normalize_error(err, path, lineno, tl->right_col,
                                       "invalid provider id '%.64s' (expected [a-z0-9][a-z0-9_-]*)",
                                       provider);
        const char *ks = sp;
        while (ks < rend && normalize_is_space(*ks))
                ks++;
        unsigned kcol = tl->right_col + (unsigned)(ks - r);
        if (ks == rend)
                return normalize_error(err, path, lineno, kcol,
                                       "missing kind after '%s' (cloud, direct or aggregator)",
                                       provider);
        const char *ke = ks;
        while (ke < rend && !normalize_is_space(*ke))
                ke++;
        if (ke != rend) {
                const char *extra = ke;
                while (normalize_is_space(*extra))
                        extra++;
                return normalize_error(err, path, lineno, tl->right_col + (unsigned)(extra - r),
                                       "unexpected text after the kind");
        }
        kind = xstrndup(ks, (size_t)(ke - ks));
        if (provider_kind_from_string(kind, &k) < 0) {
                const char *best = NULL;
                unsigned bestd = 3;
                for (unsigned i = 0; i < _PROVIDER_KIND_MAX; i++) {
                        unsigned d = util_edit_distance(kind, kind_names[i], 3);
                        if (d < bestd) {
                                bestd = d;
                                best = kind_names[i];
                        }
                }
                if (best)
                        return normalize_error(err, path, lineno, kcol,
                                               "unknown kind '%.64s' (did you mean '%s'?)", kind,
                                               best);
                return normalize_error(
                    err, path, lineno, kcol,
                    "unknown kind '%.64s' (expected cloud, direct or aggregator)", kind);
        }
        for (size_t i = 0; i < m->n; i++)
                if (m->rules[i].provider && streq(m->rules[i].provider, provider) &&
                    m->rules[i].kind != k)
                        return normalize_error(err, path, lineno, kcol,
                                               "provider '%s' is %s on line %u but %s here",
                                               provider, provider_kind_name(m->rules[i].kind),
                                               m->rules[i].line, provider_kind_name(k));
add:
        util_grow((void **)&m->rules, &m->cap, m->n + 1, sizeof(*m->rules));
        m->rules[m->n++] = (ProviderRule){
            .glob = TAKE_PTR(glob),
            .provider = TAKE_PTR(provider),
            .kind = k,
            .line = lineno,
        };
        return 0;
}

int provider_map_new(ProviderMap **ret)
{
        if (!ret)
                return -EINVAL;
        *ret = xcalloc(1, sizeof(ProviderMap));
        return 0;
}

int provider_map_add(ProviderMap *m, const char *path, const char *text, size_t len,
                     NormalizeError *err)
{
        if (!m)
                return -EINVAL;
        if (err)
                memset(err, 0, sizeof(*err));
        return normalize_parse_lines(path, text, len, provider_map_line, m, err);
}

size_t provider_map_count(const ProviderMap *m)
{
        return m ? m->n : 0;
}

int provider_map_parse(const char *path, const char *text, size_t len, ProviderMap **ret,
                       NormalizeError *err)
{
        _cleanup_(provider_map_freep) ProviderMap *m = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        (void)provider_map_new(&m);
        r = provider_map_add(m, path, text, len, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int provider_map_lookup(const ProviderMap *m, const char *upstream, const char **ret_provider,
                        ProviderKind *ret_kind)
{
        if (!m || !upstream)
                return -EINVAL;
        for (size_t i = 0; i < m->n; i++) {
                const ProviderRule *rule = &m->rules[i];
                if (fnmatch(rule->glob, upstream, FNM_CASEFOLD) != 0)
                        continue;
                if (!rule->provider)
                        return -ESRCH;
                if (ret_provider)
                        *ret_provider = rule->provider;
                if (ret_kind)
                        *ret_kind = rule->kind;
                return 0;
        }
        /* The column ids users see ("aws", "gcp") name themselves. */
        for (size_t i = 0; i < m->n; i++) {
                const ProviderRule *rule = &m->rules[i];
                if (!rule->provider || strcasecmp(rule->provider, upstream) != 0)
                        continue;
                if (ret_provider)
                        *ret_provider = rule->provider;
                if (ret_kind)
                        *ret_kind = rule->kind;
                return 0;
        }
        return -ENOENT;
}

const char *provider_map_suggest(const ProviderMap *m, const char *name)
{
        const char *best = NULL;
        unsigned best_d = 4;

        if (!m || !name)
                return NULL;
        for (size_t i = 0; i < m->n; i++) {
                const ProviderRule *rule = &m->rules[i];
                const char *cand[2] = {rule->provider, rule->glob};
                for (size_t k = 0; k < 2; k++) {
                        unsigned d;
                        if (!cand[k] || strpbrk(cand[k], "*?["))
                                continue;
                        d = util_edit_distance(name, cand[k], best_d);
                        if (d < best_d) {
                                best_d = d;
                                best = cand[k];
                        }
                }
        }
        return best;
}

int provider_map_kind(const ProviderMap *m, const char *provider, ProviderKind *ret_kind)
{
        if (!m || !provider)
                return -EINVAL;
        for (size_t i = 0; i < m->n; i++)
                if (m->rules[i].provider && streq(m->rules[i].provider, provider)) {
                        if (ret_kind)
                                *ret_kind = m->rules[i].kind;
                        return 0;
                }
        return -ENOENT;
}

/* ---- alias table ---- */

bool normalize_canonical_valid(const char *s)
{
        const char *slash = strchr(s, '/');
        const char *p;

        if (!slash || strlen(s) > NORMALIZE_MAX_ID)
                return false;
        if (!normalize_is_lower_alnum(s[0]))
                return false;
        for (p = s + 1; p < slash; p++)
                if (!normalize_is_lower_alnum(*p) && *p != '.' && *p != '-')
                        return false;
        p = slash + 1;
        if (!normalize_is_lower_alnum(*p))
                return false;
        for (p++; *p; p++)
                if (!normalize_is_lower_alnum(*p) && *p != '-')
                        return false;
        return true;
}

void alias_table_free(AliasTable *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n_exact; i++) {
                free(t->exact[i].key);
                free(t->exact[i].canonical);
        }
        for (size_t i = 0; i < t->n_globs; i++) {
                free(t->globs[i].key);
                free(t->globs[i].canonical);
        }
        free(t->exact);
        free(t->globs);
        free(t);
}

static bool normalize_is_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

static int alias_table_line(void *userdata, const char *path, unsigned lineno, const TableLine *tl,
                            NormalizeError *err)
{
        AliasTable *t = userdata;
        _cleanup_free_ char *key = NULL, *canonical = NULL;

        if (tl->left_len > NORMALIZE_MAX_ID)
                return normalize_error(err, path, lineno, tl->left_col,
                                       "raw id longer than %u bytes", NORMALIZE_MAX_ID);
        if (tl->right_len > NORMALIZE_MAX_ID)
                return normalize_error(err, path, lineno, tl->right_col,
                                       "canonical id longer than %u bytes", NORMALIZE_MAX_ID);
        key = xstrndup(tl->left, tl->left_len);
        for (char *p = key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        canonical = xstrndup(tl->right, tl->right_len);
        if (!normalize_canonical_valid(canonical))
                return normalize_error(err, path, lineno, tl->right_col,
                                       "invalid canonical id '%.100s' (expected vendor/model: "
                                       "[a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9-]*)",
                                       canonical);

        if (normalize_is_glob(key)) {
                util_grow((void **)&t->globs, &t->cap_globs, t->n_globs + 1, sizeof(*t->globs));
                size_t literal = strcspn(key, "*?[\\");
                t->globs[t->n_globs++] = (AliasEntry){TAKE_PTR(key), TAKE_PTR(canonical), lineno,
                                                      t->files - 1, literal};
                return 0;
        }
        /* Tables are small and capped; a linear duplicate check keeps file order simple. */
        for (size_t i = 0; i < t->n_exact; i++)
                if (streq(t->exact[i].key, key)) {
                        /* Files are added highest precedence first: an administrator's
                         * alias overrides the shipped one for the same id. */
                        if (streq(t->exact[i].canonical, canonical) ||
                            t->exact[i].file + 1 < t->files)
                                return 0;
                        return normalize_error(err, path, lineno, tl->left_col,
                                               "'%.100s' already maps to '%.100s' on line %u", key,
                                               t->exact[i].canonical, t->exact[i].line);
                }
        util_grow((void **)&t->exact, &t->cap_exact, t->n_exact + 1, sizeof(*t->exact));
        t->exact[t->n_exact++] =
            (AliasEntry){TAKE_PTR(key), TAKE_PTR(canonical), lineno, t->files - 1, 0};
        return 0;
}

static int alias_entry_cmp(const void *a, const void *b)
{
        return strcmp(((const AliasEntry *)a)->key, ((const AliasEntry *)b)->key);
}

int alias_table_new(AliasTable **ret)
{
        if (!ret)
                return -EINVAL;
        *ret = xcalloc(1, sizeof(AliasTable));
        return 0;
}

int alias_table_add(AliasTable *t, const char *path, const char *text, size_t len,
                    NormalizeError *err)
{
        int r;

        if (!t)
                return -EINVAL;
        if (err)
                memset(err, 0, sizeof(*err));
        t->files++;
        r = normalize_parse_lines(path, text, len, alias_table_line, t, err);
        /* Sorted for lookups after every file, also one that failed half way: the table is
         * freed then, but never left unsorted. */
        if (t->n_exact > 0)
                qsort(t->exact, t->n_exact, sizeof(*t->exact), alias_entry_cmp);
        return r;
}

size_t alias_table_count(const AliasTable *t)
{
        return t ? t->n_exact + t->n_globs : 0;
}

int alias_table_parse(const char *path, const char *text, size_t len, AliasTable **ret,
                      NormalizeError *err)
{
        _cleanup_(alias_table_freep) AliasTable *t = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        (void)alias_table_new(&t);
        r = alias_table_add(t, path, text, len, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

static const char *alias_table_exact(const AliasTable *t, const char *key)
{
        AliasEntry k = {.key = (char *)key};
        const AliasEntry *e;

        if (!t || t->n_exact == 0)
                return NULL;
        e = bsearch(&k, t->exact, t->n_exact, sizeof(*t->exact), alias_entry_cmp);
        return e ? e->canonical : NULL;
}

/* Exact keys first (the id as published, then the derived id), then globs in file order,
 * each tried against both keys. */
static const char *alias_table_find(const AliasTable *t, const char *stem, const char *derived)
{
        const char *c;

        if (!t)
                return NULL;
        if ((c = alias_table_exact(t, stem)))
                return c;
        if (derived && (c = alias_table_exact(t, derived)))
                return c;
        for (size_t i = 0; i < t->n_globs; i++) {
                const AliasEntry *g = &t->globs[i];
                /* The literal prefix rules out nearly every glob without fnmatch(). */
                size_t l = g->literal;
                if (strncmp(g->key, stem, l) == 0 && fnmatch(g->key, stem, 0) == 0)
                        return g->canonical;
                if (derived && strncmp(g->key, derived, l) == 0 &&
                    fnmatch(g->key, derived, 0) == 0)
                        return g->canonical;
        }
        return NULL;
}

/* ---- built-in steps ---- */

typedef struct NameMap {
        const char *name;
        const char *vendor;
} NameMap;

/* Publisher names as sources print them (after lower-casing, spaces and underscores to
 * dashes) -> vendor id. Used for "vendor/" and "vendor." prefixes and for vendor hints. */
static const NameMap publishers[] = {
    {"ai21", "ai21"},
    {"ai21-labs", "ai21"},
    {"alibaba", "alibaba"},
    {"alibaba-cloud", "alibaba"},
    {"alibaba-nlp", "alibaba"},
    {"allenai", "allenai"},
    {"amazon", "amazon"},
    {"amazon-nova", "amazon"},
    {"arcee", "arcee-ai"},
    {"arcee-ai", "arcee-ai"},
    {"aion-labs", "aion-labs"},
    {"anthropic", "anthropic"},
    {"baidu", "baidu"},
    {"black-forest-labs", "black-forest-labs"},
    {"bytedance", "bytedance"},
    {"bytedance-seed", "bytedance"},
    {"codellama", "meta"},
    {"cohere", "cohere"},
    {"deepseek", "deepseek"},
    {"deepseek-ai", "deepseek"},
    {"facebook", "meta"},
    {"google", "google"},
    {"ibm", "ibm"},
    {"ibm-granite", "ibm"},
    {"kimi", "moonshotai"},
    {"luma", "luma"},
    {"luma-ai", "luma"},
    {"lumalabs", "luma"},
    {"meta", "meta"},
    {"meta-llama", "meta"},
    {"microsoft", "microsoft"},
    {"minimax", "minimax"},
    {"minimaxai", "minimax"},
    {"mistral", "mistral"},
    {"mistral-ai", "mistral"},
    {"mistralai", "mistral"},
    {"moonshot", "moonshotai"},
    {"moonshot-ai", "moonshotai"},
    {"moonshotai", "moonshotai"},
    {"nousresearch", "nousresearch"},
    {"nvidia", "nvidia"},
    {"openai", "openai"},
    {"perplexity", "perplexity"},
    {"primeintellect", "prime-intellect"},
    {"qwen", "alibaba"},
    {"rekaai", "reka"},
    {"sarvamai", "sarvam"},
    {"stability", "stability"},
    {"stability-ai", "stability"},
    {"stabilityai", "stability"},
    {"stepfun-ai", "stepfun"},
    {"tencent", "tencent"},
    {"twelvelabs", "twelvelabs"},
    {"writer", "writer"},
    {"x-ai", "xai"},
    {"xai", "xai"},
    {"xiaomi", "xiaomi"},
    {"xiaomimimo", "xiaomi"},
    {"z-ai", "zhipuai"},
    {"z.ai", "zhipuai"},
    {"zai", "zhipuai"},
    {"zai-org", "zhipuai"},
    {"zhipu-ai", "zhipuai"},
    {"zhipuai", "zhipuai"},
};

/* Model families by their first word(s) -> vendor. */
static const NameMap families[] = {
    {"aion", "aion-labs"},
    {"allam", "sdaia"},
    {"babbage", "openai"},
    {"baichuan", "baichuan"},
    {"bge", "baai"},
    {"chat-bison", "google"},
    {"chatgpt", "openai"},
    {"claude", "anthropic"},
    {"code-bison", "google"},
    {"code-gecko", "google"},
    {"code-llama", "meta"},
    {"code-qwen", "alibaba"},
    {"codechat-bison", "google"},
    {"codegemma", "google"},
    {"codellama", "meta"},
    {"codestral", "mistral"},
    {"codex", "openai"},
    {"cogito", "deepcogito"},
    {"command", "cohere"},
    {"dall-e", "openai"},
    {"davinci", "openai"},
    {"chronos-hermes", "austism"},
    {"dbrx", "databricks"},
    {"dobby", "sentient"},
    {"dolphin", "cognitivecomputations"},
    {"deepseek", "deepseek"},
    {"devstral", "mistral"},
    {"doubao", "bytedance"},
    {"e5", "intfloat"},
    {"embed", "cohere"},
    {"ernie", "baidu"},
    {"firefunction", "fireworks"},
    {"firellava", "fireworks"},
    {"firesearch", "fireworks"},
    {"flux", "black-forest-labs"},
    {"gemini", "google"},
    {"gemma", "google"},
    {"glm", "zhipuai"},
    {"gpt", "openai"},
    {"granite", "ibm"},
    {"grok", "xai"},
    {"gte", "alibaba"},
    {"hermes", "nousresearch"},
    {"holo", "hcompany"},
    {"hunyuan", "tencent"},
    {"hy", "tencent"},
    {"imagen", "google"},
    {"internvl", "opengvlab"},
    {"jais", "core42"},
    {"jamba", "ai21"},
    {"kat", "kwaipilot"},
    {"kimi", "moonshotai"},
    {"learnlm", "google"},
    {"lfm", "liquid"},
    {"ling", "inclusionai"},
    {"llama", "meta"},
    {"llava", "llava-hf"},
    {"llamaguard", "meta"},
    {"luminous", "aleph-alpha"},
    {"magistral", "mistral"},
    {"mai", "microsoft"},
    {"mamba-codestral", "mistral"},
    {"marengo", "twelvelabs"},
    {"medlm", "google"},
    {"mercury", "inception"},
    {"mimo", "xiaomi"},
    {"mirothinker", "miromind"},
    {"minimax", "minimax"},
    {"ministral", "mistral"},
    {"mistral", "mistral"},
    {"mixtral", "mistral"},
    {"morph", "morph"},
    {"mpt", "databricks"},
    {"mythomax", "gryphe"},
    {"nemotron", "nvidia"},
    {"nous", "nousresearch"},
    {"nova", "amazon"},
    {"o1", "openai"},
    {"o3", "openai"},
    {"o4", "openai"},
    {"openchat", "openchat"},
    {"openhermes", "teknium"},
    {"openorca", "open-orca"},
    {"palmyra", "writer"},
    {"pegasus", "twelvelabs"},
    {"phi", "microsoft"},
    {"phind", "phind"},
    {"pixtral", "mistral"},
    {"pythia", "eleutherai"},
    {"qvq", "alibaba"},
    {"qwen", "alibaba"},
    {"qwq", "alibaba"},
    {"reka", "reka"},
    {"rerank", "cohere"},
    {"ring", "inclusionai"},
    {"rnj", "essentialai"},
    {"sarvam", "sarvam"},
    {"rolm", "reducto"},
    {"sd3", "stability"},
    {"seed", "bytedance"},
    {"snorkel", "snorkelai"},
    {"snowflake", "snowflake"},
    {"solar", "upstage"},
    {"sonar", "perplexity"},
    {"stable", "stability"},
    {"stablecode", "stability"},
    {"starcoder", "bigcode"},
    {"step", "stepfun"},
    {"text-bison", "google"},
    {"text-embedding", "openai"},
    {"text-unicorn", "google"},
    {"textembedding-gecko", "google"},
    {"titan", "amazon"},
    {"toppy", "undi95"},
    {"trinity", "arcee-ai"},
    {"tts", "openai"},
    {"v0", "vercel"},
    {"veo", "google"},
    {"venice", "venice"},
    {"voxtral", "mistral"},
    {"wan", "alibaba"},
    {"whisper", "openai"},
    {"yi", "01-ai"},
    {"zephyr", "huggingfaceh4"},
};

/* Hosts that prefix their own name to a vendor's model ("databricks-claude-opus-4-7",
 * "azure-gpt-4o", "alicloud-deepseek-v4-flash", "coding-glm-5.1"): dropped when a known
 * family follows. */
static const char *const host_words[] = {"databricks", "azure",    "alicloud",  "coding",
                                         "deep",       "duo-chat", "workers-ai"};

/* Path segments that name a host, an API flavour, a region or a pricing tier rather than
 * a publisher: dropped from "a/b/model" ids (derived from the LiteLLM and models.dev keys). */
static const char *const path_words[] = {
    "@cf",        "@hf",        "accounts",  "aiml",       "anyscale",   "azure",
    "baseten",    "bedrock",    "cerebras",  "chatgpt",    "cloudflare", "codestral",
    "converse",   "crusoe",     "dashscope", "databricks", "deepinfra",  "doc-intelligence",
    "fireworks",  "friendliai", "gemini",    "github",     "global",     "global-standard",
    "gmi",        "groq",       "hd",        "heroku",     "high",       "hyperbolic",
    "invoke",     "lemonade",   "libertai",  "llamagate",  "low",        "medium",
    "models",     "nebius",     "novita",    "nscale",     "ollama",     "openrouter",
    "ovhcloud",   "palm",       "preset",    "publicai",   "replicate",  "routers",
    "sagemaker",  "sambanova",  "scaleway",  "snowflake",  "speech",     "standard",
    "tensormesh", "together",   "v0",        "vercel",     "volcengine", "wandb",
    "watsonx",    "eu",         "us",        "oci",        "workers-ai", "tee",
};

static const char *const geo_prefixes[] = {"global", "us-gov", "apac", "us",
                                           "eu",     "jp",     "au",   "ca"};

/* Status markers of display names, e.g. "Claude Opus 4.5 (preview)". */
static const char *const display_markers[] = {"preview", "new",      "legacy",      "deprecated",
                                              "beta",    "retiring", "experimental"};

/* OpenRouter variant tails: the same model under another routing or price policy. */
static const char *const variant_tails[] = {":free",  ":thinking", ":beta",  ":extended",
                                            ":nitro", ":online",   ":floor", ":exacto"};

static const char *normalize_name_lookup(const NameMap *map, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(map[i].name, name))
                        return map[i].vendor;
        return NULL;
}

static const char *normalize_publisher(const char *name)
{
        return normalize_name_lookup(publishers, ELEMENTSOF(publishers), name);
}

/* Vendor of a model by its first word: the family table, then a publisher name used as the
 * first word ("meta-llama-3-8b-instruct", "cohere-command-a"). */
static const char *normalize_family_only(const char *s);

static const char *normalize_family(const char *model)
{
        const char *fv = normalize_family_only(model);
        if (fv)
                return fv;
        const char *dash = strchr(model, '-');
        size_t n = dash ? (size_t)(dash - model) : strlen(model);
        char word[NORMALIZE_MAX_VENDOR + 1];
        if (n == 0 || n > NORMALIZE_MAX_VENDOR)
                return NULL;
        memcpy(word, model, n);
        word[n] = '\0';
        return normalize_publisher(word);
}

static bool normalize_is_path_word(const char *seg)
{
        /* LiteLLM names its hosts with underscores (vertex_ai, together_ai, fireworks_ai). */
        if (strchr(seg, '_') && !normalize_publisher(seg))
                return true;
        if (streq(seg, "*") || startswith(seg, "text-completion-") || strstr(seg, "-commitment") ||
            strstr(seg, "-steps") || strstr(seg, "-x-"))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(path_words); i++)
                if (streq(seg, path_words[i]))
                        return true;
        return false;
}

/* Cloud region codes such as us-east-1, us-gov-west-1, ap-southeast-3, eu-central-1. */
static bool normalize_is_region(const char *seg)
{
        size_t n = strlen(seg);
        if (n < 6 || !normalize_is_digit(seg[n - 1]) || seg[n - 2] != '-')
                return false;
        if (!(seg[0] >= 'a' && seg[0] <= 'z') || !(seg[1] >= 'a' && seg[1] <= 'z') || seg[2] != '-')
                return false;
        for (size_t i = 3; i < n - 2; i++)
                if (!(seg[i] >= 'a' && seg[i] <= 'z') && seg[i] != '-')
                        return false;
        return true;
}

/* Normalize a publisher word into a vendor id: lower case, spaces and underscores to
 * dashes, then the publisher table; unknown words are kept if they form a valid id. */
static bool normalize_vendor_word(const char *in, size_t n, char *ret, size_t size)
{
        char out[NORMALIZE_MAX_VENDOR + 1];
        size_t o = 0;
        const char *mapped;

        if (n == 0 || n > NORMALIZE_MAX_VENDOR || size < NORMALIZE_MAX_VENDOR + 1)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = (char)tolower((unsigned char)in[i]);
                if (c == ' ' || c == '_' || c == '\t')
                        c = '-';
                if (!normalize_is_lower_alnum(c) && c != '-' && c != '.')
                        return false;
                if (c == '-' && (o == 0 || out[o - 1] == '-'))
                        continue;
                out[o++] = c;
        }
        while (o > 0 && (out[o - 1] == '-' || out[o - 1] == '.'))
                o--;
        out[o] = '\0';
        if (o == 0 || !normalize_is_lower_alnum(out[0]))
                return false;
        mapped = normalize_publisher(out);
        normalize_copy(ret, size, mapped ? mapped : out);
        return true;
}

/* Bedrock-style version tail: "-vN", "-vN:M", "-vN:M:ctx", "-N:M[:ctx]" or ":N[:ctx]".
 * Returns N of a "-vN" tail (the model revision), or -1 when there was none. */
static int normalize_strip_version(char *s)
{
        size_t n = strlen(s);
        char *colon = strchr(s, ':');
        char *base_end = colon ? colon : s + n;
        char *p = base_end;
        long ver = -1;

        /* Everything after the first ':' must be digits, or digits then ":ctx". */
        if (colon) {
                char *q = colon + 1;
                if (!normalize_is_digit(*q))
                        return -1;
                while (normalize_is_digit(*q))
                        q++;
                if (*q == ':') {
                        q++;
                        if (!normalize_is_lower_alnum(*q))
                                return -1;
                        while (normalize_is_lower_alnum(*q))
                                q++;
                }
                if (*q != '\0')
                        return -1;
        }
        while (p > s && normalize_is_digit(p[-1]))
                p--;
        if (p < base_end && p - s >= 2 && p[-1] == 'v' && p[-2] == '-') {
                ver = strtol(p, NULL, 10);
                if (ver > 1000)
                        ver = 1000;
                p[-2] = '\0';
                return (int)ver;
        }
        /* "gpt-oss-120b-1:0" spells the version without its 'v'; only 1 is taken as one,
         * since "rerank-v3-5:0" ends in a real version number. */
        if (colon && p + 1 == base_end && *p == '1' && p - s >= 1 && p[-1] == '-') {
                p[-1] = '\0';
                return -1;
        }
        if (colon)
                *colon = '\0';
        return -1;
}

static bool normalize_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!normalize_is_digit(s[i]))
                        return false;
        return true;
}

static bool normalize_plausible_date(const char *y, const char *m, const char *d)
{
        int year = (y[0] - '0') * 1000 + (y[1] - '0') * 100 + (y[2] - '0') * 10 + (y[3] - '0');
        int month = (m[0] - '0') * 10 + (m[1] - '0');
        int day = (d[0] - '0') * 10 + (d[1] - '0');
        return year >= 1990 && year <= 2099 && month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/* Trailing "-YYYYMMDD" or "-YYYY-MM-DD". */
static void normalize_strip_date(char *s)
{
        size_t n = strlen(s);

        if (n > 9 && s[n - 9] == '-' && normalize_digits(s + n - 8, 8) &&
            normalize_plausible_date(s + n - 8, s + n - 4, s + n - 2)) {
                s[n - 9] = '\0';
                return;
        }
        if (n > 11 && s[n - 11] == '-' && normalize_digits(s + n - 10, 4) && s[n - 6] == '-' &&
            normalize_digits(s + n - 5, 2) && s[n - 3] == '-' && normalize_digits(s + n - 2, 2) &&
            normalize_plausible_date(s + n - 10, s + n - 5, s + n - 2))
                s[n - 11] = '\0';
}

/* "@default", "@latest", "@YYYYMMDD" and "@001" (Vertex versions of one model). */
static void normalize_strip_at(char *s)
{
        char *at = strrchr(s, '@');
        if (!at || at == s)
                return;
        if (streq(at, "@default") || streq(at, "@latest") ||
            (at[1] != '\0' && strlen(at + 1) <= 8 && normalize_digits(at + 1, strlen(at + 1))))
                *at = '\0';
}

static void normalize_strip_display_markers(char *s)
{
        char *open;

        while ((open = strrchr(s, '('))) {
                char *close = strchr(open, ')');
                bool known = false;
                if (!close)
                        break;
                for (size_t i = 0; i < ELEMENTSOF(display_markers); i++) {
                        size_t l = strlen(display_markers[i]);
                        if ((size_t)(close - open - 1) == l &&
                            strncmp(open + 1, display_markers[i], l) == 0)
                                known = true;
                }
                if (!known)
                        break;
                memmove(open, close + 1, strlen(close + 1) + 1);
        }
}

/* Every character outside [a-z0-9] becomes a dash; runs of dashes collapse; no dash at
 * either end. Version dots ("4.7") become dashes here too. */
static void normalize_dashes(char *s)
{
        size_t o = 0;
        for (size_t i = 0; s[i]; i++) {
                char c = s[i];
                if (!normalize_is_lower_alnum(c))
                        c = '-';
                if (c == '-' && (o == 0 || s[o - 1] == '-'))
                        continue;
                s[o++] = c;
        }
        while (o > 0 && s[o - 1] == '-')
                o--;
        s[o] = '\0';
}

/* Bedrock writes "llama3-1", Fireworks "llama-v3p1"; everyone else "llama-3-1". */
static void normalize_llama(char *s, size_t size)
{
        char out[NORMALIZE_BUF];
        size_t o = 0;
        const char *p = s;

        while (*p && o + 8 < sizeof(out)) {
                const char *rest = startswith(p, "llama");
                bool word_start = p == s || p[-1] == '-';
                if (rest && word_start) {
                        memcpy(out + o, "llama", 5);
                        o += 5;
                        const char *q = rest;
                        if (q[0] == '-' && q[1] == 'v' && normalize_is_digit(q[2]))
                                q += 2;
                        else if (q[0] == 'v' && normalize_is_digit(q[1]))
                                q += 1;
                        if (normalize_is_digit(*q)) {
                                out[o++] = '-';
                                while (normalize_is_digit(*q) && o + 4 < sizeof(out))
                                        out[o++] = *q++;
                                if (*q == 'p' && normalize_is_digit(q[1])) {
                                        out[o++] = '-';
                                        q++;
                                        while (normalize_is_digit(*q) && o + 4 < sizeof(out))
                                                out[o++] = *q++;
                                }
                                p = q;
                        } else
                                p = rest;
                        continue;
                }
                out[o++] = *p++;
        }
        out[o] = '\0';
        normalize_copy(s, size, out);
}

static bool normalize_strip_suffix(char *s, const char *suffix)
{
        size_t n = strlen(s), l = strlen(suffix);
        if (n > l && memcmp(s + n - l, suffix, l) == 0) {
                s[n - l] = '\0';
                return true;
        }
        return false;
}

/* Family vendor of s if s starts with a known family word, else NULL. */
static const char *normalize_family_only(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                /* The first byte rules out nearly every entry without a call. */
                if (families[i].name[0] != s[0])
                        continue;
                const char *rest = startswith(s, families[i].name);
                if (rest && (*rest == '\0' || *rest == '-' || normalize_is_digit(*rest)))
                        return families[i].vendor;
        }
        return NULL;
}

/* A publisher or host name in front of a family ("meta-llama-3-8b-instruct",
 * "cohere-command-a", "z-ai-glm-5-turbo", "databricks-claude-opus-4-7") is dropped; the
 * publisher also supplies the vendor when none is known yet. The family must agree with
 * a known vendor, so "mistral-large" and "deepseek-r1" keep their names. */
static void normalize_strip_lead(char *model, char *vendor, size_t size)
{
        for (size_t i = 0; i < ELEMENTSOF(publishers) + ELEMENTSOF(host_words); i++) {
                bool host = i >= ELEMENTSOF(publishers);
                const char *word =
                    host ? host_words[i - ELEMENTSOF(publishers)] : publishers[i].name;
                const char *rest, *fv;

                if (word[0] != model[0])
                        continue;
                rest = startswith(model, word);
                if (!rest || rest[0] != '-' || rest[1] == '\0')
                        continue;
                fv = host ? normalize_family(rest + 1) : normalize_family_only(rest + 1);
                if (!fv)
                        continue;
                if (!host && !streq(fv, publishers[i].vendor))
                        continue;
                if (vendor[0] && !streq(vendor, fv))
                        continue;
                if (!vendor[0])
                        normalize_copy(vendor, size, fv);
                memmove(model, rest + 1, strlen(rest + 1) + 1);
                return;
        }
}

int normalize_model(const AliasTable *aliases, const char *provider, const char *raw_id,
                    const char *vendor_hint, char **ret_canonical, bool *ret_mapped)
{
        char lower[NORMALIZE_BUF], stem[NORMALIZE_BUF], model[NORMALIZE_BUF];
        char derived[NORMALIZE_BUF], path_vendor[NORMALIZE_MAX_VENDOR + 1] = "";
        char vendor[NORMALIZE_MAX_VENDOR + 1] = "";
        const char *segs[NORMALIZE_MAX_SEGMENTS];
        size_t n_segs = 0, n;
        const char *alias, *last, *v;
        int rev;

        if (!raw_id || !ret_canonical || !ret_mapped)
                return -EINVAL;
        n = strlen(raw_id);
        if (n == 0 || n > NORMALIZE_MAX_ID)
                return -EINVAL;

        /* 1. lower case, trimmed; OpenRouter's "~" marks a moving alias of the same model. */
        size_t o = 0;
        for (size_t i = 0; i < n; i++)
                lower[o++] = (char)tolower((unsigned char)raw_id[i]);
        lower[o] = '\0';
        char *start = lower;
        while (normalize_is_space(*start) || *start == '~')
                start++;
        while (o > 0 && normalize_is_space(lower[o - 1]))
                lower[--o] = '\0';
        if (*start == '\0')
                return -EINVAL;

        /* 2. provider path: host names, regions and tiers before the last '/' go. */
        for (char *p = start;;) {
                char *slash = strchr(p, '/');
                if (n_segs == NORMALIZE_MAX_SEGMENTS)
                        return -EINVAL;
                segs[n_segs++] = p;
                if (!slash)
                        break;
                *slash = '\0';
                p = slash + 1;
        }
        last = segs[n_segs - 1];
        if (*last == '\0')
                return -EINVAL;

        /* 3. geo prefix of inference profiles: "us.anthropic.x" -> "anthropic.x". */
        for (size_t i = 0; i < ELEMENTSOF(geo_prefixes); i++) {
                const char *rest = startswith(last, geo_prefixes[i]);
                if (rest && rest[0] == '.' && strchr(rest + 1, '.')) {
                        last = rest + 1;
                        break;
                }
        }

        stem[0] = '\0';
        {
                const char *kept[NORMALIZE_MAX_SEGMENTS];
                size_t n_kept = 0, so = 0;
                for (size_t i = 0; i + 1 < n_segs; i++) {
                        if (segs[i][0] == '\0' || normalize_is_path_word(segs[i]) ||
                            normalize_is_region(segs[i]))
                                continue;
                        kept[n_kept++] = segs[i];
                }
                for (size_t i = 0; i < n_kept; i++)
                        so += (size_t)snprintf(stem + so, sizeof(stem) - so, "%s/", kept[i]);
                snprintf(stem + so, sizeof(stem) - so, "%s", last);

                /* The nearest known publisher wins; a lone unknown segment is the author. */
                for (size_t i = n_kept; i > 0; i--)
                        if (normalize_publisher(kept[i - 1])) {
                                snprintf(path_vendor, sizeof(path_vendor), "%s",
                                         normalize_publisher(kept[i - 1]));
                                break;
                        }
                if (!path_vendor[0] && n_kept == 1)
                        normalize_vendor_word(kept[0], strlen(kept[0]), path_vendor,
                                              sizeof(path_vendor));
        }

        /* 4. vendor prefix "anthropic.", "meta.", ... (only known publishers: "gpt-5.5"
         * has a dot too). */
        normalize_copy(model, sizeof(model), last);
        {
                const char *dot = strchr(model, '.');
                if (dot && dot != model && (size_t)(dot - model) <= NORMALIZE_MAX_VENDOR) {
                        char word[NORMALIZE_MAX_VENDOR + 1];
                        memcpy(word, model, (size_t)(dot - model));
                        word[dot - model] = '\0';
                        const char *pv = normalize_publisher(word);
                        if (pv) {
                                if (!path_vendor[0])
                                        normalize_copy(path_vendor, sizeof(path_vendor), pv);
                                memmove(model, dot + 1, strlen(dot + 1) + 1);
                        }
                }
        }

        /* 5. suffixes: "@default"/"@date", routing variants, version tails, dates. */
        normalize_strip_at(model);
        for (size_t i = 0; i < ELEMENTSOF(variant_tails); i++)
                normalize_strip_suffix(model, variant_tails[i]);
        rev = normalize_strip_version(model);
        normalize_strip_date(model);
        /* A "-v2" revision is a different model (claude-3-5-sonnet-20241022-v2:0): keep it. */
        if (rev >= 2) {
                size_t l = strlen(model);
                snprintf(model + l, sizeof(model) - l, "-v%d", rev);
        }
        /* Vertex's partner models carry "-maas" (model as a service). */
        normalize_strip_suffix(model, "-maas");

        /* 6. display names: "(preview)" markers go, everything else becomes dashes. */
        normalize_strip_display_markers(model);
        normalize_dashes(model);
        normalize_llama(model, sizeof(model));
        if (model[0] == '\0')
                return -EINVAL;

        /* 7. vendor: prefix in the id, hint, family, then a provider named after a vendor. */
        if (path_vendor[0])
                normalize_copy(vendor, sizeof(vendor), path_vendor);
        if (!vendor[0] && vendor_hint)
                normalize_vendor_word(vendor_hint, strlen(vendor_hint), vendor, sizeof(vendor));
        if (!vendor[0] && (v = normalize_family(model)))
                normalize_copy(vendor, sizeof(vendor), v);

        /* Twice: "databricks-meta-llama-3-1-8b" carries a host and a publisher. */
        normalize_strip_lead(model, vendor, sizeof(vendor));
        normalize_strip_lead(model, vendor, sizeof(vendor));
        if (!vendor[0] && provider && (v = normalize_publisher(provider)))
                normalize_copy(vendor, sizeof(vendor), v);

        int dn = snprintf(derived, sizeof(derived), "%s/%s", vendor[0] ? vendor : "unmapped",
                          model);
        if (dn < 0 || (size_t)dn >= sizeof(derived))
                return -EINVAL;
        alias = alias_table_find(aliases, stem, derived);
        if (alias) {
                *ret_canonical = xstrdup(alias);
                *ret_mapped = true;
                return 0;
        }
        if (strlen(derived) > NORMALIZE_MAX_ID)
                return -EINVAL;
        *ret_canonical = xstrdup(derived);
        *ret_mapped = vendor[0] != '\0';
        return 0;
}

const char *normalize_vendor_of(const char *canonical, char *buf, size_t size)
{
        const char *slash;
        size_t n;

        if (!buf || size == 0)
                return NULL;
        buf[0] = '\0';
        if (!canonical)
                return buf;
        slash = strchr(canonical, '/');
        n = slash ? (size_t)(slash - canonical) : 0;
        if (n >= size)
                n = size - 1;
        memcpy(buf, canonical, n);
        buf[n] = '\0';
        return buf;
}
