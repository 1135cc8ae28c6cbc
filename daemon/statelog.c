#include "lockwatch/statelog.h"

#include <errno.h>
#include <string.h>

#include "lockwatch/util.h"

/* Slicing by eight: a snapshot of a large matrix is checksummed in a few instructions per
 * byte, where the bytewise table would cost several times the encoding itself. */
static uint32_t crc_table[8][256];
static bool crc_ready;

static void crc_init(void)
{
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = c & 1 ? (c >> 1) ^ UINT32_C(0x82f63b78) : c >> 1;
                crc_table[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
                for (int t = 1; t < 8; t++)
                        crc_table[t][i] =
                            (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
        crc_ready = true;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* SSE4.2's crc32 instruction computes this very CRC, eight bytes an instruction: a fifth
 * of the instructions a state load spent on the tables. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p,
                                                                size_t len)
{
        uint64_t c = crc;

        for (; len >= 8; p += 8, len -= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                c = __builtin_ia32_crc32di(c, w);
        }
        crc = (uint32_t)c;
        while (len--)
                crc = __builtin_ia32_crc32qi(crc, *p++);
        return crc;
}

static int crc_hw = -1; /* -1: not asked yet */

void statelog_crc32c_force_tables(bool tables)
{
        crc_hw = tables ? 0 : -1;
}
#else
void statelog_crc32c_force_tables(bool tables)
{
        (void)tables;
}
#endif

uint32_t statelog_crc32c(uint32_t crc, const void *data, size_t len)
{
        const uint8_t *p = data;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (crc_hw < 0)
                crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        if (crc_hw)
                return ~crc32c_sse42(~crc, p, len);
#endif
        if (!crc_ready)
                crc_init();
        crc = ~crc;
        while (len >= 8) {
                uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                     (uint32_t)p[3] << 24);
                crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
                      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
                      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
                      crc_table[0][p[7]];
                p += 8;
                len -= 8;
        }
        while (len--)
                crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
        return ~crc;
}

void statelog_buf_free(StateLogBuf *b)
{
        free(b->data);
        *b = (StateLogBuf){0};
}

void statelog_grow(StateLogBuf *b, size_t n)
{
        if (b->len + n > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n);
                cap = MAX(cap, (size_t)4096);
                b->data = xreallocarray(b->data, cap, 1);
                b->cap = cap;
        }
}

static void put_le32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t statelog_frame_begin(StateLogBuf *b)
{
        size_t start = b->len;

        memset(statelog_room(b, STATELOG_FRAME_BYTES), 0, STATELOG_FRAME_BYTES);
        b->len += STATELOG_FRAME_BYTES;
        return start;
}

bool statelog_frame_end(StateLogBuf *b, size_t start)
{
        uint8_t *frame = b->data + start;
        size_t n = b->len - start - STATELOG_FRAME_BYTES;

        if (n == 0) {
                b->len = start;
                return false;
        }
        /* The callers' caps keep every frame far below this; past it, the reader would
         * refuse the frame, so refusing to write it is the same answer, sooner. */
        if (n > STATELOG_MAX_FRAME)
                abort();
        put_le32(frame, (uint32_t)n);
        put_le32(frame + 4, statelog_crc32c(0, frame + STATELOG_FRAME_BYTES, n));
        return true;
}

size_t statelog_begin(StateLogBuf *b, StateLogType t)
{
        size_t start = b->len;

        memset(statelog_room(b, STATELOG_RECORD_BYTES), 0, STATELOG_RECORD_BYTES);
        b->len += STATELOG_RECORD_BYTES;
        statelog_put_u8(b, (uint8_t)t);
        return start;
}

void statelog_end(StateLogBuf *b, size_t start)
{
        put_le32(b->data + start, (uint32_t)(b->len - start - STATELOG_RECORD_BYTES));
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

int statelog_next(const uint8_t *data, size_t len, size_t off, const uint8_t **ret_payload,
                  size_t *ret_payload_len, size_t *ret_next, bool *ret_torn)
{
        size_t left, n;

        *ret_torn = false;
        if (off == len)
                return 0;
        left = len - off;
        if (left < STATELOG_FRAME_BYTES) {
                *ret_torn = true;
                return -EBADMSG;
        }
        n = get_le32(data + off);
        /* A file system that extended the file but had not written the data when the machine
         * went down leaves zeros: that is a torn tail too, not damage in the middle. */
        if (n == 0 || n > STATELOG_MAX_FRAME) {
                *ret_torn = all_zero(data + off, left);
                return -EBADMSG;
        }
        if (n > left - STATELOG_FRAME_BYTES) {
                *ret_torn = true;
                return -EBADMSG;
        }
        if (statelog_crc32c(0, data + off + STATELOG_FRAME_BYTES, n) != get_le32(data + off + 4)) {
                /* The last record, whole in length but not in content: cut by a crash. */
                *ret_torn =
                    off + STATELOG_FRAME_BYTES + n == len ||
                    all_zero(data + off + STATELOG_FRAME_BYTES, left - STATELOG_FRAME_BYTES);
                return -EBADMSG;
        }
        *ret_payload = data + off + STATELOG_FRAME_BYTES;
        *ret_payload_len = n;
        *ret_next = off + STATELOG_FRAME_BYTES + n;
        return 1;
}

int statelog_next_record(const uint8_t *payload, size_t len, size_t off, const uint8_t **ret_record,
                         size_t *ret_record_len, size_t *ret_next)
{
        size_t n;

        if (off == len)
                return 0;
        if (len - off < STATELOG_RECORD_BYTES)
                return -EBADMSG;
        n = get_le32(payload + off);
        if (n == 0 || n > len - off - STATELOG_RECORD_BYTES)
                return -EBADMSG;
        *ret_record = payload + off + STATELOG_RECORD_BYTES;
        *ret_record_len = n;
        *ret_next = off + STATELOG_RECORD_BYTES + n;
        return 1;
}

void statelog_reader_init(StateLogReader *r, const void *p, size_t n)
{
        *r = (StateLogReader){.p = p, .end = (const uint8_t *)p + n};
}

char *statelog_get_str_dup(StateLogReader *r, size_t max)
{
        size_t len;
        const char *s = statelog_get_strn(r, max, &len);

        if (!s)
                return NULL;
        if (memchr(s, '\0', len)) {
                r->failed = true;
                return NULL;
        }
        return xstrndup(s, len);
}

bool statelog_reader_done(const StateLogReader *r)
{
        return !r->failed && r->p == r->end;
}
