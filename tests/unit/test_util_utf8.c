/* The UTF-8 helpers every boundary uses (daemon/util.c): what is valid, what a repair
 * makes of each kind of bad byte, and a byte-counting truncation mended; and the
 * in-memory hash every table uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

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
/* Every length up to 24, so the last bytes of a text are tested both alone and as the last
 * eight (the fast path's overlapping read). */
static void test_every_byte_at_every_position(void **unused)
{
        (void)unused;
        for (size_t len = 1; len <= 24; len++)
                for (unsigned b = 1; b < 256; b++)
                        for (size_t at = 0; at < len; at++) {
                                char t[25];
                                memset(t, 'a', len);
                                t[len] = '\0';
                                t[at] = (char)b;
                                bool want = b >= 0x20 && b < 0x7f;
                                assert_int_equal(util_utf8_valid(t, len), want);
                        }
        for (size_t len = 2; len <= 24; len++)
                for (size_t at = 0; at + 1 < len; at++) {
                        char t[25];
                        memset(t, 'a', len);
                        t[len] = '\0';
                        t[at] = (char)0xc3;
                        t[at + 1] = (char)0xa9;
                        assert_true(util_utf8_valid(t, len));
                        t[at + 1] = 'a';
                        assert_false(util_utf8_valid(t, len));
                }
}

/* util_hash64() against the byte-at-a-time definition of its last step, at every length and
 * alignment up to 40 bytes, continued from another hash. */
static uint64_t hash_reference(uint64_t h, const unsigned char *p, size_t len)
{
        const uint64_t mul = UINT64_C(0x9e3779b97f4a7c15);
        uint64_t k;

        for (; len >= 8; p += 8, len -= 8) {
                k = 0;
                for (size_t i = 0; i < 8; i++)
                        k |= (uint64_t)p[i] << (8 * i);
                h = (h ^ k) * mul;
                h ^= h >> 29;
        }
        k = (uint64_t)len << 56;
        for (size_t i = 0; i < len; i++)
                k |= (uint64_t)p[i] << (8 * i);
        h = (h ^ k) * mul;
        h ^= h >> 33;
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 33;
        return h;
}

static void test_hash_every_length(void **unused)
{
        unsigned char buf[64];

        (void)unused;
        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (unsigned char)(i * 37 + 11);
        for (size_t off = 0; off < 8; off++)
                for (size_t len = 0; len <= 40; len++) {
                        uint64_t want = hash_reference(UTIL_FNV_INIT, buf + off, len);
                        assert_true(util_hash64(UTIL_FNV_INIT, buf + off, len) == want);
                        assert_true(util_hash64(want, buf + off, len) ==
                                    hash_reference(want, buf + off, len));
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
            cmocka_unit_test(test_hash_every_length),
            cmocka_unit_test(test_dup_cap),
            cmocka_unit_test(test_fix_truncated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
