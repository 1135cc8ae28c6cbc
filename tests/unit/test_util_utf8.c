/* The UTF-8 helpers every boundary uses (daemon/util.c): what is valid, what a repair
 * makes of each kind of bad byte, and a byte-counting truncation mended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "lockwatch/util.h"

static const struct {
        const char *in;
        const char *clean;
} cases[] = {
    {"plain ascii", "plain ascii"},
    {"caf\xc3\xa9", "caf\xc3\xa9"},      /* valid two-byte */
    {"Caf\xe9 Model 9", "Caf? Model 9"}, /* latin-1 byte */
    {"\xc0\xaf", "??"},                  /* overlong '/' */
    {"\xed\xa0\x80", "???"},             /* a surrogate */
    {"\xf4\x90\x80\x80", "????"},        /* past U+10FFFF */
    {"\xe2\x82", "??"},                  /* cut three-byte */
    {"a\x01"
     "b\x7f"
     "c\n",
     "a?b?c?"},                                     /* control characters */
    {"\xf0\x9f\x98\x80 ok", "\xf0\x9f\x98\x80 ok"}, /* four-byte */
    {"\x80\xbf", "??"},                             /* stray continuations */
    {"\xff\xfe", "??"},
};

static void test_valid_and_clean(void **unused)
{
        (void)unused;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char buf[64];
                bool same = strcmp(cases[i].in, cases[i].clean) == 0;

                assert_int_equal(util_utf8_valid(cases[i].in, strlen(cases[i].in)), same);
                snprintf(buf, sizeof(buf), "%s", cases[i].in);
                assert_int_equal(util_utf8_clean(buf), !same);
                assert_string_equal(buf, cases[i].clean);
                assert_true(util_utf8_valid(buf, strlen(buf)));

                _cleanup_free_ char *dup = util_utf8_dup(cases[i].in, SIZE_MAX);
                assert_string_equal(dup, cases[i].clean);
        }
        assert_null(util_utf8_dup(NULL, 10));
        assert_false(util_utf8_clean(NULL));
}

/* Eight bytes at a time while all are printable ASCII: every byte value at every position
 * of a 24-byte text gives what the byte alone would, and a two-byte character at every
 * position is still whole. */
static void test_every_byte_at_every_position(void **unused)
{
        (void)unused;
        for (unsigned b = 1; b < 256; b++)
                for (size_t at = 0; at < 24; at++) {
                        char t[25];
                        memset(t, 'a', 24);
                        t[24] = '\0';
                        t[at] = (char)b;
                        bool want = b >= 0x20 && b < 0x7f;
                        assert_int_equal(util_utf8_valid(t, 24), want);
                }
        for (size_t at = 0; at < 23; at++) {
                char t[25];
                memset(t, 'a', 24);
                t[24] = '\0';
                t[at] = (char)0xc3;
                t[at + 1] = (char)0xa9;
                assert_true(util_utf8_valid(t, 24));
                t[at + 1] = 'a';
                assert_false(util_utf8_valid(t, 24));
        }
}

static void test_dup_cap(void **unused)
{
        (void)unused;
        _cleanup_free_ char *a = util_utf8_dup("abcdef", 3);
        assert_string_equal(a, "abc");
        /* Cut inside the two-byte character: its lead byte alone is repaired. */
        _cleanup_free_ char *b = util_utf8_dup("ab\xc3\xa9", 3);
        assert_string_equal(b, "ab?");
}

static void test_fix_truncated(void **unused)
{
        static const struct {
                const char *in, *out;
        } t[] = {
            {"abc\xc3", "abc"},             /* lead byte left alone at the end */
            {"abc\xe2\x82", "abc"},         /* two of three */
            {"abc\xf0\x9f\x98", "abc"},     /* three of four */
            {"abc\xc3\xa9", "abc\xc3\xa9"}, /* complete: kept */
            {"x\xe9y\xc3", "x?y"},          /* bad inside, cut at the end */
            {"abc\xa9", "abc?"},            /* a stray continuation is not a cut */
            {"", ""},
        };
        (void)unused;
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%s", t[i].in);
                util_utf8_fix_truncated(buf);
                assert_string_equal(buf, t[i].out);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid_and_clean),
            cmocka_unit_test(test_every_byte_at_every_position),
            cmocka_unit_test(test_dup_cap),
            cmocka_unit_test(test_fix_truncated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
