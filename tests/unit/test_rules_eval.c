/* The rule evaluator, table-driven: each case is a rule file and a timeline of matrices
 * (built with matrix_apply from one line per cell) and source views, with the events
 * expected at each step. Every case also runs once per step with the engine serialized,
 * freed and restored just before that step, and must announce exactly the same events. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/rules_eval.h"
#include "lockwatch/util.h"

#define BASE       UINT64_C(1700000000) /* seconds: step times are offsets from here */
#define MIN_       60
#define HOUR       3600
#define DAY        86400
#define MAX_STEPS  8
#define MAX_CELLS  64
#define MAX_SOURCE 8

enum {
        SHOW_SUMMARY = 1 << 0,
        SHOW_DESCRIPTION = 1 << 1,
        SHOW_CLOUDS = 1 << 2,
};

typedef struct Step {
        uint64_t t;          /* seconds after BASE */
        const char *cells;   /* lines "model provider [r=a,b] [in=N] [out=N] [life=W] [eol=DAYS]
                                [no] [unmapped]" */
        const char *sources; /* "name status last_ok|- failures; ..." (last_ok: seconds) */
        const char *expect;  /* "event rule key[: summary]..." joined by "; " */
} Step;

typedef struct Case {
        const char *name;
        const char *rules;
        uint64_t repeat; /* seconds */
        unsigned show;
        Step steps[MAX_STEPS];
} Case;

static const struct {
        const char *id;
        ProviderKind kind;
} providers[] = {
    {"aws", PROVIDER_CLOUD},
    {"gcp", PROVIDER_CLOUD},
    {"azure", PROVIDER_CLOUD},
    {"oci", PROVIDER_CLOUD},
    {"anthropic", PROVIDER_DIRECT},
    {"openai", PROVIDER_DIRECT},
    {"openrouter", PROVIDER_AGGREGATOR},
};

static const Case cases[] = {
    {"SingleCloud: for 2 polls, where excludes a vendor",
     "alert SingleCloud {\n"
     "    where    vendor != \"google\"\n"
     "    when     clouds(available) == 1\n"
     "    for      2 polls\n"
     "    summary  \"{model} is callable only on {clouds(available)}\"\n"
     "}\n",
     0,
     SHOW_SUMMARY,
     {{0, "anthropic/opus aws\nanthropic/opus gcp\ngoogle/gemini aws\nmeta/llama aws", NULL, ""},
      {HOUR, "anthropic/opus aws\nanthropic/opus gcp\ngoogle/gemini aws\nmeta/llama aws", NULL,
       "firing SingleCloud meta/llama: meta/llama is callable only on aws"},
      {2 * HOUR, "anthropic/opus aws\ngoogle/gemini aws\nmeta/llama aws", NULL, ""},
      {3 * HOUR, "anthropic/opus aws\ngoogle/gemini aws\nmeta/llama aws\nmeta/llama gcp", NULL,
       /* A resolve keeps the text it fired with. */
       "firing SingleCloud anthropic/opus: anthropic/opus is callable only on aws; "
       "resolved SingleCloud meta/llama: meta/llama is callable only on aws"}}},
    {"new: only models first seen after the first evaluation",
     "alert NewOnOneCloud { when new and clouds(available) == 1 }\n",
     0,
     0,
     {{0, "a/old aws", NULL, ""},
      {HOUR, "a/old aws\na/fresh aws", NULL, "firing NewOnOneCloud a/fresh"},
      {2 * HOUR, "a/old aws\na/fresh aws\na/fresh gcp", NULL, "resolved NewOnOneCloud a/fresh"}}},
    {"AvailabilityNarrowed: a one-poll disappearance does not fire with for 2 polls",
     "alert AvailabilityNarrowed {\n"
     "    when clouds(available) < previous(clouds(available))\n"
     "    for 2 polls\n"
     "}\n"
     "alert NarrowedNow {\n"
     "    when clouds(available) < previous(clouds(available))\n"
     "    summary \"{model} lost {lost(clouds)}; now on {clouds(available)}\"\n"
     "}\n",
     0,
     SHOW_SUMMARY | SHOW_CLOUDS,
     {{0, "a/m aws\na/m gcp\na/m azure", NULL, ""},
      {HOUR, "a/m aws\na/m gcp", NULL,
       "firing NarrowedNow a/m: a/m lost azure; now on aws, gcp [aws,gcp <- aws,azure,gcp]"},
      {2 * HOUR, "a/m aws\na/m gcp\na/m azure", NULL,
       /* The resolve keeps the text it fired with; the clouds are today's. */
       "resolved NarrowedNow a/m: a/m lost azure; now on aws, gcp "
       "[aws,azure,gcp <- aws,gcp]"},
      {3 * HOUR, "a/m aws\na/m gcp\na/m azure", NULL, ""}}},
    {"geo filter: regions in a geography; a cloud without region data makes the set unknown",
     "alert NoEuCloud { when count(clouds(available, geo=\"eu\")) == 0 and "
     "clouds(available) > 0 }\n"
     "alert EuOnAzure { when \"azure\" in clouds(available, geo=\"eu\") }\n"
     "alert NotInUs { when clouds(available, geo=\"us\") < clouds(available) }\n",
     0,
     0,
     {{0,
       "x/m1 aws r=us-east-1,eu-west-1\nx/m2 aws r=us-east-1\nx/m2 gcp\n"
       "x/m3 azure r=swedencentral\nx/m4 aws r=us-west-2 no",
       NULL,
       /* x/m2's gcp cell has no regions: whether m2 is in the EU is unknown, and
        * neither "no EU cloud" nor "fewer US clouds" may fire on it. */
       "firing EuOnAzure x/m3; firing NotInUs x/m3"},
      {HOUR,
       "x/m1 aws r=us-east-1,eu-west-1\nx/m2 aws r=us-east-1\nx/m2 gcp r=europe-west4\n"
       "x/m3 azure r=eastus\nx/m4 aws r=us-west-2",
       NULL,
       "firing NotInUs x/m2; firing NoEuCloud x/m3; resolved EuOnAzure x/m3; "
       "resolved NotInUs x/m3; firing NoEuCloud x/m4"}}},
    {"unknown prices: every comparison is false, arithmetic propagates",
     "alert Cheap { when price(\"aws\", \"input\") < 1 }\n"
     "alert NotCheap { when not (price(\"aws\", \"input\") < 1) }\n"
     "alert NotFive { when price(\"aws\", \"input\") != 5 }\n"
     "alert Spread {\n"
     "    when max_price(\"output\") - min_price(\"output\") > 10\n"
     "    summary \"{model}: spread {max_price(\"output\") - min_price(\"output\")}, "
     "aws in {price(\"aws\", \"input\")}, gcp in {price(\"gcp\", \"input\")}\"\n"
     "}\n",
     0,
     SHOW_SUMMARY,
     {{0, "x/m1 aws in=0.5 out=2\nx/m1 gcp out=20.25\nx/m2 aws\nx/m2 gcp out=3\nx/m3 gcp", NULL,
       "firing Cheap x/m1: Cheap for x/m1; firing NotFive x/m1: NotFive for x/m1; "
       "firing Spread x/m1: x/m1: spread 18.25, aws in 0.5, gcp in unknown; "
       "firing NotCheap x/m2: NotCheap for x/m2; firing NotCheap x/m3: NotCheap for x/m3"},
      {HOUR,
       "x/m1 aws in=0.5 out=2\nx/m1 gcp out=20.25 no\nx/m2 aws in=5\nx/m2 gcp out=3\n"
       "x/m3 gcp",
       /* The resolve keeps the text it fired with (the spread at firing time). */
       NULL, "resolved Spread x/m1: x/m1: spread 18.25, aws in 0.5, gcp in unknown"}}},
    {"per-model functions and identifiers",
     "alert OnlyDirect { when providers(direct, available) > 0 and clouds(available) == 0 "
     "and providers(aggregator, available) == 0 }\n"
     "alert AwsEu { when on(\"aws\") and \"eu-west-1\" in regions(\"aws\") and "
     "count(regions(\"aws\")) >= 2 summary \"{regions(\"aws\")}\" }\n"
     "alert Legacy { when lifecycle(\"gcp\") == \"legacy\" summary \"{model} on gcp is "
     "{lifecycle(\"gcp\")}\" }\n"
     "alert Sunset { when eol_within(\"azure\", 30d) }\n"
     "alert Unmapped { when not mapped and vendor in [\"acme\", \"other\"] "
     "summary \"{vendor} {mapped}\" }\n"
     "alert Named { when model == \"x/special\" and regions(\"aws\") == [] }\n"
     "alert NoLife { when lifecycle(\"aws\") == \"unknown\" or lifecycle(\"aws\") != "
     "\"active\" or previous(vendor) != vendor or previous(on(\"aws\")) != on(\"aws\") }\n"
     "alert Reseller { when \"openrouter\" in providers(aggregator, available) "
     "and count(providers(cloud, unknown)) == 3 }\n",
     0,
     SHOW_SUMMARY,
     {{0,
       "acme/thing aws unmapped\nx/direct-only anthropic\nx/eu aws r=eu-west-1,us-east-1\n"
       "x/old gcp life=legacy\nx/special openrouter\nx/sunset azure eol=20\n"
       "x/later azure eol=100",
       NULL,
       "firing Unmapped acme/thing: acme false; firing OnlyDirect x/direct-only: OnlyDirect "
       "for x/direct-only; firing AwsEu x/eu: eu-west-1, us-east-1; "
       "firing Legacy x/old: x/old on gcp is legacy; firing Named x/special: Named for "
       "x/special; firing Reseller x/special: Reseller for x/special; "
       "firing Sunset x/sunset: Sunset for x/sunset"},
      {75 * DAY,
       "acme/thing aws unmapped\nx/direct-only anthropic\nx/eu aws r=us-east-1\n"
       "x/old gcp life=active\nx/special openrouter\nx/sunset azure eol=20\n"
       "x/later azure eol=100",
       NULL,
       /* Resolves keep the texts they fired with. */
       "resolved AwsEu x/eu: eu-west-1, us-east-1; firing Sunset x/later: Sunset for x/later; "
       "resolved Legacy x/old: x/old on gcp is legacy"}}},
    {"age, durations and template rendering",
     "alert Young {\n"
     "    when age < 2h\n"
     "    summary \"{model} is {age} old; double {age * 2}; half-days {age / 12h}\"\n"
     "}\n"
     "alert Render {\n"
     "    when model == \"x/r\"\n"
     "    summary \"{1 + 4} {5.5} {0.1 * 3} {2h + 30m} {clouds(unavailable)} {[1, 2.5]} "
     "{[\"a\", \"b\"]} {on(\"aws\")} {count([])} {[]} {-2 / 4} {1 / 0} {available} {direct} "
     "{lifecycle(\"aws\")} {previous(model)} {previous(on(\"aws\"))}\"\n"
     "    description \"{model}: {clouds(available)}\"\n"
     "}\n",
     0,
     SHOW_SUMMARY | SHOW_DESCRIPTION,
     {{0, "x/m aws", NULL, "firing Young x/m: x/m is 0s old; double 0s; half-days 0"},
      {HOUR, "x/m aws", NULL, ""},
      {3 * HOUR, "x/m aws\nx/r aws", NULL,
       "resolved Young x/m: x/m is 0s old; double 0s; half-days 0; "
       "firing Young x/r: x/r is 0s old; double 0s; half-days 0; "
       "firing Render x/r: 5 5.5 0.3 2h30m none 1, 2.5 a, b true 0 none -0.5 unknown "
       "available direct unknown unknown unknown | x/r: aws"}}},
    {"previous, changed, lost and gained across steps (columns move under them)",
     "alert Changed {\n"
     "    when changed(clouds(available))\n"
     "    summary \"{model}: lost {lost(clouds)}, gained {gained(clouds)}, was "
     "{previous(clouds(available))}, now {clouds(available)}\"\n"
     "}\n"
     "alert LostAny { when count(lost(providers)) > 0 summary \"{lost(providers)}\" }\n"
     "alert PriceDrop { when price(\"aws\", \"input\") < previous(price(\"aws\", \"input\")) "
     "}\n"
     "alert RegionsChanged { when changed(regions(\"aws\")) summary "
     "\"{previous(regions(\"aws\"))} -> {regions(\"aws\")}\" }\n"
     "alert VendorChanged { when changed(vendor) or changed(lifecycle(\"aws\")) }\n"
     "alert GcpPriceChanged { when changed(price(\"gcp\", \"input\")) }\n",
     0,
     SHOW_SUMMARY | SHOW_CLOUDS,
     {{0, "x/m aws in=3 r=us-east-1\nx/m gcp\nx/m anthropic", NULL, ""},
      {HOUR, "x/m aws in=2 r=us-east-1,eu-west-1\nx/m azure", NULL,
       "firing Changed x/m: x/m: lost gcp, gained azure, was aws, gcp, now aws, azure "
       "[aws,azure <- aws,gcp]; "
       "firing LostAny x/m: gcp, anthropic [aws,azure <- aws,gcp]; "
       "firing PriceDrop x/m: PriceDrop for x/m [aws,azure <- aws,gcp]; "
       "firing RegionsChanged x/m: us-east-1 -> eu-west-1, us-east-1 "
       "[aws,azure <- aws,gcp]"},
      {2 * HOUR, "x/m aws in=2 r=us-east-1,eu-west-1\nx/m azure", NULL,
       /* Resolves keep the texts they fired with. */
       "resolved Changed x/m: x/m: lost gcp, gained azure, was aws, gcp, now aws, azure "
       "[aws,azure <- aws,azure]; "
       "resolved LostAny x/m: gcp, anthropic [aws,azure <- aws,azure]; "
       "resolved PriceDrop x/m: PriceDrop for x/m [aws,azure <- aws,azure]; "
       "resolved RegionsChanged x/m: us-east-1 -> eu-west-1, us-east-1 "
       "[aws,azure <- aws,azure]"},
      {3 * HOUR, "x/m aws in=2.5 r=us-east-1,eu-west-1\nx/m azure", NULL, ""}}},
    {"rows outside where keep no history; slots and/or skipped are still recorded",
     "alert Drop {\n"
     "    where on(\"aws\") and model == \"x/m\"\n"
     "    when false or clouds(available) < previous(clouds(available))\n"
     "}\n"
     "alert Short {\n"
     "    where model == \"x/s\"\n"
     "    when count(clouds(available)) != 2 and clouds(available) < "
     "previous(clouds(available))\n"
     "}\n",
     0,
     0,
     {{0, "x/m aws\nx/m gcp\nx/m azure\nx/s aws", NULL, ""},
      {HOUR, "x/m gcp\nx/m azure\nx/s aws\nx/s gcp", NULL, ""},
      {2 * HOUR, "x/m aws\nx/m gcp\nx/s aws", NULL, "firing Short x/s"},
      {3 * HOUR, "x/m aws\nx/s aws", NULL, "firing Drop x/m; resolved Short x/s"}}},
    {"provider sets: counts against numbers, membership against sets",
     "alert Mixed { when clouds(available) != clouds(unavailable) and "
     "count(clouds(available)) == count(clouds(unavailable)) }\n"
     "alert Same { when clouds(available) == providers(cloud, available) and "
     "clouds(available) + 1 == 2 }\n"
     "alert UnknownGcp { when \"gcp\" in clouds(unknown) and not (\"oci\" in "
     "clouds(unknown)) }\n",
     0,
     0,
     {{0, "x/a aws\nx/b gcp", NULL, "firing Same x/a; firing UnknownGcp x/a; firing Same x/b"},
      {HOUR, "x/a aws\nx/a gcp\nx/b aws", NULL,
       "resolved Same x/a; resolved UnknownGcp x/a; firing Mixed x/b"}}},
    {"for a duration",
     "alert Lonely { when clouds(available) == 1 for 30m }\n",
     0,
     0,
     {{0, "x/m aws", NULL, ""},
      {20 * MIN_, "x/m aws", NULL, ""},
      {30 * MIN_, "x/m aws", NULL, "firing Lonely x/m"},
      {40 * MIN_, "x/m aws\nx/m gcp", NULL, "resolved Lonely x/m"}}},
    {"keep_firing_for rides out a flap",
     "alert Lonely { when clouds(available) == 1 keep_firing_for 1h }\n",
     0,
     0,
     {{0, "x/m aws", NULL, "firing Lonely x/m"},
      {10 * MIN_, "x/m aws\nx/m gcp", NULL, ""},
      {20 * MIN_, "x/m aws", NULL, ""},
      {30 * MIN_, "x/m aws\nx/m gcp", NULL, ""},
      {2 * HOUR, "x/m aws\nx/m gcp", NULL, "resolved Lonely x/m"}}},
    {"repeat_interval",
     "alert Lonely { when clouds(available) == 1 }\n",
     HOUR,
     0,
     {{0, "x/m aws", NULL, "firing Lonely x/m"},
      {30 * MIN_, "x/m aws", NULL, ""},
      {HOUR, "x/m aws", NULL, "repeat Lonely x/m"},
      {90 * MIN_, "x/m aws", NULL, ""},
      {2 * HOUR, "x/m aws", NULL, "repeat Lonely x/m"},
      {150 * MIN_, "x/m aws\nx/m gcp", NULL, "resolved Lonely x/m"}}},
    {"where-exclusion resolves a firing alert",
     "alert Lonely { where lifecycle(\"aws\") != \"legacy\" when clouds(available) == 1 }\n",
     0,
     0,
     {{0, "x/m aws life=active", NULL, "firing Lonely x/m"},
      {HOUR, "x/m aws life=legacy", NULL, "resolved Lonely x/m"},
      {2 * HOUR, "x/m aws life=active", NULL, "firing Lonely x/m"}}},
    {"a model that leaves the matrix resolves its alerts",
     "alert Lonely { when clouds(available) == 1 summary \"{model} on {clouds(available)}\" "
     "}\n",
     0,
     SHOW_SUMMARY,
     {{0, "x/a aws\nx/b aws\nx/c aws", NULL,
       "firing Lonely x/a: x/a on aws; firing Lonely x/b: x/b on aws; "
       "firing Lonely x/c: x/c on aws"},
      {HOUR, "#forget\nx/b aws", NULL,
       "resolved Lonely x/a: x/a on aws; resolved Lonely x/c: x/c on aws"}}},
    {"source rules: stale_for, consecutive_failures, state",
     "alert Stale on source { when stale_for > 2h summary \"{source} stale for "
     "{stale_for}\" }\n"
     "alert Failing on source { when consecutive_failures >= 3 and state == degraded }\n"
     "alert Suspicious on source { when state == suspect and source != \"c\" }\n"
     "alert NotOk on source { when state != ok description \"{source} is {state}, "
     "{consecutive_failures} failures\" }\n",
     0,
     SHOW_SUMMARY | SHOW_DESCRIPTION | SHOW_CLOUDS,
     {{0, "", "a ok 0 0; b new - 0", "firing NotOk b: NotOk for b | b is new, 0 failures"},
      {HOUR, "", "a degraded 0 1; b new - 0",
       "firing NotOk a: NotOk for a | a is degraded, 1 failures"},
      {3 * HOUR, "", "a degraded 0 3; b new - 0",
       "firing Stale a: a stale for 3h; firing Stale b: b stale for 3h; "
       "firing Failing a: Failing for a"},
      {4 * HOUR, "", "a ok 14400 0; b suspect 12600 0; c suspect 12600 0",
       "resolved Stale a: a stale for 3h; resolved Stale b: b stale for 3h; "
       "resolved Failing a: Failing for a; firing Suspicious b: Suspicious for b; "
       "resolved NotOk a: NotOk for a | a is ok, 0 failures; "
       "firing NotOk c: NotOk for c | c is suspect, 0 failures"},
      {5 * HOUR, "", "a ok 18000 0; c suspect 12600 0; c suspect 12600 0",
       "resolved Suspicious b: Suspicious for b; "
       "resolved NotOk b: NotOk for b | b is new, unknown failures"}}},
};

/* ---- building matrices ----------------------------------------------------------------- */

typedef struct Built {
        Observation obs[MAX_CELLS];
        MatrixInput in[MAX_CELLS];
        char *regions[MAX_CELLS][8];
        char *model[MAX_CELLS];
        size_t n;
} Built;

static void built_clear(Built *b)
{
        for (size_t i = 0; i < b->n; i++) {
                free(b->model[i]);
                for (size_t r = 0; r < b->obs[i].n_regions; r++)
                        free(b->regions[i][r]);
        }
        b->n = 0;
}

static ProviderKind provider_kind(const char *id)
{
        for (size_t i = 0; i < ELEMENTSOF(providers); i++)
                if (streq(providers[i].id, id))
                        return providers[i].kind;
        fail_msg("unknown provider %s in a test case", id);
        return PROVIDER_CLOUD;
}

static void parse_cell(Built *b, char *line)
{
        size_t i = b->n++;
        Observation *o = &b->obs[i];
        char *save = NULL, *tok;
        bool mapped = true;

        assert_true(i < MAX_CELLS);
        *o = (Observation){.available = true, .price_in = NAN, .price_out = NAN};
        b->model[i] = xstrdup(strtok_r(line, " ", &save));
        assert_non_null(strtok_r(NULL, " ", &save)); /* the provider: apply_cells has it */
        while ((tok = strtok_r(NULL, " ", &save))) {
                const char *v;
                if ((v = startswith(tok, "r="))) {
                        char *rs = NULL, *reg;
                        char *copy = xstrdup(v);
                        for (reg = strtok_r(copy, ",", &rs); reg; reg = strtok_r(NULL, ",", &rs))
                                b->regions[i][o->n_regions++] = xstrdup(reg);
                        free(copy);
                        o->regions = b->regions[i];
                } else if ((v = startswith(tok, "in="))) {
                        o->price_in = strtod(v, NULL);
                } else if ((v = startswith(tok, "out="))) {
                        o->price_out = strtod(v, NULL);
                } else if ((v = startswith(tok, "life="))) {
                        o->lifecycle = lifecycle_from_string(v);
                } else if ((v = startswith(tok, "eol="))) {
                        o->eol = (int64_t)(BASE + strtoull(v, NULL, 10) * DAY);
                } else if (streq(tok, "no")) {
                        o->available = false;
                } else if (streq(tok, "unmapped")) {
                        mapped = false;
                } else {
                        fail_msg("bad cell option %s", tok);
                }
        }
        o->model = b->model[i];
        b->in[i] = (MatrixInput){NULL, PROVIDER_CLOUD, b->model[i], mapped, o};
}

/* Apply one step's cells: every provider is a source of its own, so a cell left out of
 * a step turns unavailable (removal_polls 1). "#forget" starts from an empty matrix. */
static void apply_cells(Matrix **m, const char *cells, uint64_t now)
{
        char *text = xstrdup(cells), *save = NULL, *line;
        char *prov[MAX_CELLS];
        Built b = {0};

        if (startswith(cells, "#forget")) {
                matrix_free(*m);
                assert_int_equal(matrix_new(m), 0);
        }
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp;
                if (line[0] == '#')
                        continue;
                sp = strchr(line, ' ');
                assert_non_null(sp);
                prov[b.n] = xstrndup(sp + 1, strcspn(sp + 1, " "));
                parse_cell(&b, line);
                b.in[b.n - 1].provider = prov[b.n - 1];
                b.in[b.n - 1].kind = provider_kind(prov[b.n - 1]);
                b.obs[b.n - 1].provider = prov[b.n - 1];
        }
        for (size_t p = 0; p < ELEMENTSOF(providers); p++) {
                MatrixInput in[MAX_CELLS];
                size_t n = 0;
                for (size_t i = 0; i < b.n; i++)
                        if (streq(b.in[i].provider, providers[p].id))
                                in[n++] = b.in[i];
                assert_int_equal(matrix_apply(*m, providers[p].id, in, n, now, 1, NULL), 0);
        }
        for (size_t i = 0; i < b.n; i++)
                free(prov[i]);
        built_clear(&b);
        free(text);
}

static size_t parse_sources(const char *spec, RulesSourceView *v, char names[][32])
{
        char *text, *save = NULL, *item;
        size_t n = 0;

        if (!spec)
                return 0;
        text = xstrdup(spec);
        for (item = strtok_r(text, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
                char status[16], last[24];
                unsigned long long failures;
                assert_true(n < MAX_SOURCE);
                assert_int_equal(
                    sscanf(item, " %31s %15s %23s %llu", names[n], status, last, &failures), 4);
                v[n] = (RulesSourceView){.name = names[n], .consecutive_failures = failures};
                for (int s = 0; s < _SOURCE_STATUS_MAX; s++)
                        if (streq(status, source_status_name((SourceStatus)s)))
                                v[n].status = (SourceStatus)s;
                v[n].last_ok = streq(last, "-") ? 0 : (BASE + strtoull(last, NULL, 10)) * 1000000;
                n++;
        }
        free(text);
        return n;
}

/* ---- running a case -------------------------------------------------------------------- */

typedef struct Log {
        char text[8192];
        unsigned show;
} Log;

static void log_event(const RulesEvent *ev, void *userdata)
{
        Log *log = userdata;
        size_t n = strlen(log->text);

        assert_non_null(ev->summary);
        assert_true(ev->event == ALERT_EVENT_FIRING || ev->event == ALERT_EVENT_REPEAT ||
                    ev->event == ALERT_EVENT_RESOLVED);
        assert_true((ev->rule->target == RULE_TARGET_MODEL) == (ev->clouds != NULL));
        assert_true((ev->rule->description != NULL) == (ev->description != NULL));
        snprintf(log->text + n, sizeof(log->text) - n, "%s%s %s %s", n ? "; " : "",
                 alert_event_name(ev->event), ev->rule->name, ev->key);
        n = strlen(log->text);
        if (log->show & SHOW_SUMMARY)
                snprintf(log->text + n, sizeof(log->text) - n, ": %s", ev->summary);
        n = strlen(log->text);
        if ((log->show & SHOW_DESCRIPTION) && ev->description)
                snprintf(log->text + n, sizeof(log->text) - n, " | %s", ev->description);
        n = strlen(log->text);
        if ((log->show & SHOW_CLOUDS) && ev->clouds)
                snprintf(log->text + n, sizeof(log->text) - n, " [%s <- %s]", ev->clouds,
                         ev->previous_clouds);
}

static RuleSet *parse_rules(const char *text)
{
        RuleSet *set = NULL;
        RulesError err;
        int r;

        assert_int_equal(rules_set_new(&set), 0);
        r = rules_parse(set, "test.rules", text, strlen(text), &err);
        if (r < 0)
                fail_msg("rules do not parse: %s", err.message);
        return set;
}

static bool restart_binary; /* restart() goes through the binary form (as lockwatchd does) */

/* Serialize and restore into a fresh engine: what a restart does. */
static RulesEngine *restart(RulesEngine *e, const RuleSet *rules, uint64_t repeat)
{
        json_t *j = NULL, *back;
        RulesEngine *fresh = NULL;
        char *text;

        assert_int_equal(rules_engine_to_json(e, &j), 0);
        text = json_dumps(j, JSON_COMPACT);
        assert_non_null(text);
        back = json_loads(text, 0, NULL);
        assert_non_null(back);
        assert_int_equal(rules_engine_new(rules, repeat * USEC_PER_SEC, &fresh), 0);
        if (restart_binary) {
                StateLogBuf b = {0};
                StateLogReader r;
                rules_engine_save(e, &b);
                statelog_reader_init(&r, b.data, b.len);
                assert_int_equal(rules_engine_load(fresh, &r), 0);
                statelog_buf_free(&b);
        } else {
                assert_int_equal(rules_engine_from_json(fresh, back), 0);
        }
        rules_engine_free(e);
        json_decref(j);
        json_decref(back);
        free(text);
        return fresh;
}

/* Run c; restart_before >= 0 restores the engine from its JSON before that step. */
static void run_case(const Case *c, int restart_before)
{
        RuleSet *rules = parse_rules(c->rules);
        RulesEngine *e = NULL;
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(rules_engine_new(rules, c->repeat * USEC_PER_SEC, &e), 0);
        for (int s = 0; s < MAX_STEPS && c->steps[s].expect; s++) {
                const Step *st = &c->steps[s];
                RulesSourceView views[MAX_SOURCE];
                char names[MAX_SOURCE][32];
                size_t n = parse_sources(st->sources, views, names);
                uint64_t now = (BASE + st->t) * USEC_PER_SEC;
                Log log = {.show = c->show};

                apply_cells(&m, st->cells, now);
                if (s == restart_before)
                        e = restart(e, rules, c->repeat);
                assert_int_equal(rules_engine_evaluate(e, m, views, n, now, log_event, &log), 0);
                if (!streq(log.text, st->expect))
                        fail_msg("%s, step %d (restart before %d):\n  expected: %s\n  got:      %s",
                                 c->name, s, restart_before, st->expect, log.text);
        }
        rules_engine_free(e);
        matrix_free(m);
        rules_set_free(rules);
}

static void test_cases(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                run_case(&cases[i], -1);
}

static void test_cases_with_restart(void **state)
{
        for (int binary = 0; binary <= 1; binary++) {
                restart_binary = binary;
                for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                        for (int s = 1; s < MAX_STEPS && cases[i].steps[s].expect; s++)
                                run_case(&cases[i], s);
        }
        restart_binary = false;
}

/* ---- reload, state file ---------------------------------------------------------------- */

static void test_set_rules(void **state)
{
        RuleSet *one = parse_rules("alert Lonely { when clouds(available) == 1 }\n"
                                   "alert Moved { when changed(clouds(available)) }\n"
                                   "alert Same { when changed(clouds(available)) }\n"
                                   "alert Gone { when count(clouds(available)) >= 0 }\n");
        RuleSet *two = parse_rules("alert Lonely { when clouds(available) == 1 }\n"
                                   "alert Moved { when changed(clouds(available)) or "
                                   "changed(vendor) }\n"
                                   "alert Same { when changed(clouds(available)) }\n"
                                   "alert Kept { when changed(clouds(available)) }\n");
        RulesEngine *e = NULL;
        Matrix *m = NULL;
        Log log = {0};

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(rules_engine_new(one, 0, &e), 0);
        apply_cells(&m, "x/m1 aws\nx/m2 aws", BASE * USEC_PER_SEC);
        assert_int_equal(rules_engine_evaluate(e, m, NULL, 0, BASE * USEC_PER_SEC, log_event, &log),
                         0);
        assert_string_equal(log.text, "firing Lonely x/m1; firing Gone x/m1; firing Lonely x/m2; "
                                      "firing Gone x/m2");

        assert_int_equal(rules_engine_set_rules(e, two), 0);
        rules_set_free(one);
        assert_null(alert_table_find(rules_engine_alerts(e), "Gone", "x/m1"));
        assert_non_null(alert_table_find(rules_engine_alerts(e), "Lonely", "x/m1"));

        log.text[0] = '\0';
        apply_cells(&m, "x/m1 aws\nx/m2 aws\nx/m2 gcp", (BASE + HOUR) * USEC_PER_SEC);
        assert_int_equal(
            rules_engine_evaluate(e, m, NULL, 0, (BASE + HOUR) * USEC_PER_SEC, log_event, &log), 0);
        /* Lonely x/m1 stays firing without a new announcement; Same kept its history;
         * Moved changed shape and Kept is new, so both see x/m2 for the first time. */
        assert_string_equal(log.text, "resolved Lonely x/m2; firing Same x/m2");
        assert_int_equal(alert_table_find(rules_engine_alerts(e), "Lonely", "x/m1")->phase,
                         ALERT_FIRING);

        rules_engine_free(e);
        rules_set_free(two);
        matrix_free(m);
}

static char *engine_dump(const RulesEngine *e)
{
        json_t *j = NULL;
        char *s;

        assert_int_equal(rules_engine_to_json(e, &j), 0);
        s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
        assert_non_null(s);
        return s;
}

static RulesEngine *engine_with_state(RuleSet **ret_rules, Matrix **ret_m)
{
        RuleSet *rules = parse_rules(
            "alert Lonely { when clouds(available) == 1 for 3 polls }\n"
            "alert Hist { when changed(regions(\"aws\")) or changed(lifecycle(\"aws\")) or "
            "changed(price(\"aws\", \"input\")) or changed(on(\"aws\")) or changed(available) or "
            "count(lost(clouds)) > 0 or age > previous(age) }\n"
            "alert Src on source { when state == degraded }\n");
        RulesSourceView v[] = {{.name = "s1", .status = SOURCE_DEGRADED, .consecutive_failures = 1}};
        RulesEngine *e = NULL;
        Matrix *m = NULL;

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(rules_engine_new(rules, 0, &e), 0);
        apply_cells(&m, "x/m aws r=us-east-1 in=1\nx/n aws\nx/n gcp\nx/n anthropic",
                    BASE * USEC_PER_SEC);
        assert_int_equal(rules_engine_evaluate(e, m, v, 1, BASE * USEC_PER_SEC, NULL, NULL), 0);
        apply_cells(&m, "x/m aws r=us-east-1 in=1\nx/n aws", (BASE + 60) * USEC_PER_SEC);
        assert_int_equal(rules_engine_evaluate(e, m, v, 1, (BASE + 60) * USEC_PER_SEC, NULL, NULL),
                         0);
        *ret_rules = rules;
        *ret_m = m;
        return e;
}

static void test_json_round_trip_is_stable(void **state)
{
        RuleSet *rules = NULL;
        Matrix *m = NULL;
        RulesEngine *e = engine_with_state(&rules, &m), *back = NULL;
        char *one = engine_dump(e), *two;
        json_t *j = json_loads(one, 0, NULL);

        assert_non_null(j);
        assert_non_null(strstr(one, "\"pending\""));
        assert_non_null(strstr(one, "\"provider-set\""));
        assert_int_equal(rules_engine_new(rules, 0, &back), 0);
        assert_int_equal(rules_engine_from_json(back, j), 0);
        two = engine_dump(back);
        assert_string_equal(one, two);

        json_decref(j);
        free(one);
        free(two);
        rules_engine_free(back);
        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m);
}

/* The binary form in b loads into a new engine of rules that dumps as want. */
static void assert_loads_back(const RuleSet *rules, const StateLogBuf *b, const char *want)
{
        RulesEngine *back = NULL;
        StateLogReader r;

        assert_int_equal(rules_engine_new(rules, 0, &back), 0);
        statelog_reader_init(&r, b->data, b->len);
        assert_int_equal(rules_engine_load(back, &r), 0);
        char *got = engine_dump(back);
        assert_string_equal(got, want);
        free(got);
        rules_engine_free(back);
}

/* A cloud numbered past the first 64 providers (numbers go by first sighting): the clouds
 * of the previous evaluation keep it, in memory and through both saved forms. */
static void test_previous_clouds_past_64(void **state)
{
        RuleSet *rules = parse_rules("alert Lonely { when clouds(available) == 1 }\n");
        RulesEngine *e = NULL, *back = NULL;
        Matrix *m = NULL;
        Observation o = {.model = "x/m", .available = true, .price_in = NAN, .price_out = NAN};
        char names[70][8];

        (void)state;
        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(rules_engine_new(rules, 0, &e), 0);
        for (int i = 0; i < 70; i++) {
                snprintf(names[i], sizeof(names[i]), "agg%02d", i);
                MatrixInput in = {.provider = names[i],
                                  .kind = PROVIDER_AGGREGATOR,
                                  .model = "x/m",
                                  .mapped = true,
                                  .obs = &o};
                assert_int_equal(matrix_apply(m, names[i], &in, 1, BASE * USEC_PER_SEC, 1, NULL),
                                 0);
        }
        assert_int_equal(rules_engine_evaluate(e, m, NULL, 0, BASE * USEC_PER_SEC, NULL, NULL), 0);
        MatrixInput in = {
            .provider = "aws", .kind = PROVIDER_CLOUD, .model = "x/m", .mapped = true, .obs = &o};
        assert_int_equal(matrix_apply(m, "aws-src", &in, 1, (BASE + 60) * USEC_PER_SEC, 1, NULL),
                         0);
        assert_int_equal(
            rules_engine_evaluate(e, m, NULL, 0, (BASE + 60) * USEC_PER_SEC, NULL, NULL), 0);
        char *one = engine_dump(e);
        assert_non_null(strstr(one, "\"clouds\":[\"aws\"]"));
        StateLogBuf b = {0};
        rules_engine_save(e, &b);
        assert_loads_back(rules, &b, one);
        json_t *j = json_loads(one, 0, NULL);
        assert_non_null(j);
        assert_int_equal(rules_engine_new(rules, 0, &back), 0);
        assert_int_equal(rules_engine_from_json(back, j), 0);
        char *two = engine_dump(back);
        assert_string_equal(one, two);
        json_decref(j);
        free(two);
        free(one);
        statelog_buf_free(&b);
        rules_engine_free(back);
        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m);
}

/* The binary form holds what the JSON holds: saved, loaded and dumped, the same text. Every
 * cut of it is refused whole, and any flipped byte is refused or read as some valid state. */
static void test_binary_round_trip(void **state)
{
        RuleSet *rules = NULL;
        Matrix *m = NULL;
        RulesEngine *e = engine_with_state(&rules, &m), *back = NULL;
        char *one = engine_dump(e), *two;
        StateLogBuf b = {0};
        StateLogReader r;

        rules_engine_save(e, &b);
        assert_loads_back(rules, &b, one);
        /* Loaded once more, the state every failed load below must leave as it is. */
        assert_int_equal(rules_engine_new(rules, 0, &back), 0);
        statelog_reader_init(&r, b.data, b.len);
        assert_int_equal(rules_engine_load(back, &r), 0);

        for (size_t cut = 0; cut < b.len; cut++) {
                statelog_reader_init(&r, b.data, cut);
                assert_int_equal(rules_engine_load(back, &r), -EBADMSG);
                two = engine_dump(back);
                assert_string_equal(one, two); /* unchanged */
                free(two);
        }
        for (size_t at = 0; at < b.len; at++) {
                uint8_t keep = b.data[at];
                b.data[at] ^= 0x5a;
                statelog_reader_init(&r, b.data, b.len);
                int k = rules_engine_load(back, &r);
                assert_true(k == 0 || k == -EBADMSG);
                b.data[at] = keep;
        }
        statelog_buf_free(&b);
        free(one);
        rules_engine_free(back);
        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m);
}

/* Mutations of a good state file, each of which must be refused as a whole. */
static const struct {
        const char *path; /* "models/0/history/Hist/0" style; "" is the root */
        const char *json; /* the replacement */
} corruptions[] = {
    {"", "[]"},
    {"version", "2"},
    {"alerts", "{}"},
    {"alerts/0/phase", "\"blazing\""},
    {"providers", "7"},
    {"providers/0/kind", "\"satellite\""},
    {"providers/1/id", "\"aws\""},
    {"sources/0/first_seen", "\"soon\""},
    {"sources/0/name", "null"},
    {"models", "{}"},
    {"models/0/id", "42"},
    {"models/1/id", "\"x/m\""},
    {"models/0/clouds", "[\"nowhere\"]"},
    {"models/0/clouds", "\"aws\""},
    {"models/0/history", "[]"},
    {"models/0/history/Hist", "{}"},
    {"models/0/history/Hist/0", "{\"kind\": \"bogus\", \"value\": 1}"},
    {"models/0/history/Hist/0", "{\"kind\": \"list\", \"elem\": \"bool\", \"value\": [true]}"},
    {"models/0/history/Hist/0", "{\"kind\": \"list\", \"elem\": \"string\", \"value\": [1]}"},
    {"models/0/history/Hist/0", "{\"kind\": \"number\", \"value\": \"1\"}"},
    {"models/0/history/Hist/0", "{\"kind\": \"cell-state\", \"value\": \"maybe\"}"},
    {"models/0/history/Hist/0", "{\"kind\": \"provider-set\", \"value\": [\"mars\"]}"},
    {"models/0/history/Hist/0", "{\"kind\": \"bool\"}"},
    {"models/0/history/Hist/0", "7"},
};

static json_t *json_at(json_t *root, const char *path, char *last, size_t size)
{
        char *copy = xstrdup(path), *save = NULL, *part, *next;
        json_t *at = root;

        part = strtok_r(copy, "/", &save);
        while (part && (next = strtok_r(NULL, "/", &save))) {
                at = json_is_array(at) ? json_array_get(at, strtoul(part, NULL, 10))
                                       : json_object_get(at, part);
                assert_non_null(at);
                part = next;
        }
        snprintf(last, size, "%s", part ? part : "");
        free(copy);
        return at;
}

static void test_corrupt_json_rejected(void **state)
{
        RuleSet *rules = NULL;
        Matrix *m = NULL;
        RulesEngine *e = engine_with_state(&rules, &m);
        char *good = engine_dump(e);

        for (size_t i = 0; i < ELEMENTSOF(corruptions); i++) {
                json_t *j = json_loads(good, 0, NULL), *repl, *parent;
                char last[64], *after;

                assert_non_null(j);
                repl = json_loads(corruptions[i].json, JSON_DECODE_ANY, NULL);
                assert_non_null(repl);
                if (!*corruptions[i].path) {
                        json_decref(j);
                        j = repl;
                } else {
                        parent = json_at(j, corruptions[i].path, last, sizeof(last));
                        if (json_is_array(parent))
                                assert_int_equal(
                                    json_array_set_new(parent, strtoul(last, NULL, 10), repl), 0);
                        else
                                assert_int_equal(json_object_set_new(parent, last, repl), 0);
                }
                if (rules_engine_from_json(e, j) != -EBADMSG)
                        fail_msg("corruption %zu (%s = %s) was accepted", i, corruptions[i].path,
                                 corruptions[i].json);
                after = engine_dump(e);
                assert_string_equal(good, after);
                free(after);
                json_decref(j);
        }
        free(good);
        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m);
}

/* Hand-written state files under tests/data/rules_eval: good ones load, bad ones do not. */
static void test_state_files(void **state)
{
        static const struct {
                const char *file;
                int ret;
                size_t alerts;
        } files[] = {
            {"state-good.json", 0, 1},
            {"state-other-rules.json", 0, 0},
            {"state-bad-duplicate-model.json", -EBADMSG, 0},
            {"state-bad-set-member.json", -EBADMSG, 0},
            /* DEL in an id: JSON leaves it raw, and no state this engine writes has one. */
            {"state-bad-control.json", -EBADMSG, 0},
            {"state-bad-truncated.json", -EBADMSG, 0},
        };
        RuleSet *rules = parse_rules("alert Narrowed { when clouds(available) < "
                                     "previous(clouds(available)) summary \"{lost(clouds)}\" }\n"
                                     "alert Stale on source { when stale_for > 2h }\n");

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char path[512];
                char *text = NULL;
                size_t len = 0;
                json_t *j;
                RulesEngine *e = NULL;
                int r;

                snprintf(path, sizeof(path), "%s/rules_eval/%s", LW_TEST_DATA, files[i].file);
                assert_int_equal(util_read_file(path, 1 << 20, &text, &len), 0);
                j = json_loadb(text, len, 0, NULL);
                assert_int_equal(rules_engine_new(rules, 0, &e), 0);
                r = j ? rules_engine_from_json(e, j) : -EBADMSG;
                if (r != files[i].ret)
                        fail_msg("%s: got %d, expected %d", files[i].file, r, files[i].ret);
                /* Alerts of rules the set no longer has are dropped at load. */
                for (size_t k = 0; k < rules_engine_alerts(e)->n; k++)
                        assert_non_null(
                            rules_set_find(rules, rules_engine_alerts(e)->alerts[k]->rule));
                if (r == 0)
                        assert_int_equal(rules_engine_alerts(e)->n, files[i].alerts);
                json_decref(j);
                free(text);
                rules_engine_free(e);
        }
        rules_set_free(rules);
}

/* The good state file carries a firing Narrowed alert and history: evaluating the same
 * matrix does not re-announce, and narrowing again reports what the file remembered. */
static void test_state_file_continues(void **state)
{
        RuleSet *rules = parse_rules("alert Narrowed { when clouds(available) < "
                                     "previous(clouds(available)) summary \"{lost(clouds)}\" }\n"
                                     "alert Stale on source { when stale_for > 2h }\n");
        char path[512], *text = NULL;
        size_t len = 0;
        RulesEngine *e = NULL;
        Matrix *m = NULL;
        json_t *j;
        Log log = {.show = SHOW_SUMMARY};
        RulesSourceView v[] = {{.name = "never", .status = SOURCE_NEW}};
        uint64_t now = (BASE + HOUR) * USEC_PER_SEC;

        snprintf(path, sizeof(path), "%s/rules_eval/state-good.json", LW_TEST_DATA);
        assert_int_equal(util_read_file(path, 1 << 20, &text, &len), 0);
        j = json_loadb(text, len, 0, NULL);
        assert_non_null(j);
        assert_int_equal(rules_engine_new(rules, 0, &e), 0);
        assert_int_equal(rules_engine_from_json(e, j), 0);
        assert_int_equal(matrix_new(&m), 0);
        apply_cells(&m, "a/m aws", now);
        assert_int_equal(rules_engine_evaluate(e, m, v, 1, now, log_event, &log), 0);
        /* previous was aws+gcp (from the file), now aws: still narrowed, still firing; the
         * source was first seen (per the file) 3h before: stale. */
        assert_string_equal(log.text, "firing Stale never: Stale for never");
        assert_int_equal(alert_table_find(rules_engine_alerts(e), "Narrowed", "a/m")->phase,
                         ALERT_FIRING);
        json_decref(j);
        free(text);
        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m);
}

static void test_set_repeat_interval(void **state)
{
        RuleSet *rules = parse_rules("alert Lonely { when clouds(available) == 1 }\n");
        RulesEngine *e = NULL;
        Matrix *m = NULL;
        Log log = {0};

        assert_int_equal(matrix_new(&m), 0);
        assert_int_equal(rules_engine_new(rules, 0, &e), 0);
        apply_cells(&m, "x/m aws", BASE * USEC_PER_SEC);
        for (uint64_t h = 0; h < 3; h++)
                assert_int_equal(rules_engine_evaluate(e, m, NULL, 0,
                                                       (BASE + h * HOUR) * USEC_PER_SEC, log_event,
                                                       &log),
                                 0);
        assert_string_equal(log.text, "firing Lonely x/m");
        assert_int_equal(rules_engine_set_repeat_interval(e, 2 * USEC_PER_HOUR), 0);
        assert_int_equal(rules_engine_set_repeat_interval(NULL, 0), -EINVAL);
        assert_int_equal(
            rules_engine_evaluate(e, m, NULL, 0, (BASE + 3 * HOUR) * USEC_PER_SEC, log_event, &log),
            0);
        assert_string_equal(log.text, "firing Lonely x/m; repeat Lonely x/m");
        rules_engine_free(e);
        rules_set_free(rules);
        matrix_free(m);
}

static void test_bad_arguments(void **state)
{
        RulesEngine *e = NULL;
        RulesSourceView v[] = {{.name = NULL, .status = SOURCE_OK}};
        json_t *j = NULL;

        assert_int_equal(rules_engine_new(NULL, 0, NULL), -EINVAL);
        assert_int_equal(rules_engine_new(NULL, 0, &e), 0);
        assert_int_equal(rules_engine_evaluate(e, NULL, NULL, 0, 1, NULL, NULL), 0);
        assert_int_equal(rules_engine_evaluate(e, NULL, NULL, 1, 1, NULL, NULL), -EINVAL);
        assert_int_equal(rules_engine_evaluate(e, NULL, v, 1, 1, NULL, NULL), -EINVAL);
        assert_int_equal(
            rules_engine_evaluate(e, NULL, v, RULES_EVAL_MAX_SOURCES + 1, 1, NULL, NULL), -E2BIG);
        assert_int_equal(rules_engine_from_json(e, NULL), -EINVAL);
        assert_int_equal(rules_engine_to_json(e, &j), 0);
        assert_int_equal(rules_engine_from_json(e, j), 0);
        json_decref(j);
        rules_engine_free(e);
        rules_engine_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cases),
            cmocka_unit_test(test_cases_with_restart),
            cmocka_unit_test(test_set_rules),
            cmocka_unit_test(test_json_round_trip_is_stable),
            cmocka_unit_test(test_binary_round_trip),
            cmocka_unit_test(test_previous_clouds_past_64),
            cmocka_unit_test(test_corrupt_json_rejected),
            cmocka_unit_test(test_state_files),
            cmocka_unit_test(test_state_file_continues),
            cmocka_unit_test(test_set_repeat_interval),
            cmocka_unit_test(test_bad_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
