/* Arbitrary bytes as the history store's open checkpoint (history/open.ckpt): its frame and
 * the fields that tie it to the segment are made right here, so the bytes reach what a
 * checksum would otherwise keep them from: the span (the first 32 bytes, four 64-bit
 * numbers), then the models, the texts and the cells as the decoder reads them. The store
 * must open whatever they hold; when it took the checkpoint, a sync against an empty matrix
 * (every known cell goes unknown, so each is named and recorded) and a close must work. The
 * segment is written afresh for every input. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockwatch/history.h"
#include "lockwatch/statelog.h"
#include "lockwatch/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], seg_path[128], ckpt_path[128];
static char *segment;
static size_t segment_len;

/* A segment of three records, made once through the store itself. */
static void setup(void)
{
        HistoryStore *h = NULL;
        char sub[96];

        snprintf(dir, sizeof(dir), "/tmp/lw-fuzz-ckpt-XXXXXX");
        if (!mkdtemp(dir))
                abort();
        snprintf(sub, sizeof(sub), "%s/history", dir);
        if (history_open(sub, NULL, &h) < 0)
                abort();
        static const char *const models[] = {"v/a", "v/b", "v/c"};
        for (size_t i = 0; i < 3; i++) {
                HistoryEvent ev = {.time = UINT64_C(1767225600000000) + i,
                                   .kind = "cell",
                                   .model = models[i],
                                   .provider = "aws",
                                   .state = "available",
                                   .previous_state = "unknown",
                                   .message = "m"};
                if (history_append(h, &ev) < 0)
                        abort();
        }
        history_close(h);
        snprintf(seg_path, sizeof(seg_path), "%s/00000001-2026-01.seg", sub);
        snprintf(ckpt_path, sizeof(ckpt_path), "%s/open.ckpt", sub);
        if (util_read_file(seg_path, 1 << 20, &segment, &segment_len) < 0)
                abort();
}

static void write_file(const char *path, const void *p, size_t n)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, p, n) != (ssize_t)n)
                abort();
        close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char sub[96];
        HistoryStore *h = NULL;
        HistoryStats st;
        StateLogBuf b = {0};
        uint64_t span[4] = {0};

        if (!segment)
                setup();
        write_file(seg_path, segment, segment_len);
        size_t head = MIN(size, sizeof(span));
        memcpy(span, data, head);
        size_t frame = statelog_frame_begin(&b);
        statelog_put_str(&b, "lockwatch-history-open/1");
        statelog_put_uint(&b, 1);
        statelog_put_uint(&b, segment_len);
        for (size_t i = 0; i < 4; i++)
                statelog_put_uint(&b, span[i]);
        size_t tail = MIN(segment_len, (size_t)4096);
        statelog_put_uint(&b, statelog_crc32c(0, segment + segment_len - tail, tail));
        statelog_put_bytes(&b, data + head, size - head);
        (void)statelog_frame_end(&b, frame);
        write_file(ckpt_path, b.data, b.len);
        statelog_buf_free(&b);

        snprintf(sub, sizeof(sub), "%s/history", dir);
        if (history_open(sub, NULL, &h) < 0)
                abort();
        history_stats(h, &st);
        if (st.checkpoint_bytes > 0) {
                Matrix *m = NULL;
                if (st.checkpoint_bytes != segment_len || matrix_new(&m) < 0)
                        abort();
                (void)history_sync(h, m, UINT64_C(1767225700000000));
                matrix_free(m);
        }
        history_close(h);
        return 0;
}
