/* Small helpers shared by every module: ownership macros, allocation that
 * aborts on exhaustion, string and time utilities. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_     __attribute__((noreturn))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

/* Hand ownership out of a _cleanup_ variable: the variable becomes NULL. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _tp = (p);                                                           \
                (p) = NULL;                                                                        \
                _tp;                                                                               \
        })

/* Define a cleanup function `name_freep(T **p)` that calls `name_free(*p)`. */
#define DEFINE_FREEP(T, func)                                                                      \
        static inline void func##p(T **p)                                                          \
        {                                                                                          \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_MIN  (UINT64_C(60) * USEC_PER_SEC)
#define USEC_PER_HOUR (UINT64_C(60) * USEC_PER_MIN)
#define USEC_PER_DAY  (UINT64_C(24) * USEC_PER_HOUR)
#define USEC_INFINITY UINT64_MAX

/* Print a message and abort: internal allocation failure is not recoverable. */
_noreturn_ void util_oom(void);

/* malloc() that aborts on failure. */
void *xmalloc(size_t n);
/* calloc() that aborts on failure, and on multiplication overflow. */
void *xcalloc(size_t n, size_t size);
/* realloc() of n elements of size bytes that aborts on failure or overflow. */
void *xreallocarray(void *p, size_t n, size_t size);
/* strdup() that aborts on failure; NULL in gives NULL out. */
char *xstrdup(const char *s);
/* strndup() that aborts on failure. */
char *xstrndup(const char *s, size_t n);
/* asprintf() that aborts on failure and returns the new string. */
char *xasprintf(const char *fmt, ...) _printf_(1, 2);

/* Free *p; for _cleanup_(freep). */
static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Grow *array (of *cap elements of size bytes) so it holds at least need elements. */
void util_grow(void **array, size_t *cap, size_t need, size_t size);

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

/* Return the text after prefix if s starts with it, or NULL. */
const char *startswith(const char *s, const char *prefix);
/* Case-insensitive startswith(). */
const char *startswith_no_case(const char *s, const char *prefix);
/* True if s ends with suffix. */
bool endswith(const char *s, const char *suffix);

/* Parse a duration such as "90s", "15m", "6h", "2d", "500ms" (a bare number is seconds). */
int util_parse_duration(const char *s, uint64_t *ret_usec);
/* Format a duration compactly ("1h30m", "250ms") into buf. */
const char *util_format_duration(char *buf, size_t size, uint64_t usec);
/* Parse a size such as "32M", "512K", "1G", "4096" (binary multiples). */
int util_parse_size(const char *s, uint64_t *ret_bytes);
/* Parse an unsigned decimal integer with overflow check. */
int util_parse_uint(const char *s, uint64_t *ret);

/* CLOCK_MONOTONIC in microseconds (daemon modules only: pure modules take time as input). */
uint64_t util_now_mono(void);
/* CLOCK_REALTIME in microseconds (daemon modules only). */
uint64_t util_now_real(void);

/* 64-bit FNV-1a over len bytes, continuing from h (start with UTIL_FNV_INIT). */
uint64_t util_fnv1a(uint64_t h, const void *data, size_t len);
#define UTIL_FNV_INIT UINT64_C(0xcbf29ce484222325)
/* A 64-bit hash of len bytes continuing from h, eight bytes a step: for tables and digests
 * kept in memory only (FNV-1a, a byte a step, for anything written down). */
uint64_t util_hash64(uint64_t h, const void *data, size_t len);

/* Read a whole file into a NUL-terminated buffer, refusing files over max bytes. */
int util_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write data to path atomically: temp file, fsync, rename, fsync of the directory. */
int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Tune malloc for the daemon's pattern: a burst of parse garbage per poll, then an
 * explicit malloc_trim() at a quiet point instead of trimming inside free(), and no
 * fastbins, whose consolidation after a freed tree costs more than it saves. */
void util_memory_setup(void);
/* Give freed memory back to the system (after a poll, a save). */
void util_memory_release(void);

/* Length of the UTF-8 sequence at s (at most left bytes), or 0 if it is not one jansson
 * accepts: no overlong forms, no surrogates, nothing past U+10FFFF. */
size_t util_utf8_char_len(const unsigned char *s, size_t left);
/* True for the control characters stored text never holds (C0 and DEL). */
bool util_is_control(unsigned char c);
/* True if len bytes at s are valid UTF-8 as jansson accepts it (no overlong forms,
 * surrogates or code points past U+10FFFF) and hold no control character. */
bool util_utf8_valid(const char *s, size_t len);
/* Make s valid UTF-8 in place: each invalid byte and control character becomes '?'.
 * Returns true if anything was replaced. NULL is fine. */
bool util_utf8_clean(char *s);
/* A copy of s (NULL gives NULL) cleaned as util_utf8_clean() does, cut at max bytes on a
 * character boundary. */
char *util_utf8_dup(const char *s, size_t max);
/* Cut s in place to valid UTF-8 at its end: drop a trailing incomplete sequence (left
 * by a byte-counting truncation such as snprintf's), then clean the rest. */
void util_utf8_fix_truncated(char *s);
struct sockaddr_storage;
/* Parse "IPV4:PORT" or "[IPV6]:PORT" (literal addresses, port 1-65535) into a socket
 * address; NULL outputs are skipped. */
int util_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);
/* Encode len bytes as base64 (RFC 4648, padded) into a new string. */
char *util_base64(const void *data, size_t len);

/* Levenshtein distance between a and b, capped at cap (for "did you mean" hints). */
unsigned util_edit_distance(const char *a, const char *b, unsigned cap);
/* Whether url's host is a loopback address (127.0.0.0/8, [::1], localhost). */
bool util_url_is_loopback(const char *url);
