/*
 * fuzz_pidx.c: the checkpoint section of the payload indexes on arbitrary bytes (hs_pidx_load,
 * which must reject anything inconsistent); an index that loads is queried (Match, Range, BM25)
 * and saved again, and what it saves must load.
 * Seeds: a real index over 64 slots with Match, Range (integers, floats, lists) and text
 * entries.
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
        /* typed values too: a float, a boolean, a list of a number and a string */
        hs_value items[2] = {{HS_VALUE_INT, NULL, 0, (int64_t)s, 0, NULL, 0},
                             {HS_VALUE_STRING, g, strlen(g), 0, 0, NULL, 0}};
        hs_value f = {HS_VALUE_FLOAT, NULL, 0, 0, (double)s / 4, NULL, 0};
        hs_value b = {HS_VALUE_BOOL, NULL, 0, s & 1, 0, NULL, 0};
        hs_value l = {HS_VALUE_LIST, NULL, 0, 0, 0, items, 2};
        hs_kv kv[3] = {{"n", 1, n, strlen(n), s % 3 == 1 ? &f : s % 3 == 2 ? &l : NULL},
                       {"g", 1, g, strlen(g), s % 4 == 3 ? &b : NULL},
                       {"t", 1, words[s % 4], strlen(words[s % 4]), NULL}};
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
    c.fbounds = HS_FBOUND_LT;
    c.flt = 150.5;
    uint32_t slots[NSLOTS * 4];
    size_t n = hs_pidx_range_slots(x, &c, slots, sizeof(slots) / sizeof(slots[0]));
    const hs_rcol *col = hs_pidx_rcol(x, "n", 1);
    hs_nrange nr;
    hs_range_norm(&c, &nr);
    for (size_t i = 0; i < n; i++) {
        /* every slot of the runs within the bounds has a number within them in the column
         * (or several numbers, to be checked on the metadata) */
        if (slots[i] >= NSLOTS || !col || hs_rcol_check(col, slots[i], &nr) == 0)
            abort();
    }
    hs_value seven = {HS_VALUE_FLOAT, NULL, 0, 0, 7.0, NULL, 0};
    bm = hs_pidx_match_value(x, "n", 1, &seven);
    if (bm && roaring_bitmap_get_cardinality(bm) > NSLOTS)
        abort();
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
