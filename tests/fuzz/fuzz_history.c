/* Arbitrary bytes as a history segment file, read by the reader every query and every open
 * uses (history_segment_scan()); each record it accepts must format and parse back the same.
 * The same bytes as one record's JSON body, with a good checksum: the reader's hand-written
 * parser must accept exactly what json_loadb() (JSON_REJECT_DUPLICATES) accepts as a
 * record, with the same texts. */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "lockwatch/history.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check(const HistoryEvent *ev, size_t on_disk, void *userdata)
{
        HistoryEvent back;
        char *line = NULL;
        size_t len = 0;
        void *j = NULL;

        (void)userdata;
        if (on_disk < 2)
                abort();
        if (history_record_format(ev, &line, &len) < 0)
                abort();
        if (history_record_parse(line, len - 1, &back, &j) < 0)
                abort();
        if (back.time != ev->time || back.quiet != ev->quiet || back.since != ev->since ||
            !same(back.kind, ev->kind) || !same(back.model, ev->model) ||
            !same(back.provider, ev->provider) || !same(back.state, ev->state) ||
            !same(back.message, ev->message) || !same(back.rule, ev->rule))
                abort();
        free(j);
        free(line);
}

static uint32_t crc32_of(const char *p, size_t len)
{
        uint32_t c = 0xffffffffu;

        for (size_t i = 0; i < len; i++) {
                c ^= (unsigned char)p[i];
                for (int k = 0; k < 8; k++)
                        c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xffffffffu;
}

/* What the reader accepted before it parsed by hand: a record per jansson. */
static bool reference_text(json_t *o, const char *key, const char **ret)
{
        json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v)
                return true;
        *ret = json_string_value(v);
        return *ret && json_string_length(v) <= HISTORY_MAX_TEXT &&
               util_utf8_valid(*ret, json_string_length(v));
}

static json_t *reference_parse(const char *body, size_t len, HistoryEvent *ev, bool *ret_dup)
{
        json_error_t err;
        json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err), *v;

        *ret_dup = !o && strstr(err.text, "duplicate object key");

        *ev = (HistoryEvent){0};
        if (!json_is_object(o) || !reference_text(o, "kind", &ev->kind) || !ev->kind ||
            !reference_text(o, "rule", &ev->rule) || !reference_text(o, "model", &ev->model) ||
            !reference_text(o, "provider", &ev->provider) ||
            !reference_text(o, "source", &ev->source) || !reference_text(o, "state", &ev->state) ||
            !reference_text(o, "previous_state", &ev->previous_state) ||
            !reference_text(o, "message", &ev->message))
                goto bad;
        if (strcmp(ev->kind, "cell") && strcmp(ev->kind, "alert") && strcmp(ev->kind, "source") &&
            strcmp(ev->kind, "unmapped") && strcmp(ev->kind, "snapshot"))
                goto bad;
        v = json_object_get(o, "quiet");
        if (v && !json_is_boolean(v))
                goto bad;
        ev->quiet = json_is_true(v);
        v = json_object_get(o, "since");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
                goto bad;
        ev->since = v ? (uint64_t)json_integer_value(v) : 0;
        if ((!strcmp(ev->kind, "cell") || !strcmp(ev->kind, "snapshot")) &&
            (!ev->model || !ev->provider || !ev->state))
                goto bad;
        return o;
bad:
        json_decref(o);
        return NULL;
}

static void differential(const uint8_t *data, size_t size)
{
        HistoryEvent a, b;
        void *mem = NULL;
        char *line;
        int k;

        size_t open = 0;

        /* jansson passes over a NUL byte in its input as if it were not there; the reader
         * refuses a record holding one (no writer puts one there). */
        if (size > 4096 || memchr(data, '\n', size) || memchr(data, '\0', size))
                return;
        /* Nesting near the parsers' common bound (2048) is not compared: where exactly
         * each one counts a level is not what this checks. */
        for (size_t i = 0; i < size; i++)
                open += data[i] == '[' || data[i] == '{';
        if (open > 1000)
                return;
        line = malloc(size + 32);
        if (!line)
                return;
        memcpy(line + 9, "7 ", 2);
        memcpy(line + 11, data, size);
        k = snprintf(line, 10, "%08x", crc32_of(line + 9, size + 2));
        line[8] = ' ';
        bool dup = false;
        json_t *o = k == 8 ? reference_parse(line + 11, size, &b, &dup) : NULL;
        k = history_record_parse(line, size + 11, &a, &mem);
        /* The reader refuses a repeated key of a member it knows; one of a member it passes
         * over it does not keep. */
        if (k == 0 && dup) {
                free(mem);
                free(line);
                return;
        }
        if ((k == 0) != (o != NULL)) {
                fprintf(stderr, "parsers disagree (reader %d, jansson %s): %.*s\n", k,
                        o ? "accepts" : "refuses", (int)size, (const char *)data);
                abort();
        }
        if (o && (a.time != 7 || a.quiet != b.quiet || a.since != b.since || !same(a.kind, b.kind) ||
                  !same(a.rule, b.rule) || !same(a.model, b.model) ||
                  !same(a.provider, b.provider) || !same(a.source, b.source) ||
                  !same(a.state, b.state) || !same(a.previous_state, b.previous_state) ||
                  !same(a.message, b.message)))
                abort();
        json_decref(o);
        free(mem);
        free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint64_t end = 0;
        int fd = memfd_create("segment", MFD_CLOEXEC);

        if (fd < 0)
                return 0;
        if (write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0 &&
            history_segment_scan(fd, check, NULL, &end) == 0 && end > size)
                abort();
        close(fd);
        /* Each line from its first brace on, as a record's body: the segment seeds are
         * records, and a mutation of one is what tells the two parsers apart. */
        for (size_t at = 0; at < size;) {
                const uint8_t *nl = memchr(data + at, '\n', size - at);
                size_t n = nl ? (size_t)(nl - (data + at)) : size - at;
                const uint8_t *brace = memchr(data + at, '{', n);
                if (brace)
                        differential(brace, n - (size_t)(brace - (data + at)));
                at += n + 1;
        }
        return 0;
}
