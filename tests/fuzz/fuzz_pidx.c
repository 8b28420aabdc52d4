/*
 * fuzz_pidx.c: the checkpoint section of the payload indexes on arbitrary bytes (hs_pidx_load,
 * which must reject anything inconsistent); an index that loads is queried (Match, Range, BM25)
 * and saved again, and what it saves must load.
 * Seeds: a real index over 64 slots with Match, Range and text entries.
 */
#include <stdint.h>

#include "filter/filter.h"
#include "fuzz_common.h"

#define NSLOTS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    hs_pidx *x = hs_pidx_new();
    const char *words[] = {"red apple", "green pear", "apple pie", "blue sky"};
    for (uint32_t s = 0; s < NSLOTS; s++) {
        char n[16], g[8];
        snprintf(n, sizeof(n), "%d", (int)s * 7 - 100);
        snprintf(g, sizeof(g), "g%u", s % 5);
        hs_kv kv[3] = {{"n", 1, n, strlen(n)}, {"g", 1, g, strlen(g)},
                       {"t", 1, words[s % 4], strlen(words[s % 4])}};
        hs_pidx_add(x, s, kv, 3);
        if (s % 9 == 4)
            hs_pidx_remove(x, s, kv, 3);
    }
    uint8_t *buf;
    size_t len;
    if (hs_pidx_save(x, NSLOTS, &buf, &len) == 0) {
        fuzz_seed("pidx", buf, len);
        free(buf);
    }
    hs_pidx_free(x);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_pidx *x = NULL;
    if (hs_pidx_load(data, size, NSLOTS, &x) != 0)
        return 0;
    const roaring_bitmap_t *bm = hs_pidx_match(x, "g", 1, "g1", 2);
    if (bm && roaring_bitmap_get_cardinality(bm) > NSLOTS)
        abort();
    hs_cond c = {HS_COND_RANGE, "n", 1, NULL, 0, 1, 1, -50, 200};
    uint32_t slots[NSLOTS * 4];
    size_t n = hs_pidx_range_slots(x, &c, slots, sizeof(slots) / sizeof(slots[0]));
    const hs_rcol *col = hs_pidx_rcol(x, "n", 1);
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        /* every slot of the run has its value in the column */
        if (slots[i] >= NSLOTS || !col || !hs_rcol_value(col, slots[i], &v))
            abort();
    }
    hs_bm25_hit *h;
    size_t nh;
    if (hs_bm25_search(hs_pidx_text(x), NSLOTS, "apple pear", 10, 0, &h, &nh) == 0)
        free(h);
    uint8_t *buf;
    size_t len;
    if (hs_pidx_save(x, NSLOTS, &buf, &len) == 0) {
        hs_pidx *again = NULL;
        if (hs_pidx_load(buf, len, NSLOTS, &again) != 0)
            abort();
        hs_pidx_free(again);
        free(buf);
    }
    hs_pidx_free(x);
    return 0;
}
