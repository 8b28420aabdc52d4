/*
 * fuzz_graph.c: the HNSW graph buffer on arbitrary bytes (hs_hnsw_deserialize, which must
 * reject anything inconsistent); a graph that loads is searched once and serialised again.
 * Seeds: a real graph over 64 points.
 */
#include <stdint.h>

#include "fuzz_common.h"
#include "hnsw/hnsw.h"

static hs_space sp;
static hs_chunks recs;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    hs_space_init(&sp, HS_METRIC_L2, HS_CODE_F32, 4);
    hs_chunks_init(&recs, sp.rec_len, 6);
    hs_chunks_reserve(&recs, 64);
    for (uint32_t i = 0; i < 64; i++) {
        float x[4] = {(float)i, (float)(i % 5), (float)(i % 3), 1};
        hs_space_encode_f32(&sp, x, hs_chunks_at(&recs, i));
    }
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    o.m = 4;
    hs_hnsw *h;
    hs_hnsw_new(&o, &sp, &recs, &h);
    for (uint32_t i = 0; i < 64; i++)
        hs_hnsw_insert(h, i);
    hs_hnsw_mark_deleted(h, 7);
    size_t len = hs_hnsw_serialized_size(h);
    uint8_t *buf = malloc(len);
    hs_hnsw_serialize(h, buf, len);
    fuzz_seed("graph", buf, len);
    free(buf);
    hs_hnsw_free(h);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_hnsw *h = NULL;
    if (hs_hnsw_deserialize(data, size, &sp, &recs, &h, NULL) != HS_OK)
        return 0;
    hs_pair out[4];
    hs_hnsw_search(h, hs_chunks_at(&recs, 1), 4, 16, NULL, out, NULL);
    size_t len = hs_hnsw_serialized_size(h);
    uint8_t *buf = malloc(len);
    if (hs_hnsw_serialize(h, buf, len) != HS_OK || len != size || memcmp(buf, data, len) != 0) {
        /* a valid buffer round-trips exactly, except for unused link slots, which load as 0 */
        hs_hnsw *again = NULL;
        if (hs_hnsw_deserialize(buf, len, &sp, &recs, &again, NULL) != HS_OK)
            abort();
        hs_hnsw_free(again);
    }
    free(buf);
    hs_hnsw_free(h);
    return 0;
}
