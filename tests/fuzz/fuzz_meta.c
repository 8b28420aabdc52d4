/*
 * fuzz_meta.c: the metadata codec on arbitrary bytes (util/meta.c: what a log record or a
 * checkpoint's META section hands it).  An input the checker accepts (hs_meta_blob_ok) is then
 * read every way the engine reads metadata: as string forms, typed, conditions of every kind
 * (typed Match, Range with mixed bounds, Prefix, a tree), and into payload indexes that are
 * queried, saved, loaded and emptied again; none of it may read out of bounds.
 * Seeds: entries forms with every value type, lists included.
 */
#include <stdint.h>

#include "filter/filter.h"
#include "fuzz_common.h"
#include "util/bytes.h"
#include "util/meta.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void seed(const char *name, const hs_kv *kv, size_t n)
{
    hs_point pt = {0, NULL, 0, kv, n};
    uint8_t *b = malloc(hs_meta_size(&pt));
    if (!b)
        abort();
    size_t len = hs_meta_encode(&pt, b);
    fuzz_seed(name, b, len);
    free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    hs_value items[4] = {{HS_VALUE_STRING, "red", 3, 0, 0, NULL, 0},
                         {HS_VALUE_INT, NULL, 0, -3, 0, NULL, 0},
                         {HS_VALUE_FLOAT, NULL, 0, 0, 2.5, NULL, 0},
                         {HS_VALUE_BOOL, NULL, 0, 1, 0, NULL, 0}};
    hs_value i = {HS_VALUE_INT, NULL, 0, 7, 0, NULL, 0};
    hs_value f = {HS_VALUE_FLOAT, NULL, 0, 0, 7.0, NULL, 0};
    hs_value b = {HS_VALUE_BOOL, NULL, 0, 0, 0, NULL, 0};
    hs_value l = {HS_VALUE_LIST, NULL, 0, 0, 0, items, 4};
    hs_kv all[] = {{"s", 1, "apple pie", 9, NULL}, {"n", 1, NULL, 0, &i},
                   {"f", 1, NULL, 0, &f},          {"b", 1, NULL, 0, &b},
                   {"l", 1, NULL, 0, &l},          {"n2", 2, "12", 2, NULL}};
    seed("typed", all, 6);
    seed("strings", all, 1);
    seed("list", all + 4, 1);
    exit(0);
}

static int on_text(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    size_t *sum = ctx;
    *sum += kl + vl + (kl ? (uint8_t)k[0] : 0) + (vl ? (uint8_t)v[vl - 1] : 0);
    return 0;
}

static int on_typed(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    size_t *sum = ctx;
    *sum += kl + (size_t)v->type + v->count;
    for (size_t i = 0; v->type == HS_VALUE_LIST && i < v->count; i++)
        *sum += v->items[i].type == HS_VALUE_STRING && v->items[i].len
                    ? (uint8_t)v->items[i].str[v->items[i].len - 1]
                    : (size_t)v->items[i].i;
    (void)k;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20) || !hs_meta_blob_ok(data, size))
        return 0;
    uint8_t *mem = malloc(4 + size);
    if (!mem)
        return 0;
    hs_put_le32(mem, (uint32_t)size);
    memcpy(mem + 4, data, size);
    size_t sum = 0;
    hs_meta_each_stored(mem, on_text, &sum);
    hs_meta_each_typed_stored(mem, on_typed, &sum);
    sum += hs_meta_has_typed_stored(mem);
    hs_value seven = {HS_VALUE_INT, NULL, 0, 7, 0, NULL, 0};
    hs_cond leaves[4] = {
        {.kind = HS_COND_MATCH, .key = "n", .key_len = 1, .typed = &seven},
        {.kind = HS_COND_RANGE, .key = "f", .key_len = 1, .has_gt = 1, .gt = 2,
         .fbounds = HS_FBOUND_LTE, .flte = 7.5},
        {.kind = HS_COND_PREFIX, .key = "s", .key_len = 1, .value = "app", .value_len = 3},
        {.kind = HS_COND_MATCH, .key = "l", .key_len = 1, .value = "red", .value_len = 3},
    };
    hs_cond not3 = {.kind = HS_COND_NOT, .sub = &leaves[3], .nsub = 1};
    hs_cond tree[2] = {{.kind = HS_COND_OR, .sub = leaves, .nsub = 3}, not3};
    hs_cond and2 = {.kind = HS_COND_AND, .sub = tree, .nsub = 2};
    for (int i = 0; i < 4; i++)
        sum += hs_cond_match_blob(&leaves[i], mem);
    sum += hs_cond_match_blob(&and2, mem);
    /* the indexes: the blob at two slots, one removed again */
    hs_pidx *x = hs_pidx_new();
    if (x && hs_pidx_add_stored(x, 0, mem) == 0 && hs_pidx_add_stored(x, 1, mem) == 0 &&
        hs_pidx_remove_stored(x, 0, mem) == 0) {
        uint32_t slots[4096];
        sum += hs_pidx_range_count(x, &leaves[1]);
        size_t n = hs_pidx_range_slots(x, &leaves[1], slots, 4096);
        for (size_t i = 0; i < n; i++)
            if (slots[i] > 1)
                abort();
        const roaring_bitmap_t *bm = hs_pidx_match_value(x, "n", 1, &seven);
        if (bm && roaring_bitmap_maximum(bm) > 1)
            abort();
        uint8_t *buf;
        size_t len;
        if (hs_pidx_save(x, 2, &buf, &len) == 0) {
            hs_pidx *y = NULL;
            if (hs_pidx_load(buf, len, 2, &y) != 0)
                abort(); /* what the index saves must load */
            hs_pidx_free(y);
            free(buf);
        }
    }
    hs_pidx_free(x);
    free(mem);
    sink = sum; /* keeps the reads from being optimised away */
    return 0;
}
