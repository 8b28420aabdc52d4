/*
 * log.c: one process-wide sink for log lines.  The default sink writes
 * "<RFC 3339 UTC time with milliseconds> <LEVEL> <message>" to stderr; embedders install their
 * own with hs_log_set_sink (the server adds its ring buffer for /api/logs).
 * Thread-safety: hs_log may be called from any thread; the sink is swapped atomically.
 */
#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct sink {
    hs_log_fn fn;
    void *ctx;
    hs_log_level level;
} sink;

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static sink current = {NULL, NULL, HS_LOG_INFO};

const char *hs_log_level_name(hs_log_level level)
{
    switch (level) {
    case HS_LOG_ERROR:
        return "ERROR";
    case HS_LOG_WARN:
        return "WARN";
    case HS_LOG_INFO:
        return "INFO";
    case HS_LOG_DEBUG:
        return "DEBUG";
    }
    return "INFO";
}

void hs_log_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

void hs_log_set_sink(hs_log_fn fn, void *ctx, hs_log_level level)
{
    pthread_mutex_lock(&sink_lock);
    current = (sink){fn, ctx, level};
    pthread_mutex_unlock(&sink_lock);
}

void hs_log(hs_log_level level, const char *fmt, ...)
{
    pthread_mutex_lock(&sink_lock);
    sink s = current;
    pthread_mutex_unlock(&sink_lock);
    if (level > s.level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s.fn) {
        s.fn(s.ctx, level, msg);
        return;
    }
    char ts[40];
    hs_log_timestamp(ts, sizeof(ts));
    fprintf(stderr, "%s %s %s\n", ts, hs_log_level_name(level), msg);
}
