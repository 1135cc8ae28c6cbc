/* The rule language: tables shared with the evaluator and the manual, a lexer, a
 * recursive-descent parser with kind checking, and a printer for syntax trees.
 * rules/README.md is the user-facing description of everything decided here. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/rules.h"
#include "lockwatch/util.h"

/* ---- tables ---------------------------------------------------------------------------- */

#define T_MODEL  RULES_TARGET_BIT(RULE_TARGET_MODEL)
#define T_SOURCE RULES_TARGET_BIT(RULE_TARGET_SOURCE)
#define T_BOTH   (T_MODEL | T_SOURCE)
#define K(k)     RULES_KIND_BIT(RULES_KIND_##k)
#define K_VALUES                                                                                   \
        (K(NUMBER) | K(DURATION) | K(STRING) | K(BOOL) | K(LIST) | K(PROVIDER_SET) |               \
         K(CELL_STATE) | K(PROVIDER_KIND) | K(SOURCE_STATE))

static const RulesIdentifier identifiers[_RULES_ID_MAX] = {
    [RULES_ID_MODEL] = {"model", RULES_ID_MODEL, RULES_KIND_STRING, T_MODEL, false,
                        "the canonical model id, e.g. \"anthropic/claude-opus-4-7\""},
    [RULES_ID_VENDOR] = {"vendor", RULES_ID_VENDOR, RULES_KIND_STRING, T_MODEL, false,
                         "the vendor part of the model id, e.g. \"anthropic\""},
    [RULES_ID_AGE] = {"age", RULES_ID_AGE, RULES_KIND_DURATION, T_MODEL, false,
                      "time since the model was first seen by any source"},
    [RULES_ID_MAPPED] = {"mapped", RULES_ID_MAPPED, RULES_KIND_BOOL, T_MODEL, false,
                         "false if no normalization step or alias knew the id"},
    [RULES_ID_NEW] = {"new", RULES_ID_NEW, RULES_KIND_BOOL, T_MODEL, false,
                      "true if the model was first seen after lockwatch's first evaluation"},
    [RULES_ID_SOURCE] = {"source", RULES_ID_SOURCE, RULES_KIND_STRING, T_SOURCE, false,
                         "the source's name from the configuration"},
    [RULES_ID_STATE] = {"state", RULES_ID_STATE, RULES_KIND_SOURCE_STATE, T_SOURCE, false,
                        "the source's state: ok, degraded or suspect"},
    [RULES_ID_STALE_FOR] = {"stale_for", RULES_ID_STALE_FOR, RULES_KIND_DURATION, T_SOURCE, false,
                            "time since the source's last good poll"},
    [RULES_ID_CONSECUTIVE_FAILURES] = {"consecutive_failures", RULES_ID_CONSECUTIVE_FAILURES,
                                       RULES_KIND_NUMBER, T_SOURCE, false,
                                       "failed polls of the source in a row"},
    [RULES_ID_AVAILABLE] = {"available", RULES_ID_AVAILABLE, RULES_KIND_CELL_STATE, T_MODEL, true,
                            "cell state: some live source shows the model callable"},
    [RULES_ID_UNAVAILABLE] = {"unavailable", RULES_ID_UNAVAILABLE, RULES_KIND_CELL_STATE, T_MODEL,
                              true, "cell state: positively shown absent or retired"},
    [RULES_ID_UNKNOWN] = {"unknown", RULES_ID_UNKNOWN, RULES_KIND_CELL_STATE, T_MODEL, true,
                          "cell state: no trustworthy observation"},
    [RULES_ID_CLOUD] = {"cloud", RULES_ID_CLOUD, RULES_KIND_PROVIDER_KIND, T_MODEL, true,
                        "provider kind: hyperscale clouds (aws, gcp, azure, ...)"},
    [RULES_ID_DIRECT] = {"direct", RULES_ID_DIRECT, RULES_KIND_PROVIDER_KIND, T_MODEL, true,
                         "provider kind: the vendor's own API"},
    [RULES_ID_AGGREGATOR] = {"aggregator", RULES_ID_AGGREGATOR, RULES_KIND_PROVIDER_KIND, T_MODEL,
                             true, "provider kind: resellers such as openrouter"},
    [RULES_ID_OK] = {"ok", RULES_ID_OK, RULES_KIND_SOURCE_STATE, T_SOURCE, true,
                     "source state: the last poll succeeded"},
    [RULES_ID_DEGRADED] = {"degraded", RULES_ID_DEGRADED, RULES_KIND_SOURCE_STATE, T_SOURCE, true,
                           "source state: the last poll failed to fetch or parse"},
    [RULES_ID_SUSPECT] = {"suspect", RULES_ID_SUSPECT, RULES_KIND_SOURCE_STATE, T_SOURCE, true,
                          "source state: the last parse was quarantined by the guard"},
    [RULES_ID_CLOUDS] = {"clouds", RULES_ID_CLOUDS, RULES_KIND_SET_NAME, T_MODEL, true,
                         "in lost()/gained(): the available cloud providers"},
    [RULES_ID_PROVIDERS] = {"providers", RULES_ID_PROVIDERS, RULES_KIND_SET_NAME, T_MODEL, true,
                            "in lost()/gained(): the available providers of every kind"},
    [RULES_ID_LAGGING] = {"lagging", RULES_ID_LAGGING, RULES_KIND_NUMBER, T_SOURCE, false,
                          "cells where a provider's own listing overrules the source"},
    [RULES_ID_LAGGING_EXAMPLES] = {"lagging_examples", RULES_ID_LAGGING_EXAMPLES,
                                   RULES_KIND_STRING, T_SOURCE, false,
                                   "the first of those cells, \"model on provider, ...\""},
    [RULES_ID_UNMAPPED] = {"unmapped", RULES_ID_UNMAPPED, RULES_KIND_NUMBER, T_SOURCE, false,
                           "rows of model ids that no rule or alias maps"},
    [RULES_ID_UNMAPPED_EXAMPLES] = {"unmapped_examples", RULES_ID_UNMAPPED_EXAMPLES,
                                    RULES_KIND_STRING, T_SOURCE, false,
                                    "the first of those ids"},
};

static const char *const price_sides[] = {"input", "output", NULL};
static const char *const geo_names[] = {"us", "ca", "latam", "eu", "me", "af", "apac", NULL};

static const RulesFunction functions[_RULES_FN_MAX] = {
    [RULES_FN_CLOUDS] =
        {
            .name = "clouds",
            .id = RULES_FN_CLOUDS,
            .min_args = 1,
            .max_args = 1,
            .args = {K(CELL_STATE)},
            .kwargs = {{"geo", K(STRING), geo_names}},
            .result = RULES_KIND_PROVIDER_SET,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "clouds(state[, geo=STRING])",
            .doc = "cloud providers whose cell has this state (in regions of geo)",
        },
    [RULES_FN_PROVIDERS] =
        {
            .name = "providers",
            .id = RULES_FN_PROVIDERS,
            .min_args = 2,
            .max_args = 2,
            .args = {K(PROVIDER_KIND), K(CELL_STATE)},
            .result = RULES_KIND_PROVIDER_SET,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "providers(kind, state)",
            .doc = "providers of this kind whose cell has this state",
        },
    [RULES_FN_ON] =
        {
            .name = "on",
            .id = RULES_FN_ON,
            .min_args = 1,
            .max_args = 1,
            .args = {K(STRING)},
            .result = RULES_KIND_BOOL,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "on(provider)",
            .doc = "true if the provider's cell is available",
        },
    [RULES_FN_REGIONS] =
        {
            .name = "regions",
            .id = RULES_FN_REGIONS,
            .min_args = 1,
            .max_args = 1,
            .args = {K(STRING)},
            .result = RULES_KIND_LIST,
            .result_elem = RULES_KIND_STRING,
            .targets = T_MODEL,
            .signature = "regions(provider)",
            .doc = "region names of the provider's cell",
        },
    [RULES_FN_PRICE] =
        {
            .name = "price",
            .id = RULES_FN_PRICE,
            .min_args = 2,
            .max_args = 2,
            .args = {K(STRING), K(STRING)},
            .choices = {NULL, price_sides},
            .result = RULES_KIND_NUMBER,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "price(provider, \"input\"|\"output\")",
            .doc = "USD per million tokens on this provider",
        },
    [RULES_FN_MIN_PRICE] =
        {
            .name = "min_price",
            .id = RULES_FN_MIN_PRICE,
            .min_args = 1,
            .max_args = 1,
            .args = {K(STRING)},
            .choices = {price_sides},
            .kwargs = {{"kind", K(PROVIDER_KIND), NULL}},
            .result = RULES_KIND_NUMBER,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "min_price(\"input\"|\"output\"[, kind=KIND])",
            .doc = "lowest price over available providers (of one kind)",
        },
    [RULES_FN_MAX_PRICE] =
        {
            .name = "max_price",
            .id = RULES_FN_MAX_PRICE,
            .min_args = 1,
            .max_args = 1,
            .args = {K(STRING)},
            .choices = {price_sides},
            .kwargs = {{"kind", K(PROVIDER_KIND), NULL}},
            .result = RULES_KIND_NUMBER,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "max_price(\"input\"|\"output\"[, kind=KIND])",
            .doc = "highest price over available providers (of one kind)",
        },
    [RULES_FN_PREVIOUS] =
        {
            .name = "previous",
            .id = RULES_FN_PREVIOUS,
            .min_args = 1,
            .max_args = 1,
            .args = {K_VALUES},
            .result = RULES_KIND_NONE,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .lookback = true,
            .signature = "previous(expr)",
            .doc = "the value of expr at this rule's previous evaluation",
        },
    [RULES_FN_CHANGED] =
        {
            .name = "changed",
            .id = RULES_FN_CHANGED,
            .min_args = 1,
            .max_args = 1,
            .args = {K_VALUES},
            .result = RULES_KIND_BOOL,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .lookback = true,
            .signature = "changed(expr)",
            .doc = "true if previous(expr) differs from expr",
        },
    [RULES_FN_LOST] =
        {
            .name = "lost",
            .id = RULES_FN_LOST,
            .min_args = 1,
            .max_args = 1,
            .args = {K(SET_NAME)},
            .result = RULES_KIND_PROVIDER_SET,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .lookback = true,
            .signature = "lost(clouds|providers)",
            .doc = "available at the previous evaluation and not now",
        },
    [RULES_FN_GAINED] =
        {
            .name = "gained",
            .id = RULES_FN_GAINED,
            .min_args = 1,
            .max_args = 1,
            .args = {K(SET_NAME)},
            .result = RULES_KIND_PROVIDER_SET,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .lookback = true,
            .signature = "gained(clouds|providers)",
            .doc = "available now and not at the previous evaluation",
        },
    [RULES_FN_LIFECYCLE] =
        {
            .name = "lifecycle",
            .id = RULES_FN_LIFECYCLE,
            .min_args = 1,
            .max_args = 1,
            .args = {K(STRING)},
            .result = RULES_KIND_STRING,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "lifecycle(provider)",
            .doc = "the cell's lifecycle: active, preview, legacy, ...",
        },
    [RULES_FN_EOL_WITHIN] =
        {
            .name = "eol_within",
            .id = RULES_FN_EOL_WITHIN,
            .min_args = 2,
            .max_args = 2,
            .args = {K(STRING), K(DURATION)},
            .result = RULES_KIND_BOOL,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "eol_within(provider, duration)",
            .doc = "true if the cell's end of life is known and this close",
        },
    [RULES_FN_COUNT] =
        {
            .name = "count",
            .id = RULES_FN_COUNT,
            .min_args = 1,
            .max_args = 1,
            .args = {K(LIST) | K(PROVIDER_SET)},
            .result = RULES_KIND_NUMBER,
            .result_elem = RULES_KIND_NONE,
            .targets = T_BOTH,
            .signature = "count(list-or-set)",
            .doc = "the number of elements",
        },
    [RULES_FN_REGIONS_KNOWN] =
        {
            .name = "regions_known",
            .id = RULES_FN_REGIONS_KNOWN,
            .min_args = 1,
            .max_args = 1,
            .args = {K(STRING)},
            .result = RULES_KIND_BOOL,
            .result_elem = RULES_KIND_NONE,
            .targets = T_MODEL,
            .signature = "regions_known(provider)",
            .doc = "true if the provider's cell says in which regions it serves the model",
        },
};

static const char *const geo_us_prefixes[] = {"us-", NULL};
static const char *const geo_us_words[] = {"eastus", "westus", "centralus", NULL};
static const char *const geo_ca_prefixes[] = {"ca-", "northamerica-northeast", NULL};
static const char *const geo_ca_words[] = {"canada", NULL};
static const char *const geo_latam_prefixes[] = {"sa-", "mx-", "southamerica-",
                                                 "northamerica-south", NULL};
static const char *const geo_latam_words[] = {"brazil", "mexico", "chile", NULL};
static const char *const geo_eu_prefixes[] = {"eu-", "europe-", NULL};
static const char *const geo_eu_words[] = {
    "europe", "uk",    "sweden",  "france",  "germany", "switzerland", "norway", "poland",
    "italy",  "spain", "austria", "belgium", "denmark", "finland",     NULL};
static const char *const geo_me_prefixes[] = {"me-", "il-", NULL};
static const char *const geo_me_words[] = {"uae", "qatar", "israel", "saudi", NULL};
static const char *const geo_af_prefixes[] = {"af-", "africa-", NULL};
static const char *const geo_af_words[] = {"southafrica", NULL};
static const char *const geo_apac_prefixes[] = {"ap-", "asia-", "australia-", "cn-", NULL};
static const char *const geo_apac_words[] = {"asia",      "japan",      "korea",     "india",
                                             "australia", "taiwan",     "indonesia", "malaysia",
                                             "china",     "newzealand", NULL};

static const RulesGeo geos[] = {
    {"us", geo_us_prefixes, geo_us_words, "United States"},
    {"ca", geo_ca_prefixes, geo_ca_words, "Canada"},
    {"latam", geo_latam_prefixes, geo_latam_words, "Mexico and South America"},
    {"eu", geo_eu_prefixes, geo_eu_words, "Europe, including the UK, Switzerland and Norway"},
    {"me", geo_me_prefixes, geo_me_words, "Middle East"},
    {"af", geo_af_prefixes, geo_af_words, "Africa"},
    {"apac", geo_apac_prefixes, geo_apac_words, "Asia and Oceania"},
};

static const char *const kind_names[_RULES_KIND_MAX] = {
    [RULES_KIND_NUMBER] = "number",
    [RULES_KIND_DURATION] = "duration",
    [RULES_KIND_STRING] = "string",
    [RULES_KIND_BOOL] = "bool",
    [RULES_KIND_LIST] = "list",
    [RULES_KIND_PROVIDER_SET] = "provider-set",
    [RULES_KIND_CELL_STATE] = "cell state",
    [RULES_KIND_PROVIDER_KIND] = "provider kind",
    [RULES_KIND_SOURCE_STATE] = "source state",
    [RULES_KIND_SET_NAME] = "set name",
};

/* With an article, for "found a number" and "must be a cell state (...)". */
static const char *const kind_phrases[_RULES_KIND_MAX] = {
    [RULES_KIND_NUMBER] = "a number",
    [RULES_KIND_DURATION] = "a duration",
    [RULES_KIND_STRING] = "a string",
    [RULES_KIND_BOOL] = "true/false",
    [RULES_KIND_LIST] = "a list",
    [RULES_KIND_PROVIDER_SET] = "a provider-set",
    [RULES_KIND_CELL_STATE] = "a cell state (available, unavailable or unknown)",
    [RULES_KIND_PROVIDER_KIND] = "a provider kind (cloud, direct or aggregator)",
    [RULES_KIND_SOURCE_STATE] = "a source state (ok, degraded or suspect)",
    [RULES_KIND_SET_NAME] = "clouds or providers",
};

static const char *const op_names[_RULES_OP_MAX] = {
    [RULES_OP_NONE] = "", [RULES_OP_OR] = "or", [RULES_OP_AND] = "and", [RULES_OP_NOT] = "not",
    [RULES_OP_EQ] = "==", [RULES_OP_NE] = "!=", [RULES_OP_LT] = "<",    [RULES_OP_LE] = "<=",
    [RULES_OP_GT] = ">",  [RULES_OP_GE] = ">=", [RULES_OP_IN] = "in",   [RULES_OP_ADD] = "+",
    [RULES_OP_SUB] = "-", [RULES_OP_MUL] = "*", [RULES_OP_DIV] = "/",   [RULES_OP_NEG] = "-",
};

static const char *const severity_names[_RULE_SEVERITY_MAX] = {
    [RULE_SEVERITY_CRITICAL] = "critical", [RULE_SEVERITY_ERROR] = "error",
    [RULE_SEVERITY_WARNING] = "warning",   [RULE_SEVERITY_NOTICE] = "notice",
    [RULE_SEVERITY_INFO] = "info",
};

const RulesFunction *rules_functions(size_t *n)
{
        if (n)
                *n = ELEMENTSOF(functions);
        return functions;
}

const RulesFunction *rules_function_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(functions); i++)
                if (streq(functions[i].name, name))
                        return &functions[i];
        return NULL;
}

const RulesIdentifier *rules_identifiers(size_t *n)
{
        if (n)
                *n = ELEMENTSOF(identifiers);
        return identifiers;
}

static const RulesIdentifier *identifier_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(identifiers); i++)
                if (streq(identifiers[i].name, name))
                        return &identifiers[i];
        return NULL;
}

const RulesGeo *rules_geos(size_t *n)
{
        if (n)
                *n = ELEMENTSOF(geos);
        return geos;
}

const RulesGeo *rules_geo_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(geos); i++)
                if (streq(geos[i].name, name))
                        return &geos[i];
        return NULL;
}

bool rules_geo_match(const RulesGeo *g, const char *region)
{
        char folded[128];
        size_t n = 0;

        if (!g || !region)
                return false;
        for (const char *const *pre = g->prefixes; *pre; pre++)
                if (startswith_no_case(region, *pre))
                        return true;
        /* "Sweden Central", "swedencentral" and "sweden-central" all name one region. */
        for (const char *s = region; *s; s++) {
                if (*s == ' ' || *s == '-' || *s == '_')
                        continue;
                if (n + 1 >= sizeof(folded))
                        return false;
                folded[n++] = (char)tolower((unsigned char)*s);
        }
        folded[n] = '\0';
        for (const char *const *w = g->words; *w; w++)
                if (strstr(folded, *w))
                        return true;
        return false;
}

const char *rules_kind_name(RulesKind k)
{
        if (k < 0 || k >= _RULES_KIND_MAX)
                return "nothing";
        return kind_names[k];
}

static const char *kind_phrase(RulesKind k)
{
        if (k < 0 || k >= _RULES_KIND_MAX)
                return "nothing";
        return kind_phrases[k];
}

const char *rules_op_name(RulesOp op)
{
        if (op < 0 || op >= _RULES_OP_MAX)
                return "?";
        return op_names[op];
}

const char *rules_severity_name(RuleSeverity s)
{
        if (s < 0 || s >= _RULE_SEVERITY_MAX)
                return "unknown";
        return severity_names[s];
}

int rules_severity_priority(RuleSeverity s)
{
        if (s < 0 || s >= _RULE_SEVERITY_MAX)
                return 4;
        return 2 + (int)s;
}

const char *rules_target_name(RuleTarget t)
{
        return t == RULE_TARGET_SOURCE ? "source" : "model";
}

/* ---- freeing --------------------------------------------------------------------------- */

void rules_expr_free(Expr *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->n_children; i++)
                rules_expr_free(e->children[i]);
        for (size_t i = 0; i < RULES_MAX_KWARGS; i++)
                rules_expr_free(e->kwargs[i]);
        free(e->children);
        free(e->string);
        free(e);
}
DEFINE_FREEP(Expr, rules_expr_free)

void rules_template_free(Template *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n_parts; i++) {
                free(t->parts[i].literal);
                rules_expr_free(t->parts[i].expr);
        }
        free(t->parts);
        free(t);
}
DEFINE_FREEP(Template, rules_template_free)

void rules_rule_free(Rule *r)
{
        if (!r)
                return;
        free(r->name);
        rules_expr_free(r->where);
        rules_expr_free(r->when);
        rules_template_free(r->summary);
        rules_template_free(r->description);
        for (size_t i = 0; i < r->n_labels; i++) {
                free(r->labels[i].name);
                free(r->labels[i].value);
        }
        free(r->labels);
        free(r->file);
        free(r);
}
DEFINE_FREEP(Rule, rules_rule_free)

int rules_set_new(RuleSet **ret)
{
        if (!ret)
                return -EINVAL;
        *ret = xcalloc(1, sizeof(RuleSet));
        return 0;
}

void rules_set_free(RuleSet *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_rules; i++)
                rules_rule_free(s->rules[i]);
        free(s->rules);
        free(s);
}

const Rule *rules_set_find(const RuleSet *s, const char *name)
{
        if (!s || !name)
                return NULL;
        for (size_t i = 0; i < s->n_rules; i++)
                if (streq(s->rules[i]->name, name))
                        return s->rules[i];
        return NULL;
}

/* ---- lexer ----------------------------------------------------------------------------- */

typedef enum TokType {
        T_EOF,
        T_IDENT,
        T_NUMBER,
        T_DURATION,
        T_STRING,
        T_EQ,
        T_NE,
        T_LT,
        T_LE,
        T_GT,
        T_GE,
        T_PLUS,
        T_MINUS,
        T_STAR,
        T_SLASH,
        T_LPAREN,
        T_RPAREN,
        T_LBRACKET,
        T_RBRACKET,
        T_COMMA,
        T_ASSIGN,
        T_LBRACE,
        T_RBRACE,
        /* keywords */
        T_ALERT,
        T_ON,
        T_WHERE,
        T_WHEN,
        T_FOR,
        T_POLLS,
        T_KEEP_FIRING_FOR,
        T_SEVERITY,
        T_SUMMARY,
        T_DESCRIPTION,
        T_LABEL,
        T_AND,
        T_OR,
        T_NOT,
        T_IN,
        T_TRUE,
        T_FALSE,
} TokType;

static const struct {
        const char *word;
        TokType type;
} keywords[] = {
    {"alert", T_ALERT},
    {"on", T_ON},
    {"where", T_WHERE},
    {"when", T_WHEN},
    {"for", T_FOR},
    {"polls", T_POLLS},
    {"keep_firing_for", T_KEEP_FIRING_FOR},
    {"severity", T_SEVERITY},
    {"summary", T_SUMMARY},
    {"description", T_DESCRIPTION},
    {"label", T_LABEL},
    {"and", T_AND},
    {"or", T_OR},
    {"not", T_NOT},
    {"in", T_IN},
    {"true", T_TRUE},
    {"false", T_FALSE},
};

/* A place in the text; col = off - line_start + 1 (columns count bytes). */
typedef struct Pos {
        size_t off;
        size_t line_start;
        unsigned line;
} Pos;

typedef struct Token {
        TokType type;
        Pos pos;
        size_t end; /* one past the last byte */
        double number;
        uint64_t usec;
        size_t brace; /* strings: offset of the first unescaped '{', SIZE_MAX if none */
} Token;

typedef enum Clause {
        CLAUSE_WHERE,
        CLAUSE_WHEN,
        CLAUSE_FOR,
        CLAUSE_KEEP_FIRING_FOR,
        CLAUSE_SEVERITY,
        CLAUSE_SUMMARY,
        CLAUSE_DESCRIPTION,
        CLAUSE_LABEL,
        _CLAUSE_MAX,
} Clause;

static const char *const clause_names[_CLAUSE_MAX] = {
    "where", "when", "for", "keep_firing_for", "severity", "summary", "description", "label",
};

typedef struct Parser {
        const char *path;
        const char *text;
        size_t len;
        Pos cur;        /* the lexer's cursor */
        Token tok;      /* the current token */
        bool in_string; /* lexing the {...} of a template */
        Pos brace;      /* the '{' whose contents are being lexed */
        bool failed;
        RulesError *err;

        const RuleSet *set;
        Rule **rules; /* parsed from this file, moved into set on success */
        size_t n_rules, cap_rules;

        Rule *rule;              /* the alert being parsed */
        unsigned depth, nodes;   /* of the expression being parsed */
        const char *lookback_fn; /* inside previous()/changed(): its name */
} Parser;

static unsigned pos_col(Pos p)
{
        return (unsigned)(p.off - p.line_start) + 1;
}

/* Only for rare errors: the position of an arbitrary offset, by scanning from the start. */
static Pos pos_at(const Parser *p, size_t off)
{
        Pos r = {0, 0, 1};
        for (size_t i = 0; i < off && i < p->len; i++)
                if (p->text[i] == '\n') {
                        r.line++;
                        r.line_start = i + 1;
                }
        r.off = off;
        return r;
}

/* A position on the same line as base (strings and their {...} never span lines). */
static Pos pos_same_line(Pos base, size_t off)
{
        base.off = off;
        return base;
}

typedef struct Buf {
        char *s;
        size_t size, len;
        bool overflow;
} Buf;

static void buf_putn(Buf *b, const char *s, size_t n)
{
        if (b->size == 0) {
                b->overflow = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                if (b->len + 1 >= b->size) {
                        b->overflow = true;
                        break;
                }
                b->s[b->len++] = s[i];
        }
        b->s[b->len] = '\0';
}

static void buf_puts(Buf *b, const char *s)
{
        buf_putn(b, s, strlen(s));
}

static _printf_(2, 3) void buf_printf(Buf *b, const char *fmt, ...)
{
        char tmp[512];
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(tmp))
                b->overflow = true;
        buf_puts(b, tmp);
}

#define LINE_WINDOW 240u /* bytes of the source line shown under a message */

static _printf_(3, 4) int fail(Parser *p, Pos at, const char *fmt, ...)
{
        char text[640];
        va_list ap;

        if (p->failed)
                return -EINVAL;
        p->failed = true;
        if (!p->err)
                return -EINVAL;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);

        size_t eol = at.line_start;
        while (eol < p->len && p->text[eol] != '\n')
                eol++;
        if (eol > at.line_start && p->text[eol - 1] == '\r')
                eol--;
        size_t from = at.line_start, to = eol;
        bool cut_front = false, cut_back = false;
        /* Very long lines are shown as a window around the column. */
        if (at.off > from && at.off - from > LINE_WINDOW / 2 && to - from > LINE_WINDOW) {
                from = at.off - LINE_WINDOW / 2;
                cut_front = true;
        }
        if (to - from > LINE_WINDOW) {
                to = from + LINE_WINDOW;
                cut_back = true;
        }

        Buf b = {p->err->message, sizeof(p->err->message), 0, false};
        p->err->line = at.line;
        p->err->col = pos_col(at);
        buf_printf(&b, "%s:%u:%u: %s\n", p->path, at.line, pos_col(at), text);
        if (cut_front)
                buf_puts(&b, "...");
        for (size_t i = from; i < to; i++) {
                char c = p->text[i] == '\0' ? ' ' : p->text[i];
                buf_putn(&b, &c, 1);
        }
        if (cut_back)
                buf_puts(&b, "...");
        buf_puts(&b, "\n");
        if (cut_front)
                buf_puts(&b, "   ");
        /* Tabs stay tabs and UTF-8 continuation bytes take no room, so the caret lines up. */
        for (size_t i = from; i < at.off && i < to; i++) {
                unsigned char c = (unsigned char)p->text[i];
                if (c == '\t')
                        buf_puts(&b, "\t");
                else if ((c & 0xc0) != 0x80)
                        buf_puts(&b, " ");
        }
        buf_puts(&b, "^");
        return -EINVAL;
}

static bool is_ident_start(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
        return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* How a token reads in "found ..." messages. */
static const char *describe(const Parser *p, const Token *t, char *buf, size_t size)
{
        switch (t->type) {
        case T_EOF:
                return p->in_string ? "the end of the string" : "end of file";
        case T_STRING:
                return "a string";
        default: {
                size_t n = t->end - t->pos.off;
                if (n > 32)
                        snprintf(buf, size, "'%.32s...'", p->text + t->pos.off);
                else
                        snprintf(buf, size, "'%.*s'", (int)n, p->text + t->pos.off);
                return buf;
        }
        }
}

static int lex(Parser *p, Token *t, bool in_string);

/* The cursor is on the opening quote. Strings never span lines; an unescaped {...} is
 * skipped by lexing its tokens so quotes inside it do not end the string. */
static int lex_string(Parser *p, Token *t, bool nested)
{
        Pos open = p->cur;
        size_t decoded = 0;
        size_t off = open.off + 1;

        t->type = T_STRING;
        t->pos = open;
        t->brace = SIZE_MAX;
        for (;;) {
                if ((off >= p->len || p->text[off] == '\n') && nested)
                        return fail(p, p->brace,
                                    "unclosed '{' in a string (write \\{ for a literal brace)");
                if (off >= p->len || p->text[off] == '\n')
                        return fail(p, open, "unterminated string");
                char c = p->text[off];
                if (c == '"') {
                        off++;
                        break;
                }
                if (c == '\\') {
                        char e = off + 1 < p->len ? p->text[off + 1] : '\n';
                        if (e == '\n' || e == '\r')
                                return fail(p, open, "unterminated string");
                        if (!strchr("\"\\n{}", e))
                                return fail(p, pos_same_line(open, off),
                                            "unknown escape '\\%c' (known: \\\" \\\\ \\n \\{ \\})",
                                            isprint((unsigned char)e) ? e : '?');
                        off += 2;
                        decoded++;
                        continue;
                }
                if (((unsigned char)c < 0x20 && c != '\t') || c == 0x7f)
                        return fail(p, pos_same_line(open, off), "control character in a string");
                if (c == '}')
                        return fail(p, pos_same_line(open, off),
                                    "unmatched '}' in a string (write \\} for a literal brace)");
                if (c == '{') {
                        Pos brace = pos_same_line(open, off);
                        unsigned n = 0;
                        Token in;

                        if (nested)
                                return fail(p, brace,
                                            "'{' in a string inside '{...}' (write \\{ for a "
                                            "literal brace)");
                        if (t->brace == SIZE_MAX)
                                t->brace = off;
                        p->brace = brace;
                        p->cur = pos_same_line(open, off + 1);
                        for (;;) {
                                int r = lex(p, &in, true);
                                if (r < 0)
                                        return r;
                                if (in.type == T_EOF)
                                        return fail(p, brace,
                                                    "unclosed '{' in a string (write \\{ for a "
                                                    "literal brace)");
                                if (in.type == T_RBRACE)
                                        break;
                                if (in.type == T_LBRACE)
                                        return fail(p, in.pos, "'{' inside '{...}'");
                                n++;
                        }
                        if (n == 0)
                                return fail(p, brace,
                                            "empty '{}' in a string (write \\{\\} for literal "
                                            "braces)");
                        off = in.end;
                        continue;
                }
                off++;
                decoded++;
        }
        if (decoded > RULES_MAX_STRING)
                return fail(p, open, "string too long (at most %u bytes)", RULES_MAX_STRING);
        t->end = off;
        p->cur = pos_same_line(open, off);
        return 0;
}

static int lex_number(Parser *p, Token *t)
{
        size_t off = p->cur.off;
        bool decimal = false;
        char buf[40];

        while (off < p->len && is_digit(p->text[off]))
                off++;
        if (off < p->len && p->text[off] == '.') {
                decimal = true;
                off++;
                if (off >= p->len || !is_digit(p->text[off]))
                        return fail(p, pos_same_line(p->cur, off), "expected a digit after '.'");
                while (off < p->len && is_digit(p->text[off]))
                        off++;
        }
        size_t num_end = off;
        bool duration = off < p->len && is_ident_start(p->text[off]);
        if (duration)
                while (off < p->len && is_ident_char(p->text[off]))
                        off++;
        size_t n = off - p->cur.off;
        if (n >= sizeof(buf))
                return fail(p, p->cur, "number too long (at most %zu characters)", sizeof(buf) - 1);
        memcpy(buf, p->text + p->cur.off, n);
        buf[n] = '\0';

        t->pos = p->cur;
        t->end = off;
        if (duration) {
                uint64_t usec;
                if (decimal)
                        return fail(p, p->cur,
                                    "a duration takes whole numbers: '%s' (write 90m, not 1.5h)",
                                    buf);
                if (streq(buf + (num_end - p->cur.off), "polls"))
                        return fail(p, p->cur, "write a space between the number and 'polls'");
                int r = util_parse_duration(buf, &usec);
                if (r == -ERANGE || (r >= 0 && usec > RULES_MAX_DURATION))
                        return fail(p, p->cur, "duration too long: '%s' (at most 3650d)", buf);
                if (r < 0)
                        return fail(p, p->cur,
                                    "invalid duration '%s' (units: ms, s, m, h, d, w, as in 1h30m)",
                                    buf);
                t->type = T_DURATION;
                t->usec = usec;
        } else {
                t->type = T_NUMBER;
                t->number = strtod(buf, NULL);
                /* Bounded here, once, so that no later use (a count of polls, a
                 * comparison) ever converts an out-of-range value. */
                if (!(t->number <= RULES_MAX_NUMBER))
                        return fail(p, p->cur, "number too large: '%s' (at most %.0f)", buf,
                                    RULES_MAX_NUMBER);
        }
        p->cur.off = off;
        return 0;
}

/* Lex the next token into t. In a template's {...} only blanks are skipped and a newline
 * or the end of input reads as T_EOF. */
static int lex(Parser *p, Token *t, bool in_string)
{
        for (;;) {
                if (p->cur.off >= p->len)
                        break;
                char c = p->text[p->cur.off];
                if (c == ' ' || c == '\t' || (!in_string && c == '\r')) {
                        p->cur.off++;
                } else if (!in_string && c == '\n') {
                        p->cur.off++;
                        p->cur.line++;
                        p->cur.line_start = p->cur.off;
                } else if (!in_string && c == '#') {
                        while (p->cur.off < p->len && p->text[p->cur.off] != '\n')
                                p->cur.off++;
                } else {
                        break;
                }
        }

        *t = (Token){.pos = p->cur, .end = p->cur.off, .brace = SIZE_MAX};
        if (p->cur.off >= p->len || (in_string && p->text[p->cur.off] == '\n')) {
                t->type = T_EOF;
                return 0;
        }

        const char *s = p->text + p->cur.off;
        size_t left = p->len - p->cur.off;
        char c = s[0];
        char c1 = left > 1 ? s[1] : '\0';

        if (is_ident_start(c)) {
                size_t n = 1;
                while (n < left && is_ident_char(s[n]))
                        n++;
                if (n > RULES_MAX_NAME)
                        return fail(p, p->cur, "name too long (at most %u bytes)", RULES_MAX_NAME);
                t->type = T_IDENT;
                for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
                        if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, s, n) == 0)
                                t->type = keywords[i].type;
                p->cur.off += n;
                t->end = p->cur.off;
                return 0;
        }
        if (is_digit(c))
                return lex_number(p, t);
        if (c == '"')
                return lex_string(p, t, in_string);

        static const struct {
                char a, b;
                TokType type;
        } ops[] = {
            {'=', '=', T_EQ},     {'!', '=', T_NE},     {'<', '=', T_LE},   {'>', '=', T_GE},
            {'<', 0, T_LT},       {'>', 0, T_GT},       {'+', 0, T_PLUS},   {'-', 0, T_MINUS},
            {'*', 0, T_STAR},     {'/', 0, T_SLASH},    {'(', 0, T_LPAREN}, {')', 0, T_RPAREN},
            {'[', 0, T_LBRACKET}, {']', 0, T_RBRACKET}, {',', 0, T_COMMA},  {'=', 0, T_ASSIGN},
            {'{', 0, T_LBRACE},   {'}', 0, T_RBRACE},
        };
        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                if (ops[i].a != c || (ops[i].b && ops[i].b != c1))
                        continue;
                t->type = ops[i].type;
                p->cur.off += ops[i].b ? 2 : 1;
                t->end = p->cur.off;
                return 0;
        }
        if (c == '!')
                return fail(p, p->cur, "unexpected '!' (write 'not', or '!=')");
        if (c == '&')
                return fail(p, p->cur, "unexpected '&' (write 'and')");
        if (c == '|')
                return fail(p, p->cur, "unexpected '|' (write 'or')");
        if (c == '\'')
                return fail(p, p->cur, "strings take double quotes");
        if (c == '\\' && in_string)
                return fail(p, p->cur, "unexpected '\\' (quotes inside '{...}' need no escaping)");
        if (isprint((unsigned char)c))
                return fail(p, p->cur, "unexpected character '%c'", c);
        return fail(p, p->cur, "unexpected byte 0x%02x", (unsigned char)c);
}

static int next(Parser *p)
{
        return lex(p, &p->tok, p->in_string);
}

/* The token after the current one, without moving. */
static int peek(Parser *p, Token *t)
{
        Pos saved = p->cur;
        int r = lex(p, t, p->in_string);
        p->cur = saved;
        return r;
}

static char *tok_text(const Parser *p, const Token *t)
{
        return xstrndup(p->text + t->pos.off, t->end - t->pos.off);
}

/* Decode a string token without {...} parts. */
static char *string_decode(const Parser *p, const Token *t)
{
        char *out = xmalloc(t->end - t->pos.off);
        size_t n = 0;

        for (size_t i = t->pos.off + 1; i + 1 < t->end; i++) {
                char c = p->text[i];
                if (c == '\\') {
                        c = p->text[++i];
                        if (c == 'n')
                                c = '\n';
                }
                out[n++] = c;
        }
        out[n] = '\0';
        return out;
}

/* ---- suggestions ----------------------------------------------------------------------- */

typedef struct Suggest {
        const char *name;
        const char *best;
        unsigned dist;
} Suggest;

static void suggest_try(Suggest *s, const char *cand)
{
        /* Two edits only for longer names: "aws" is not a typo of "age". */
        unsigned limit = strlen(s->name) >= 6 ? 2 : 1;
        unsigned d = util_edit_distance(s->name, cand, 3);
        if (d <= limit && (!s->best || d < s->dist)) {
                s->best = cand;
                s->dist = d;
        }
}

/* " (did you mean 'x'?)" or "". */
static const char *suggest_text(const Suggest *s, char *buf, size_t size)
{
        if (!s->best)
                return "";
        snprintf(buf, size, " (did you mean '%s'?)", s->best);
        return buf;
}

/* ---- expressions ----------------------------------------------------------------------- */

static int parse_expr(Parser *p, Expr **ret);

static int node_new(Parser *p, ExprType type, Pos at, Expr **ret)
{
        if (++p->nodes > RULES_MAX_NODES)
                return fail(p, at, "expression too large (at most %u nodes)", RULES_MAX_NODES);
        Expr *e = xcalloc(1, sizeof(Expr));
        e->type = type;
        e->elem_kind = RULES_KIND_NONE;
        e->line = at.line;
        e->col = pos_col(at);
        *ret = e;
        return 0;
}

static int enter(Parser *p, Pos at)
{
        if (++p->depth > RULES_MAX_DEPTH)
                return fail(p, at, "expression nested too deeply (at most %u levels)",
                            RULES_MAX_DEPTH);
        return 0;
}

static void leave(Parser *p)
{
        p->depth--;
}

static bool numeric(RulesKind k)
{
        return k == RULES_KIND_NUMBER || k == RULES_KIND_PROVIDER_SET;
}

static bool orderable(RulesKind a, RulesKind b)
{
        if (numeric(a) && numeric(b))
                return true;
        return a == RULES_KIND_DURATION && b == RULES_KIND_DURATION;
}

static bool equatable(const Expr *l, const Expr *r)
{
        if (numeric(l->kind) && numeric(r->kind))
                return true;
        if (l->kind != r->kind)
                return false;
        if (l->kind == RULES_KIND_LIST)
                return l->elem_kind == r->elem_kind || l->elem_kind == RULES_KIND_NONE ||
                       r->elem_kind == RULES_KIND_NONE;
        return true;
}

/* The kind of l op r, or a message. */
static int binary_kind(Parser *p, RulesOp op, Pos at, const Expr *l, const Expr *r, RulesKind *ret,
                       RulesKind *ret_elem)
{
        const char *name = rules_op_name(op);
        RulesKind a = l->kind, b = r->kind;

        *ret_elem = RULES_KIND_NONE;
        switch (op) {
        case RULES_OP_OR:
        case RULES_OP_AND:
                if (a != RULES_KIND_BOOL)
                        return fail(p, at, "'%s' needs true/false on its left, found %s", name,
                                    kind_phrase(a));
                if (b != RULES_KIND_BOOL)
                        return fail(p, at, "'%s' needs true/false on its right, found %s", name,
                                    kind_phrase(b));
                *ret = RULES_KIND_BOOL;
                return 0;
        case RULES_OP_EQ:
        case RULES_OP_NE:
                if (!equatable(l, r))
                        goto incomparable;
                *ret = RULES_KIND_BOOL;
                return 0;
        case RULES_OP_LT:
        case RULES_OP_LE:
        case RULES_OP_GT:
        case RULES_OP_GE:
                if (orderable(a, b)) {
                        *ret = RULES_KIND_BOOL;
                        return 0;
                }
                if (equatable(l, r))
                        return fail(p, at, "'%s' orders numbers and durations, not %ss", name,
                                    rules_kind_name(a));
                goto incomparable;
        case RULES_OP_IN:
                if (b == RULES_KIND_PROVIDER_SET) {
                        if (a != RULES_KIND_STRING)
                                return fail(p, at,
                                            "'in' a provider-set needs a provider name string on "
                                            "its left, found %s",
                                            kind_phrase(a));
                } else if (b == RULES_KIND_LIST) {
                        if (r->elem_kind != RULES_KIND_NONE && a != r->elem_kind)
                                return fail(p, at, "cannot look for %s in a list of %ss",
                                            kind_phrase(a), rules_kind_name(r->elem_kind));
                } else {
                        return fail(p, at,
                                    "'in' needs a list or a provider-set on its right, found %s",
                                    kind_phrase(b));
                }
                *ret = RULES_KIND_BOOL;
                return 0;
        case RULES_OP_ADD:
        case RULES_OP_SUB:
                if (numeric(a) && numeric(b))
                        *ret = RULES_KIND_NUMBER;
                else if (a == RULES_KIND_DURATION && b == RULES_KIND_DURATION)
                        *ret = RULES_KIND_DURATION;
                else
                        goto arithmetic;
                return 0;
        case RULES_OP_MUL:
                if (numeric(a) && numeric(b))
                        *ret = RULES_KIND_NUMBER;
                else if ((a == RULES_KIND_DURATION && numeric(b)) ||
                         (numeric(a) && b == RULES_KIND_DURATION))
                        *ret = RULES_KIND_DURATION;
                else
                        goto arithmetic;
                return 0;
        case RULES_OP_DIV:
                if (numeric(a) && numeric(b))
                        *ret = RULES_KIND_NUMBER;
                else if (a == RULES_KIND_DURATION && numeric(b))
                        *ret = RULES_KIND_DURATION;
                else if (a == RULES_KIND_DURATION && b == RULES_KIND_DURATION)
                        *ret = RULES_KIND_NUMBER;
                else
                        goto arithmetic;
                return 0;
        default:
                return fail(p, at, "internal error: unexpected operator");
        }
incomparable:
        return fail(p, at, "cannot compare %s with %s", kind_phrase(a), kind_phrase(b));
arithmetic:
        return fail(p, at, "cannot apply '%s' to %s and %s", name, kind_phrase(a), kind_phrase(b));
}

static int make_binary(Parser *p, RulesOp op, Pos at, Expr **l, Expr **r)
{
        RulesKind kind = RULES_KIND_NONE, elem = RULES_KIND_NONE;
        Expr *e = NULL;
        int ret;

        ret = binary_kind(p, op, at, *l, *r, &kind, &elem);
        if (ret < 0)
                return ret;
        ret = node_new(p, EXPR_BINARY, at, &e);
        if (ret < 0)
                return ret;
        e->op = op;
        e->kind = kind;
        e->elem_kind = elem;
        e->children = xcalloc(2, sizeof(Expr *));
        e->children[0] = TAKE_PTR(*l);
        e->children[1] = TAKE_PTR(*r);
        e->n_children = 2;
        *l = e;
        return 0;
}

static int make_unary(Parser *p, RulesOp op, Pos at, Expr **operand)
{
        RulesKind k = (*operand)->kind;
        Expr *e = NULL;
        int r;

        if (op == RULES_OP_NOT && k != RULES_KIND_BOOL)
                return fail(p, at, "'not' needs true/false, found %s", kind_phrase(k));
        if (op == RULES_OP_NEG && !numeric(k) && k != RULES_KIND_DURATION)
                return fail(p, at, "cannot negate %s", kind_phrase(k));
        r = node_new(p, EXPR_UNARY, at, &e);
        if (r < 0)
                return r;
        e->op = op;
        e->kind = op == RULES_OP_NOT         ? RULES_KIND_BOOL
                  : k == RULES_KIND_DURATION ? RULES_KIND_DURATION
                                             : RULES_KIND_NUMBER;
        e->children = xcalloc(1, sizeof(Expr *));
        e->children[0] = TAKE_PTR(*operand);
        e->n_children = 1;
        *operand = e;
        return 0;
}

static int parse_list(Parser *p, Expr **ret)
{
        _cleanup_(rules_expr_freep) Expr *list = NULL;
        size_t cap = 0;
        int r;

        r = node_new(p, EXPR_LIST, p->tok.pos, &list);
        if (r < 0)
                return r;
        list->kind = RULES_KIND_LIST;
        r = enter(p, p->tok.pos);
        if (r < 0)
                return r;
        r = next(p);
        if (r < 0)
                return r;
        while (p->tok.type != T_RBRACKET) {
                Pos at = p->tok.pos;
                _cleanup_(rules_expr_freep) Expr *e = NULL;

                if (list->n_children >= RULES_MAX_LIST)
                        return fail(p, at, "list too long (at most %u elements)", RULES_MAX_LIST);
                r = parse_expr(p, &e);
                if (r < 0)
                        return r;
                if (e->kind != RULES_KIND_NUMBER && e->kind != RULES_KIND_DURATION &&
                    e->kind != RULES_KIND_STRING)
                        return fail(p, at,
                                    "list elements are numbers, durations or strings, found %s",
                                    kind_phrase(e->kind));
                if (list->elem_kind != RULES_KIND_NONE && e->kind != list->elem_kind)
                        return fail(p, at, "list elements must share one kind: %s among %ss",
                                    kind_phrase(e->kind), rules_kind_name(list->elem_kind));
                list->elem_kind = e->kind;
                util_grow((void **)&list->children, &cap, list->n_children + 1, sizeof(Expr *));
                list->children[list->n_children++] = TAKE_PTR(e);
                if (p->tok.type == T_COMMA) {
                        r = next(p);
                        if (r < 0)
                                return r;
                } else if (p->tok.type != T_RBRACKET) {
                        char d[48];
                        return fail(p, p->tok.pos, "expected ',' or ']' in a list, found %s",
                                    describe(p, &p->tok, d, sizeof(d)));
                }
        }
        leave(p);
        r = next(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(list);
        return 0;
}

static bool choice_ok(const char *const *choices, const Expr *e)
{
        if (e->type != EXPR_STRING)
                return false;
        for (; *choices; choices++)
                if (streq(*choices, e->string))
                        return true;
        return false;
}

/* "\"input\" or \"output\"" */
static void choices_text(const char *const *choices, char *buf, size_t size)
{
        Buf b = {buf, size, 0, false};
        for (size_t i = 0; choices[i]; i++) {
                if (i > 0)
                        buf_puts(&b, choices[i + 1] ? ", " : " or ");
                buf_printf(&b, "\"%s\"", choices[i]);
        }
}

/* "a number or a list", for argument masks. */
static void mask_text(unsigned mask, char *buf, size_t size)
{
        Buf b = {buf, size, 0, false};
        bool first = true;
        for (int k = 0; k < _RULES_KIND_MAX; k++) {
                if (!(mask & RULES_KIND_BIT(k)))
                        continue;
                if (!first)
                        buf_puts(&b, " or ");
                buf_puts(&b, kind_phrase((RulesKind)k));
                first = false;
        }
}

static int check_arg(Parser *p, const RulesFunction *f, const char *label, unsigned mask,
                     const char *const *choices, Pos at, const Expr *e)
{
        char want[256];

        if (choices) {
                if (choice_ok(choices, e))
                        return 0;
                choices_text(choices, want, sizeof(want));
                return fail(p, at, "%s of %s() must be %s", label, f->name, want);
        }
        if (mask & RULES_KIND_BIT(e->kind))
                return 0;
        mask_text(mask, want, sizeof(want));
        return fail(p, at, "%s of %s() must be %s, found %s", label, f->name, want,
                    kind_phrase(e->kind));
}

static int parse_set_name(Parser *p, const RulesFunction *f, Expr **ret)
{
        const RulesIdentifier *id = NULL;
        Token after;
        char *name;
        int r;

        if (p->tok.type == T_IDENT) {
                r = peek(p, &after);
                if (r < 0)
                        return r;
                name = tok_text(p, &p->tok);
                id = identifier_find(name);
                free(name);
                if (id && id->kind != RULES_KIND_SET_NAME)
                        id = NULL;
                if (after.type != T_COMMA && after.type != T_RPAREN)
                        id = NULL;
        }
        if (!id)
                return fail(p, p->tok.pos, "%s() takes the word clouds or providers", f->name);
        r = node_new(p, EXPR_IDENT, p->tok.pos, ret);
        if (r < 0)
                return r;
        (*ret)->ident = id;
        (*ret)->kind = id->kind;
        return next(p);
}

static int arity_fail(Parser *p, const RulesFunction *f, Pos at, const char *what, size_t got)
{
        if (f->min_args == f->max_args)
                return fail(p, at, "%s arguments: %s() takes %u, got %zu (%s)", what, f->name,
                            f->min_args, got, f->signature);
        return fail(p, at, "%s arguments: %s() takes %u to %u, got %zu (%s)", what, f->name,
                    f->min_args, f->max_args, got, f->signature);
}

typedef struct Arg {
        Expr *e;
        Pos at;
} Arg;

static void args_free(Arg *args, size_t n)
{
        for (size_t i = 0; i < n; i++)
                rules_expr_free(args[i].e);
        free(args);
}

static int parse_call_args(Parser *p, const RulesFunction *f, Expr *call, Arg **ret_args,
                           size_t *ret_n, Pos *ret_close)
{
        Arg *args = NULL;
        size_t n = 0, cap = 0;
        bool keyword_seen = false;
        char d[48];
        int r;

        while (p->tok.type != T_RPAREN) {
                Pos at = p->tok.pos;
                Token after = {0};

                if (p->tok.type == T_IDENT) {
                        r = peek(p, &after);
                        if (r < 0)
                                goto fail;
                }
                if (p->tok.type == T_IDENT && after.type == T_ASSIGN) {
                        _cleanup_free_ char *kw = tok_text(p, &p->tok);
                        size_t k = 0;
                        while (k < RULES_MAX_KWARGS && f->kwargs[k].name &&
                               !streq(f->kwargs[k].name, kw))
                                k++;
                        if (k == RULES_MAX_KWARGS || !f->kwargs[k].name) {
                                if (!f->kwargs[0].name)
                                        r = fail(p, at, "%s() takes no keyword arguments", f->name);
                                else
                                        r = fail(p, at,
                                                 "unknown keyword argument '%s' for %s() "
                                                 "(expected %s)",
                                                 kw, f->name, f->kwargs[0].name);
                                goto fail;
                        }
                        if (call->kwargs[k]) {
                                r = fail(p, at, "keyword argument '%s' given twice", kw);
                                goto fail;
                        }
                        r = next(p);
                        if (r >= 0)
                                r = next(p);
                        if (r < 0)
                                goto fail;
                        Pos vat = p->tok.pos;
                        r = parse_expr(p, &call->kwargs[k]);
                        if (r < 0)
                                goto fail;
                        _cleanup_free_ char *label = xasprintf("%s=", kw);
                        r = check_arg(p, f, label, f->kwargs[k].kinds, f->kwargs[k].choices, vat,
                                      call->kwargs[k]);
                        if (r < 0)
                                goto fail;
                        keyword_seen = true;
                } else {
                        Expr *e = NULL;
                        if (keyword_seen) {
                                r = fail(p, at, "positional argument after keyword argument");
                                goto fail;
                        }
                        if (n < f->max_args && f->args[n] == RULES_KIND_BIT(RULES_KIND_SET_NAME))
                                r = parse_set_name(p, f, &e);
                        else
                                r = parse_expr(p, &e);
                        if (r < 0)
                                goto fail;
                        util_grow((void **)&args, &cap, n + 1, sizeof(Arg));
                        args[n++] = (Arg){e, at};
                }
                if (p->tok.type == T_COMMA) {
                        r = next(p);
                        if (r < 0)
                                goto fail;
                        if (p->tok.type == T_RPAREN) {
                                r = fail(p, p->tok.pos, "expected an argument after ','");
                                goto fail;
                        }
                } else if (p->tok.type != T_RPAREN) {
                        r = fail(p, p->tok.pos,
                                 "expected ',' or ')' after an argument of %s(), "
                                 "found %s",
                                 f->name, describe(p, &p->tok, d, sizeof(d)));
                        goto fail;
                }
        }
        *ret_close = p->tok.pos;
        *ret_args = args;
        *ret_n = n;
        return 0;
fail:
        args_free(args, n);
        return r;
}

/* The current token names the function and the next one is '('. */
static int parse_call(Parser *p, Expr **ret)
{
        _cleanup_(rules_expr_freep) Expr *call = NULL;
        _cleanup_free_ char *name = tok_text(p, &p->tok);
        Pos at = p->tok.pos;
        const RulesFunction *f = rules_function_find(name);
        RuleTarget target = p->rule->target;
        Arg *args = NULL;
        size_t n = 0;
        Pos close;
        int r;

        if (!f) {
                const RulesIdentifier *id = identifier_find(name);
                Suggest s = {name, NULL, 0};
                char hint[128];
                for (size_t i = 0; i < ELEMENTSOF(functions); i++)
                        if (functions[i].targets & RULES_TARGET_BIT(target))
                                suggest_try(&s, functions[i].name);
                if (id)
                        return fail(p, at, "'%s' is not a function%s", name,
                                    suggest_text(&s, hint, sizeof(hint)));
                return fail(p, at, "unknown function '%s'%s", name,
                            suggest_text(&s, hint, sizeof(hint)));
        }
        if (!(f->targets & RULES_TARGET_BIT(target)))
                return fail(p, at,
                            "function '%s' is only defined in model rules (alert '%s' is "
                            "on source)",
                            name, p->rule->name);
        if (f->lookback && p->lookback_fn)
                return fail(p, at,
                            "%s() cannot be used inside %s(): only one evaluation of history "
                            "is kept",
                            name, p->lookback_fn);

        r = node_new(p, EXPR_CALL, at, &call);
        if (r < 0)
                return r;
        call->func = f;
        r = enter(p, at);
        if (r < 0)
                return r;
        r = next(p); /* the name */
        if (r >= 0)
                r = next(p); /* '(' */
        if (r < 0)
                return r;

        const char *saved = p->lookback_fn;
        if (f->lookback)
                p->lookback_fn = f->name;
        r = parse_call_args(p, f, call, &args, &n, &close);
        p->lookback_fn = saved;
        if (r < 0)
                return r;
        call->children = xcalloc(MAX(n, 1), sizeof(Expr *));
        for (size_t i = 0; i < n; i++)
                call->children[i] = TAKE_PTR(args[i].e);
        call->n_children = n;

        if (n > f->max_args)
                r = arity_fail(p, f, args[f->max_args].at, "too many", n);
        else if (n < f->min_args)
                r = arity_fail(p, f, close, "too few", n);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                char label[32];
                snprintf(label, sizeof(label), "argument %zu", i + 1);
                r = check_arg(p, f, label, f->args[i], f->choices[i], args[i].at,
                              call->children[i]);
        }
        free(args);
        if (r < 0)
                return r;

        leave(p);
        r = next(p); /* ')' */
        if (r < 0)
                return r;
        if (f->result == RULES_KIND_NONE) {
                call->kind = call->children[0]->kind;
                call->elem_kind = call->children[0]->elem_kind;
        } else {
                call->kind = f->result;
                call->elem_kind = f->result_elem;
        }
        if (f->lookback)
                call->slot = p->rule->n_slots++;
        *ret = TAKE_PTR(call);
        return 0;
}

static int parse_ident(Parser *p, Expr **ret)
{
        _cleanup_free_ char *name = tok_text(p, &p->tok);
        const RulesIdentifier *id = identifier_find(name);
        RuleTarget target = p->rule->target;
        Pos at = p->tok.pos;
        int r;

        if (!id) {
                const RulesFunction *f = rules_function_find(name);
                Suggest s = {name, NULL, 0};
                char hint[128];
                if (f)
                        return fail(p, at, "'%s' is a function: call it as %s", name, f->signature);
                for (size_t i = 0; i < ELEMENTSOF(identifiers); i++)
                        if ((identifiers[i].targets & RULES_TARGET_BIT(target)) &&
                            identifiers[i].kind != RULES_KIND_SET_NAME)
                                suggest_try(&s, identifiers[i].name);
                if (s.best)
                        return fail(p, at, "unknown identifier '%s'%s", name,
                                    suggest_text(&s, hint, sizeof(hint)));
                return fail(p, at, "unknown identifier '%s' (strings take quotes: \"%s\")", name,
                            name);
        }
        if (id->kind == RULES_KIND_SET_NAME)
                return fail(p, at, "'%s' is a function: call it as %s", name,
                            rules_function_find(name)->signature);
        if (!(id->targets & RULES_TARGET_BIT(target)))
                return fail(p, at, "'%s' is only defined in %s rules (alert '%s' is on %s)", name,
                            target == RULE_TARGET_MODEL ? "source" : "model", p->rule->name,
                            rules_target_name(target));
        r = node_new(p, EXPR_IDENT, at, ret);
        if (r < 0)
                return r;
        (*ret)->ident = id;
        (*ret)->kind = id->kind;
        return next(p);
}

static int parse_primary(Parser *p, Expr **ret)
{
        Token t = p->tok;
        Token after;
        Expr *e = NULL;
        char d[48];
        int r;

        switch (t.type) {
        case T_NUMBER:
        case T_DURATION:
        case T_TRUE:
        case T_FALSE:
                r = node_new(p,
                             t.type == T_NUMBER     ? EXPR_NUMBER
                             : t.type == T_DURATION ? EXPR_DURATION
                                                    : EXPR_BOOL,
                             t.pos, &e);
                if (r < 0)
                        return r;
                e->kind = t.type == T_NUMBER     ? RULES_KIND_NUMBER
                          : t.type == T_DURATION ? RULES_KIND_DURATION
                                                 : RULES_KIND_BOOL;
                e->number = t.number;
                e->usec = t.usec;
                e->boolean = t.type == T_TRUE;
                *ret = e;
                return next(p);
        case T_STRING:
                if (t.brace != SIZE_MAX)
                        return fail(p, pos_same_line(t.pos, t.brace),
                                    "'{...}' expands only in summary and description (write \\{ "
                                    "for a literal brace)");
                r = node_new(p, EXPR_STRING, t.pos, &e);
                if (r < 0)
                        return r;
                e->kind = RULES_KIND_STRING;
                e->string = string_decode(p, &t);
                *ret = e;
                return next(p);
        case T_LBRACKET:
                return parse_list(p, ret);
        case T_LPAREN: {
                _cleanup_(rules_expr_freep) Expr *inner = NULL;
                r = enter(p, t.pos);
                if (r >= 0)
                        r = next(p);
                if (r >= 0)
                        r = parse_expr(p, &inner);
                if (r < 0)
                        return r;
                if (p->tok.type != T_RPAREN)
                        return fail(p, p->tok.pos,
                                    "expected ')' to close the '(' at %u:%u, found %s", t.pos.line,
                                    pos_col(t.pos), describe(p, &p->tok, d, sizeof(d)));
                leave(p);
                r = next(p);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(inner);
                return 0;
        }
        case T_IDENT:
        case T_ON:
                r = peek(p, &after);
                if (r < 0)
                        return r;
                if (after.type == T_LPAREN)
                        return parse_call(p, ret);
                if (t.type == T_IDENT)
                        return parse_ident(p, ret);
                break;
        default:
                break;
        }
        return fail(p, t.pos, "expected an expression, found %s", describe(p, &t, d, sizeof(d)));
}

/* A prefix operator (`-x`, `not x`), which may repeat: tok applies op to what self parses;
 * without it, the next level (operand) parses. */
static int parse_prefix(Parser *p, TokType tok, RulesOp op, int (*self)(Parser *, Expr **),
                        int (*operand)(Parser *, Expr **), Expr **ret)
{
        _cleanup_(rules_expr_freep) Expr *e = NULL;
        Pos at = p->tok.pos;
        int r;

        if (p->tok.type != tok)
                return operand(p, ret);
        r = enter(p, at);
        if (r >= 0)
                r = next(p);
        if (r >= 0)
                r = self(p, &e);
        if (r >= 0)
                r = make_unary(p, op, at, &e);
        if (r < 0)
                return r;
        leave(p);
        *ret = TAKE_PTR(e);
        return 0;
}

/* One left-associative level: operand { op operand }, op_of naming its operators. */
static int parse_left_assoc(Parser *p, int (*operand)(Parser *, Expr **), RulesOp (*op_of)(TokType),
                            Expr **ret)
{
        _cleanup_(rules_expr_freep) Expr *left = NULL;
        RulesOp op;
        int r = operand(p, &left);
        if (r < 0)
                return r;
        while ((op = op_of(p->tok.type)) != RULES_OP_NONE) {
                _cleanup_(rules_expr_freep) Expr *right = NULL;
                Pos at = p->tok.pos;
                r = next(p);
                if (r >= 0)
                        r = operand(p, &right);
                if (r >= 0)
                        r = make_binary(p, op, at, &left, &right);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(left);
        return 0;
}

static RulesOp multiplicative_op(TokType t)
{
        return t == T_STAR ? RULES_OP_MUL : t == T_SLASH ? RULES_OP_DIV : RULES_OP_NONE;
}

static RulesOp additive_op(TokType t)
{
        return t == T_PLUS ? RULES_OP_ADD : t == T_MINUS ? RULES_OP_SUB : RULES_OP_NONE;
}

static RulesOp and_op(TokType t)
{
        return t == T_AND ? RULES_OP_AND : RULES_OP_NONE;
}

static RulesOp or_op(TokType t)
{
        return t == T_OR ? RULES_OP_OR : RULES_OP_NONE;
}

/* The precedence levels, loosest last: unary minus, * /, + -, comparisons, not, and, or. */
static int parse_unary(Parser *p, Expr **ret)
{
        return parse_prefix(p, T_MINUS, RULES_OP_NEG, parse_unary, parse_primary, ret);
}

static int parse_multiplicative(Parser *p, Expr **ret)
{
        return parse_left_assoc(p, parse_unary, multiplicative_op, ret);
}

static int parse_additive(Parser *p, Expr **ret)
{
        return parse_left_assoc(p, parse_multiplicative, additive_op, ret);
}

static RulesOp comparison_op(TokType t)
{
        switch (t) {
        case T_EQ:
                return RULES_OP_EQ;
        case T_NE:
                return RULES_OP_NE;
        case T_LT:
                return RULES_OP_LT;
        case T_LE:
                return RULES_OP_LE;
        case T_GT:
                return RULES_OP_GT;
        case T_GE:
                return RULES_OP_GE;
        case T_IN:
                return RULES_OP_IN;
        default:
                return RULES_OP_NONE;
        }
}

static int parse_comparison(Parser *p, Expr **ret)
{
        _cleanup_(rules_expr_freep) Expr *left = NULL;
        RulesOp op;
        int r = parse_additive(p, &left);
        if (r < 0)
                return r;
        op = comparison_op(p->tok.type);
        if (op != RULES_OP_NONE) {
                _cleanup_(rules_expr_freep) Expr *right = NULL;
                Pos at = p->tok.pos;
                r = next(p);
                if (r >= 0)
                        r = parse_additive(p, &right);
                if (r >= 0)
                        r = make_binary(p, op, at, &left, &right);
                if (r < 0)
                        return r;
                if (comparison_op(p->tok.type) != RULES_OP_NONE)
                        return fail(p, p->tok.pos,
                                    "comparisons do not chain (write 'a < b and b < c')");
        }
        if (p->tok.type == T_ASSIGN)
                return fail(p, p->tok.pos, "'=' is not a comparison (write '==')");
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_not(Parser *p, Expr **ret)
{
        return parse_prefix(p, T_NOT, RULES_OP_NOT, parse_not, parse_comparison, ret);
}

static int parse_and(Parser *p, Expr **ret)
{
        return parse_left_assoc(p, parse_not, and_op, ret);
}

static int parse_expr(Parser *p, Expr **ret)
{
        return parse_left_assoc(p, parse_and, or_op, ret);
}

/* A whole expression of one clause or one template part: fresh node and depth budgets. */
static int parse_top(Parser *p, Expr **ret)
{
        p->nodes = 0;
        p->depth = 0;
        return parse_expr(p, ret);
}

/* ---- templates and alerts -------------------------------------------------------------- */

static void template_add(Template *t, size_t *cap, char *literal, Expr *e)
{
        util_grow((void **)&t->parts, cap, t->n_parts + 1, sizeof(TemplatePart));
        t->parts[t->n_parts++] = (TemplatePart){literal, e};
}

/* The current token is the string. Each {expr} is parsed in place, so its errors carry
 * their own line and column. */
static int parse_template(Parser *p, Template **ret)
{
        _cleanup_(rules_template_freep) Template *t = xcalloc(1, sizeof(Template));
        _cleanup_free_ char *lit = NULL;
        Token str = p->tok;
        Pos after = p->cur;
        size_t cap = 0, n = 0;
        char d[48];
        int r;

        t->line = str.pos.line;
        t->col = pos_col(str.pos);
        lit = xmalloc(str.end - str.pos.off);
        for (size_t off = str.pos.off + 1; off + 1 < str.end;) {
                char c = p->text[off];
                if (c == '\\') {
                        c = p->text[off + 1];
                        lit[n++] = c == 'n' ? '\n' : c;
                        off += 2;
                        continue;
                }
                if (c != '{') {
                        lit[n++] = c;
                        off++;
                        continue;
                }
                Pos brace = pos_same_line(str.pos, off);
                Expr *e = NULL;
                if (t->n_parts + 2 > RULES_MAX_PARTS)
                        return fail(p, brace, "template has too many parts (at most %u)",
                                    RULES_MAX_PARTS);
                if (n > 0) {
                        template_add(t, &cap, xstrndup(lit, n), NULL);
                        n = 0;
                }
                p->in_string = true;
                p->cur = pos_same_line(str.pos, off + 1);
                r = next(p);
                if (r >= 0)
                        r = parse_top(p, &e);
                if (r < 0) {
                        p->in_string = false;
                        return r;
                }
                template_add(t, &cap, NULL, e);
                if (p->tok.type != T_RBRACE) {
                        r = fail(p, p->tok.pos, "expected '}' to end the '{' at %u:%u, found %s",
                                 brace.line, pos_col(brace), describe(p, &p->tok, d, sizeof(d)));
                        p->in_string = false;
                        return r;
                }
                p->in_string = false;
                off = p->tok.end;
        }
        if (n > 0)
                template_add(t, &cap, xstrndup(lit, n), NULL);
        p->cur = after;
        r = next(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

static const char *severity_list = "critical, error, warning, notice or info";

static int parse_for(Parser *p, Rule *rule)
{
        Token t = p->tok;
        char d[48];
        int r;

        if (t.type == T_NUMBER) {
                /* The range first: converting a double past the integer's range is
                 * undefined behaviour. */
                if (t.number > RULES_MAX_POLLS)
                        return fail(p, t.pos, "too many polls (at most %u)", RULES_MAX_POLLS);
                if (t.number != floor(t.number))
                        return fail(p, t.pos, "'for' takes a whole number of polls");
                if (t.number < 1)
                        return fail(p, t.pos,
                                    "'for 0 polls' never waits: use at least 1, or leave 'for' "
                                    "out");
                rule->for_polls = (unsigned)t.number;
                r = next(p);
                if (r < 0)
                        return r;
                if (p->tok.type != T_POLLS)
                        return fail(p, p->tok.pos,
                                    "expected 'polls' after the number (or write a duration "
                                    "such as 30m), found %s",
                                    describe(p, &p->tok, d, sizeof(d)));
                return next(p);
        }
        if (t.type == T_DURATION) {
                if (t.usec == 0)
                        return fail(p, t.pos, "a zero 'for' never waits: leave 'for' out");
                rule->for_usec = t.usec;
                return next(p);
        }
        return fail(p, t.pos,
                    "'for' takes a number of polls or a duration (2 polls, 30m), found %s",
                    describe(p, &t, d, sizeof(d)));
}

/* Labels the alert carries to Alertmanager and webhooks besides the fixed set. */
static const char *const reserved_labels[] = {"alertname", "model",    "vendor",
                                              "source",    "severity", "instance"};

static bool label_name_valid(const char *s)
{
        if (!(isalpha((unsigned char)s[0]) || s[0] == '_') || strncmp(s, "__", 2) == 0)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && *s != '_')
                        return false;
        return true;
}

/* label NAME "value": the current token follows 'label'. */
static int parse_label(Parser *p, Rule *rule)
{
        char d[48];

        if (p->tok.type != T_IDENT)
                return fail(p, p->tok.pos, "'label' takes a name and a string, found %s",
                            describe(p, &p->tok, d, sizeof(d)));
        Pos name_at = p->tok.pos;
        _cleanup_free_ char *name = tok_text(p, &p->tok);
        if (!label_name_valid(name) || strlen(name) > RULES_MAX_NAME)
                return fail(p, name_at,
                            "invalid label name '%s' (letters, digits and _, not starting with a "
                            "digit or __)",
                            name);
        for (size_t i = 0; i < ELEMENTSOF(reserved_labels); i++)
                if (streq(name, reserved_labels[i]))
                        return fail(p, name_at,
                                    "label '%s' is set by lockwatch itself (alertname, model, "
                                    "vendor, source, severity and instance are)",
                                    name);
        for (size_t i = 0; i < rule->n_labels; i++)
                if (streq(rule->labels[i].name, name))
                        return fail(p, name_at, "duplicate label '%s' in alert '%s'", name,
                                    rule->name);
        if (rule->n_labels >= RULES_MAX_LABELS)
                return fail(p, name_at, "too many labels in alert '%s' (at most %u)", rule->name,
                            RULES_MAX_LABELS);
        int r = next(p);
        if (r < 0)
                return r;
        if (p->tok.type != T_STRING)
                return fail(p, p->tok.pos, "label '%s' takes a string value, found %s", name,
                            describe(p, &p->tok, d, sizeof(d)));
        if (p->tok.brace != SIZE_MAX)
                return fail(p, pos_same_line(p->tok.pos, p->tok.brace),
                            "'{...}' expands only in summary and description (write \\{ for a "
                            "literal brace)");
        rule->labels = xreallocarray(rule->labels, rule->n_labels + 1, sizeof(*rule->labels));
        rule->labels[rule->n_labels].name = TAKE_PTR(name);
        rule->labels[rule->n_labels].value = string_decode(p, &p->tok);
        rule->n_labels++;
        return next(p);
}

static int parse_clause(Parser *p, Rule *rule, Clause c)
{
        Pos at = p->tok.pos;
        char d[48];
        int r;

        r = next(p);
        if (r < 0)
                return r;
        switch (c) {
        case CLAUSE_WHERE:
        case CLAUSE_WHEN: {
                Pos start = p->tok.pos;
                Expr **slot = c == CLAUSE_WHERE ? &rule->where : &rule->when;
                if (c == CLAUSE_WHERE && rule->target == RULE_TARGET_SOURCE)
                        return fail(p, at,
                                    "'where' is only for model rules (alert '%s' is on "
                                    "source)",
                                    rule->name);
                r = parse_top(p, slot);
                if (r < 0)
                        return r;
                if ((*slot)->kind != RULES_KIND_BOOL)
                        return fail(p, start, "'%s' needs a true/false condition, found %s",
                                    clause_names[c], kind_phrase((*slot)->kind));
                return 0;
        }
        case CLAUSE_FOR:
                return parse_for(p, rule);
        case CLAUSE_KEEP_FIRING_FOR:
                if (p->tok.type != T_DURATION)
                        return fail(p, p->tok.pos,
                                    "'keep_firing_for' takes a duration such as 6h, found %s",
                                    describe(p, &p->tok, d, sizeof(d)));
                if (p->tok.usec == 0)
                        return fail(p, p->tok.pos,
                                    "'keep_firing_for' of zero has no effect: leave it out");
                rule->keep_firing_for_usec = p->tok.usec;
                return next(p);
        case CLAUSE_SEVERITY: {
                if (p->tok.type != T_IDENT)
                        return fail(p, p->tok.pos, "expected a severity (%s), found %s",
                                    severity_list, describe(p, &p->tok, d, sizeof(d)));
                _cleanup_free_ char *word = tok_text(p, &p->tok);
                for (int s = 0; s < _RULE_SEVERITY_MAX; s++)
                        if (streq(severity_names[s], word)) {
                                rule->severity = (RuleSeverity)s;
                                return next(p);
                        }
                return fail(p, p->tok.pos, "unknown severity '%s' (expected %s)", word,
                            severity_list);
        }
        case CLAUSE_LABEL:
                return parse_label(p, rule);
        case CLAUSE_SUMMARY:
        case CLAUSE_DESCRIPTION:
                if (p->tok.type != T_STRING)
                        return fail(p, p->tok.pos, "'%s' takes a string, found %s", clause_names[c],
                                    describe(p, &p->tok, d, sizeof(d)));
                return parse_template(p, c == CLAUSE_SUMMARY ? &rule->summary : &rule->description);
        default:
                return fail(p, at, "internal error: unexpected clause");
        }
}

static const Rule *find_defined(const Parser *p, const char *name)
{
        const Rule *r = rules_set_find(p->set, name);
        if (r)
                return r;
        for (size_t i = 0; i < p->n_rules; i++)
                if (streq(p->rules[i]->name, name))
                        return p->rules[i];
        return NULL;
}

static Clause clause_of(TokType t)
{
        switch (t) {
        case T_WHERE:
                return CLAUSE_WHERE;
        case T_WHEN:
                return CLAUSE_WHEN;
        case T_FOR:
                return CLAUSE_FOR;
        case T_KEEP_FIRING_FOR:
                return CLAUSE_KEEP_FIRING_FOR;
        case T_SEVERITY:
                return CLAUSE_SEVERITY;
        case T_SUMMARY:
                return CLAUSE_SUMMARY;
        case T_DESCRIPTION:
                return CLAUSE_DESCRIPTION;
        case T_LABEL:
                return CLAUSE_LABEL;
        default:
                return _CLAUSE_MAX;
        }
}

/* The current token is 'alert'. */
static int parse_alert(Parser *p, Rule **ret)
{
        _cleanup_(rules_rule_freep) Rule *rule = xcalloc(1, sizeof(Rule));
        Pos seen[_CLAUSE_MAX];
        bool have[_CLAUSE_MAX] = {false};
        Pos alert_at = p->tok.pos, name_at, open;
        char d[48];
        int r;

        if (p->set->n_rules + p->n_rules >= RULES_MAX_ALERTS)
                return fail(p, alert_at, "too many alerts (at most %u in all rule files)",
                            RULES_MAX_ALERTS);
        r = next(p);
        if (r < 0)
                return r;
        if (p->tok.type != T_IDENT)
                return fail(p, p->tok.pos, "expected an alert name after 'alert', found %s",
                            describe(p, &p->tok, d, sizeof(d)));
        name_at = p->tok.pos;
        rule->name = tok_text(p, &p->tok);
        rule->file = xstrdup(p->path);
        rule->line = name_at.line;
        rule->col = pos_col(name_at);
        rule->severity = RULE_SEVERITY_WARNING;
        const Rule *first = find_defined(p, rule->name);
        if (first)
                return fail(p, name_at, "duplicate alert '%s' (first defined at %s:%u:%u)",
                            rule->name, first->file, first->line, first->col);
        r = next(p);
        if (r < 0)
                return r;
        if (p->tok.type == T_ON) {
                r = next(p);
                if (r < 0)
                        return r;
                _cleanup_free_ char *word =
                    p->tok.type == T_IDENT ? tok_text(p, &p->tok) : xstrdup("");
                if (streq(word, "model"))
                        rule->target = RULE_TARGET_MODEL;
                else if (streq(word, "source"))
                        rule->target = RULE_TARGET_SOURCE;
                else
                        return fail(p, p->tok.pos,
                                    "expected 'model' or 'source' after 'on', found %s",
                                    describe(p, &p->tok, d, sizeof(d)));
                r = next(p);
                if (r < 0)
                        return r;
        }
        if (p->tok.type != T_LBRACE)
                return fail(p, p->tok.pos, "expected '{' to open alert '%s', found %s", rule->name,
                            describe(p, &p->tok, d, sizeof(d)));
        open = p->tok.pos;
        r = next(p);
        if (r < 0)
                return r;

        p->rule = rule;
        p->lookback_fn = NULL;
        while (p->tok.type != T_RBRACE) {
                Clause c = clause_of(p->tok.type);
                if (c == _CLAUSE_MAX) {
                        if (p->tok.type == T_IDENT) {
                                _cleanup_free_ char *word = tok_text(p, &p->tok);
                                Suggest s = {word, NULL, 0};
                                char hint[128];
                                for (size_t i = 0; i < _CLAUSE_MAX; i++)
                                        suggest_try(&s, clause_names[i]);
                                if (s.best)
                                        return fail(p, p->tok.pos, "unknown clause '%s'%s", word,
                                                    suggest_text(&s, hint, sizeof(hint)));
                                return fail(p, p->tok.pos,
                                            "unknown clause '%s' (expected where, when, for, "
                                            "keep_firing_for, severity, summary, description or "
                                            "label)",
                                            word);
                        }
                        if (p->tok.type == T_EOF || p->tok.type == T_ALERT)
                                return fail(p, p->tok.pos,
                                            "expected '}' to close alert '%s' (opened at %u:%u), "
                                            "found %s",
                                            rule->name, open.line, pos_col(open),
                                            describe(p, &p->tok, d, sizeof(d)));
                        return fail(p, p->tok.pos,
                                    "expected a clause or '}' in alert '%s', found %s", rule->name,
                                    describe(p, &p->tok, d, sizeof(d)));
                }
                if (have[c] && c != CLAUSE_LABEL)
                        return fail(p, p->tok.pos,
                                    "duplicate '%s' clause in alert '%s' (first at %u:%u)",
                                    clause_names[c], rule->name, seen[c].line, pos_col(seen[c]));
                have[c] = true;
                seen[c] = p->tok.pos;
                r = parse_clause(p, rule, c);
                if (r < 0)
                        return r;
        }
        if (!rule->when)
                return fail(p, name_at, "alert '%s' has no 'when' clause", rule->name);
        r = next(p);
        if (r < 0)
                return r;
        p->rule = NULL;
        *ret = TAKE_PTR(rule);
        return 0;
}

int rules_parse(RuleSet *set, const char *path, const char *text, size_t len, RulesError *err)
{
        Parser p = {
            .path = path ? path : "<rules>",
            .text = text ? text : "",
            .len = text ? len : 0,
            .cur = {0, 0, 1},
            .err = err,
            .set = set,
        };
        const char *nul;
        int r = 0;

        if (!set)
                return -EINVAL;
        if (err)
                *err = (RulesError){0};
        if (len > RULES_MAX_INPUT) {
                p.len = 0; /* show no source line: it may be anything */
                fail(&p, p.cur, "file too large (%zu bytes, at most %u)", len, RULES_MAX_INPUT);
                return -EFBIG;
        }
        nul = memchr(p.text, '\0', p.len);
        if (nul)
                return fail(&p, pos_at(&p, (size_t)(nul - p.text)), "NUL byte in a rule file");
        if (p.len >= 3 && memcmp(p.text, "\xef\xbb\xbf", 3) == 0)
                p.cur.off = p.cur.line_start = 3;

        r = next(&p);
        while (r >= 0 && p.tok.type != T_EOF) {
                Rule *rule = NULL;
                if (p.tok.type != T_ALERT) {
                        char d[48];
                        r = fail(&p, p.tok.pos, "expected 'alert', found %s",
                                 describe(&p, &p.tok, d, sizeof(d)));
                        break;
                }
                r = parse_alert(&p, &rule);
                if (r < 0)
                        break;
                util_grow((void **)&p.rules, &p.cap_rules, p.n_rules + 1, sizeof(Rule *));
                p.rules[p.n_rules++] = rule;
        }
        if (r < 0) {
                for (size_t i = 0; i < p.n_rules; i++)
                        rules_rule_free(p.rules[i]);
                free(p.rules);
                return r;
        }
        util_grow((void **)&set->rules, &set->cap_rules, set->n_rules + p.n_rules, sizeof(Rule *));
        for (size_t i = 0; i < p.n_rules; i++)
                set->rules[set->n_rules++] = p.rules[i];
        free(p.rules);
        return 0;
}

/* ---- printing -------------------------------------------------------------------------- */

static void put_quoted(Buf *b, const char *s)
{
        buf_puts(b, "\"");
        for (; *s; s++) {
                switch (*s) {
                case '"':
                case '\\':
                case '{':
                case '}':
                        buf_putn(b, "\\", 1);
                        buf_putn(b, s, 1);
                        break;
                case '\n':
                        buf_puts(b, "\\n");
                        break;
                default:
                        buf_putn(b, s, 1);
                }
        }
        buf_puts(b, "\"");
}

static void put_expr(Buf *b, const Expr *e)
{
        char tmp[64];

        if (!e) {
                buf_puts(b, "<null>");
                return;
        }
        switch (e->type) {
        case EXPR_NUMBER:
                buf_printf(b, "%.15g", e->number);
                break;
        case EXPR_DURATION:
                buf_puts(b, util_format_duration(tmp, sizeof(tmp), e->usec));
                break;
        case EXPR_STRING:
                put_quoted(b, e->string ? e->string : "");
                break;
        case EXPR_BOOL:
                buf_puts(b, e->boolean ? "true" : "false");
                break;
        case EXPR_LIST:
                buf_puts(b, "[");
                for (size_t i = 0; i < e->n_children; i++) {
                        if (i > 0)
                                buf_puts(b, ", ");
                        put_expr(b, e->children[i]);
                }
                buf_puts(b, "]");
                break;
        case EXPR_IDENT:
                buf_puts(b, e->ident ? e->ident->name : "<null>");
                break;
        case EXPR_CALL:
                buf_puts(b, e->func ? e->func->name : "<null>");
                buf_puts(b, "(");
                for (size_t i = 0; i < e->n_children; i++) {
                        if (i > 0)
                                buf_puts(b, ", ");
                        put_expr(b, e->children[i]);
                }
                for (size_t i = 0; i < RULES_MAX_KWARGS; i++) {
                        if (!e->kwargs[i] || !e->func)
                                continue;
                        if (e->n_children > 0 || i > 0)
                                buf_puts(b, ", ");
                        buf_printf(b, "%s=", e->func->kwargs[i].name);
                        put_expr(b, e->kwargs[i]);
                }
                buf_puts(b, ")");
                break;
        case EXPR_UNARY:
                buf_puts(b, e->op == RULES_OP_NOT ? "(not " : "(-");
                put_expr(b, e->n_children > 0 ? e->children[0] : NULL);
                buf_puts(b, ")");
                break;
        case EXPR_BINARY:
                buf_puts(b, "(");
                put_expr(b, e->n_children > 0 ? e->children[0] : NULL);
                buf_printf(b, " %s ", rules_op_name(e->op));
                put_expr(b, e->n_children > 1 ? e->children[1] : NULL);
                buf_puts(b, ")");
                break;
        default:
                buf_puts(b, "<?>");
        }
}

int rules_expr_format(const Expr *e, char *buf, size_t size)
{
        Buf b = {buf, size, 0, false};
        if (size > 0)
                buf[0] = '\0';
        put_expr(&b, e);
        return b.overflow ? -ENOBUFS : 0;
}

int rules_template_format(const Template *t, char *buf, size_t size)
{
        Buf b = {buf, size, 0, false};
        if (size > 0)
                buf[0] = '\0';
        buf_puts(&b, "\"");
        for (size_t i = 0; t && i < t->n_parts; i++) {
                if (t->parts[i].literal) {
                        /* Quote the literal, then drop the quotes put_quoted() added. */
                        size_t before = b.len;
                        put_quoted(&b, t->parts[i].literal);
                        if (!b.overflow && b.len >= before + 2) {
                                memmove(b.s + before, b.s + before + 1, b.len - before - 2);
                                b.len -= 2;
                                b.s[b.len] = '\0';
                        }
                } else {
                        buf_puts(&b, "{");
                        put_expr(&b, t->parts[i].expr);
                        buf_puts(&b, "}");
                }
        }
        buf_puts(&b, "\"");
        return b.overflow ? -ENOBUFS : 0;
}
