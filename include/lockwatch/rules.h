/* The rule language: a hand-written lexer and recursive-descent parser that turns rule
 * files into a checked syntax tree (RuleSet), plus the tables the evaluator and the manual
 * share (functions, identifiers, geographies). Pure: no logging, no clock, no I/O.
 * The language is described in rules/README.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULES_MAX_INPUT    (1024u * 1024u) /* bytes of one rule file */
#define RULES_MAX_ALERTS   1000u           /* alerts in one RuleSet, over all its files */
#define RULES_MAX_DEPTH    64u             /* nesting of one expression */
#define RULES_MAX_NODES    256u            /* nodes of one expression */
#define RULES_MAX_NAME     64u             /* bytes of an identifier or alert name */
#define RULES_MAX_STRING   4096u           /* bytes of a string literal, escapes decoded */
#define RULES_MAX_LIST     64u             /* elements of a list literal */
#define RULES_MAX_PARTS    64u             /* literal and {expr} parts of one template */
#define RULES_MAX_POLLS    1000000u        /* for N polls */
#define RULES_MAX_NUMBER   1e15            /* magnitude of a number literal: exact as a double */
#define RULES_MAX_DURATION (3650u * 86400u * 1000000ull) /* any duration literal: 10 years */
#define RULES_MAX_ARGS     3u                            /* positional arguments of any function */
#define RULES_MAX_KWARGS   1u                            /* keyword arguments of any function */
#define RULES_MAX_LABELS   16u                           /* label clauses of one alert */

typedef enum RuleTarget {
        RULE_TARGET_MODEL,  /* evaluated once per model row */
        RULE_TARGET_SOURCE, /* evaluated once per configured source */
        _RULE_TARGET_MAX,
} RuleTarget;

typedef enum RuleSeverity {
        RULE_SEVERITY_CRITICAL,
        RULE_SEVERITY_ERROR,
        RULE_SEVERITY_WARNING,
        RULE_SEVERITY_NOTICE,
        RULE_SEVERITY_INFO,
        _RULE_SEVERITY_MAX,
} RuleSeverity;

/* The static kind of a value; every expression node has one, checked at parse time. */
typedef enum RulesKind {
        RULES_KIND_NUMBER,   /* double */
        RULES_KIND_DURATION, /* microseconds */
        RULES_KIND_STRING,
        RULES_KIND_BOOL,
        RULES_KIND_LIST,          /* of numbers, durations or strings (Expr.elem_kind) */
        RULES_KIND_PROVIDER_SET,  /* a set of provider ids; a number (its count) in arithmetic */
        RULES_KIND_CELL_STATE,    /* the words available, unavailable, unknown */
        RULES_KIND_PROVIDER_KIND, /* the words cloud, direct, aggregator */
        RULES_KIND_SOURCE_STATE,  /* the words ok, degraded, suspect */
        RULES_KIND_SET_NAME, /* the words clouds, providers: only as lost()/gained() argument */
        _RULES_KIND_MAX,
        RULES_KIND_NONE = -1, /* elem_kind of an empty list; not a value */
} RulesKind;

#define RULES_KIND_BIT(k) (1u << (k))

typedef enum RulesOp {
        RULES_OP_NONE,
        RULES_OP_OR,
        RULES_OP_AND,
        RULES_OP_NOT,
        RULES_OP_EQ,
        RULES_OP_NE,
        RULES_OP_LT,
        RULES_OP_LE,
        RULES_OP_GT,
        RULES_OP_GE,
        RULES_OP_IN,
        RULES_OP_ADD,
        RULES_OP_SUB,
        RULES_OP_MUL,
        RULES_OP_DIV,
        RULES_OP_NEG,
        _RULES_OP_MAX,
} RulesOp;

/* Per-model and per-source values, and the constant words. */
typedef enum RulesIdent {
        RULES_ID_MODEL,                /* model: canonical id */
        RULES_ID_VENDOR,               /* model: vendor part of the id */
        RULES_ID_AGE,                  /* model: now - first_seen */
        RULES_ID_MAPPED,               /* model: id known to normalization */
        RULES_ID_NEW,                  /* model: first seen after the first evaluation */
        RULES_ID_SOURCE,               /* source: name */
        RULES_ID_STATE,                /* source: ok, degraded or suspect */
        RULES_ID_STALE_FOR,            /* source: now - last good poll */
        RULES_ID_CONSECUTIVE_FAILURES, /* source: failed polls in a row */
        RULES_ID_AVAILABLE,
        RULES_ID_UNAVAILABLE,
        RULES_ID_UNKNOWN,
        RULES_ID_CLOUD,
        RULES_ID_DIRECT,
        RULES_ID_AGGREGATOR,
        RULES_ID_OK,
        RULES_ID_DEGRADED,
        RULES_ID_SUSPECT,
        RULES_ID_CLOUDS,    /* lost(clouds), gained(clouds) */
        RULES_ID_PROVIDERS, /* lost(providers), gained(providers) */
        RULES_ID_LAGGING,           /* source: cells where the authority overrules it */
        RULES_ID_LAGGING_EXAMPLES,  /* source: the first of them, "model on provider, ..." */
        RULES_ID_UNMAPPED,          /* source: rows of ids no rule or alias maps */
        RULES_ID_UNMAPPED_EXAMPLES, /* source: the first of them */
        _RULES_ID_MAX,
} RulesIdent;

typedef enum RulesFunc {
        RULES_FN_CLOUDS,
        RULES_FN_PROVIDERS,
        RULES_FN_ON,
        RULES_FN_REGIONS,
        RULES_FN_PRICE,
        RULES_FN_MIN_PRICE,
        RULES_FN_MAX_PRICE,
        RULES_FN_PREVIOUS,
        RULES_FN_CHANGED,
        RULES_FN_LOST,
        RULES_FN_GAINED,
        RULES_FN_LIFECYCLE,
        RULES_FN_EOL_WITHIN,
        RULES_FN_COUNT,
        RULES_FN_REGIONS_KNOWN,
        _RULES_FN_MAX,
} RulesFunc;

#define RULES_TARGET_BIT(t) (1u << (t))

/* One identifier: a per-model/per-source value (is_word false) or a constant word. */
typedef struct RulesIdentifier {
        const char *name;
        RulesIdent id;
        RulesKind kind;
        unsigned targets; /* RULES_TARGET_BIT() of the rules that may use it */
        bool is_word;
        const char *doc;
} RulesIdentifier;

typedef struct RulesKeyword {
        const char *name;           /* "geo" */
        unsigned kinds;             /* RULES_KIND_BIT() mask */
        const char *const *choices; /* NULL, or the literal strings allowed (NULL-terminated) */
} RulesKeyword;

/* One function of the language: the parser checks calls against it, the evaluator
 * dispatches on id, the manual is written from it. */
typedef struct RulesFunction {
        const char *name;
        RulesFunc id;
        unsigned min_args, max_args;                /* positional */
        unsigned args[RULES_MAX_ARGS];              /* RULES_KIND_BIT() mask per position */
        const char *const *choices[RULES_MAX_ARGS]; /* literal strings allowed, or NULL */
        RulesKeyword kwargs[RULES_MAX_KWARGS];      /* name NULL when unused */
        RulesKind result;      /* previous(): RULES_KIND_NONE = its argument's */
        RulesKind result_elem; /* element kind when result is a list */
        unsigned targets;      /* RULES_TARGET_BIT() mask */
        bool lookback;         /* needs the previous evaluation (Expr.slot) */
        const char *signature; /* "clouds(state[, geo=STRING])" */
        const char *doc;
} RulesFunction;

/* A geography for geo="...": a region belongs to it if its lower-cased name starts with
 * one of prefixes or, spaces removed, contains one of words. */
typedef struct RulesGeo {
        const char *name;
        const char *const *prefixes; /* NULL-terminated; AWS and GCP style names */
        const char *const *words;    /* NULL-terminated; Azure style names */
        const char *doc;
} RulesGeo;

typedef enum ExprType {
        EXPR_NUMBER,
        EXPR_DURATION,
        EXPR_STRING,
        EXPR_BOOL,
        EXPR_LIST,   /* children: the elements */
        EXPR_IDENT,  /* ident: a value or a word */
        EXPR_CALL,   /* func; children: positional arguments; kwargs[] by table position */
        EXPR_UNARY,  /* op NOT or NEG; children[0] */
        EXPR_BINARY, /* op; children[0] op children[1] */
        _EXPR_TYPE_MAX,
} ExprType;

typedef struct Expr Expr;
struct Expr {
        ExprType type;
        RulesOp op;
        RulesKind kind;      /* the kind of the value this node yields */
        RulesKind elem_kind; /* lists: the elements' kind (RULES_KIND_NONE if empty) */
        Expr **children;
        size_t n_children;
        Expr *kwargs[RULES_MAX_KWARGS]; /* calls: keyword arguments, NULL if not given */
        const RulesFunction *func;      /* calls */
        const RulesIdentifier *ident;   /* EXPR_IDENT */
        double number;
        uint64_t usec;
        bool boolean;
        char *string;       /* EXPR_STRING, escapes decoded */
        unsigned slot;      /* look-back calls: index of this call's history slot in its rule */
        unsigned line, col; /* operator for unary/binary nodes, first token otherwise */
};

/* One part of a template: literal text, or an expression to expand. */
typedef struct TemplatePart {
        char *literal; /* NULL for an expression part */
        Expr *expr;    /* NULL for a literal part */
} TemplatePart;

typedef struct Template {
        TemplatePart *parts;
        size_t n_parts;
        unsigned line, col; /* the opening quote */
} Template;

/* label NAME "value": sent with the alert to Alertmanager and webhooks. */
typedef struct RuleLabel {
        char *name;
        char *value;
} RuleLabel;

typedef struct Rule {
        char *name;
        RuleTarget target;
        Expr *where; /* NULL: every model */
        Expr *when;
        unsigned for_polls;            /* N consecutive evaluations; 0 when none or a duration */
        uint64_t for_usec;             /* 0 when none or polls */
        uint64_t keep_firing_for_usec; /* 0 when absent */
        RuleSeverity severity;         /* warning when absent */
        Template *summary;             /* NULL when absent */
        Template *description;         /* NULL when absent */
        RuleLabel *labels;             /* label clauses, in file order */
        size_t n_labels;
        unsigned n_slots;              /* look-back calls in where, when and templates */
        char *file;
        unsigned line, col; /* the alert's name */
} Rule;

typedef struct RuleSet {
        Rule **rules; /* in file order, files in the order they were parsed */
        size_t n_rules;
        size_t cap_rules;
} RuleSet;

/* A parse error; message is "PATH:LINE:COL: text\n<source line>\n<caret line>". */
typedef struct RulesError {
        unsigned line, col;
        char message[1024];
} RulesError;

/* Create an empty rule set. */
int rules_set_new(RuleSet **ret);
/* Free a rule set and all its rules; NULL is fine. */
void rules_set_free(RuleSet *s);
/* Parse one file (len bytes, need not be NUL-terminated) and append its alerts to set;
 * on error set is unchanged, err is filled in and -EINVAL (-EFBIG if too large) returned. */
int rules_parse(RuleSet *set, const char *path, const char *text, size_t len, RulesError *err);
/* Find a rule by name, or NULL. */
const Rule *rules_set_find(const RuleSet *s, const char *name);
/* Free an expression tree; NULL is fine. */
void rules_expr_free(Expr *e);
/* Free a template; NULL is fine. */
void rules_template_free(Template *t);
/* Free a rule; NULL is fine. */
void rules_rule_free(Rule *r);

/* Print e fully parenthesized; -ENOBUFS if it did not fit (buf holds a truncated text). */
int rules_expr_format(const Expr *e, char *buf, size_t size);
/* Print a template as a quoted string, each {expr} printed as by rules_expr_format(). */
int rules_template_format(const Template *t, char *buf, size_t size);

/* The function table, n entries, indexed by RulesFunc. */
const RulesFunction *rules_functions(size_t *n);
/* Find a function by name, or NULL. */
const RulesFunction *rules_function_find(const char *name);
/* The identifier table, n entries, indexed by RulesIdent. */
const RulesIdentifier *rules_identifiers(size_t *n);
/* The geography table for geo="...", n entries. */
const RulesGeo *rules_geos(size_t *n);
/* Find a geography by name, or NULL. */
const RulesGeo *rules_geo_find(const char *name);
/* True if the region name (any provider's spelling) lies in geography g. */
bool rules_geo_match(const RulesGeo *g, const char *region);

/* Name of a kind for messages and docs: "number", "provider-set", ... */
const char *rules_kind_name(RulesKind k);
/* Name of an operator as written: "==", "and", "-" (negation is "-"). */
const char *rules_op_name(RulesOp op);
/* Name of a severity: critical, error, warning, notice, info. */
const char *rules_severity_name(RuleSeverity s);
/* Journal PRIORITY of a severity: critical 2, error 3, warning 4, notice 5, info 6. */
int rules_severity_priority(RuleSeverity s);
/* Name of a target: model, source. */
const char *rules_target_name(RuleTarget t);
