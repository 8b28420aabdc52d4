/*
 * replica_write.c: build/bin/hs-replica-write, a test tool that writes into a stopped node's
 * data directory through the C API, as a leader's record would arrive (hs_db_replicate_upserts
 * with a clock given by the caller), without going through replication.  The integration test of
 * the follower's convergence checks uses it to make a follower's collection differ from its
 * leader's at the same collection clock (test_repl_verify.py).  Never used by the server.
 *
 *   hs-replica-write DIR TENANT COLLECTION CLOCK ID DIM
 *       upserts point ID with the vector (0.25, 0.5, 0.25, 0.5, ...) of DIM components at leader
 *       clock CLOCK (skipped, and exit 3, when the collection is already at or past it), strict
 *       durability; exit 0 when written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperspace.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s DIR TENANT COLLECTION CLOCK ID DIM\n", argv[0]);
        return 2;
    }
    uint64_t clock = strtoull(argv[4], NULL, 10), id = strtoull(argv[5], NULL, 10);
    size_t dim = (size_t)strtoul(argv[6], NULL, 10);
    if (!clock || !dim || dim > 4096) {
        fprintf(stderr, "bad CLOCK or DIM\n");
        return 2;
    }
    double *v = calloc(dim, sizeof(double));
    if (!v)
        return 1;
    for (size_t i = 0; i < dim; i++)
        v[i] = i % 2 ? 0.5 : 0.25;
    hs_db_opts o;
    hs_db_opts_init(&o);
    hs_db *db;
    hs_error err;
    if (hs_db_open(argv[1], &o, &db, &err) != HS_OK) {
        fprintf(stderr, "open %s: %s\n", argv[1], err.message);
        free(v);
        return 1;
    }
    hs_point p = {.id = id, .vector = v, .dim = dim};
    size_t applied = 0;
    int rc = hs_db_replicate_upserts(db, argv[2], argv[3], clock, &p, 1, HS_DURABILITY_STRICT,
                                     &applied, &err);
    if (rc != HS_OK)
        fprintf(stderr, "replicate: %s\n", err.message);
    int crc = hs_db_close(db, &err);
    if (crc != HS_OK)
        fprintf(stderr, "close: %s\n", err.message);
    free(v);
    if (rc != HS_OK || crc != HS_OK)
        return 1;
    printf("applied=%zu\n", applied);
    return applied ? 0 : 3;
}
