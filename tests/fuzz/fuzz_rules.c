/* libFuzzer target: the rule parser on arbitrary bytes, into a fresh set, twice (the second
 * parse must collide with the first on every alert name) and freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lockwatch/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        RuleSet *s = NULL;
        RulesError err;
        char buf[512];

        if (rules_set_new(&s) < 0)
                abort();
        int r = rules_parse(s, "fuzz.rules", (const char *)data, size, &err);
        if (r < 0) {
                /* a failed file adds nothing and always says where */
                if (s->n_rules != 0 || err.line == 0 || err.col == 0 ||
                    strncmp(err.message, "fuzz.rules:", 11) != 0 ||
                    strnlen(err.message, sizeof(err.message)) >= sizeof(err.message))
                        abort();
        } else {
                size_t n = s->n_rules;
                for (size_t i = 0; i < n; i++) {
                        const Rule *rule = s->rules[i];
                        if (!rule->when || rule->when->kind != RULES_KIND_BOOL)
                                abort();
                        (void)rules_expr_format(rule->when, buf, sizeof(buf));
                        (void)rules_template_format(rule->summary, buf, sizeof(buf));
                }
                r = rules_parse(s, "again.rules", (const char *)data, size, &err);
                if ((n > 0 && r >= 0) || s->n_rules != n)
                        abort();
        }
        rules_set_free(s);
        return 0;
}
