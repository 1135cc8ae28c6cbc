/* Arbitrary bytes as a history segment file, read by the reader every query and every open
 * uses (history_segment_scan()); each record it accepts must format and parse back the same. */
#include <stddef.h>
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

static void check(const HistoryEvent *ev, void *userdata)
{
        HistoryEvent back;
        char *line = NULL;
        size_t len = 0;
        void *j = NULL;

        (void)userdata;
        if (history_record_format(ev, &line, &len) < 0)
                abort();
        if (history_record_parse(line, len - 1, &back, &j) < 0)
                abort();
        if (back.time != ev->time || back.quiet != ev->quiet || back.since != ev->since ||
            !same(back.kind, ev->kind) || !same(back.model, ev->model) ||
            !same(back.provider, ev->provider) || !same(back.state, ev->state) ||
            !same(back.message, ev->message) || !same(back.rule, ev->rule))
                abort();
        json_decref(j);
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
        return 0;
}
