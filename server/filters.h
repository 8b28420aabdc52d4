/*
 * filters.h: the conditions of one request (B4.3), ANDed, evaluated against a point's metadata.
 *
 * A set is built from the gRPC SearchRequest (`filter` map + `filters` list) or condition by
 * condition (the HTTP JSON forms), then handed to the engine as an accept callback.
 * Match: the value is byte-for-byte equal.  Range: the value parses as an int64 (whole value,
 * ^[+-]?[0-9]+$) within the inclusive bounds.  A missing key never matches.
 */
#ifndef HS_FILTERS_H
#define HS_FILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"
#include "server/server.h"

#define HS_FILTER_MAX_CONDITIONS 256

typedef struct hs_cond {
    bool range;
    char *key;
    size_t key_len;
    char *value; /* Match */
    size_t value_len;
    bool has_gte, has_lte; /* Range */
    int64_t gte, lte;
} hs_cond;

typedef struct hs_filter_set {
    hs_cond *c;
    size_t n, cap;
    bool empty; /* some condition can match nothing (a Range with gte > lte) */
} hs_filter_set;

void hs_filter_init(hs_filter_set *fs);
void hs_filter_free(hs_filter_set *fs);

/* Adds a condition (key and value are copied).  Fails with E_FILTER when the key is empty or the
 * set already holds 256 conditions; `where` names the condition in the message
 * ("filters[2]", "filter").  Returns 0 or the failure id. */
int hs_filter_add_match(hs_filter_set *fs, const char *key, size_t key_len, const char *value,
                        size_t value_len, const char *where, hs_fail *f);
int hs_filter_add_range(hs_filter_set *fs, const char *key, size_t key_len, bool has_gte,
                        int64_t gte, bool has_lte, int64_t lte, const char *where, hs_fail *f);

/* Parses an int64 as a Range does (B4.3); false when the text is not one. */
bool hs_parse_int64(const char *s, size_t len, int64_t *out);

/* True when the point satisfies every condition. */
bool hs_filter_match(const hs_filter_set *fs, const hs_point_view *p);

/* The engine accept callback: ctx is a const hs_filter_set *. */
int hs_filter_accept(void *ctx, const hs_point_view *p);

/* Installs the set as opts' accept callback (nothing when it has no condition). */
void hs_filter_apply(const hs_filter_set *fs, hs_search_opts *opts);

#endif /* HS_FILTERS_H */
