/* The framing and the field encoding of the state's snapshot and change log (docs/state.md).
 * A file is a run of frames, each its payload's length and CRC32C, then the payload: a frame
 * cut short by a kill or a crash is found and dropped whole. A frame holds a batch of
 * records (a save's changes apply all or not at all), each its length, then its type, then
 * its fields. Pure: no files, no clock, no logging. */
#pragma once

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STATELOG_FRAME_BYTES  8u /* u32 length, u32 CRC32C, both little-endian */
#define STATELOG_RECORD_BYTES 4u /* u32 length of a record within a frame */
#define STATELOG_MAX_FRAME    (256u * 1024u * 1024u) /* a payload larger than this is not ours */
#define STATELOG_MAGIC        "lockwatch-state"
#define STATELOG_VERSION      1u

/* What a payload's first byte says it is. */
typedef enum StateLogType {
        STATELOG_HEADER = 1, /* magic, version, generation: the first record of every file */
        STATELOG_SHAPE,      /* the matrix's columns and rows (snapshots only) */
        STATELOG_SOURCE,     /* one source's state (validators, counters, status) */
        STATELOG_EVIDENCE,   /* every piece of evidence one source holds, replacing the last */
        STATELOG_FORGET,     /* a source removed from the configuration, with its evidence */
        STATELOG_ENGINE,     /* the rule engine's alert states and look-back, as JSON text */
        STATELOG_HISTORY,    /* transitions appended to the history */
        STATELOG_END,        /* the last record of a snapshot, with the number before it */
        STATELOG_RULES,      /* the rule engine's state, binary (replaces ENGINE's JSON) */
        STATELOG_SEEN,       /* a source's every piece of evidence was last seen at a time */
        _STATELOG_TYPE_MAX,
} StateLogType;

/* A growing byte buffer that records are encoded into. */
typedef struct StateLogBuf {
        uint8_t *data;
        size_t len, cap;
} StateLogBuf;

/* A read cursor over one payload; any read past its end sets failed and gives zeros. */
typedef struct StateLogReader {
        const uint8_t *p, *end;
        bool failed;
} StateLogReader;

/* CRC32C (Castagnoli) of len bytes, continuing from crc (start with 0). */
uint32_t statelog_crc32c(uint32_t crc, const void *data, size_t len);
/* Use the tables even where the CPU has a CRC32C instruction (true), or let it be used
 * again (false): for tests that compare the two. */
void statelog_crc32c_force_tables(bool tables);

/* Free the buffer's bytes and reset it. */
void statelog_buf_free(StateLogBuf *b);
/* Start a frame; returns its offset, to be passed to statelog_frame_end(). */
size_t statelog_frame_begin(StateLogBuf *b);
/* Finish the frame started at offset start: fill in its length and checksum. An empty
 * frame is taken back (returns false). */
bool statelog_frame_end(StateLogBuf *b, size_t start);
/* Start a record of type t within a frame; returns its offset, for statelog_end(). */
size_t statelog_begin(StateLogBuf *b, StateLogType t);
/* Finish the record started at offset start: fill in its length. */
void statelog_end(StateLogBuf *b, size_t start);
/* Make room for n more bytes (out of line: the inline writers below call it only when the
 * buffer is full). */
void statelog_grow(StateLogBuf *b, size_t n);

/* Where n more bytes go. The writers and readers below are inline: a save and a load call
 * them for every field of every row, and a call each cost as much as the work. */
static inline uint8_t *statelog_room(StateLogBuf *b, size_t n)
{
        if (b->cap - b->len < n)
                statelog_grow(b, n);
        return b->data + b->len;
}

/* Append one byte. */
static inline void statelog_put_u8(StateLogBuf *b, uint8_t v)
{
        *statelog_room(b, 1) = v;
        b->len++;
}

/* Append an unsigned integer as LEB128 (1 to 10 bytes). */
static inline void statelog_put_uint(StateLogBuf *b, uint64_t v)
{
        uint8_t *p = statelog_room(b, 10);
        size_t n = 0;

        while (v >= 0x80) {
                p[n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        p[n++] = (uint8_t)v;
        b->len += n;
}

/* Append a double as its 8 bytes, little-endian (NAN and every other value exact). */
static inline void statelog_put_double(StateLogBuf *b, double v)
{
        uint64_t bits;

        memcpy(&bits, &v, sizeof(bits));
        bits = htole64(bits);
        memcpy(statelog_room(b, 8), &bits, sizeof(bits));
        b->len += 8;
}

/* Append len raw bytes. */
static inline void statelog_put_bytes(StateLogBuf *b, const void *data, size_t len)
{
        if (len == 0)
                return;
        memcpy(statelog_room(b, len), data, len);
        b->len += len;
}

/* Like statelog_put_str() for len bytes at s (never NULL). */
static inline void statelog_put_strn(StateLogBuf *b, const char *s, size_t len)
{
        statelog_put_uint(b, (uint64_t)len + 1);
        statelog_put_bytes(b, s, len);
}

/* Append a text (NULL allowed) as its length plus one, then its bytes; 0 means NULL. */
static inline void statelog_put_str(StateLogBuf *b, const char *s)
{
        if (!s)
                statelog_put_uint(b, 0);
        else
                statelog_put_strn(b, s, strlen(s));
}

/* Find the frame at offset off of len bytes: 1 with its payload set and *ret_next past it;
 * 0 at the exact end; -EBADMSG if the bytes there are not a whole, intact frame, with
 * *ret_torn true when that is a tail cut short (the frame runs past the end, or nothing
 * but zero bytes follow): what a kill during an append leaves. */
int statelog_next(const uint8_t *data, size_t len, size_t off, const uint8_t **ret_payload,
                  size_t *ret_payload_len, size_t *ret_next, bool *ret_torn);
/* Find the record at offset off of a frame's payload (len bytes): 1 with it set and
 * *ret_next past it; 0 at the end; -EBADMSG if its length runs past the frame or is 0. */
int statelog_next_record(const uint8_t *payload, size_t len, size_t off, const uint8_t **ret_record,
                         size_t *ret_record_len, size_t *ret_next);

/* A cursor over n bytes at p. */
void statelog_reader_init(StateLogReader *r, const void *p, size_t n);
/* Whether n more bytes are there to read; if not, the reader fails. */
static inline bool statelog_reader_has(StateLogReader *r, size_t n)
{
        if (r->failed || (size_t)(r->end - r->p) < n) {
                r->failed = true;
                return false;
        }
        return true;
}

/* Read one byte. */
static inline uint8_t statelog_get_u8(StateLogReader *r)
{
        if (!statelog_reader_has(r, 1))
                return 0;
        return *r->p++;
}

/* Read a LEB128 integer; more than 10 bytes or a value past 64 bits fails the reader. */
static inline uint64_t statelog_get_uint(StateLogReader *r)
{
        uint64_t v = 0;

        for (unsigned shift = 0; shift < 70; shift += 7) {
                if (!statelog_reader_has(r, 1))
                        return 0;
                uint8_t byte = *r->p++;
                /* The tenth byte may carry only the top bit of a 64-bit value. */
                if (shift == 63 && byte > 1) {
                        r->failed = true;
                        return 0;
                }
                v |= (uint64_t)(byte & 0x7f) << shift;
                if (!(byte & 0x80))
                        return v;
        }
        r->failed = true;
        return 0;
}

/* Read an unsigned integer no larger than max (a larger one fails the reader). */
static inline uint64_t statelog_get_uint_max(StateLogReader *r, uint64_t max)
{
        uint64_t v = statelog_get_uint(r);

        if (v > max) {
                r->failed = true;
                return 0;
        }
        return v;
}

/* Read a double. */
static inline double statelog_get_double(StateLogReader *r)
{
        uint64_t bits;
        double v;

        if (!statelog_reader_has(r, 8))
                return 0;
        memcpy(&bits, r->p, sizeof(bits));
        bits = le64toh(bits);
        r->p += 8;
        memcpy(&v, &bits, sizeof(v));
        return v;
}

/* Read a text of at most max bytes: its bytes (not NUL-terminated; NULL for a NULL text)
 * with *ret_len set. A longer text fails the reader. */
static inline const char *statelog_get_strn(StateLogReader *r, size_t max, size_t *ret_len)
{
        uint64_t n = statelog_get_uint(r);
        const char *s;

        *ret_len = 0;
        if (r->failed || n == 0)
                return NULL;
        if (n - 1 > max || !statelog_reader_has(r, (size_t)(n - 1))) {
                r->failed = true;
                return NULL;
        }
        s = (const char *)r->p;
        r->p += n - 1;
        *ret_len = (size_t)(n - 1);
        return s;
}

/* Read a text of at most max bytes as a new NUL-terminated string (NULL for NULL); a text
 * holding a NUL fails the reader. */
char *statelog_get_str_dup(StateLogReader *r, size_t max);
/* Whether every byte was read and nothing failed. */
bool statelog_reader_done(const StateLogReader *r);
