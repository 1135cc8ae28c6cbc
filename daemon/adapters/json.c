/* The generic JSON adapter, for feeds that no dedicated adapter reads: `rows` is a path
 * from the document root to the rows, and `columns` ("path:field, path:field") says what
 * each row gives, each path starting at the row. The grammar, the fields and every
 * failure are in docs/adapters-json.md. */
#include <jansson.h>
#include <stdio.h>
#include <strings.h>

#include "lockwatch/adapter.h"
#include "lockwatch/util.h"

#define JSONSPEC_MAX_COLUMNS  16
#define JSONSPEC_MAX_LEN      4096
#define JSONPATH_MAX_INDEX    999999999u
#define JSONSPEC_DEFAULT_ROWS "[*]"

typedef enum JsonPathStepType {
        JSONPATH_MEMBER,   /* name or "quoted name": one member of an object */
        JSONPATH_MEMBERS,  /* *: every member value of an object */
        JSONPATH_ELEMENTS, /* [*]: every element of an array */
        JSONPATH_INDEX,    /* [N]: one element of an array */
} JsonPathStepType;

typedef struct JsonPathStep {
        JsonPathStepType type;
        char *name;   /* JSONPATH_MEMBER */
        size_t index; /* JSONPATH_INDEX */
} JsonPathStep;

typedef struct JsonPath {
        JsonPathStep steps[ADAPTER_JSONPATH_MAX_STEPS];
        size_t n;
        bool key;   /* "@key": the name the row was reached by, not a value inside it */
        char *text; /* canonical spelling, for messages and the fingerprint */
} JsonPath;

typedef enum JsonSpecField {
        JSONSPEC_FIELD_MODEL,
        JSONSPEC_FIELD_NAME,
        JSONSPEC_FIELD_PROVIDER,
        JSONSPEC_FIELD_VENDOR,
        JSONSPEC_FIELD_REGIONS,
        JSONSPEC_FIELD_LIFECYCLE,
        JSONSPEC_FIELD_EOL,
        JSONSPEC_FIELD_PRICE_IN,
        JSONSPEC_FIELD_PRICE_OUT,
        JSONSPEC_FIELD_PRICE_IN_PER_TOKEN,
        JSONSPEC_FIELD_PRICE_OUT_PER_TOKEN,
        JSONSPEC_FIELD_AVAILABLE,
        _JSONSPEC_FIELD_MAX,
} JsonSpecField;

static const char *const jsonspec_field_names[_JSONSPEC_FIELD_MAX] = {
    [JSONSPEC_FIELD_MODEL] = "model",
    [JSONSPEC_FIELD_NAME] = "name",
    [JSONSPEC_FIELD_PROVIDER] = "provider",
    [JSONSPEC_FIELD_VENDOR] = "vendor",
    [JSONSPEC_FIELD_REGIONS] = "regions",
    [JSONSPEC_FIELD_LIFECYCLE] = "lifecycle",
    [JSONSPEC_FIELD_EOL] = "eol",
    [JSONSPEC_FIELD_PRICE_IN] = "price_in",
    [JSONSPEC_FIELD_PRICE_OUT] = "price_out",
    [JSONSPEC_FIELD_PRICE_IN_PER_TOKEN] = "price_in_per_token",
    [JSONSPEC_FIELD_PRICE_OUT_PER_TOKEN] = "price_out_per_token",
    [JSONSPEC_FIELD_AVAILABLE] = "available",
};

typedef struct JsonColumn {
        JsonPath path;
        JsonSpecField field;
} JsonColumn;

typedef struct JsonSpec {
        JsonPath rows;
        bool default_rows; /* no `rows` was given */
        JsonColumn columns[JSONSPEC_MAX_COLUMNS];
        size_t n_columns;
        int by_field[_JSONSPEC_FIELD_MAX]; /* the column giving each field, or -1 */
        bool uses_key;                     /* some column is "@key" */
} JsonSpec;

/* Where a path led from one starting value: each value found and the step that got there. */
typedef struct JsonPathHit {
        json_t *value;
        const char *key; /* member name of the last step; NULL when it was an index */
        size_t index;    /* array index of the last step */
        bool stepped;    /* false for the starting value itself (path "$") */
} JsonPathHit;

typedef struct JsonPathWalk {
        const JsonPath *path;
        JsonPathHit *hits;
        size_t n, cap;
        size_t limit; /* past this many hits the walk stops and sets over */
        bool over;
        size_t deepest; /* most steps any branch got through, and a value there */
        json_t *stuck;
} JsonPathWalk;

static void jsonpath_done(JsonPath *p)
{
        for (size_t i = 0; i < p->n; i++)
                free(p->steps[i].name);
        free(p->text);
        *p = (JsonPath){0};
}

static void jsonspec_free(JsonSpec *s)
{
        if (!s)
                return;
        jsonpath_done(&s->rows);
        for (size_t i = 0; i < s->n_columns; i++)
                jsonpath_done(&s->columns[i].path);
        free(s);
}
DEFINE_FREEP(JsonSpec, jsonspec_free)

static bool jsonpath_name_char(char c)
{
        unsigned char u = (unsigned char)c;

        return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
               u == '_' || u == '-' || u >= 0x80;
}

/* What stands at s[i], for messages: "'x'", "byte 0x09" or "the end". */
static const char *jsonpath_got(const char *s, size_t n, size_t i, char buf[static 16])
{
        unsigned char u;

        if (i >= n)
                return "the end";
        u = (unsigned char)s[i];
        if (u >= 0x20 && u < 0x7f)
                snprintf(buf, 16, "'%c'", s[i]);
        else
                snprintf(buf, 16, "byte 0x%02x", u);
        return buf;
}

static void text_add(char **s, size_t *len, size_t *cap, const char *p, size_t n)
{
        util_grow((void **)s, cap, *len + n + 1, 1);
        memcpy(*s + *len, p, n);
        *len += n;
        (*s)[*len] = '\0';
}

/* A path as quoted in a message: long ones are cut so the reason after them still fits. */
static char *jsonpath_display(const char *s)
{
        size_t n = strlen(s);

        if (n <= 48)
                return xstrdup(s);
        n = 45;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                n--;
        return xasprintf("%.*s...", (int)n, s);
}

/* The canonical spelling of the first upto steps: the same path always reads the same,
 * however it was written ("a.\"b\"" is "a.b"), so it can be hashed and compared. */
static char *jsonpath_text(const JsonPath *p, size_t upto)
{
        char *s = NULL;
        size_t len = 0, cap = 0;

        if (p->key)
                return xstrdup("@key");
        if (upto == 0)
                return xstrdup("$");
        for (size_t k = 0; k < upto; k++) {
                const JsonPathStep *st = &p->steps[k];
                char buf[32];

                switch (st->type) {
                case JSONPATH_MEMBER: {
                        size_t nl = strlen(st->name);
                        bool bare = nl > 0;

                        for (size_t i = 0; i < nl && bare; i++)
                                bare = jsonpath_name_char(st->name[i]);
                        if (k > 0)
                                text_add(&s, &len, &cap, ".", 1);
                        if (bare) {
                                text_add(&s, &len, &cap, st->name, nl);
                                break;
                        }
                        text_add(&s, &len, &cap, "\"", 1);
                        for (size_t i = 0; i < nl; i++) {
                                if (st->name[i] == '"' || st->name[i] == '\\')
                                        text_add(&s, &len, &cap, "\\", 1);
                                text_add(&s, &len, &cap, st->name + i, 1);
                        }
                        text_add(&s, &len, &cap, "\"", 1);
                        break;
                }
                case JSONPATH_MEMBERS:
                        text_add(&s, &len, &cap, k > 0 ? ".*" : "*", k > 0 ? 2 : 1);
                        break;
                case JSONPATH_ELEMENTS:
                        text_add(&s, &len, &cap, "[*]", 3);
                        break;
                case JSONPATH_INDEX:
                        snprintf(buf, sizeof(buf), "[%zu]", st->index);
                        text_add(&s, &len, &cap, buf, strlen(buf));
                        break;
                }
        }
        return s;
}

/* A quoted name at s[i] (the opening quote); on success *i is past the closing quote. */
static int jsonpath_quoted(const char *s, size_t n, size_t *i, size_t base, char **ret,
                           AdapterError *err)
{
        _cleanup_free_ char *name = xmalloc(n + 1);
        size_t start = *i, o = 0, j = *i + 1;

        for (; j < n && s[j] != '"'; j++) {
                if (s[j] != '\\') {
                        name[o++] = s[j];
                        continue;
                }
                if (j + 1 >= n) {
                        j = n; /* a lone backslash at the end escapes nothing */
                        break;
                }
                if (s[j + 1] != '"' && s[j + 1] != '\\') {
                        unsigned char u = (unsigned char)s[j + 1];
                        char esc[24];

                        if (u >= 0x20 && u < 0x7f)
                                snprintf(esc, sizeof(esc), "'\\%c'", s[j + 1]);
                        else
                                snprintf(esc, sizeof(esc), "'\\' and byte 0x%02x", u);
                        return adapter_error(err, base + j,
                                             "byte %zu: unknown escape %s in a quoted name (only "
                                             "\\\" and \\\\)",
                                             base + j + 1, esc);
                }
                name[o++] = s[++j];
        }
        if (j >= n)
                return adapter_error(err, base + start, "byte %zu: unterminated quoted name",
                                     base + start + 1);
        name[o] = '\0';
        *i = j + 1;
        *ret = TAKE_PTR(name);
        return 0;
}

/* Parse n bytes of path text; base is where they start in the spec, for messages. Only
 * a column's path may be "@key". On failure err names the byte (1-based, in the spec). */
static int jsonpath_parse(const char *s, size_t n, size_t base, bool column, JsonPath *ret,
                          AdapterError *err)
{
        JsonPath p = {0};
        bool dollar = false;
        size_t i = 0;
        char buf[16];
        int r = 0;

        if (n > ADAPTER_JSONPATH_MAX_LEN)
                return adapter_error(err, base, "path longer than %d bytes",
                                     ADAPTER_JSONPATH_MAX_LEN);
        if (n > 0 && s[0] == '@') {
                if (column && n == 4 && memcmp(s, "@key", 4) == 0) {
                        *ret = (JsonPath){.key = true, .text = xstrdup("@key")};
                        return 0;
                }
                return adapter_error(err, base,
                                     "byte %zu: unexpected '@' (only a column's path may be "
                                     "@key, alone)",
                                     base + 1);
        }
        if (n > 0 && s[0] == '$') {
                dollar = true;
                i = 1;
        }

        while (i < n) {
                JsonPathStep st = {0};
                size_t at = i;

                if (p.n >= ADAPTER_JSONPATH_MAX_STEPS) {
                        r = adapter_error(err, base + at, "byte %zu: more than %d steps",
                                          base + at + 1, ADAPTER_JSONPATH_MAX_STEPS);
                        goto fail;
                }
                if (s[i] == '[') {
                        i++;
                        if (i < n && s[i] == '*') {
                                st.type = JSONPATH_ELEMENTS;
                                i++;
                        } else if (i < n && s[i] >= '0' && s[i] <= '9') {
                                size_t v = 0, digits = 0, first = i;

                                for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
                                        if (digits < 10)
                                                v = v * 10 + (size_t)(s[i] - '0');
                                if (digits > 9 || v > JSONPATH_MAX_INDEX) {
                                        r = adapter_error(err, base + first,
                                                          "byte %zu: index larger than %u",
                                                          base + first + 1, JSONPATH_MAX_INDEX);
                                        goto fail;
                                }
                                st.type = JSONPATH_INDEX;
                                st.index = v;
                        } else {
                                r = adapter_error(err, base + i,
                                                  "byte %zu: expected '*' or an index after '[', "
                                                  "got %s",
                                                  base + i + 1, jsonpath_got(s, n, i, buf));
                                goto fail;
                        }
                        if (i >= n || s[i] != ']') {
                                r = adapter_error(err, base + i, "byte %zu: expected ']', got %s",
                                                  base + i + 1, jsonpath_got(s, n, i, buf));
                                goto fail;
                        }
                        i++;
                } else {
                        /* Only the first step, without "$", may leave out its '.'. */
                        bool first = p.n == 0 && !dollar;

                        if (!first) {
                                if (s[i] != '.') {
                                        r = adapter_error(err, base + i,
                                                          "byte %zu: expected '.' or '[', got %s",
                                                          base + i + 1, jsonpath_got(s, n, i, buf));
                                        goto fail;
                                }
                                i++;
                        }
                        if (i < n && s[i] == '*') {
                                st.type = JSONPATH_MEMBERS;
                                i++;
                        } else if (i < n && s[i] == '"') {
                                st.type = JSONPATH_MEMBER;
                                r = jsonpath_quoted(s, n, &i, base, &st.name, err);
                                if (r < 0)
                                        goto fail;
                        } else if (i < n && jsonpath_name_char(s[i])) {
                                size_t start = i;

                                while (i < n && jsonpath_name_char(s[i]))
                                        i++;
                                st.type = JSONPATH_MEMBER;
                                st.name = xstrndup(s + start, i - start);
                        } else if (first) {
                                r = adapter_error(err, base + i,
                                                  "byte %zu: expected a name, a quoted name, '*', "
                                                  "'[' or '$', got %s",
                                                  base + i + 1, jsonpath_got(s, n, i, buf));
                                goto fail;
                        } else {
                                r = adapter_error(err, base + i,
                                                  "byte %zu: expected a name, a quoted name or "
                                                  "'*' after '.', got %s",
                                                  base + i + 1, jsonpath_got(s, n, i, buf));
                                goto fail;
                        }
                }
                p.steps[p.n++] = st;
        }

        p.text = jsonpath_text(&p, p.n);
        *ret = p;
        return 0;
fail:
        jsonpath_done(&p);
        return r;
}

static const char *jsonparse_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

/* Walk one path from v (the value after k steps); hits are borrowed from the document. */
static void jsonpath_walk(JsonPathWalk *w, size_t k, json_t *v, const char *key, size_t index,
                          bool stepped)
{
        const JsonPathStep *st;
        json_t *c;

        if (w->over)
                return;
        if (!w->stuck || k > w->deepest) {
                w->deepest = k;
                w->stuck = v;
        }
        if (k == w->path->n) {
                if (w->n >= w->limit) {
                        w->over = true;
                        return;
                }
                util_grow((void **)&w->hits, &w->cap, w->n + 1, sizeof(JsonPathHit));
                w->hits[w->n++] = (JsonPathHit){v, key, index, stepped};
                return;
        }

        st = &w->path->steps[k];
        switch (st->type) {
        case JSONPATH_MEMBER:
                c = json_object_get(v, st->name);
                if (c)
                        jsonpath_walk(w, k + 1, c, st->name, 0, true);
                break;
        case JSONPATH_MEMBERS:
                for (void *it = json_object_iter(v); it && !w->over;
                     it = json_object_iter_next(v, it))
                        jsonpath_walk(w, k + 1, json_object_iter_value(it),
                                      json_object_iter_key(it), 0, true);
                break;
        case JSONPATH_ELEMENTS:
                for (size_t i = 0; i < json_array_size(v) && !w->over; i++)
                        jsonpath_walk(w, k + 1, json_array_get(v, i), NULL, i, true);
                break;
        case JSONPATH_INDEX:
                c = json_array_get(v, st->index);
                if (c)
                        jsonpath_walk(w, k + 1, c, NULL, st->index, true);
                break;
        }
}

static void jsonpath_run(JsonPathWalk *w, const JsonPath *path, json_t *start, size_t limit)
{
        w->path = path;
        w->n = 0;
        w->limit = limit;
        w->over = false;
        w->deepest = 0;
        w->stuck = NULL;
        jsonpath_walk(w, 0, start, NULL, 0, false);
}

/* Why a path found nothing: what the deepest branch met at the step it could not take. */
static void jsonpath_explain(const JsonPathWalk *w, char *buf, size_t size)
{
        const JsonPath *p = w->path;
        const JsonPathStep *st = &p->steps[w->deepest];
        _cleanup_free_ char *prefix = jsonpath_text(p, w->deepest);
        _cleanup_free_ char *shown = jsonpath_display(prefix);
        _cleanup_free_ char *where =
            w->deepest == 0 ? xstrdup("the top level") : xasprintf("\"%s\"", shown);
        const json_t *v = w->stuck;

        switch (st->type) {
        case JSONPATH_MEMBER:
                if (json_is_object(v)) {
                        _cleanup_free_ char *name = jsonpath_display(st->name);
                        snprintf(buf, size, "%s has no member \"%s\"", where, name);
                } else {
                        snprintf(buf, size, "%s is %s, not an object", where,
                                 jsonparse_type_name(v));
                }
                break;
        case JSONPATH_MEMBERS:
                if (json_is_object(v))
                        snprintf(buf, size, "%s is an empty object", where);
                else
                        snprintf(buf, size, "%s is %s, not an object", where,
                                 jsonparse_type_name(v));
                break;
        case JSONPATH_ELEMENTS:
        case JSONPATH_INDEX:
                if (json_is_array(v) && st->type == JSONPATH_ELEMENTS)
                        snprintf(buf, size, "%s is an empty array", where);
                else if (json_is_array(v))
                        snprintf(buf, size, "%s has %zu elements, no [%zu]", where,
                                 json_array_size(v), st->index);
                else
                        snprintf(buf, size, "%s is %s, not an array", where,
                                 jsonparse_type_name(v));
                break;
        }
}

static char *trim_range(const char *s, size_t *start, size_t *end)
{
        while (*start < *end && strchr(" \t\r\n\f\v", s[*start]))
                (*start)++;
        while (*end > *start && strchr(" \t\r\n\f\v", s[*end - 1]))
                (*end)--;
        return xstrndup(s + *start, *end - *start);
}

static const char *jsoncol_suggestion(const char *word)
{
        const char *best = NULL;
        unsigned best_d = 3;

        for (int f = 0; f < _JSONSPEC_FIELD_MAX; f++) {
                unsigned d = util_edit_distance(word, jsonspec_field_names[f], best_d);
                if (d < best_d) {
                        best_d = d;
                        best = jsonspec_field_names[f];
                }
        }
        return best;
}

/* price_in and price_in_per_token set the same value, as do the two output prices. */
static JsonSpecField jsoncol_slot(JsonSpecField f)
{
        if (f == JSONSPEC_FIELD_PRICE_IN_PER_TOKEN)
                return JSONSPEC_FIELD_PRICE_IN;
        if (f == JSONSPEC_FIELD_PRICE_OUT_PER_TOKEN)
                return JSONSPEC_FIELD_PRICE_OUT;
        return f;
}

/* One "path:field" item, s[start..end); colon is its last unquoted ':' or SIZE_MAX. */
static int jsoncol_add(JsonSpec *spec, const char *s, size_t start, size_t end, size_t colon,
                       bool unterminated, AdapterError *err)
{
        size_t col = spec->n_columns + 1, ps = start, pe = colon == SIZE_MAX ? end : colon;
        _cleanup_free_ char *path = trim_range(s, &ps, &pe), *word = NULL, *shownword = NULL;
        _cleanup_free_ char *shown = jsonpath_display(path);
        AdapterError perr = {0};
        JsonColumn *c;
        int f = -1;

        if (colon == SIZE_MAX) {
                if (path[0] == '\0')
                        return adapter_error(err, start, "column %zu is empty", col);
                /* An open quote swallowed the ':' and everything after it. */
                if (unterminated) {
                        JsonPath tmp;
                        if (jsonpath_parse(s + ps, pe - ps, ps, true, &tmp, &perr) < 0)
                                return adapter_error(err, perr.offset, "column %zu (\"%s\"): %s",
                                                     col, shown, perr.message);
                        jsonpath_done(&tmp);
                }
                return adapter_error(err, start,
                                     "column %zu (\"%s\") has no ':' between path and field", col,
                                     shown);
        }
        size_t ws = colon + 1, we = end;
        word = trim_range(s, &ws, &we);
        shownword = jsonpath_display(word);
        if (path[0] == '\0')
                return adapter_error(err, start,
                                     "column %zu has an empty path before ':%s' (write $ for the "
                                     "row itself)",
                                     col, shownword);
        if (word[0] == '\0')
                return adapter_error(err, start, "column %zu (\"%s\") has no field after ':'", col,
                                     shown);
        for (int i = 0; i < _JSONSPEC_FIELD_MAX; i++)
                if (strcasecmp(word, jsonspec_field_names[i]) == 0)
                        f = i;
        if (f < 0) {
                const char *hint = jsoncol_suggestion(word);
                if (hint)
                        return adapter_error(err, start,
                                             "column %zu (\"%s\"): unknown field \"%s\" (did you "
                                             "mean %s?)",
                                             col, shown, shownword, hint);
                return adapter_error(err, start,
                                     "column %zu (\"%s\"): unknown field \"%s\" (one of model, "
                                     "name, provider, vendor, regions, lifecycle, eol, price_in, "
                                     "price_out, price_in_per_token, price_out_per_token, "
                                     "available)",
                                     col, shown, shownword);
        }
        for (size_t i = 0; i < spec->n_columns; i++) {
                JsonSpecField g = spec->columns[i].field;

                if (g == (JsonSpecField)f)
                        return adapter_error(err, start,
                                             "column %zu (\"%s\"): field %s is already given by "
                                             "column %zu",
                                             col, shown, jsonspec_field_names[f], i + 1);
                if (jsoncol_slot(g) == jsoncol_slot((JsonSpecField)f))
                        return adapter_error(err, start,
                                             "column %zu (\"%s\"): field %s and column %zu's %s "
                                             "set the same price",
                                             col, shown, jsonspec_field_names[f], i + 1,
                                             jsonspec_field_names[g]);
        }

        c = &spec->columns[spec->n_columns];
        if (jsonpath_parse(s + ps, pe - ps, ps, true, &c->path, &perr) < 0)
                return adapter_error(err, perr.offset, "column %zu (\"%s\"): %s", col, shown,
                                     perr.message);
        c->field = (JsonSpecField)f;
        spec->uses_key |= c->path.key;
        spec->by_field[f] = (int)spec->n_columns++;
        return 0;
}

static int jsonspec_columns(JsonSpec *spec, const char *s, const char *provider, AdapterError *err)
{
        size_t len, start = 0, colon = SIZE_MAX, items = 1;
        bool quoted = false;
        int r;

        if (!s)
                return adapter_error(err, 0, "no column spec");
        len = strlen(s);
        if (len > JSONSPEC_MAX_LEN)
                return adapter_error(err, 0, "column spec longer than %d bytes", JSONSPEC_MAX_LEN);
        if (strspn(s, " \t\r\n\f\v") == len)
                return adapter_error(err, 0, "empty column spec");

        /* Counted first: past the cap, later complaints would only hide the real problem. */
        for (size_t i = 0; i < len; i++) {
                if (quoted && s[i] == '\\')
                        i++;
                else if (s[i] == '"')
                        quoted = !quoted;
                else if (!quoted && s[i] == ',' && ++items > JSONSPEC_MAX_COLUMNS)
                        return adapter_error(err, i + 1, "more than %d columns",
                                             JSONSPEC_MAX_COLUMNS);
        }

        /* ',' and ':' inside a quoted name belong to the name. */
        quoted = false;
        for (size_t i = 0; i <= len; i++) {
                if (i < len && quoted) {
                        if (s[i] == '\\' && i + 1 < len)
                                i++;
                        else if (s[i] == '"')
                                quoted = false;
                        continue;
                }
                if (i < len && s[i] == '"') {
                        quoted = true;
                        continue;
                }
                if (i < len && s[i] == ':') {
                        colon = i;
                        continue;
                }
                if (i < len && s[i] != ',')
                        continue;
                r = jsoncol_add(spec, s, start, i, colon, quoted, err);
                if (r < 0)
                        return r;
                start = i + 1;
                colon = SIZE_MAX;
        }

        if (spec->by_field[JSONSPEC_FIELD_MODEL] < 0)
                return adapter_error(err, 0, "the column spec has no model column");
        /* Every row would be skipped: say so now rather than at every poll. */
        if (spec->by_field[JSONSPEC_FIELD_PROVIDER] < 0 && !provider)
                return adapter_error(err, 0,
                                     "the column spec has no provider column, and the source sets "
                                     "no provider");
        return 0;
}

static JsonSpec *jsonspec_new(void)
{
        JsonSpec *spec = xcalloc(1, sizeof(*spec));

        for (int f = 0; f < _JSONSPEC_FIELD_MAX; f++)
                spec->by_field[f] = -1;
        return spec;
}

static int jsonspec_rows(JsonSpec *spec, const char *rows, AdapterError *err)
{
        spec->default_rows = !rows;
        if (!rows)
                rows = JSONSPEC_DEFAULT_ROWS;
        return jsonpath_parse(rows, strlen(rows), 0, false, &spec->rows, err);
}

int adapter_json_generic_check(const AdapterOptions *opts, AdapterError *err)
{
        _cleanup_(jsonspec_freep) JsonSpec *spec = jsonspec_new();
        int r;

        if (opts->rows) {
                r = jsonspec_rows(spec, opts->rows, err);
                if (r < 0)
                        return r;
        }
        if (opts->columns) {
                r = jsonspec_columns(spec, opts->columns, opts->provider, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Per parse: one reusable walk per column, and what the rows have shown so far. */
typedef struct JsonParse {
        const JsonSpec *spec;
        const AdapterOptions *opts;
        ObservationList *out;
        AdapterError *err;
        size_t max_rows;
        JsonPathWalk cols[JSONSPEC_MAX_COLUMNS];
        bool resolved[JSONSPEC_MAX_COLUMNS]; /* the column's path found a value in some row */
        size_t with_model;                   /* rows with at least one model id */
} JsonParse;

static JsonPathWalk *jsonparse_field(JsonParse *jp, JsonSpecField f)
{
        int c = jp->spec->by_field[f];

        return c < 0 ? NULL : &jp->cols[c];
}

static json_t *jsonparse_first(JsonParse *jp, JsonSpecField f)
{
        JsonPathWalk *w = jsonparse_field(jp, f);

        return w && w->n > 0 ? w->hits[0].value : NULL;
}

static int jsonparse_available(json_t *v)
{
        const char *s = json_string_value(v);

        if (json_is_true(v))
                return 1;
        if (json_is_false(v))
                return 0;
        if (s && (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0))
                return 1;
        if (s && (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0))
                return 0;
        return -1;
}

static void jsonparse_regions(JsonParse *jp, Observation *o)
{
        JsonPathWalk *w = jsonparse_field(jp, JSONSPEC_FIELD_REGIONS);

        for (size_t i = 0; w && i < w->n; i++) {
                json_t *v = w->hits[i].value;

                /* An array of names is as good as "regions[*]". */
                if (json_is_array(v))
                        for (size_t j = 0; j < json_array_size(v) && j < ADAPTER_MAX_REGIONS; j++)
                                observation_add_region(o,
                                                       adapter_json_string(json_array_get(v, j), 1,
                                                                           ADAPTER_MAX_ID_LEN));
                else
                        observation_add_region(o, adapter_json_string(v, 1, ADAPTER_MAX_ID_LEN));
        }
}

/* A lifecycle word as published: "Active", "GenerallyAvailable", "Generally available",
 * "GENERALLY_AVAILABLE" all read the same. */
static Lifecycle jsonparse_lifecycle(json_t *v)
{
        const char *s = adapter_json_string(v, 1, 64);
        char compact[65];
        size_t n = 0;

        if (!s)
                return LIFECYCLE_UNKNOWN;
        for (; *s; s++)
                if (*s != ' ' && *s != '-' && *s != '_')
                        compact[n++] = *s;
        compact[n] = '\0';
        return lifecycle_from_string(compact);
}

/* Fill one observation from the row's first values (model and provider are set by the
 * caller). */
static void jsonparse_fill(JsonParse *jp, Observation *o)
{
        const char *s;
        json_t *v;
        int64_t eol;
        int a;

        o->name = xstrdup(
            adapter_json_string(jsonparse_first(jp, JSONSPEC_FIELD_NAME), 1, ADAPTER_MAX_ID_LEN));
        s = adapter_json_string(jsonparse_first(jp, JSONSPEC_FIELD_VENDOR), 1, ADAPTER_MAX_ID_LEN);
        o->vendor = xstrdup(s ?: jp->opts->vendor);
        o->lifecycle = jsonparse_lifecycle(jsonparse_first(jp, JSONSPEC_FIELD_LIFECYCLE));
        /* As in the table adapters: a retired model is positively not offered. */
        o->available = o->lifecycle != LIFECYCLE_RETIRED;
        a = jsonparse_available(jsonparse_first(jp, JSONSPEC_FIELD_AVAILABLE));
        if (a >= 0)
                o->available = a;
        if (adapter_parse_date(json_string_value(jsonparse_first(jp, JSONSPEC_FIELD_EOL)),
                               ADAPTER_DATE_TIME_SUFFIX | ADAPTER_DATE_FROM_EPOCH, &eol) >= 0)
                o->eol = eol;

        if ((v = jsonparse_first(jp, JSONSPEC_FIELD_PRICE_IN_PER_TOKEN)))
                o->price_in = adapter_json_price(v, ADAPTER_PRICE_STRING | ADAPTER_PRICE_PER_TOKEN);
        else
                o->price_in = adapter_json_price(jsonparse_first(jp, JSONSPEC_FIELD_PRICE_IN),
                                                 ADAPTER_PRICE_STRING);
        if ((v = jsonparse_first(jp, JSONSPEC_FIELD_PRICE_OUT_PER_TOKEN)))
                o->price_out =
                    adapter_json_price(v, ADAPTER_PRICE_STRING | ADAPTER_PRICE_PER_TOKEN);
        else
                o->price_out = adapter_json_price(jsonparse_first(jp, JSONSPEC_FIELD_PRICE_OUT),
                                                  ADAPTER_PRICE_STRING);
        jsonparse_regions(jp, o);
}

/* The valid ids among the hits of model or provider: strings of 1..ADAPTER_MAX_ID_LEN
 * bytes, in document order, borrowed from the document. *too_long counts longer ones. */
static size_t jsonparse_ids(JsonPathWalk *w, const char **ids, size_t *too_long)
{
        size_t n = 0;

        for (size_t i = 0; w && i < w->n; i++) {
                const char *s = json_string_value(w->hits[i].value);

                if (s && strlen(s) > ADAPTER_MAX_ID_LEN)
                        (*too_long)++;
                else if (s && *s)
                        ids[n++] = s;
        }
        return n;
}

static int jsonparse_row(JsonParse *jp, const JsonPathHit *row)
{
        _cleanup_(adapter_json_decrefp) json_t *keyv = NULL;
        _cleanup_free_ const char **models = NULL;
        _cleanup_free_ const char **providers = NULL;
        size_t n_models, n_providers, too_long = 0;
        const char *fallback = NULL;
        int r;

        /* "@key" is the name (or index) of the step that reached the row. */
        if (jp->spec->uses_key && row->stepped) {
                char buf[32];
                if (row->key)
                        keyv = json_string(row->key);
                else {
                        snprintf(buf, sizeof(buf), "%zu", row->index);
                        keyv = json_string(buf);
                }
        }

        for (size_t c = 0; c < jp->spec->n_columns; c++) {
                const JsonColumn *col = &jp->spec->columns[c];
                JsonPathWalk *w = &jp->cols[c];
                size_t limit = 1;

                if (col->field == JSONSPEC_FIELD_MODEL || col->field == JSONSPEC_FIELD_PROVIDER)
                        limit = jp->max_rows;
                else if (col->field == JSONSPEC_FIELD_REGIONS)
                        limit = ADAPTER_MAX_REGIONS;
                if (col->path.key) {
                        w->path = &col->path;
                        w->n = 0;
                        w->over = false;
                        if (keyv) {
                                util_grow((void **)&w->hits, &w->cap, 1, sizeof(JsonPathHit));
                                w->hits[w->n++] = (JsonPathHit){.value = keyv};
                        }
                } else {
                        jsonpath_run(w, &col->path, row->value, limit);
                }
                if (w->n > 0)
                        jp->resolved[c] = true;
                /* Fan-out past the row cap fails below anyway; stop walking now. */
                if (w->over &&
                    (col->field == JSONSPEC_FIELD_MODEL || col->field == JSONSPEC_FIELD_PROVIDER)) {
                        adapter_error(jp->err, 0, "more than %zu rows", jp->max_rows);
                        return -E2BIG;
                }
        }

        JsonPathWalk *mw = jsonparse_field(jp, JSONSPEC_FIELD_MODEL);
        JsonPathWalk *pw = jsonparse_field(jp, JSONSPEC_FIELD_PROVIDER);

        models = xcalloc(mw->n ? mw->n : 1, sizeof(char *));
        n_models = jsonparse_ids(mw, models, &too_long);
        if (n_models == 0)
                return 0;
        jp->with_model++;

        too_long = 0;
        providers = xcalloc(pw && pw->n ? pw->n : 1, sizeof(char *));
        n_providers = jsonparse_ids(pw, providers, &too_long);
        if (n_providers == 0) {
                /* A provider too long to keep is still this row's provider: the source's
                 * default must not stand in for it. */
                if (too_long > 0 || !jp->opts->provider)
                        return 0;
                fallback = jp->opts->provider;
                free(providers);
                providers = NULL;
                n_providers = 1;
        }

        for (size_t m = 0; m < n_models; m++)
                for (size_t p = 0; p < n_providers; p++) {
                        Observation *o;

                        r = adapter_add_observation(jp->out, jp->opts, jp->err, &o);
                        if (r < 0)
                                return r;
                        o->model = xstrdup(models[m]);
                        o->provider = xstrdup(providers ? providers[p] : fallback);
                        jsonparse_fill(jp, o);
                }
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The rows path, then each column path (sorted, once) that found a value in some row. */
static uint64_t jsonparse_fingerprint(const JsonParse *jp)
{
        const JsonSpec *spec = jp->spec;
        const char *names[JSONSPEC_MAX_COLUMNS];
        _cleanup_free_ char *shape = xasprintf("json:rows=%s", spec->rows.text);
        uint64_t present = 0;
        size_t n = 0;

        for (size_t c = 0; c < spec->n_columns; c++)
                if (jp->resolved[c])
                        names[n++] = spec->columns[c].path.text;
        qsort(names, n, sizeof(char *), cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
                if (u == 0 || !streq(names[u - 1], names[i]))
                        names[u++] = names[i];
        for (size_t i = 0; i < u; i++)
                present |= UINT64_C(1) << i;
        return adapter_fingerprint_fields(shape, names, u, present);
}

int adapter_json_generic_parse(const char *data, size_t len, const AdapterOptions *opts,
                               ObservationList *out, AdapterError *err)
{
        static const AdapterOptions defaults = {0};
        _cleanup_(adapter_json_decrefp) json_t *root = NULL;
        _cleanup_(jsonspec_freep) JsonSpec *spec = jsonspec_new();
        JsonPathWalk rows = {0};
        JsonParse jp = {0};
        char why[sizeof(err->message)];
        int r;

        if (!opts)
                opts = &defaults;
        /* The config checker has seen both specs; these only fire for direct callers. */
        r = jsonspec_rows(spec, opts->rows, err);
        if (r < 0) {
                memcpy(why, err->message, sizeof(why));
                return adapter_error(err, err->offset, "invalid rows: %s", why);
        }
        r = jsonspec_columns(spec, opts->columns, opts->provider, err);
        if (r < 0) {
                memcpy(why, err->message, sizeof(why));
                return adapter_error(err, err->offset, "invalid columns: %s", why);
        }

        r = adapter_json_load(data, len, ADAPTER_JSON_INT_AS_REAL, &root, err);
        if (r < 0)
                return r;

        jp = (JsonParse){
            .spec = spec,
            .opts = opts,
            .out = out,
            .err = err,
            .max_rows = opts->max_rows ? opts->max_rows : ADAPTER_MAX_ROWS_DEFAULT,
        };

        jsonpath_run(&rows, &spec->rows, root, jp.max_rows);
        if (rows.over) {
                adapter_error(err, 0, "more than %zu rows", jp.max_rows);
                r = -E2BIG;
                goto out;
        }
        if (rows.n == 0) {
                _cleanup_free_ char *shown = jsonpath_display(spec->rows.text);

                jsonpath_explain(&rows, why, sizeof(why));
                r = adapter_error(err, 0, "rows \"%s\"%s matched nothing: %s", shown,
                                  spec->default_rows ? " (the default)" : "", why);
                goto out;
        }

        for (size_t i = 0; i < rows.n; i++) {
                r = jsonparse_row(&jp, &rows.hits[i]);
                if (r < 0)
                        goto out;
        }

        /* Rows that all lost their model mean the layout moved: that must not read as
         * "every model is gone". */
        const JsonPath *mp = &spec->columns[spec->by_field[JSONSPEC_FIELD_MODEL]].path;
        if (jp.with_model == 0) {
                _cleanup_free_ char *shown = jsonpath_display(mp->text);
                _cleanup_free_ char *rows_shown =
                    jsonpath_display(spec->rows.n > 0 ? spec->rows.text : "");
                bool arrays = true;

                for (size_t i = 0; i < rows.n && arrays; i++)
                        arrays = json_is_array(rows.hits[i].value);
                /* A hint only where the model path reads objects: "[0]" is meant for arrays. */
                if (mp->n > 0 &&
                    (mp->steps[0].type == JSONPATH_ELEMENTS || mp->steps[0].type == JSONPATH_INDEX))
                        arrays = false;
                if (arrays)
                        r = adapter_error(err, 0,
                                          "no row has a string at \"%s\" (the rows are arrays; "
                                          "did you mean rows = %s[*]?)",
                                          shown, rows_shown);
                else
                        r = adapter_error(err, 0, "no row has a string at \"%s\"", shown);
                goto out;
        }
        if (out->n == 0) {
                int pc = spec->by_field[JSONSPEC_FIELD_PROVIDER];
                _cleanup_free_ char *shown =
                    jsonpath_display(pc >= 0 ? spec->columns[pc].path.text : "");

                r = adapter_error(err, 0,
                                  "no row with a model has a string at \"%s\", and the source "
                                  "sets no provider",
                                  shown);
                goto out;
        }

        out->fingerprint = jsonparse_fingerprint(&jp);
        r = 0;
out:
        free(rows.hits);
        for (size_t c = 0; c < JSONSPEC_MAX_COLUMNS; c++)
                free(jp.cols[c].hits);
        return r;
}
