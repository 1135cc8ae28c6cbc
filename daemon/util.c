#include "lockwatch/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <ctype.h>
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void util_oom(void)
{
        static const char msg[] = "lockwatch: out of memory, aborting\n";
        /* write(2) rather than stdio: stdio may itself need memory. */
        ssize_t _unused_ w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        abort();
}

void *xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p)
                util_oom();
        return p;
}

void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                util_oom();
        return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
        if (size && n > SIZE_MAX / size)
                util_oom();
        size_t bytes = n * size;
        p = realloc(p, bytes ? bytes : 1);
        if (!p)
                util_oom();
        return p;
}

char *xstrdup(const char *s)
{
        if (!s)
                return NULL;
        char *p = strdup(s);
        if (!p)
                util_oom();
        return p;
}

char *xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                util_oom();
        return p;
}

char *xasprintf(const char *fmt, ...)
{
        va_list ap;
        char *s;

        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                util_oom();
        return s;
}

void util_grow(void **array, size_t *cap, size_t need, size_t size)
{
        if (need <= *cap)
                return;
        size_t n = *cap ? *cap : 8;
        while (n < need) {
                if (n > SIZE_MAX / 2)
                        util_oom();
                n *= 2;
        }
        *array = xreallocarray(*array, n, size);
        *cap = n;
}

const char *startswith(const char *s, const char *prefix)
{
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

const char *startswith_no_case(const char *s, const char *prefix)
{
        size_t l = strlen(prefix);
        return strncasecmp(s, prefix, l) == 0 ? s + l : NULL;
}

bool endswith(const char *s, const char *suffix)
{
        size_t ls = strlen(s), lx = strlen(suffix);
        return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

size_t util_utf8_char_len(const unsigned char *s, size_t left)
{
        unsigned char c = s[0];
        uint32_t cp;
        size_t n;

        if (c < 0x80)
                return 1;
        if (c < 0xc2 || c > 0xf4)
                return 0;
        n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (n > left)
                return 0;
        cp = c & (0xff >> (n + 1));
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

bool util_is_control(unsigned char c)
{
        return c < 0x20 || c == 0x7f;
}

bool util_utf8_valid(const char *s, size_t len)
{
        for (size_t i = 0; i < len;) {
                unsigned char c = (unsigned char)s[i];
                /* Printable ASCII, nearly every byte of every id: eight at a time while no
                 * byte has its top bit set, is below 0x20, or is 0x7f (adding 1 carries
                 * into the top bit). */
                const uint64_t ones = UINT64_C(0x0101010101010101);
                const uint64_t high = UINT64_C(0x8080808080808080);
                uint64_t w;
                if (len - i >= 8) {
                        memcpy(&w, s + i, 8);
                        if (((w | (w - 0x20 * ones) | (w + ones)) & high) == 0) {
                                i += 8;
                                continue;
                        }
                } else if (len >= 8) {
                        /* The last few bytes as the last eight, some of them seen already:
                         * one test rather than one per byte. */
                        memcpy(&w, s + len - 8, 8);
                        if (((w | (w - 0x20 * ones) | (w + ones)) & high) == 0)
                                return true;
                }
                if (c >= 0x20 && c < 0x7f) {
                        i++;
                        continue;
                }
                size_t n = util_utf8_char_len((const unsigned char *)s + i, len - i);
                if (n == 0 || util_is_control((unsigned char)s[i]))
                        return false;
                i += n;
        }
        return true;
}

bool util_utf8_clean(char *s)
{
        bool changed = false;
        size_t len;

        if (!s)
                return false;
        len = strlen(s);
        for (size_t i = 0; i < len;) {
                size_t n = util_utf8_char_len((const unsigned char *)s + i, len - i);
                if (n == 0 || util_is_control((unsigned char)s[i])) {
                        s[i++] = '?';
                        changed = true;
                        continue;
                }
                i += n;
        }
        return changed;
}

char *util_utf8_dup(const char *s, size_t max)
{
        size_t len, o = 0;
        char *out;

        if (!s)
                return NULL;
        len = strnlen(s, max);
        out = xmalloc(len + 1);
        for (size_t i = 0; i < len;) {
                size_t n = util_utf8_char_len((const unsigned char *)s + i, len - i);
                if (n == 0 || util_is_control((unsigned char)s[i])) {
                        out[o++] = '?';
                        i++;
                        continue;
                }
                memcpy(out + o, s + i, n);
                o += n;
                i += n;
        }
        out[o] = '\0';
        return out;
}

void util_utf8_fix_truncated(char *s)
{
        size_t len, start;

        if (!s)
                return;
        len = strlen(s);
        /* A sequence is at most 4 bytes: look back at most 3 for its lead byte. */
        start = len;
        for (size_t k = 0; k < 3 && start > 0; k++) {
                unsigned char c = (unsigned char)s[start - 1];
                if ((c & 0xc0) != 0x80) {
                        if (c >= 0xc0)
                                start--;
                        break;
                }
                start--;
        }
        if (start < len && util_utf8_char_len((const unsigned char *)s + start, len - start) == 0 &&
            (unsigned char)s[start] >= 0xc2)
                s[start] = '\0';
        (void)util_utf8_clean(s);
}

int util_parse_uint(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        for (; isdigit((unsigned char)*s); s++) {
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (*s)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Parse "<digits><unit>" pairs; a unit table maps suffixes to multipliers. */
struct unit {
        const char *suffix;
        uint64_t mult;
};

static int parse_with_units(const char *s, const struct unit *units, size_t n_units,
                            uint64_t bare_mult, bool allow_compound, uint64_t *ret)
{
        uint64_t total = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        while (*s) {
                uint64_t v = 0;
                if (!isdigit((unsigned char)*s))
                        return -EINVAL;
                for (; isdigit((unsigned char)*s); s++) {
                        unsigned d = (unsigned)(*s - '0');
                        if (v > (UINT64_MAX - d) / 10)
                                return -ERANGE;
                        v = v * 10 + d;
                }
                uint64_t mult = 0;
                size_t best = 0;
                for (size_t i = 0; i < n_units; i++) {
                        size_t l = strlen(units[i].suffix);
                        if (l > best && strncmp(s, units[i].suffix, l) == 0 &&
                            !isalpha((unsigned char)s[l])) {
                                best = l;
                                mult = units[i].mult;
                        }
                }
                if (best == 0) {
                        if (*s != '\0' || any)
                                return -EINVAL;
                        mult = bare_mult;
                }
                s += best;
                if (v && mult > UINT64_MAX / v)
                        return -ERANGE;
                if (total > UINT64_MAX - v * mult)
                        return -ERANGE;
                total += v * mult;
                any = true;
                if (!allow_compound && *s)
                        return -EINVAL;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

int util_parse_duration(const char *s, uint64_t *ret_usec)
{
        static const struct unit units[] = {
            {"us", 1},
            {"ms", USEC_PER_MSEC},
            {"s", USEC_PER_SEC},
            {"m", USEC_PER_MIN},
            {"h", USEC_PER_HOUR},
            {"d", USEC_PER_DAY},
            {"w", 7 * USEC_PER_DAY},
            {"y", 365 * USEC_PER_DAY},
        };
        return parse_with_units(s, units, ELEMENTSOF(units), USEC_PER_SEC, true, ret_usec);
}

const char *util_format_duration(char *buf, size_t size, uint64_t usec)
{
        static const struct unit units[] = {
            {"d", USEC_PER_DAY}, {"h", USEC_PER_HOUR},  {"m", USEC_PER_MIN},
            {"s", USEC_PER_SEC}, {"ms", USEC_PER_MSEC}, {"us", 1},
        };
        size_t off = 0;

        if (size == 0)
                return buf;
        buf[0] = '\0';
        if (usec == USEC_INFINITY) {
                snprintf(buf, size, "infinity");
                return buf;
        }
        if (usec == 0) {
                snprintf(buf, size, "0s");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units) && usec > 0 && off < size; i++) {
                uint64_t q = usec / units[i].mult;
                if (q == 0)
                        continue;
                int n = snprintf(buf + off, size - off, "%llu%s", (unsigned long long)q,
                                 units[i].suffix);
                if (n < 0)
                        break;
                off += (size_t)n;
                usec -= q * units[i].mult;
        }
        return buf;
}

int util_parse_size(const char *s, uint64_t *ret_bytes)
{
        static const struct unit units[] = {
            {"B", 1},
            {"K", UINT64_C(1) << 10},
            {"M", UINT64_C(1) << 20},
            {"G", UINT64_C(1) << 30},
            {"KiB", UINT64_C(1) << 10},
            {"MiB", UINT64_C(1) << 20},
            {"GiB", UINT64_C(1) << 30},
        };
        return parse_with_units(s, units, ELEMENTSOF(units), 1, false, ret_bytes);
}

static uint64_t now(clockid_t id)
{
        struct timespec ts;
        clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t util_now_mono(void)
{
        return now(CLOCK_MONOTONIC);
}

uint64_t util_now_real(void)
{
        return now(CLOCK_REALTIME);
}

uint64_t util_fnv1a(uint64_t h, const void *data, size_t len)
{
        const unsigned char *p = data;
        for (size_t i = 0; i < len; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

uint64_t util_hash64(uint64_t h, const void *data, size_t len)
{
        const unsigned char *p = data;
        const uint64_t mul = UINT64_C(0x9e3779b97f4a7c15);
        bool long_enough = len >= 8;
        uint64_t k;

        for (; len >= 8; p += 8, len -= 8) {
                memcpy(&k, p, 8);
                h = (h ^ k) * mul;
                h ^= h >> 29;
        }
        if (long_enough && len > 0) {
                /* The last len bytes as the top of the last eight: the same value the
                 * loop below makes, in one load. */
                memcpy(&k, p + len - 8, 8);
                k = le64toh(k) >> (8 * (8 - len)) | (uint64_t)len << 56;
        } else {
                k = (uint64_t)len << 56;
                for (size_t i = 0; i < len; i++)
                        k |= (uint64_t)p[i] << (8 * i);
        }
        h = (h ^ k) * mul;
        /* The finalizer of MurmurHash3: every bit of h reaches the low bits a table uses. */
        h ^= h >> 33;
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 33;
        return h;
}

int util_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        size_t cap = 0, len = 0;
        char *buf = NULL;
        for (;;) {
                util_grow((void **)&buf, &cap, len + 65536 + 1, 1);
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        free(buf);
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max) {
                        free(buf);
                        close(fd);
                        return -EFBIG;
                }
        }
        close(fd);
        buf[len] = '\0';
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
        _cleanup_free_ char *tmp = xasprintf("%s.tmpXXXXXX", path);
        _cleanup_free_ char *dir = xstrdup(path);
        int r;

        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        const char *p = data;
        size_t left = len;
        while (left > 0) {
                ssize_t n = write(fd, p, left);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                p += n;
                left -= (size_t)n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (close(fd) < 0) {
                fd = -1;
                r = -errno;
                goto fail;
        }
        fd = -1;
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }

        /* The rename is durable only once the directory entry is on disk. */
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';
        else
                strcpy(dir, ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
        }
        return 0;

fail:
        if (fd >= 0)
                close(fd);
        unlink(tmp);
        return r;
}

unsigned util_edit_distance(const char *a, const char *b, unsigned cap)
{
        size_t la = strlen(a), lb = strlen(b);
        if (la > 64 || lb > 64)
                return cap;
        unsigned row[65];
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned)j;
        for (size_t i = 1; i <= la; i++) {
                unsigned prev = row[0];
                row[0] = (unsigned)i;
                unsigned best = row[0];
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cur = row[j];
                        unsigned cost =
                            tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
                                ? 0
                                : 1;
                        unsigned v = prev + cost;
                        if (row[j] + 1 < v)
                                v = row[j] + 1;
                        if (row[j - 1] + 1 < v)
                                v = row[j - 1] + 1;
                        row[j] = v;
                        prev = cur;
                        if (v < best)
                                best = v;
                }
                if (best >= cap)
                        return cap;
        }
        return MIN(row[lb], cap);
}

void util_memory_setup(void)
{
        /* Freeing a parse tree of tens of MiB made glibc trim the heap again and again
         * inside free(): a third of an ingest went to brk(). The daemon trims once,
         * after each poll, instead. */
        (void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
        /* Setting the trim threshold also stops glibc from raising the mmap threshold each
         * time a mapped chunk is freed (up to 32 MiB). Named here so it stays at 128 KiB: a
         * response body or reply buffer that big is mapped on its own and unmapped when
         * freed, instead of staying in the heap until the next trim. */
        (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        /* The only other threads are curl's resolver's, one per name lookup. Each arena
         * they got was kept for the daemon's lifetime (a 132 KiB heap, 16 KiB of it resident
         * after the lookups of a poll of the real captures over HTTP); they share the main
         * one instead: a lookup makes few allocations. */
        (void)mallopt(M_ARENA_MAX, 1);
        /* Without fastbins a freed parse tree goes back through tcache and the ordinary
         * bins; with them, the next large request walks and merges a million parked chunks
         * (malloc_consolidate was a quarter of an ingest of models.dev). */
        (void)mallopt(M_MXFAST, 0);
}

void util_memory_release(void)
{
        (void)malloc_trim(0);
}

int util_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len)
{
        struct sockaddr_storage ss = {0};
        unsigned len;
        char host[INET6_ADDRSTRLEN + 1];
        const char *port;
        uint64_t p;

        if (!s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, (size_t)(close - s - 1));
                host[close - s - 1] = '\0';
                port = close + 2;
        } else {
                const char *colon = strrchr(s, ':');
                if (!colon || (size_t)(colon - s) >= sizeof(host) || memchr(s, ':', (size_t)(colon - s)))
                        return -EINVAL;
                memcpy(host, s, (size_t)(colon - s));
                host[colon - s] = '\0';
                port = colon + 1;
        }
        if (util_parse_uint(port, &p) < 0 || p < 1 || p > 65535)
                return -EINVAL;
        if (s[0] == '[') {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t)p);
                if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
                        return -EINVAL;
                len = sizeof(*a);
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t)p);
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                len = sizeof(*a);
        }
        if (ret)
                *ret = ss;
        if (ret_len)
                *ret_len = len;
        return 0;
}

char *util_base64(const void *data, size_t len)
{
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *d = data;
        char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;

        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t)d[i] << 16;
                if (i + 1 < len)
                        v |= (uint32_t)d[i + 1] << 8;
                if (i + 2 < len)
                        v |= d[i + 2];
                *o++ = tab[(v >> 18) & 63];
                *o++ = tab[(v >> 12) & 63];
                *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
                *o++ = i + 2 < len ? tab[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

bool util_url_is_loopback(const char *url)
{
        const char *h = strstr(url, "://");
        size_t n;

        if (!h)
                return false;
        h += 3;
        n = strcspn(h, "/?#");
        /* userinfo@ before the host would make any check here a guess: refuse it. */
        if (memchr(h, '@', n))
                return false;
        if (startswith(h, "[::1]"))
                return n == 5 || h[5] == ':';
        size_t hn = strcspn(h, ":/?#");
        if (hn == 9 && strncasecmp(h, "localhost", 9) == 0)
                return true;
        return hn > 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") >= hn;
}
