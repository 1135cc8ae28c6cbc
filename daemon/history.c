#include "lockwatch/history.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lockwatch/statelog.h"

#define SEGMENT_SUFFIX   ".seg"
#define INDEX_SUFFIX     ".idx"
#define INDEX_MAX_BYTES  (8u * 1024u * 1024u)
#define READER_BUFFER    (2u * HISTORY_MAX_RECORD)
#define RECORD_HEAD      9u /* "CCCCCCCC " */
#define QUIET_NOTE       " (not announced)"
#define CHECKPOINT_NAME  "open.ckpt"
#define CHECKPOINT_MAGIC "lockwatch-history-open/1"
#define CHECKPOINT_MIN   (64u * 1024u) /* bytes of records left to read that make one worth it */
#define CHECKPOINT_TAIL  4096u         /* bytes before its offset whose checksum it keeps */
#define CHECKPOINT_MAX   (512u * 1024u * 1024u)

/* ---- records ----------------------------------------------------------------------------- */

/* CRC-32 (IEEE 802.3, reflected): enough to tell a torn or flipped record from a whole one. */
static uint32_t crc_table[256];

static void crc_init(void)
{
        if (crc_table[1])
                return;
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
                crc_table[i] = c;
        }
}

static uint32_t crc32_of(const char *p, size_t len)
{
        uint32_t c = 0xffffffffu;

        crc_init();
        for (size_t i = 0; i < len; i++)
                c = crc_table[(c ^ (unsigned char)p[i]) & 0xff] ^ (c >> 8);
        return c ^ 0xffffffffu;
}

static const char *const kind_names[] = {"cell", "alert", "source", "unmapped", "snapshot"};

static const char *kind_known(const char *k)
{
        for (size_t i = 0; k && i < ELEMENTSOF(kind_names); i++)
                if (streq(k, kind_names[i]))
                        return kind_names[i];
        return NULL;
}

static void record_set(json_t *o, const char *key, const char *v)
{
        if (!v)
                return;
        /* Texts come from remote parties: the file holds UTF-8 without control characters,
         * each field cut to a bound, so a record always fits HISTORY_MAX_RECORD. */
        _cleanup_free_ char *clean = NULL;
        if (strlen(v) > HISTORY_MAX_TEXT || !util_utf8_valid(v, strlen(v)))
                v = clean = util_utf8_dup(v, HISTORY_MAX_TEXT);
        if (json_object_set_new(o, key, json_string(v)) < 0)
                util_oom();
}

int history_record_format(const HistoryEvent *ev, char **ret, size_t *ret_len)
{
        const char *kind = kind_known(ev->kind);
        json_t *o;

        if (!kind)
                return -EINVAL;
        o = json_object();
        if (!o)
                util_oom();
        record_set(o, "kind", kind);
        record_set(o, "rule", ev->rule);
        record_set(o, "model", ev->model);
        record_set(o, "provider", ev->provider);
        record_set(o, "source", ev->source);
        record_set(o, "state", ev->state);
        record_set(o, "previous_state", ev->previous_state);
        record_set(o, "message", ev->message);
        if (ev->quiet && json_object_set_new(o, "quiet", json_true()) < 0)
                util_oom();
        if (ev->since &&
            json_object_set_new(o, "since",
                                json_integer((json_int_t)MIN(ev->since, (uint64_t)INT64_MAX))) < 0)
                util_oom();
        _cleanup_free_ char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!body)
                util_oom();
        _cleanup_free_ char *payload = xasprintf("%" PRIu64 " %s", ev->time, body);
        size_t plen = strlen(payload);
        if (RECORD_HEAD + plen + 1 > HISTORY_MAX_RECORD)
                return -EMSGSIZE;
        char *line = xasprintf("%08" PRIx32 " %s\n", crc32_of(payload, plen), payload);
        *ret_len = RECORD_HEAD + plen + 1;
        *ret = line;
        return 0;
}

/* The time in a record's head, without checking the rest: for skipping records a query
 * cannot want before paying for the checksum and the JSON. */
static bool record_time(const char *line, size_t len, uint64_t *ret)
{
        uint64_t t = 0;
        size_t i = RECORD_HEAD, start = i;

        for (; i < len && i < start + 20 && line[i] >= '0' && line[i] <= '9'; i++)
                t = t * 10 + (uint64_t)(line[i] - '0');
        if (i == start || i >= len || line[i] != ' ')
                return false;
        *ret = t;
        return true;
}

/* A record's JSON object, read by hand: jansson built and freed a tree for every record,
 * nine tenths of what opening the store cost at 10,000 models (docs/decisions.md). It
 * accepts what json_loadb() with JSON_REJECT_DUPLICATES accepts for a flat object of
 * strings, booleans and integers, and passes over any other member (a later version's). */
typedef struct RecordReader {
        const char *p, *end;
        char *out; /* unescaped texts, NUL-terminated, one after another */
} RecordReader;

static void rr_space(RecordReader *x)
{
        while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\r' || *x->p == '\n'))
                x->p++;
}

static int rr_hex4(RecordReader *x, unsigned *ret)
{
        unsigned v = 0;

        if (x->end - x->p < 4)
                return -EBADMSG;
        for (int i = 0; i < 4; i++) {
                char c = *x->p++;
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (unsigned)d;
        }
        *ret = v;
        return 0;
}

static bool rr_utf8(const char *s, size_t len)
{
        for (size_t i = 0, n; i < len; i += n)
                if (!(n = util_utf8_char_len((const unsigned char *)s + i, len - i)))
                        return false;
        return true;
}

/* A string at x->p (its opening quote), unescaped into x->out: *ret points at it. A text
 * of the record (strict) is also free of control characters, as the writer leaves it. */
static int rr_string(RecordReader *x, const char **ret, bool strict)
{
        char *start = x->out, *o = x->out;

        if (x->p >= x->end || *x->p != '"')
                return -EBADMSG;
        x->p++;
        for (;;) {
                if (x->p >= x->end)
                        return -EBADMSG;
                unsigned char c = (unsigned char)*x->p++;
                if (c == '"')
                        break;
                if (c < 0x20)
                        return -EBADMSG;
                if (c != '\\') {
                        *o++ = (char)c;
                        continue;
                }
                if (x->p >= x->end)
                        return -EBADMSG;
                c = (unsigned char)*x->p++;
                switch (c) {
                case '"':
                case '\\':
                case '/':
                        *o++ = (char)c;
                        break;
                case 'b':
                        *o++ = '\b';
                        break;
                case 'f':
                        *o++ = '\f';
                        break;
                case 'n':
                        *o++ = '\n';
                        break;
                case 'r':
                        *o++ = '\r';
                        break;
                case 't':
                        *o++ = '\t';
                        break;
                case 'u': {
                        unsigned u, lo;
                        if (rr_hex4(x, &u) < 0 || u == 0 || (u >= 0xdc00 && u <= 0xdfff))
                                return -EBADMSG;
                        if (u >= 0xd800 && u <= 0xdbff) {
                                if (x->end - x->p < 6 || x->p[0] != '\\' || x->p[1] != 'u')
                                        return -EBADMSG;
                                x->p += 2;
                                if (rr_hex4(x, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                                        return -EBADMSG;
                                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                        }
                        /* Never longer than the escape it came from (6 or 12 bytes). */
                        if (u < 0x80) {
                                *o++ = (char)u;
                        } else if (u < 0x800) {
                                *o++ = (char)(0xc0 | u >> 6);
                                *o++ = (char)(0x80 | (u & 0x3f));
                        } else if (u < 0x10000) {
                                *o++ = (char)(0xe0 | u >> 12);
                                *o++ = (char)(0x80 | (u >> 6 & 0x3f));
                                *o++ = (char)(0x80 | (u & 0x3f));
                        } else {
                                *o++ = (char)(0xf0 | u >> 18);
                                *o++ = (char)(0x80 | (u >> 12 & 0x3f));
                                *o++ = (char)(0x80 | (u >> 6 & 0x3f));
                                *o++ = (char)(0x80 | (u & 0x3f));
                        }
                        break;
                }
                default:
                        return -EBADMSG;
                }
        }
        if (!(strict ? util_utf8_valid : rr_utf8)(start, (size_t)(o - start)))
                return -EBADMSG;
        *o++ = '\0';
        x->out = o;
        *ret = start;
        return 0;
}

/* A JSON number at x->p; *ret_int says whether it is an integer no smaller than 0. */
static int rr_number(RecordReader *x, bool *ret_int, uint64_t *ret)
{
        const char *start = x->p;
        bool negative = false, integer = true, overflow = false;
        uint64_t v = 0, limit = INT64_MAX;

        if (x->p < x->end && *x->p == '-') {
                negative = true;
                limit = (uint64_t)INT64_MAX + 1;
                x->p++;
        }
        if (x->p >= x->end || *x->p < '0' || *x->p > '9')
                return -EBADMSG;
        if (*x->p == '0' && x->end - x->p > 1 && x->p[1] >= '0' && x->p[1] <= '9')
                return -EBADMSG;
        for (; x->p < x->end && *x->p >= '0' && *x->p <= '9'; x->p++) {
                uint64_t d = (uint64_t)(*x->p - '0');
                if (v > (limit - d) / 10)
                        overflow = true;
                else
                        v = v * 10 + d;
        }
        if (x->p < x->end && *x->p == '.') {
                integer = false;
                x->p++;
                if (x->p >= x->end || *x->p < '0' || *x->p > '9')
                        return -EBADMSG;
                while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
                        x->p++;
        }
        if (x->p < x->end && (*x->p == 'e' || *x->p == 'E')) {
                integer = false;
                x->p++;
                if (x->p < x->end && (*x->p == '+' || *x->p == '-'))
                        x->p++;
                if (x->p >= x->end || *x->p < '0' || *x->p > '9')
                        return -EBADMSG;
                while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
                        x->p++;
        }
        /* jansson refuses an integer past 64 bits rather than round it, and a real that
         * overflows a double (one that underflows to 0 it takes). */
        if (integer && overflow)
                return -EBADMSG;
        if (!integer) {
                _cleanup_free_ char *text = xstrndup(start, (size_t)(x->p - start));
                errno = 0;
                double d = strtod(text, NULL);
                if (errno == ERANGE && d != 0)
                        return -EBADMSG;
        }
        *ret_int = integer && (!negative || v == 0);
        *ret = v;
        return 0;
}

static bool rr_word(RecordReader *x, const char *w)
{
        size_t n = strlen(w);

        if ((size_t)(x->end - x->p) < n || memcmp(x->p, w, n) != 0)
                return false;
        x->p += n;
        return true;
}

/* Pass over one value of any kind (a member this version does not know). */
static int rr_skip(RecordReader *x, unsigned depth)
{
        const char *s;
        bool integer;
        uint64_t v;

        /* jansson's own bound on nesting (JSON_PARSER_MAX_DEPTH). */
        if (depth > 2048 || x->p >= x->end)
                return -EBADMSG;
        switch (*x->p) {
        case '"':
                return rr_string(x, &s, false);
        case 't':
                return rr_word(x, "true") ? 0 : -EBADMSG;
        case 'f':
                return rr_word(x, "false") ? 0 : -EBADMSG;
        case 'n':
                return rr_word(x, "null") ? 0 : -EBADMSG;
        case '[':
        case '{': {
                char close = *x->p == '[' ? ']' : '}';
                bool object = close == '}';
                x->p++;
                rr_space(x);
                if (x->p < x->end && *x->p == close) {
                        x->p++;
                        return 0;
                }
                for (;;) {
                        rr_space(x);
                        if (object) {
                                if (rr_string(x, &s, false) < 0)
                                        return -EBADMSG;
                                rr_space(x);
                                if (x->p >= x->end || *x->p++ != ':')
                                        return -EBADMSG;
                                rr_space(x);
                        }
                        if (rr_skip(x, depth + 1) < 0)
                                return -EBADMSG;
                        rr_space(x);
                        if (x->p >= x->end)
                                return -EBADMSG;
                        if (*x->p == close) {
                                x->p++;
                                return 0;
                        }
                        if (*x->p++ != ',')
                                return -EBADMSG;
                }
        }
        default:
                return rr_number(x, &integer, &v);
        }
}

static const char *const record_keys[] = {"kind",   "rule",  "model",          "provider",
                                          "source", "state", "previous_state", "message"};

/* The object of a record into ev (texts in x->out). */
static int rr_record(RecordReader *x, HistoryEvent *ev)
{
        const char **texts[] = {&ev->kind,   &ev->rule,  &ev->model,          &ev->provider,
                                &ev->source, &ev->state, &ev->previous_state, &ev->message};
        bool seen_quiet = false, seen_since = false;
        unsigned seen = 0;

        rr_space(x);
        if (x->p >= x->end || *x->p++ != '{')
                return -EBADMSG;
        rr_space(x);
        if (x->p < x->end && *x->p == '}') {
                x->p++;
                goto end;
        }
        for (;;) {
                const char *key;
                size_t k;
                rr_space(x);
                char *mark = x->out;
                if (rr_string(x, &key, false) < 0)
                        return -EBADMSG;
                rr_space(x);
                if (x->p >= x->end || *x->p++ != ':')
                        return -EBADMSG;
                rr_space(x);
                for (k = 0; k < ELEMENTSOF(record_keys) && !streq(key, record_keys[k]); k++)
                        ;
                x->out = mark; /* the key's text is not kept */
                if (k < ELEMENTSOF(record_keys)) {
                        if (seen & 1u << k || rr_string(x, texts[k], true) < 0 ||
                            strlen(*texts[k]) > HISTORY_MAX_TEXT)
                                return -EBADMSG;
                        seen |= 1u << k;
                } else if (streq(key, "quiet")) {
                        if (seen_quiet)
                                return -EBADMSG;
                        seen_quiet = true;
                        if (rr_word(x, "true"))
                                ev->quiet = true;
                        else if (!rr_word(x, "false"))
                                return -EBADMSG;
                } else if (streq(key, "since")) {
                        bool integer;
                        uint64_t v;
                        if (seen_since || rr_number(x, &integer, &v) < 0 || !integer)
                                return -EBADMSG;
                        seen_since = true;
                        ev->since = v;
                } else if (rr_skip(x, 0) < 0) {
                        return -EBADMSG;
                }
                rr_space(x);
                if (x->p >= x->end)
                        return -EBADMSG;
                if (*x->p == '}') {
                        x->p++;
                        break;
                }
                if (*x->p++ != ',')
                        return -EBADMSG;
        }
end:
        rr_space(x);
        return x->p == x->end ? 0 : -EBADMSG;
}

int history_record_parse(const char *line, size_t len, HistoryEvent *ret, void **ret_mem)
{
        HistoryEvent ev = {0};
        uint32_t want = 0;
        uint64_t t;

        if (len < RECORD_HEAD + 4 || len >= HISTORY_MAX_RECORD || line[8] != ' ')
                return -EBADMSG;
        for (size_t i = 0; i < 8; i++) {
                char c = line[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        return -EBADMSG;
                want = want << 4 | (uint32_t)d;
        }
        if (crc32_of(line + RECORD_HEAD, len - RECORD_HEAD) != want)
                return -EBADMSG;
        if (!record_time(line, len, &t))
                return -EBADMSG;
        const char *body = memchr(line + RECORD_HEAD, ' ', len - RECORD_HEAD);
        if (!body)
                return -EBADMSG;
        body++;
        /* Unescaped texts are never longer than the text they came from. */
        char *mem = xmalloc(len - (size_t)(body - line) + 1);
        RecordReader x = {.p = body, .end = line + len, .out = mem};
        if (rr_record(&x, &ev) < 0 || !ev.kind || !kind_known(ev.kind))
                goto bad;
        ev.time = t;
        /* Cells and snapshots are what replays rebuild the matrix from: they must name one. */
        if ((streq(ev.kind, "cell") || streq(ev.kind, "snapshot")) &&
            (!ev.model || !ev.provider || !ev.state))
                goto bad;
        *ret = ev;
        *ret_mem = mem;
        return 0;
bad:
        free(mem);
        return -EBADMSG;
}

static CellState cell_state_of(const char *s)
{
        if (s && streq(s, "available"))
                return CELL_AVAILABLE;
        if (s && streq(s, "unavailable"))
                return CELL_UNAVAILABLE;
        return CELL_UNKNOWN;
}

/* ---- reading a segment line by line ------------------------------------------------------ */

typedef struct Reader {
        int fd;
        char *buf;
        size_t start, end;
        uint64_t pos; /* file offset of buf[start] */
        uint64_t bytes_read;
        bool eof, skipping;
} Reader;

static void reader_init(Reader *r, int fd)
{
        *r = (Reader){.fd = fd};
        r->buf = xmalloc(READER_BUFFER);
}

static void reader_clear(Reader *r)
{
        if (r->fd >= 0)
                close(r->fd);
        free(r->buf);
        *r = (Reader){.fd = -1};
}

/* The next line: 1 with *line and *len (no newline) starting at file offset *at; 2 for an
 * overlong line (skipped); 0 at the end, where bytes without a newline are a torn tail and
 * not returned; -errno. */
static int reader_line(Reader *r, const char **line, size_t *len, uint64_t *at)
{
        for (;;) {
                char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
                if (nl) {
                        size_t n = (size_t)(nl - (r->buf + r->start));
                        bool skipped = r->skipping;
                        *line = r->buf + r->start;
                        *len = n;
                        *at = r->pos;
                        r->start += n + 1;
                        r->pos += n + 1;
                        r->skipping = false;
                        return skipped ? 2 : 1;
                }
                if (r->end - r->start >= HISTORY_MAX_RECORD) {
                        /* No record is this long: drop what is here and the rest of the line. */
                        r->pos += r->end - r->start;
                        r->start = r->end = 0;
                        r->skipping = true;
                }
                if (r->eof)
                        return 0;
                if (r->start > 0) {
                        memmove(r->buf, r->buf + r->start, r->end - r->start);
                        r->end -= r->start;
                        r->start = 0;
                }
                ssize_t k = read(r->fd, r->buf + r->end, READER_BUFFER - r->end);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        r->eof = true;
                r->end += (size_t)k;
                r->bytes_read += (uint64_t)k;
        }
}

/* history_segment_scan() from file offset start, where a record begins. */
static int segment_scan_at(int fd, uint64_t start,
                           void (*fn)(const HistoryEvent *ev, size_t len, void *userdata),
                           void *userdata, uint64_t *ret_valid_end)
{
        Reader r;
        /* Set by reader_next() whenever it returns a line (gcc -O2 cannot see that). */
        const char *line = NULL;
        size_t len = 0;
        uint64_t at = start, valid_end = start;
        int k;

        if (lseek(fd, (off_t)start, SEEK_SET) < 0)
                return -errno;
        reader_init(&r, fd);
        r.pos = start;
        while ((k = reader_line(&r, &line, &len, &at)) > 0) {
                HistoryEvent ev;
                void *j;
                if (k == 2 || history_record_parse(line, len, &ev, &j) < 0)
                        continue;
                valid_end = at + len + 1;
                if (fn)
                        fn(&ev, len + 1, userdata);
                free(j);
        }
        r.fd = -1; /* the caller's */
        reader_clear(&r);
        if (k < 0)
                return k;
        if (ret_valid_end)
                *ret_valid_end = valid_end;
        return 0;
}

int history_segment_scan(int fd, void (*fn)(const HistoryEvent *ev, size_t len, void *userdata),
                         void *userdata, uint64_t *ret_valid_end)
{
        return segment_scan_at(fd, 0, fn, userdata, ret_valid_end);
}

/* ---- sets of model ids and maps of cells ------------------------------------------------- */

static uint64_t hash_str(uint64_t h, const char *s)
{
        return util_hash64(h, s, strlen(s) + 1);
}

/* Texts each kept once, back to back in one buffer, and named by where they start (plus one,
 * so 0 names none). A map of cells holds the names of its model and provider rather than a
 * copy of each: a provider is in thousands of cells and a model in several, and a copy per
 * cell (with malloc's overhead on each) was most of the store's memory. A segment's models
 * are such a set too. */
typedef struct TextSet {
        char *buf; /* the texts, each NUL-terminated */
        size_t len, size;
        uint32_t n;      /* texts held */
        uint32_t *slots; /* their names by hash, 0: free (linear probing, load <= 3/4) */
        size_t cap;
} TextSet;

/* Bytes of texts one set holds at most, so a name fits the 29 bits a cell keeps for it: far
 * past what HISTORY_MAX_CELLS cells of real ids take. */
#define TEXTSET_MAX_BYTES ((UINT32_C(1) << 29) - 1)

static void textset_clear(TextSet *t)
{
        free(t->buf);
        free(t->slots);
        *t = (TextSet){0};
}

static const char *textset_text(const TextSet *t, uint32_t id)
{
        return t->buf + id - 1;
}

/* The slot where s is, or the free one where it would go; t->cap must be non-zero. */
static size_t textset_slot(const TextSet *t, const char *s, uint64_t hash)
{
        size_t j = hash & (t->cap - 1);

        while (t->slots[j] && !streq(textset_text(t, t->slots[j]), s))
                j = (j + 1) & (t->cap - 1);
        return j;
}

/* The name of s, or 0 if the set does not hold it. */
static uint32_t textset_find(const TextSet *t, const char *s)
{
        if (!t->cap)
                return 0;
        return t->slots[textset_slot(t, s, hash_str(UTIL_FNV_INIT, s))];
}

/* Name every text of the buffer again in cap slots (a power of two, over 4/3 of them). */
static void textset_reindex(TextSet *t, size_t cap)
{
        uint32_t *slots = xcalloc(cap, sizeof(uint32_t));

        for (size_t at = 0, l; at < t->len; at += l) {
                l = strlen(t->buf + at) + 1;
                size_t k = util_hash64(UTIL_FNV_INIT, t->buf + at, l) & (cap - 1);
                while (slots[k])
                        k = (k + 1) & (cap - 1);
                slots[k] = (uint32_t)at + 1;
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
}

/* The name of s, added if new; 0 if the set is full (TEXTSET_MAX_BYTES). */
static uint32_t textset_add(TextSet *t, const char *s)
{
        uint64_t hash = hash_str(UTIL_FNV_INIT, s);
        size_t l = strlen(s) + 1, j;

        if (t->cap) {
                j = textset_slot(t, s, hash);
                if (t->slots[j])
                        return t->slots[j];
        }
        if (l > TEXTSET_MAX_BYTES - t->len)
                return 0;
        if ((t->n + 1) * 4 > t->cap * 3)
                textset_reindex(t, t->cap ? t->cap * 2 : 64);
        if (t->len + l > t->size) {
                /* A quarter more at a time, not double: the buffer is most of the set, and
                 * the store keeps its set for as long as the daemon runs. */
                size_t size = MAX(t->size + t->size / 4, (size_t)4096);
                t->size = MAX(size, t->len + l);
                t->buf = xreallocarray(t->buf, t->size, 1);
        }
        uint32_t id = (uint32_t)t->len + 1;
        memcpy(t->buf + t->len, s, l);
        t->len += l;
        t->n++;
        t->slots[textset_slot(t, s, hash)] = id;
        return id;
}

/* The models of a segment's records, for its index. */
typedef struct StrSet {
        TextSet texts;
        bool overflow; /* more than HISTORY_MAX_INDEX_MODELS: the index says "any" */
} StrSet;

static void strset_clear(StrSet *s)
{
        textset_clear(&s->texts);
        s->overflow = false;
}

static void strset_add(StrSet *s, const char *v)
{
        if (s->overflow)
                return;
        /* A set too full to add to says "any" too: a query then reads the segment. */
        if (s->texts.n >= HISTORY_MAX_INDEX_MODELS || !textset_add(&s->texts, v)) {
                strset_clear(s);
                s->overflow = true;
        }
}

/* Each model of the set in turn: *at 0 to begin; false after the last. */
static bool strset_next(const StrSet *s, size_t *at, const char **ret)
{
        if (*at >= s->texts.len)
                return false;
        *ret = s->texts.buf + *at;
        *at += strlen(*ret) + 1;
        return true;
}

/* One cell as a map holds it, in 16 bytes. */
typedef struct CellEntry {
        uint64_t since;
        uint32_t model;         /* names in the map's texts; model 0: a free slot */
        uint32_t provider : 29; /* TEXTSET_MAX_BYTES keeps names within these bits */
        uint32_t state : 2;     /* a CellState */
        uint32_t seen : 1;      /* found in the matrix by the history_sync() under way */
} CellEntry;

typedef struct CellMap {
        CellEntry *slots; /* model 0: free */
        size_t cap, n;
        TextSet texts; /* the models and providers of the cells, each once */
} CellMap;

static size_t cell_hash(uint32_t model, uint32_t provider)
{
        /* The two names mixed (the finalizer of MurmurHash3), so the low bits that pick
         * the slot depend on all of their bits. */
        uint64_t k = (uint64_t)model << 32 | provider;

        k ^= k >> 33;
        k *= UINT64_C(0xff51afd7ed558ccd);
        k ^= k >> 33;
        k *= UINT64_C(0xc4ceb9fe1a85ec53);
        k ^= k >> 33;
        return (size_t)k;
}

static const char *cell_model(const CellMap *m, const CellEntry *e)
{
        return textset_text(&m->texts, e->model);
}

static const char *cell_provider(const CellMap *m, const CellEntry *e)
{
        return textset_text(&m->texts, e->provider);
}

static void cellmap_clear(CellMap *m)
{
        free(m->slots);
        textset_clear(&m->texts);
        *m = (CellMap){0};
}

/* The cell of the model and provider texts numbered mi and pi (0: not in the map). */
static CellEntry *cellmap_find_ids(const CellMap *m, uint32_t mi, uint32_t pi)
{
        if (!m->cap || !mi || !pi)
                return NULL;
        for (size_t j = cell_hash(mi, pi) & (m->cap - 1); m->slots[j].model;
             j = (j + 1) & (m->cap - 1))
                if (m->slots[j].model == mi && m->slots[j].provider == pi)
                        return &m->slots[j];
        return NULL;
}

static CellEntry *cellmap_find(const CellMap *m, const char *model, const char *provider)
{
        return cellmap_find_ids(m, textset_find(&m->texts, model),
                                textset_find(&m->texts, provider));
}

static void cellmap_place(CellMap *m, CellEntry e)
{
        size_t j = cell_hash(e.model, e.provider) & (m->cap - 1);
        while (m->slots[j].model)
                j = (j + 1) & (m->cap - 1);
        m->slots[j] = e;
        m->n++;
}

/* Rebuilt without the cells that went unknown: entries are never deleted one by one (linear
 * probing), so the map is compacted here, at each new segment and when it must grow. Its
 * texts are made anew (a subset of the old: it cannot fill), so those only the dropped
 * cells named go too. */
static void cellmap_rebuild(CellMap *m, size_t want)
{
        size_t live = 0, cap = 64;

        for (size_t i = 0; i < m->cap; i++)
                live += m->slots[i].model && m->slots[i].state != CELL_UNKNOWN;
        while (cap * 3 < (live + want) * 4)
                cap *= 2;
        CellMap g = {.cap = cap};
        g.slots = xcalloc(cap, sizeof(CellEntry));
        for (size_t i = 0; i < m->cap; i++) {
                CellEntry e = m->slots[i];
                if (!e.model || e.state == CELL_UNKNOWN)
                        continue;
                uint32_t mi = textset_add(&g.texts, cell_model(m, &e));
                e.provider = textset_add(&g.texts, cell_provider(m, &e));
                e.model = mi;
                cellmap_place(&g, e);
        }
        cellmap_clear(m);
        *m = g;
}

/* Set a cell; false when the map is at HISTORY_MAX_CELLS (or its texts at
 * TEXTSET_MAX_BYTES) and the cell is new. */
static bool cellmap_set(CellMap *m, const char *model, const char *provider, CellState st,
                        uint64_t since)
{
        CellEntry *e = cellmap_find(m, model, provider);

        if (e) {
                e->state = st;
                e->since = since;
                return true;
        }
        if (st == CELL_UNKNOWN)
                return true;
        if ((m->n + 1) * 4 > m->cap * 3) {
                cellmap_rebuild(m, 1);
                if (m->n >= HISTORY_MAX_CELLS)
                        return false;
        }
        uint32_t mi = textset_add(&m->texts, model), pi = textset_add(&m->texts, provider);
        if (!mi || !pi)
                return false;
        cellmap_place(m, (CellEntry){.model = mi, .provider = pi, .since = since, .state = st});
        return true;
}

static void cellmap_apply(CellMap *m, const HistoryEvent *ev)
{
        if (streq(ev->kind, "snapshot"))
                (void)cellmap_set(m, ev->model, ev->provider, cell_state_of(ev->state), ev->since);
        else if (streq(ev->kind, "cell"))
                (void)cellmap_set(m, ev->model, ev->provider, cell_state_of(ev->state), ev->time);
}

/* ---- the store ------------------------------------------------------------------------- */

typedef struct Segment {
        uint64_t seq;
        unsigned year, month;
        uint64_t first, last; /* record times; 0, 0 while empty */
        uint64_t bytes, events;
} Segment;

struct HistoryStore {
        char *dir;
        HistoryLimits limits;
        Segment *segs; /* oldest first; the last is the one appended to */
        size_t n_segs, cap_segs;
        int fd;                  /* the last segment, or -1 */
        uint64_t snapshot_bytes; /* of the last segment: its opening snapshot */
        StrSet models;           /* of the last segment's records (snapshots aside) */
        CellMap cells;           /* every known cell, as the history last recorded it */
        bool dirty;              /* appended since the last fdatasync */
        uint64_t checkpoint_at;  /* the last segment's bytes the checkpoint on disk covers */
        uint64_t synced_version; /* the matrix's states_version at the last whole sync */
        HistoryStats stats;
};

static char *segment_path(const HistoryStore *h, const Segment *s, const char *suffix)
{
        return xasprintf("%s/%08" PRIu64 "-%04u-%02u%s", h->dir, s->seq, s->year, s->month, suffix);
}

static void month_of(uint64_t usec, unsigned *year, unsigned *month)
{
        time_t t = (time_t)(usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm)) {
                *year = 1970;
                *month = 1;
                return;
        }
        *year = (unsigned)tm.tm_year + 1900;
        *month = (unsigned)tm.tm_mon + 1;
}

static uint64_t segment_cap(const HistoryStore *h)
{
        uint64_t cap = h->limits.max_size / 32;
        return MIN(MAX(cap, (uint64_t)HISTORY_SEGMENT_MIN_EVENTS),
                   (uint64_t)HISTORY_SEGMENT_MAX_EVENTS);
}

HistoryLimits history_default_limits(void)
{
        return (HistoryLimits){.retention_usec = HISTORY_DEFAULT_RETENTION,
                               .max_size = HISTORY_DEFAULT_MAX_SIZE};
}

bool history_empty(const HistoryStore *h)
{
        for (size_t i = 0; i < h->n_segs; i++)
                if (h->segs[i].events > 0)
                        return false;
        return true;
}

void history_stats(const HistoryStore *h, HistoryStats *ret)
{
        *ret = h->stats;
        ret->segments = h->n_segs;
        ret->bytes = 0;
        ret->oldest = ret->newest = 0;
        for (size_t i = 0; i < h->n_segs; i++) {
                ret->bytes += h->segs[i].bytes;
                if (h->segs[i].events && (!ret->oldest || h->segs[i].first < ret->oldest))
                        ret->oldest = h->segs[i].first;
                ret->newest = MAX(ret->newest, h->segs[i].last);
        }
}

/* ---- indexes ---------------------------------------------------------------------------- */

static void segment_note(Segment *s, const HistoryEvent *ev, size_t len)
{
        if (s->events == 0 || ev->time < s->first)
                s->first = ev->time;
        s->last = MAX(s->last, ev->time);
        s->events++;
        s->bytes += len;
}

/* A sealed segment's index: span, size and models, one checksummed line. */
static int index_write(const HistoryStore *h, const Segment *s, const StrSet *models)
{
        json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "seq", (json_int_t)s->seq, "first",
                              (json_int_t)s->first, "last", (json_int_t)s->last, "events",
                              (json_int_t)s->events, "bytes", (json_int_t)s->bytes);
        json_t *list = models->overflow ? json_null() : json_array();

        if (!o || !list)
                util_oom();
        const char *model;
        for (size_t at = 0; !models->overflow && strset_next(models, &at, &model);)
                if (json_array_append_new(list, json_string(model)) < 0)
                        util_oom();
        json_object_set_new(o, "models", list);
        _cleanup_free_ char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!body)
                util_oom();
        _cleanup_free_ char *text =
            xasprintf("%08" PRIx32 " %s\n", crc32_of(body, strlen(body)), body);
        _cleanup_free_ char *path = segment_path(h, s, INDEX_SUFFIX);
        return util_write_file_atomic(path, text, strlen(text), 0640);
}

/* Read a segment's index: 0 with the span in *s and the models (NULL: any) in *ret_models;
 * -EBADMSG if it is missing, damaged, or not of this segment as it is on disk. */
static int index_read(const HistoryStore *h, Segment *s, json_t **ret_models)
{
        _cleanup_free_ char *path = segment_path(h, s, INDEX_SUFFIX), *text = NULL;
        size_t len;
        uint32_t want;
        int r = util_read_file(path, INDEX_MAX_BYTES, &text, &len);

        if (r < 0)
                return -EBADMSG;
        if (len < RECORD_HEAD + 3 || text[len - 1] != '\n' ||
            sscanf(text, "%8" SCNx32, &want) != 1 || text[8] != ' ' ||
            crc32_of(text + RECORD_HEAD, len - RECORD_HEAD - 1) != want)
                return -EBADMSG;
        json_t *o = json_loadb(text + RECORD_HEAD, len - RECORD_HEAD - 1, 0, NULL);
        json_t *models = json_object_get(o, "models");
        json_int_t seq = json_integer_value(json_object_get(o, "seq"));
        json_int_t first = json_integer_value(json_object_get(o, "first"));
        json_int_t last = json_integer_value(json_object_get(o, "last"));
        json_int_t events = json_integer_value(json_object_get(o, "events"));
        json_int_t bytes = json_integer_value(json_object_get(o, "bytes"));
        if (!json_is_object(o) || (uint64_t)seq != s->seq || first < 0 || last < first ||
            events < 0 || (uint64_t)bytes != s->bytes ||
            !(json_is_null(models) || json_is_array(models))) {
                json_decref(o);
                return -EBADMSG;
        }
        s->first = (uint64_t)first;
        s->last = (uint64_t)last;
        s->events = (uint64_t)events;
        if (ret_models)
                *ret_models = json_is_array(models) ? json_incref(models) : NULL;
        json_decref(o);
        return 0;
}

typedef struct ScanState {
        Segment *seg;
        StrSet *models;
        CellMap *cells;
        uint64_t snapshot_bytes;
        bool in_snapshot;
        HistoryStats *stats;
} ScanState;

static void scan_one(const HistoryEvent *ev, size_t len, void *userdata)
{
        ScanState *st = userdata;

        segment_note(st->seg, ev, len);
        if (streq(ev->kind, "snapshot")) {
                if (st->in_snapshot)
                        st->snapshot_bytes += len;
        } else {
                st->in_snapshot = false;
                if (ev->model && st->models)
                        strset_add(st->models, ev->model);
        }
        if (st->cells)
                cellmap_apply(st->cells, ev);
}

/* Read a segment from file offset start (0: the whole of it, else where a checkpoint
 * left off, with its span, models and cells already in place): span, models, cells; cut a
 * torn tail when cut_tail. */
static int segment_rescan(HistoryStore *h, Segment *s, StrSet *models, CellMap *cells,
                          bool cut_tail, uint64_t start)
{
        _cleanup_free_ char *path = segment_path(h, s, SEGMENT_SUFFIX);
        int fd = open(path, (cut_tail ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        uint64_t valid_end = 0;
        int r;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -EBADMSG;
        }
        ScanState ss = {.seg = s, .models = models, .cells = cells, .in_snapshot = true};
        if (start > 0) {
                /* What the checkpoint said: a segment so far all snapshot is still in it. */
                ss.snapshot_bytes = h->snapshot_bytes;
                ss.in_snapshot = h->snapshot_bytes == start;
        } else
                s->first = s->last = s->events = s->bytes = 0;
        r = segment_scan_at(fd, start, scan_one, &ss, &valid_end);
        if (r >= 0 && cut_tail && (uint64_t)st.st_size > valid_end) {
                /* A record cut short by a crash (or garbage after the last good one) goes:
                 * appends continue after the last whole record. */
                h->stats.dropped_torn += (uint64_t)st.st_size - valid_end;
                if (ftruncate(fd, (off_t)valid_end) < 0)
                        r = -errno;
        }
        /* The figures that matter for size limits are the file's own. */
        s->bytes = r >= 0 && cut_tail ? valid_end : (uint64_t)st.st_size;
        if (r >= 0)
                h->snapshot_bytes = ss.snapshot_bytes;
        close(fd);
        return r;
}

/* ---- the checkpoint ----------------------------------------------------------------------
 *
 * Opening the store reads the segment appended to, to learn its span, its models and every
 * cell as last recorded: at 10,000 models that was 2.5 MB of records, 13% of the
 * instructions of a `--once` round. The checkpoint is that knowledge as of an offset of the
 * segment, in one checksummed frame of the state's codec: an open that finds it matching
 * reads only the records after it. It is written after a sync (the records it covers are
 * on disk) once the records it would spare reading pass half its own size, so it costs at
 * most two bytes written per byte of records appended. Any doubt (another segment, a file
 * shorter than its offset, the bytes before its offset not the ones it saw, a bad frame) and
 * the segment is read whole, as without one. */

static char *checkpoint_path(const HistoryStore *h)
{
        return xasprintf("%s/" CHECKPOINT_NAME, h->dir);
}

/* CRC32C of the up to CHECKPOINT_TAIL bytes of the segment before offset. */
static int checkpoint_tail(const HistoryStore *h, const Segment *s, uint64_t offset, uint32_t *ret)
{
        _cleanup_free_ char *path = segment_path(h, s, SEGMENT_SUFFIX);
        size_t n = (size_t)MIN(offset, (uint64_t)CHECKPOINT_TAIL), got = 0;
        char buf[CHECKPOINT_TAIL];
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return -errno;
        while (got < n) {
                ssize_t k = pread(fd, buf + got, n - got, (off_t)(offset - n + got));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        close(fd);
                        return k < 0 ? -errno : -EBADMSG;
                }
                got += (size_t)k;
        }
        close(fd);
        *ret = statelog_crc32c(0, buf, n);
        return 0;
}

/* A set made again from its texts as checkpoint_write() put them: the same names. */
static int textset_restore(TextSet *t, const char *buf, size_t len)
{
        if (len > TEXTSET_MAX_BYTES || (len > 0 && buf[len - 1] != '\0'))
                return -EBADMSG;
        *t = (TextSet){0};
        if (len == 0)
                return 0;
        for (const char *p = buf, *end = buf + len; p < end; p++) {
                p = memchr(p, '\0', (size_t)(end - p));
                t->n++;
        }
        size_t cap = 64;
        while (cap * 3 < ((size_t)t->n + 1) * 4)
                cap *= 2;
        t->size = len;
        t->buf = xmalloc(len);
        memcpy(t->buf, buf, len);
        t->len = len;
        textset_reindex(t, cap);
        return 0;
}

/* Whether id names the start of a text of t. */
static bool textset_names(const TextSet *t, uint64_t id)
{
        return id >= 1 && id <= t->len && (id == 1 || t->buf[id - 2] == '\0');
}

static void checkpoint_forget(HistoryStore *h, Segment *s)
{
        strset_clear(&h->models);
        cellmap_clear(&h->cells);
        h->snapshot_bytes = 0;
        h->checkpoint_at = 0;
        s->first = s->last = s->events = 0;
}

/* Load the checkpoint if it is of segment s as it is on disk: the offset it covers, with
 * s's span, the models, the cells and the snapshot's size in place; 0 if there is none to
 * use (nothing then set). */
static uint64_t checkpoint_read(HistoryStore *h, Segment *s)
{
        _cleanup_free_ char *path = checkpoint_path(h), *text = NULL;
        const uint8_t *payload;
        size_t len, plen, next, tlen, mlen;
        bool torn;
        uint32_t tail;

        if (util_read_file(path, CHECKPOINT_MAX, &text, &len) < 0)
                return 0;
        if (statelog_next((const uint8_t *)text, len, 0, &payload, &plen, &next, &torn) != 1 ||
            next != len)
                return 0;
        StateLogReader r;
        statelog_reader_init(&r, payload, plen);
        size_t ml;
        const char *magic = statelog_get_strn(&r, 64, &ml);
        if (!magic || ml != strlen(CHECKPOINT_MAGIC) || memcmp(magic, CHECKPOINT_MAGIC, ml) != 0)
                return 0;
        uint64_t seq = statelog_get_uint(&r), offset = statelog_get_uint(&r);
        uint64_t first = statelog_get_uint(&r), last = statelog_get_uint(&r);
        uint64_t events = statelog_get_uint(&r), snapshot = statelog_get_uint(&r);
        uint64_t want_tail = statelog_get_uint_max(&r, UINT32_MAX);
        bool overflow = statelog_get_u8(&r) != 0;
        const char *models = statelog_get_strn(&r, TEXTSET_MAX_BYTES, &mlen);
        const char *texts = statelog_get_strn(&r, TEXTSET_MAX_BYTES, &tlen);
        /* A cell takes four bytes at least: a count past that is not the file's. */
        uint64_t n = statelog_get_uint_max(&r, MIN((uint64_t)HISTORY_MAX_CELLS, plen / 4));
        if (r.failed || seq != s->seq || offset == 0 || offset > s->bytes || snapshot > offset ||
            last < first || checkpoint_tail(h, s, offset, &tail) < 0 || tail != want_tail)
                return 0;
        StrSet ms = {.overflow = overflow};
        CellMap cm = {0};
        if (textset_restore(&ms.texts, models ? models : "", models ? mlen : 0) < 0 ||
            textset_restore(&cm.texts, texts ? texts : "", texts ? tlen : 0) < 0)
                goto bad;
        cm.cap = 64;
        while (cm.cap * 3 < (n + 1) * 4)
                cm.cap *= 2;
        cm.slots = xcalloc(cm.cap, sizeof(CellEntry));
        for (uint64_t i = 0; i < n; i++) {
                uint64_t since = statelog_get_uint(&r), model = statelog_get_uint(&r);
                uint64_t provider = statelog_get_uint(&r), state = statelog_get_u8(&r);
                if (r.failed || !textset_names(&cm.texts, model) ||
                    !textset_names(&cm.texts, provider) || state > CELL_UNAVAILABLE)
                        goto bad;
                cellmap_place(&cm, (CellEntry){.since = since,
                                               .model = (uint32_t)model,
                                               .provider = (uint32_t)provider,
                                               .state = (uint32_t)state});
        }
        if (!statelog_reader_done(&r))
                goto bad;
        strset_clear(&h->models);
        cellmap_clear(&h->cells);
        h->models = ms;
        h->cells = cm;
        h->snapshot_bytes = snapshot;
        h->checkpoint_at = offset;
        h->stats.checkpoint_bytes = offset;
        s->first = first;
        s->last = last;
        s->events = events;
        return offset;
bad:
        strset_clear(&ms);
        cellmap_clear(&cm);
        return 0;
}

static void checkpoint_maybe_write(HistoryStore *h)
{
        if (h->n_segs == 0)
                return;
        const Segment *s = &h->segs[h->n_segs - 1];
        uint64_t covered = h->checkpoint_at <= s->bytes ? h->checkpoint_at : 0;
        uint64_t unread = s->bytes - covered;
        uint64_t size = h->cells.texts.len + h->models.texts.len + (uint64_t)h->cells.n * 12;
        uint32_t tail;

        if (unread < CHECKPOINT_MIN || unread * 2 < size ||
            checkpoint_tail(h, s, s->bytes, &tail) < 0)
                return;
        StateLogBuf b = {0};
        size_t frame = statelog_frame_begin(&b);
        statelog_put_str(&b, CHECKPOINT_MAGIC);
        statelog_put_uint(&b, s->seq);
        statelog_put_uint(&b, s->bytes);
        statelog_put_uint(&b, s->first);
        statelog_put_uint(&b, s->last);
        statelog_put_uint(&b, s->events);
        statelog_put_uint(&b, h->snapshot_bytes);
        statelog_put_uint(&b, tail);
        statelog_put_u8(&b, h->models.overflow);
        statelog_put_strn(&b, h->models.texts.buf ? h->models.texts.buf : "", h->models.texts.len);
        statelog_put_strn(&b, h->cells.texts.buf ? h->cells.texts.buf : "", h->cells.texts.len);
        size_t n = 0;
        for (size_t i = 0; i < h->cells.cap; i++)
                n += h->cells.slots[i].model != 0;
        statelog_put_uint(&b, n);
        for (size_t i = 0; i < h->cells.cap; i++) {
                const CellEntry *e = &h->cells.slots[i];
                if (!e->model)
                        continue;
                statelog_put_uint(&b, e->since);
                statelog_put_uint(&b, e->model);
                statelog_put_uint(&b, e->provider);
                statelog_put_u8(&b, (uint8_t)e->state);
        }
        (void)statelog_frame_end(&b, frame);
        _cleanup_free_ char *path = checkpoint_path(h);
        /* A failure costs the next open a longer read, nothing else: not a write error of
         * the store's records. */
        if (util_write_file_atomic(path, b.data, b.len, 0640) >= 0) {
                h->checkpoint_at = s->bytes;
                h->stats.checkpoints_written++;
        }
        statelog_buf_free(&b);
}

/* ---- opening ---------------------------------------------------------------------------- */

static int cmp_segment(const void *a, const void *b)
{
        const Segment *x = a, *y = b;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool name_is(const char *name, const char *suffix, Segment *ret)
{
        unsigned long long seq;
        unsigned y, m;
        int n = 0;
        char want[64];

        if (sscanf(name, "%8llu-%4u-%2u%n", &seq, &y, &m, &n) != 3 || n != 16 || m < 1 || m > 12 ||
            seq == 0)
                return false;
        snprintf(want, sizeof(want), "%08llu-%04u-%02u%s", seq, y, m, suffix);
        if (!streq(name, want))
                return false;
        *ret = (Segment){.seq = seq, .year = y, .month = m};
        return true;
}

static void segment_unlink(HistoryStore *h, const Segment *s)
{
        _cleanup_free_ char *seg = segment_path(h, s, SEGMENT_SUFFIX),
                            *idx = segment_path(h, s, INDEX_SUFFIX);
        (void)unlink(idx);
        (void)unlink(seg);
}

static int store_list(HistoryStore *h)
{
        DIR *d = opendir(h->dir);
        struct dirent *de;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                Segment s;
                if (strstr(de->d_name, INDEX_SUFFIX ".tmp") ||
                    strstr(de->d_name, CHECKPOINT_NAME ".tmp")) {
                        /* An index or checkpoint write a crash interrupted. */
                        (void)unlinkat(dirfd(d), de->d_name, 0);
                        continue;
                }
                if (!name_is(de->d_name, SEGMENT_SUFFIX, &s))
                        continue;
                util_grow((void **)&h->segs, &h->cap_segs, h->n_segs + 1, sizeof(Segment));
                h->segs[h->n_segs++] = s;
        }
        closedir(d);
        if (h->n_segs > 1)
                qsort(h->segs, h->n_segs, sizeof(Segment), cmp_segment);
        /* More files than any limit leaves are not ours to keep track of: the oldest go. */
        while (h->n_segs > HISTORY_MAX_SEGMENTS) {
                segment_unlink(h, &h->segs[0]);
                memmove(h->segs, h->segs + 1, (h->n_segs - 1) * sizeof(Segment));
                h->n_segs--;
                h->stats.segments_removed++;
        }
        return 0;
}

static int segment_size(const HistoryStore *h, Segment *s)
{
        _cleanup_free_ char *path = segment_path(h, s, SEGMENT_SUFFIX);
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        s->bytes = (uint64_t)st.st_size;
        return 0;
}

static void enforce_limits(HistoryStore *h);

int history_open(const char *dir, const HistoryLimits *limits, HistoryStore **ret)
{
        HistoryStore *h = xcalloc(1, sizeof(HistoryStore));
        int r;

        h->dir = xstrdup(dir);
        h->fd = -1;
        h->limits = limits ? *limits : history_default_limits();
        h->limits.max_size = MAX(h->limits.max_size, HISTORY_MIN_MAX_SIZE);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                goto fail;
        }
        r = store_list(h);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < h->n_segs; i++) {
                Segment *s = &h->segs[i];
                bool last = i + 1 == h->n_segs;
                StrSet models = {0};

                if (segment_size(h, s) < 0) {
                        /* Not a file we can use (a directory, a dangling link): set it aside
                         * from the store's view, never read it. */
                        memmove(s, s + 1, (h->n_segs - i - 1) * sizeof(Segment));
                        h->n_segs--;
                        i--;
                        continue;
                }
                if (last) {
                        /* The checkpoint, when it matches, spares reading what it covers:
                         * only the records after it are read. */
                        uint64_t from = checkpoint_read(h, s);
                        r = segment_rescan(h, s, &h->models, &h->cells, true, from);
                        if (r < 0 && from > 0) {
                                checkpoint_forget(h, s);
                                r = segment_rescan(h, s, &h->models, &h->cells, true, 0);
                        }
                        if (r < 0)
                                goto fail;
                        continue;
                }
                if (index_read(h, s, NULL) >= 0)
                        continue;
                /* A crash between sealing a segment and writing its index, or an index
                 * damaged since: rebuilt from the segment itself. */
                r = segment_rescan(h, s, &models, NULL, false, 0);
                /* An index that cannot be written now (a full disk) is no reason to refuse
                 * the store: a query reads a segment without one whole, and the next open
                 * writes it. */
                if (r >= 0 && index_write(h, s, &models) < 0)
                        h->stats.write_errors++;
                strset_clear(&models);
                if (r < 0)
                        goto fail;
        }
        enforce_limits(h);
        *ret = h;
        return 0;
fail:
        history_close(h);
        return r;
}

void history_close(HistoryStore *h)
{
        if (!h)
                return;
        if (h->fd >= 0) {
                bool synced = !h->dirty || fdatasync(h->fd) >= 0;
                close(h->fd);
                h->fd = -1;
                h->dirty = !synced;
        }
        if (!h->dirty)
                checkpoint_maybe_write(h);
        strset_clear(&h->models);
        cellmap_clear(&h->cells);
        free(h->segs);
        free(h->dir);
        free(h);
}

/* Drop whole segments, oldest first, while the oldest is past the retention (counted back
 * from the newest record, so a replay of old snapshots keeps what it wrote) or the store is
 * over its size. The segment appended to is never dropped. */
static void enforce_limits(HistoryStore *h)
{
        uint64_t total = 0, newest = 0;

        for (size_t i = 0; i < h->n_segs; i++) {
                total += h->segs[i].bytes;
                newest = MAX(newest, h->segs[i].last);
        }
        while (h->n_segs > 1) {
                const Segment *s = &h->segs[0];
                bool old = newest > h->limits.retention_usec &&
                           s->last < newest - h->limits.retention_usec;
                if (!old && total <= h->limits.max_size)
                        break;
                total -= s->bytes;
                segment_unlink(h, s);
                memmove(h->segs, h->segs + 1, (h->n_segs - 1) * sizeof(Segment));
                h->n_segs--;
                h->stats.segments_removed++;
        }
}

void history_set_limits(HistoryStore *h, const HistoryLimits *limits)
{
        h->limits = *limits;
        h->limits.max_size = MAX(h->limits.max_size, HISTORY_MIN_MAX_SIZE);
        enforce_limits(h);
}

/* ---- appending -------------------------------------------------------------------------- */

static int write_line(HistoryStore *h, const char *line, size_t len)
{
        Segment *s = &h->segs[h->n_segs - 1];
        size_t off = 0;

        while (off < len) {
                ssize_t n = write(h->fd, line + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int e = n < 0 ? errno : EIO;
                        /* A record half written (a full disk) is taken back, so the next
                         * one does not follow garbage. */
                        if (off > 0 && ftruncate(h->fd, (off_t)s->bytes) < 0)
                                h->stats.write_errors++;
                        h->stats.write_errors++;
                        return -e;
                }
                off += (size_t)n;
        }
        h->dirty = true;
        return 0;
}

static int append_raw(HistoryStore *h, const HistoryEvent *ev, bool snapshot)
{
        _cleanup_free_ char *line = NULL;
        size_t len;
        int r = history_record_format(ev, &line, &len);

        if (r < 0) {
                h->stats.write_errors++;
                return r;
        }
        r = write_line(h, line, len);
        if (r < 0)
                return r;
        Segment *s = &h->segs[h->n_segs - 1];
        segment_note(s, ev, len);
        if (snapshot)
                h->snapshot_bytes += len;
        else if (ev->model)
                strset_add(&h->models, ev->model);
        return 0;
}

/* Seal the segment appended to (synced, indexed) and start the next, opening with a
 * snapshot of every known cell so it can be replayed on its own. */
static int roll(HistoryStore *h, uint64_t time)
{
        Segment next = {.seq = h->n_segs ? h->segs[h->n_segs - 1].seq + 1 : 1};
        int r;

        if (h->fd >= 0 && h->dirty && fdatasync(h->fd) < 0) {
                h->stats.write_errors++;
                return -errno;
        }
        h->dirty = false;
        if (h->n_segs > 0) {
                r = index_write(h, &h->segs[h->n_segs - 1], &h->models);
                if (r < 0) {
                        h->stats.write_errors++;
                        return r;
                }
        }
        if (h->fd >= 0)
                close(h->fd);
        h->fd = -1;
        strset_clear(&h->models);
        month_of(time, &next.year, &next.month);
        _cleanup_free_ char *path = segment_path(h, &next, SEGMENT_SUFFIX);
        h->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (h->fd < 0) {
                h->stats.write_errors++;
                return -errno;
        }
        util_grow((void **)&h->segs, &h->cap_segs, h->n_segs + 1, sizeof(Segment));
        h->segs[h->n_segs++] = next;
        h->snapshot_bytes = 0;
        h->checkpoint_at = 0;
        enforce_limits(h);
        cellmap_rebuild(&h->cells, 0);
        for (size_t i = 0; i < h->cells.cap; i++) {
                const CellEntry *e = &h->cells.slots[i];
                if (!e->model)
                        continue;
                HistoryEvent snap = {.time = time,
                                     .kind = "snapshot",
                                     .model = cell_model(&h->cells, e),
                                     .provider = cell_provider(&h->cells, e),
                                     .state = cell_state_name(e->state),
                                     .since = e->since};
                r = append_raw(h, &snap, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

int history_append(HistoryStore *h, const HistoryEvent *ev)
{
        unsigned y, m;
        int r;

        if (!kind_known(ev->kind) || streq(ev->kind, "snapshot"))
                return -EINVAL;
        if ((streq(ev->kind, "cell")) && (!ev->model || !ev->provider || !ev->state))
                return -EINVAL;
        month_of(ev->time, &y, &m);
        const Segment *s = h->n_segs ? &h->segs[h->n_segs - 1] : NULL;
        bool full =
            s && s->bytes > h->snapshot_bytes && s->bytes - h->snapshot_bytes >= segment_cap(h);
        if (!s || s->year != y || s->month != m || full) {
                r = roll(h, ev->time);
                if (r < 0)
                        return r;
        } else if (h->fd < 0) {
                _cleanup_free_ char *path = segment_path(h, s, SEGMENT_SUFFIX);
                h->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
                if (h->fd < 0) {
                        h->stats.write_errors++;
                        return -errno;
                }
        }
        r = append_raw(h, ev, false);
        if (r < 0)
                return r;
        h->stats.events_appended++;
        if (streq(ev->kind, "cell")) {
                (void)cellmap_set(&h->cells, ev->model, ev->provider, cell_state_of(ev->state),
                                  ev->time);
                /* The map moved apart from the matrix's last synced version (an
                 * announcement held back and made later, say): the next sync walks. */
                h->synced_version = 0;
        }
        return 0;
}

static int append_quiet(HistoryStore *h, const char *model, const char *provider, CellState from,
                        CellState to, uint64_t now)
{
        _cleanup_free_ char *msg = xasprintf("[cell] %s on %s: %s -> %s" QUIET_NOTE, model,
                                             provider, cell_state_name(from), cell_state_name(to));
        HistoryEvent ev = {.time = now,
                           .kind = "cell",
                           .model = model,
                           .provider = provider,
                           .state = cell_state_name(to),
                           .previous_state = cell_state_name(from),
                           .message = msg,
                           .quiet = true};
        return history_append(h, &ev);
}

typedef struct GoneCell {
        char *model, *provider;
        CellState was;
} GoneCell;

static int cmp_gone(const void *a, const void *b)
{
        const GoneCell *x = a, *y = b;
        int c = strcmp(x->model, y->model);
        return c ? c : strcmp(x->provider, y->provider);
}

int history_sync(HistoryStore *h, const Matrix *m, uint64_t now)
{
        int r = 0;

        /* No cell of the matrix moved since the last sync, which left the map as the
         * matrix was: a steady poll of one source among hundreds walked every cell. */
        if (m && h->synced_version == m->states_version) {
                h->stats.syncs_skipped++;
                goto flush;
        }
        for (size_t i = 0; i < h->cells.cap; i++)
                h->cells.slots[i].seen = false;
        /* The map's numbers of the columns' names, looked up once per column rather than per
         * cell (UINT32_MAX: not yet); an append may renumber the map's texts, and clears them. */
        uint32_t pids[MATRIX_MAX_PROVIDERS];
        memset(pids, 0xff, sizeof(pids));
        for (size_t i = 0; m && i < m->n_models && r >= 0; i++) {
                const MatrixModel *mm = m->models[i];
                uint32_t mi = UINT32_MAX;
                for (size_t k = 0; k < mm->n_cells && r >= 0; k++) {
                        const Cell *c = &mm->cells[k];
                        const char *provider = m->providers[c->provider].id;
                        CellEntry *e;
                        if (c->state == CELL_UNKNOWN)
                                continue;
                        if (mi == UINT32_MAX)
                                mi = textset_find(&h->cells.texts, mm->id);
                        if (pids[c->provider] == UINT32_MAX)
                                pids[c->provider] = textset_find(&h->cells.texts, provider);
                        e = cellmap_find_ids(&h->cells, mi, pids[c->provider]);
                        if (!e || e->state != c->state) {
                                r = append_quiet(h, mm->id, provider, e ? e->state : CELL_UNKNOWN,
                                                 c->state, now);
                                memset(pids, 0xff, sizeof(pids));
                                mi = UINT32_MAX;
                                e = cellmap_find(&h->cells, mm->id, provider);
                        }
                        if (e)
                                e->seen = true;
                }
        }
        /* Known cells the matrix no longer holds (a source removed, a row gone): unknown now.
         * Collected first: appending may start a segment, which compacts the map. Recorded
         * by model and provider, an order of their own rather than the map's. */
        size_t n = 0;
        GoneCell *gone = NULL;
        for (size_t i = 0; r >= 0 && i < h->cells.cap; i++) {
                const CellEntry *e = &h->cells.slots[i];
                if (!e->model || e->state == CELL_UNKNOWN || e->seen)
                        continue;
                gone = xreallocarray(gone, n + 1, sizeof(GoneCell));
                gone[n++] = (GoneCell){.model = xstrdup(cell_model(&h->cells, e)),
                                       .provider = xstrdup(cell_provider(&h->cells, e)),
                                       .was = e->state};
        }
        if (n > 1)
                qsort(gone, n, sizeof(GoneCell), cmp_gone);
        for (size_t i = 0; i < n; i++) {
                if (r >= 0)
                        r = append_quiet(h, gone[i].model, gone[i].provider, gone[i].was,
                                         CELL_UNKNOWN, now);
                free(gone[i].model);
                free(gone[i].provider);
        }
        free(gone);
        if (r >= 0 && m)
                h->synced_version = m->states_version;
flush:
        /* Synced, then closed: between saves no file of the state directory is held open
         * for writing, so it can be remounted read-only (and a deleted store is let go). */
        if (h->fd >= 0) {
                if (h->dirty && fdatasync(h->fd) < 0) {
                        h->stats.write_errors++;
                        if (r >= 0)
                                r = -errno;
                }
                h->dirty = false;
                close(h->fd);
                h->fd = -1;
                if (r >= 0)
                        checkpoint_maybe_write(h);
        }
        return r;
}

/* ---- queries ---------------------------------------------------------------------------- */

struct HistoryCursor {
        HistoryStore *h;
        char *model;
        bool literal; /* model has no glob characters: a cheap text test skips most records */
        uint64_t since, until;
        bool quiet, snapshots, use_index;
        Segment *segs; /* candidates, chosen by time span when the cursor was made */
        size_t n_segs, next;
        Reader reader;
        bool open;
        uint64_t bytes_read;
        size_t segments_read;
        void *current; /* the texts of the event last returned */
};

static bool glob_match(const char *glob, const char *s)
{
        return !glob || (s && fnmatch(glob, s, 0) == 0);
}

static bool span_overlaps(const Segment *s, uint64_t since, uint64_t until)
{
        if (s->events == 0)
                return false;
        return s->last >= since && (until == 0 || s->first <= until);
}

static HistoryCursor *cursor_alloc(HistoryStore *h, const HistoryQuery *q)
{
        HistoryCursor *c = xcalloc(1, sizeof(HistoryCursor));

        c->h = h;
        c->model = xstrdup(q->model);
        c->literal = q->model && !strpbrk(q->model, "*?[\\\"");
        c->since = q->since;
        c->until = q->until;
        c->quiet = q->quiet;
        c->use_index = true;
        c->reader.fd = -1;
        return c;
}

int history_cursor_new(HistoryStore *h, const HistoryQuery *q, HistoryCursor **ret)
{
        HistoryCursor *c = cursor_alloc(h, q);

        c->segs = xcalloc(MAX(h->n_segs, (size_t)1), sizeof(Segment));
        for (size_t i = 0; i < h->n_segs; i++)
                if (span_overlaps(&h->segs[i], q->since, q->until))
                        c->segs[c->n_segs++] = h->segs[i];
        *ret = c;
        return 0;
}

void history_cursor_free(HistoryCursor *c)
{
        if (!c)
                return;
        if (c->open)
                reader_clear(&c->reader);
        free(c->current);
        free(c->segs);
        free(c->model);
        free(c);
}

uint64_t history_cursor_bytes_read(const HistoryCursor *c)
{
        return c->bytes_read + (c->open ? c->reader.bytes_read : 0);
}

size_t history_cursor_segments_read(const HistoryCursor *c)
{
        return c->segments_read;
}

/* Whether segment s can hold a record of the cursor's model, by its index. */
static bool segment_may_hold(HistoryCursor *c, Segment *s)
{
        const HistoryStore *h = c->h;

        if (!c->model || !c->use_index)
                return true;
        if (h->n_segs && s->seq == h->segs[h->n_segs - 1].seq) {
                /* Appended to now: the index is the store's own set. */
                if (h->models.overflow)
                        return true;
                if (c->literal)
                        return textset_find(&h->models.texts, c->model) != 0;
                const char *model;
                for (size_t at = 0; strset_next(&h->models, &at, &model);)
                        if (glob_match(c->model, model))
                                return true;
                return false;
        }
        json_t *models = NULL, *v;
        size_t i;
        Segment copy = *s;
        if (segment_size(h, &copy) < 0 || index_read(h, &copy, &models) < 0 || !models)
                return true; /* no usable index: read it */
        bool hit = false;
        json_array_foreach(models, i, v) if (glob_match(c->model, json_string_value(v)))
        {
                hit = true;
                break;
        }
        json_decref(models);
        return hit;
}

static int cursor_open_next(HistoryCursor *c)
{
        while (c->next < c->n_segs) {
                Segment *s = &c->segs[c->next++];
                if (!segment_may_hold(c, s))
                        continue;
                _cleanup_free_ char *path = segment_path(c->h, s, SEGMENT_SUFFIX);
                int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue; /* dropped by retention since the query began */
                        return -errno;
                }
                reader_init(&c->reader, fd);
                c->open = true;
                c->segments_read++;
                return 1;
        }
        return 0;
}

static bool cursor_wants(const HistoryCursor *c, const HistoryEvent *ev)
{
        if (ev->time < c->since || (c->until && ev->time > c->until))
                return false;
        if (streq(ev->kind, "snapshot") ? !c->snapshots : ev->quiet && !c->quiet)
                return false;
        return glob_match(c->model, ev->model);
}

int history_cursor_next(HistoryCursor *c, size_t *budget, HistoryEvent *ret)
{
        free(c->current);
        c->current = NULL;
        for (;;) {
                const char *line = NULL;
                size_t len = 0;
                uint64_t at = 0, t, before;
                int k;

                if (!c->open) {
                        k = cursor_open_next(c);
                        if (k <= 0)
                                return k;
                }
                if (*budget == 0)
                        return -EAGAIN;
                before = c->reader.bytes_read;
                k = reader_line(&c->reader, &line, &len, &at);
                *budget -= MIN(*budget, (size_t)(c->reader.bytes_read - before));
                if (k <= 0) {
                        c->bytes_read += c->reader.bytes_read;
                        reader_clear(&c->reader);
                        c->open = false;
                        if (k < 0)
                                return k;
                        continue;
                }
                *budget -= MIN(*budget, len / 8); /* parsing costs too, not only reading */
                if (k == 2)
                        continue;
                /* Records a query cannot want are passed over on their head and text. */
                if (!record_time(line, len, &t) || t < c->since || (c->until && t > c->until))
                        continue;
                if (c->literal && !memmem(line, len, c->model, strlen(c->model)))
                        continue;
                HistoryEvent ev;
                void *j;
                if (history_record_parse(line, len, &ev, &j) < 0) {
                        c->h->stats.dropped_corrupt++;
                        continue;
                }
                if (!cursor_wants(c, &ev)) {
                        free(j);
                        continue;
                }
                c->current = j;
                *ret = ev;
                return 1;
        }
}

/* ---- the matrix as it was ------------------------------------------------------------------ */

/* Once read, the cells are gathered from the map and sorted a slice at a time, so that a
 * step stays well under a millisecond whatever their number: at 60,000 cells (20,000 models
 * on three providers) the gathering took 8 ms of CPU and a qsort() 30 to 70 ms in one go.
 * The sort is a merge sort, HISTORY_SORT_SLICE comparisons per step. */
#define HISTORY_COLLECT_SLICE 16384u /* slots of the map */
#define HISTORY_SORT_SLICE    4096u

typedef enum ReplayPhase {
        REPLAY_READ,
        REPLAY_COLLECT,
        REPLAY_SORT,
        REPLAY_DONE,
} ReplayPhase;

struct HistoryReplay {
        HistoryCursor *cursor;
        CellMap cells;
        ReplayPhase phase;
        size_t scan;               /* slots of the map gathered so far */
        HistoryCell *list, *spare; /* the cells; the merge's other buffer */
        size_t n_list;
        size_t width; /* the list is sorted in runs of width cells */
        size_t pos;   /* the first cell of the pair of runs being merged */
        size_t i, j;  /* the next cell of each run of the pair */
        uint64_t from;
        int error;
};

int history_replay_new(HistoryStore *h, uint64_t at, const char *glob, HistoryReplay **ret)
{
        HistoryReplay *r = xcalloc(1, sizeof(HistoryReplay));
        const Segment *pick = NULL;
        HistoryStats st;

        history_stats(h, &st);
        r->from = st.oldest;
        /* Sized for the cells the store knows now, so that reading seldom grows the map: a
         * growth rehashes every cell in one step (19 ms of CPU at 60,000). */
        cellmap_rebuild(&r->cells, h->cells.n);
        /* The newest segment begun by then: its opening snapshot holds every cell as it was,
         * so nothing older is read. */
        for (size_t i = 0; i < h->n_segs; i++)
                if (h->segs[i].events > 0 && h->segs[i].first <= at)
                        pick = &h->segs[i];
        HistoryQuery q = {.model = glob, .since = 0, .until = at, .quiet = true};
        r->cursor = cursor_alloc(h, &q);
        r->cursor->snapshots = true;
        r->cursor->use_index = false;
        r->cursor->segs = xcalloc(1, sizeof(Segment));
        if (pick)
                r->cursor->segs[r->cursor->n_segs++] = *pick;
        *ret = r;
        return 0;
}

static int cmp_cell(const HistoryCell *x, const HistoryCell *y)
{
        int c = strcmp(x->model, y->model);
        return c ? c : strcmp(x->provider, y->provider);
}

/* Gather the known cells of up to `slots` more slots of the map, in the map's order. */
static void replay_collect(HistoryReplay *r, size_t slots)
{
        size_t end = r->scan + MIN(slots, r->cells.cap - r->scan);

        for (; r->scan < end; r->scan++) {
                const CellEntry *e = &r->cells.slots[r->scan];
                if (!e->model || e->state == CELL_UNKNOWN)
                        continue;
                /* The map's texts: nothing is added to it any more, so they stay put. */
                r->list[r->n_list++] = (HistoryCell){.model = cell_model(&r->cells, e),
                                                     .provider = cell_provider(&r->cells, e),
                                                     .state = e->state,
                                                     .since = e->since};
        }
}

/* Merge on for at most budget comparisons: pairs of runs into spare, a pass over the list
 * at a time, until one run holds it all. Resumable inside a merge (pos, i, j). */
static void replay_sort_slice(HistoryReplay *r, size_t budget)
{
        HistoryCell *list = r->list, *out = r->spare;
        size_t n = r->n_list;

        while (r->width < n && budget > 0) {
                size_t mid = MIN(r->pos + r->width, n), hi = MIN(r->pos + 2 * r->width, n);
                size_t o = r->i + r->j - mid;

                for (; budget > 0 && r->i < mid && r->j < hi; budget--)
                        out[o++] =
                            cmp_cell(&list[r->i], &list[r->j]) <= 0 ? list[r->i++] : list[r->j++];
                if (r->i < mid && r->j < hi)
                        return;
                /* One run is used up: the rest of the other follows as it is. */
                memcpy(out + o, list + r->i, (mid - r->i) * sizeof(HistoryCell));
                o += mid - r->i;
                memcpy(out + o, list + r->j, (hi - r->j) * sizeof(HistoryCell));
                r->pos = hi;
                if (r->pos >= n) {
                        r->list = out;
                        r->spare = list;
                        list = r->list;
                        out = r->spare;
                        r->width *= 2;
                        r->pos = 0;
                }
                r->i = r->pos;
                r->j = MIN(r->pos + r->width, n);
        }
}

int history_replay_step(HistoryReplay *r, size_t budget)
{
        HistoryEvent ev;
        int k;

        switch (r->phase) {
        case REPLAY_READ:
                while ((k = history_cursor_next(r->cursor, &budget, &ev)) > 0)
                        cellmap_apply(&r->cells, &ev);
                if (k == -EAGAIN)
                        return 1;
                /* A read error leaves the cells read so far: they are what is known. */
                r->error = k;
                r->list = xmalloc(MAX(r->cells.n, (size_t)1) * sizeof(HistoryCell));
                r->phase = REPLAY_COLLECT;
                return 1;
        case REPLAY_COLLECT:
                replay_collect(r, HISTORY_COLLECT_SLICE);
                if (r->scan < r->cells.cap)
                        return 1;
                /* Runs of one cell to merge. */
                r->spare = xmalloc(MAX(r->n_list, (size_t)1) * sizeof(HistoryCell));
                r->width = 1;
                r->pos = r->i = 0;
                r->j = MIN((size_t)1, r->n_list);
                r->phase = REPLAY_SORT;
                return 1;
        case REPLAY_SORT:
                replay_sort_slice(r, HISTORY_SORT_SLICE);
                if (r->width < r->n_list)
                        return 1;
                free(r->spare);
                r->spare = NULL;
                r->phase = REPLAY_DONE;
                return r->error;
        case REPLAY_DONE:
                break;
        }
        return 0;
}

size_t history_replay_cells(HistoryReplay *r, const HistoryCell **ret)
{
        *ret = r->list;
        return r->n_list;
}

uint64_t history_replay_from(const HistoryReplay *r)
{
        return r->from;
}

uint64_t history_replay_bytes_read(const HistoryReplay *r)
{
        return history_cursor_bytes_read(r->cursor);
}

void history_replay_free(HistoryReplay *r)
{
        if (!r)
                return;
        history_cursor_free(r->cursor);
        cellmap_clear(&r->cells);
        free(r->list);
        free(r->spare);
        free(r);
}

/* The matrix is built through its own state format (docs/matrix.md): one piece of evidence
 * per cell, from a source named "history", so the merge gives back exactly the state
 * recorded. The format name is the one matrix.c writes. */
#define MATRIX_STATE_FORMAT "lockwatch.matrix-state/1"

typedef struct RowCell {
        int provider;
        const HistoryCell *cell;
} RowCell;

static int cmp_row_cell(const void *a, const void *b)
{
        const RowCell *x = a, *y = b;
        return x->provider - y->provider;
}

static json_t *row_json(const char *id, bool mapped, RowCell *rc, size_t n)
{
        json_t *cells = json_array();

        if (!cells)
                util_oom();
        qsort(rc, n, sizeof(RowCell), cmp_row_cell);
        for (size_t i = 0; i < n; i++) {
                const HistoryCell *c = rc[i].cell;
                json_int_t t = (json_int_t)MIN(c->since, (uint64_t)INT64_MAX);
                json_t *ev = json_pack(
                    "{s:s, s:s, s:s, s:[], s:n, s:n, s:s, s:i, s:I, s:I, s:I, s:i}", "source",
                    "history", "said", c->state == CELL_AVAILABLE ? "available" : "unavailable",
                    "raw_id", "", "regions", "price_in", "price_out", "lifecycle",
                    lifecycle_name(LIFECYCLE_UNKNOWN), "eol", 0, "first_seen", t, "last_seen", t,
                    "changed", t, "missing", 0);
                json_t *cj = json_pack("{s:i, s:[o]}", "provider", rc[i].provider, "evidence", ev);
                if (!cj || json_array_append_new(cells, cj) < 0)
                        util_oom();
        }
        json_t *row = json_pack("{s:s, s:b, s:o}", "id", id, "mapped", mapped, "cells", cells);
        if (!row)
                util_oom();
        return row;
}

struct HistoryMatrixBuild {
        const HistoryCell *cells;
        size_t n, next; /* next: the first cell of the next row */
        Matrix *m;      /* the columns of the matrix current was, and the rows made so far */
};

int history_matrix_build_new(const HistoryCell *cells, size_t n, const Matrix *current,
                             HistoryMatrixBuild **ret)
{
        json_t *providers = json_array();
        HistoryMatrixBuild *b;
        int r;

        if (!providers)
                util_oom();
        for (size_t i = 0; i < current->n_providers; i++)
                if (json_array_append_new(
                        providers, json_pack("{s:s, s:s}", "id", current->providers[i].id, "kind",
                                             provider_kind_name(current->providers[i].kind))) < 0)
                        util_oom();
        json_t *doc = json_pack("{s:s, s:o, s:[]}", "format", MATRIX_STATE_FORMAT, "providers",
                                providers, "models");
        if (!doc)
                util_oom();
        b = xcalloc(1, sizeof(HistoryMatrixBuild));
        r = matrix_from_state_json(doc, &b->m);
        json_decref(doc);
        if (r < 0) {
                free(b);
                return r;
        }
        b->cells = cells;
        b->n = n;
        *ret = b;
        return 0;
}

int history_matrix_build_step(HistoryMatrixBuild *b, const Matrix *current, size_t rows)
{
        RowCell rc[MATRIX_MAX_PROVIDERS];

        for (; b->next < b->n && rows > 0; rows--) {
                const char *model = b->cells[b->next].model;
                size_t nrc = 0;
                int r;

                /* Columns by the build's own matrix: current may have gained or lost one since
                 * the build began, and a row's cells must index the columns it is put in. */
                for (; b->next < b->n && streq(b->cells[b->next].model, model); b->next++) {
                        int p = matrix_provider_index(b->m, b->cells[b->next].provider);
                        if (p >= 0 && nrc < ELEMENTSOF(rc))
                                rc[nrc++] = (RowCell){.provider = p, .cell = &b->cells[b->next]};
                }
                if (nrc == 0)
                        continue;
                const MatrixModel *mm = matrix_find_model(current, model);
                json_t *row = row_json(model, mm ? mm->mapped : true, rc, nrc);
                r = matrix_append_state_row(b->m, row);
                json_decref(row);
                if (r < 0)
                        return r;
        }
        return b->next < b->n;
}

Matrix *history_matrix_build_take(HistoryMatrixBuild *b)
{
        return TAKE_PTR(b->m);
}

void history_matrix_build_free(HistoryMatrixBuild *b)
{
        if (!b)
                return;
        matrix_free(b->m);
        free(b);
}

int history_matrix_build(const HistoryCell *cells, size_t n, const Matrix *current, Matrix **ret)
{
        HistoryMatrixBuild *b = NULL;
        int r;

        r = history_matrix_build_new(cells, n, current, &b);
        if (r < 0)
                return r;
        r = history_matrix_build_step(b, current, SIZE_MAX);
        if (r >= 0)
                *ret = history_matrix_build_take(b);
        history_matrix_build_free(b);
        return r < 0 ? r : 0;
}
