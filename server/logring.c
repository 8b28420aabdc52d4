/*
 * logring.c: the server's log sink.  Every line goes to stdout (line-buffered, spec B12.3:
 * "<UTC time> <LEVEL> <message>") and into a ring of the last 1,000 lines for /api/logs.
 * Thread-safety: one mutex around the ring and the write.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/log.h"

#define RING 1000

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ring[RING];
static size_t ring_next, ring_count;

static void sink(void *ctx, hs_log_level level, const char *message)
{
    (void)ctx;
    char ts[40], line[1200];
    hs_log_timestamp(ts, sizeof(ts));
    snprintf(line, sizeof(line), "%s %s %s", ts, hs_log_level_name(level), message);
    char *copy = strdup(line);
    pthread_mutex_lock(&ring_lock);
    fprintf(stdout, "%s\n", line);
    fflush(stdout);
    if (copy) {
        free(ring[ring_next]);
        ring[ring_next] = copy;
        ring_next = (ring_next + 1) % RING;
        if (ring_count < RING)
            ring_count++;
    }
    pthread_mutex_unlock(&ring_lock);
}

void hs_logring_init(hs_log_level level)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    hs_log_set_sink(sink, NULL, level);
}

size_t hs_logring_tail(char ***lines, size_t limit)
{
    pthread_mutex_lock(&ring_lock);
    size_t n = limit < ring_count ? limit : ring_count;
    char **out = calloc(n ? n : 1, sizeof(char *));
    size_t got = 0;
    for (size_t i = 0; out && i < n; i++) {
        size_t at = (ring_next + RING - n + i) % RING;
        out[got] = strdup(ring[at]);
        if (out[got])
            got++;
    }
    pthread_mutex_unlock(&ring_lock);
    *lines = out;
    return out ? got : 0;
}

void hs_logring_free(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}
