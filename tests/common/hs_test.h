/*
 * hs_test.h: small helpers the C tests share (statistics through a handle, counting with a
 * predicate, a filter as a predicate), so that each test reads as what it checks.
 */
#ifndef HS_TEST_H
#define HS_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hyperspace.h"

/* Statistics through a handle (an engine-internal call, see core/core.h). */
int hs_coll_stats_of(hs_collection *h, hs_collection_stats *st);

/* xorshift64: the tests' reproducible pseudo-random numbers (*state must not be 0). */
static inline uint64_t hs_test_xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* A fresh directory /tmp/hs-test-<tag>-XXXXXX into root (64 bytes); 0 or -1. */
static inline int hs_test_mkdtemp(char *root, size_t len, const char *tag)
{
    snprintf(root, len, "/tmp/hs-test-%s-XXXXXX", tag);
    return mkdtemp(root) ? 0 : -1;
}

/* The bucket directory of a new collection's name (core/db.c): collections created by this
 * build live in <root>/<tenant>/<bucket>/<name>. */
void hs_bucket_of(const char *name, char out[4]);

static inline void hs_test_coll_dir(char *out, size_t len, const char *root, const char *tenant,
                                    const char *name)
{
    char b[4];
    hs_bucket_of(name, b);
    snprintf(out, len, "%s/%s/%s/%s", root, tenant, b, name);
}

/* The live points accept (NULL: all) returns non-zero for, at one instant (HS_READ_COUNT). */
static inline int hs_test_count(hs_collection *h, hs_point_fn accept, void *actx,
                                uint64_t *count, hs_error *err)
{
    hs_read_opts o;
    hs_read_opts_init(&o);
    o.mode = HS_READ_COUNT;
    o.accept = accept;
    o.accept_ctx = actx;
    hs_read_result r;
    int rc = hs_read(h, &o, NULL, NULL, &r, err);
    *count = r.visited;
    return rc;
}

/* hs_point_fn form of hs_where_match: ctx is a const hs_where *. */
static inline int hs_test_where_accept(void *ctx, const hs_point_view *p)
{
    return hs_where_match(ctx, p);
}

#endif /* HS_TEST_H */
