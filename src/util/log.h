/* log.h: the library's log lines, sent to the callback installed with hs_log_set_sink(). */
#ifndef HS_UTIL_LOG_H
#define HS_UTIL_LOG_H

#include "hyperspace.h"

void hs_log(hs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats the spec's line prefix: "2026-02-17T10:00:00.123Z" (UTC, milliseconds). */
void hs_log_timestamp(char *buf, size_t len);
const char *hs_log_level_name(hs_log_level level);

#endif
