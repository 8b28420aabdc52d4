/*
 * test_meta.c: the metadata codec (util/meta.c) and typed conditions on it: typed values
 * round-trip with their types and string forms; string-only metadata is encoded byte for byte
 * as before types existed and such blobs read unchanged; malformed blobs (bad types, lengths,
 * non-finite floats, -0.0, lists in lists, trailing bytes) are refused and random damage never
 * crashes the reader; Match across integer and float, Range with exact mixed bounds (beyond
 * 2^53 too), lists, Prefix and AND / OR / NOT trees; the payload indexes on typed values
 * against a brute-force oracle, and their saved form (version 2, and version 1 still read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "hyperspace.h"
#include "hs_test.h"
#include "util/bytes.h"
#include "util/meta.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void) { return hs_test_xorshift(&rng_state); }

/* kv[0..n) as a stored blob ([u32 len][entries]), malloc'd. */
static uint8_t *stored(const hs_kv *kv, size_t n)
{
    hs_point pt = {0, NULL, 0, kv, n};
    uint8_t *mem = malloc(4 + hs_meta_size(&pt));
    assert_non_null(mem);
    size_t len = hs_meta_encode(&pt, mem + 4);
    assert_true(len <= hs_meta_size(&pt));
    hs_put_le32(mem, (uint32_t)len);
    assert_true(hs_meta_blob_ok(mem + 4, len));
    return mem;
}

#define V_INT(x) {HS_VALUE_INT, NULL, 0, (x), 0, NULL, 0}
#define V_FLOAT(x) {HS_VALUE_FLOAT, NULL, 0, 0, (x), NULL, 0}
#define V_BOOL(x) {HS_VALUE_BOOL, NULL, 0, (x), 0, NULL, 0}
#define V_STR(s) {HS_VALUE_STRING, s, sizeof(s) - 1, 0, 0, NULL, 0}
#define V_LIST(a) {HS_VALUE_LIST, NULL, 0, 0, 0, a, sizeof(a) / sizeof(a[0])}
#define KV_T(k, vp) {k, sizeof(k) - 1, NULL, 0, vp}
#define KV_S(k, v) {k, sizeof(k) - 1, v, sizeof(v) - 1, NULL}

/* ---- round trip ------------------------------------------------------------------------------ */

typedef struct seen {
    char keys[16][16];
    char text[16][128];
    hs_value vals[16];
    hs_value items[16][8];
    char strs[16][8][32];
    size_t n;
} seen;

static int see_text(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    seen *s = ctx;
    assert_true(s->n < 16 && kl < 16 && vl < 128);
    memcpy(s->keys[s->n], k, kl);
    s->keys[s->n][kl] = 0;
    memcpy(s->text[s->n], v, vl);
    s->text[s->n][vl] = 0;
    s->n++;
    return 0;
}

static int see_typed(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    seen *s = ctx;
    assert_true(s->n < 16 && kl < 16);
    memcpy(s->keys[s->n], k, kl);
    s->keys[s->n][kl] = 0;
    s->vals[s->n] = *v;
    if (v->type == HS_VALUE_LIST) { /* the items live during the call only: copy them */
        assert_true(v->count <= 8);
        for (size_t i = 0; i < v->count; i++) {
            s->items[s->n][i] = v->items[i];
            if (v->items[i].type == HS_VALUE_STRING) {
                assert_true(v->items[i].len < 32);
                memcpy(s->strs[s->n][i], v->items[i].str, v->items[i].len);
                s->items[s->n][i].str = s->strs[s->n][i];
            }
        }
        s->vals[s->n].items = s->items[s->n];
    }
    s->n++;
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    hs_value list_items[] = {V_STR("a"), V_STR("b\"c\\\n"), V_INT(1), V_FLOAT(2.5),
                             V_BOOL(0)};
    hs_value vi = V_INT(INT64_MIN), vmax = V_INT(INT64_MAX), vf = V_FLOAT(9.5);
    hs_value vbig = V_FLOAT(1e21), vneg0 = V_FLOAT(-0.0), vt = V_BOOL(1);
    hs_value vs = V_STR("typed string"), vl = V_LIST(list_items);
    hs_value empty_items[1];
    hs_value vempty = {HS_VALUE_LIST, NULL, 0, 0, 0, empty_items, 0};
    hs_kv kv[] = {KV_S("plain", "x y"), KV_T("min", &vi),     KV_T("max", &vmax),
                  KV_T("f", &vf),       KV_T("big", &vbig),   KV_T("neg0", &vneg0),
                  KV_T("t", &vt),       KV_T("s", &vs),       KV_T("list", &vl),
                  KV_T("none", &vempty)};
    size_t n = sizeof(kv) / sizeof(kv[0]);
    uint8_t *mem = stored(kv, n);
    const char *texts[] = {"x y",   "-9223372036854775808", "9223372036854775807", "9.5",
                           "1e+21", "0",                    "true",                "typed string",
                           "[\"a\",\"b\\\"c\\\\\\n\",1,2.5,false]", "[]"};
    seen s = {0};
    assert_int_equal(hs_meta_each_stored(mem, see_text, &s), 0);
    assert_int_equal(s.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(s.keys[i], kv[i].key);
        assert_string_equal(s.text[i], texts[i]);
    }
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_meta_each_typed_stored(mem, see_typed, &s), 0);
    assert_int_equal(s.n, n);
    assert_int_equal(s.vals[0].type, HS_VALUE_STRING);
    assert_int_equal(s.vals[1].type, HS_VALUE_INT);
    assert_true(s.vals[1].i == INT64_MIN);
    assert_true(s.vals[2].i == INT64_MAX);
    assert_int_equal(s.vals[3].type, HS_VALUE_FLOAT);
    assert_true(s.vals[3].f == 9.5);
    assert_true(s.vals[4].f == 1e21);
    assert_true(s.vals[5].f == 0.0 && !signbit(s.vals[5].f)); /* -0.0 is stored as 0.0 */
    assert_int_equal(s.vals[6].type, HS_VALUE_BOOL);
    assert_int_equal(s.vals[6].i, 1);
    assert_int_equal(s.vals[7].type, HS_VALUE_STRING);
    assert_int_equal(s.vals[8].type, HS_VALUE_LIST);
    assert_int_equal(s.vals[8].count, 5);
    assert_int_equal(s.vals[8].items[1].type, HS_VALUE_STRING);
    assert_int_equal(s.vals[8].items[1].len, 5);
    assert_memory_equal(s.vals[8].items[1].str, "b\"c\\\n", 5);
    assert_true(s.vals[8].items[2].i == 1 && s.vals[8].items[3].f == 2.5);
    assert_int_equal(s.vals[8].items[4].type, HS_VALUE_BOOL);
    assert_int_equal(s.vals[9].type, HS_VALUE_LIST);
    assert_int_equal(s.vals[9].count, 0);
    assert_true(hs_meta_has_typed_stored(mem));
    /* the string form's length as the write path measures it */
    assert_int_equal(hs_value_text_len(&vl), strlen(texts[8]));
    assert_int_equal(hs_value_text_len(&vf), 3);
    free(mem);
}

typedef struct text_is {
    const char *want;
    int calls;
} text_is;

static int check_text(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    text_is *t = ctx;
    (void)k;
    (void)kl;
    t->calls++;
    assert_int_equal(vl, strlen(t->want));
    assert_memory_equal(v, t->want, vl);
    return 0;
}

typedef struct sink {
    size_t n;
} sink;

static int count_items(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    (void)k;
    (void)kl;
    for (size_t i = 0; i < v->count; i++)
        ((sink *)ctx)->n += (size_t)v->items[i].i;
    return 0;
}

/* A long list's string form (beyond the stack buffers) and its typed items. */
static void test_long_list(void **state)
{
    (void)state;
    hs_value items[1000];
    for (int i = 0; i < 1000; i++)
        items[i] = (hs_value){HS_VALUE_INT, NULL, 0, i, 0, NULL, 0};
    hs_value v = {HS_VALUE_LIST, NULL, 0, 0, 0, items, 1000};
    hs_kv kv = KV_T("l", &v);
    uint8_t *mem = stored(&kv, 1);
    size_t len = hs_value_text_len(&v);
    char *want = malloc(len + 1), *p = want;
    p += sprintf(p, "[");
    for (int i = 0; i < 1000; i++)
        p += sprintf(p, "%s%d", i ? "," : "", i);
    sprintf(p, "]");
    assert_int_equal(strlen(want), len);
    text_is tx = {want, 0};
    assert_int_equal(hs_meta_each_stored(mem, check_text, &tx), 0);
    assert_int_equal(tx.calls, 1);
    sink n = {0};
    assert_int_equal(hs_meta_each_typed_stored(mem, count_items, &n), 0);
    assert_int_equal(n.n, 1000 * 999 / 2);
    free(want);
    free(mem);
}

/* String-only metadata: the bytes written before types existed, read and written unchanged. */
static void test_old_format(void **state)
{
    (void)state;
    /* count 2, "cat" -> "a", "price" -> "100", as the string-only codec wrote it */
    static const uint8_t v1[] = {2, 0, 0, 0, 3, 0, 0, 0, 'c', 'a', 't', 1, 0, 0, 0, 'a',
                                 5, 0, 0, 0, 'p', 'r', 'i', 'c', 'e', 3, 0, 0, 0, '1', '0', '0'};
    assert_true(hs_meta_blob_ok(v1, sizeof(v1)));
    hs_kv kv[] = {KV_S("cat", "a"), KV_S("price", "100")};
    uint8_t *mem = stored(kv, 2);
    assert_int_equal(hs_get_le32(mem), sizeof(v1));
    assert_memory_equal(mem + 4, v1, sizeof(v1));
    /* a typed STRING is the same value and the same bytes */
    hs_value ts = V_STR("100");
    hs_kv kt[] = {KV_S("cat", "a"), KV_T("price", &ts)};
    uint8_t *mt = stored(kt, 2);
    assert_memory_equal(mt, mem, 4 + sizeof(v1));
    assert_false(hs_meta_has_typed_stored(mem));
    seen s = {0};
    assert_int_equal(hs_meta_each_stored(mem, see_text, &s), 0);
    assert_string_equal(s.text[1], "100");
    const char *k, *v;
    uint32_t kl, vl;
    const uint8_t *p = v1 + 4;
    assert_true(hs_meta_next(&p, v1 + sizeof(v1), &k, &kl, &v, &vl));
    assert_int_equal(kl, 3);
    assert_int_equal(vl, 1);
    assert_int_equal(v[0], 'a');
    free(mem);
    free(mt);
}

/* One entry "k" with word w and payload bytes pl[0..n) as a blob (into out); returns its size. */
static size_t entry_blob(uint8_t *out, uint32_t w, const uint8_t *pl, size_t n)
{
    hs_put_le32(out, 1);
    hs_put_le32(out + 4, 1);
    out[8] = 'k';
    hs_put_le32(out + 9, w);
    memcpy(out + 13, pl, n);
    return 13 + n;
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t b[64], pl[32];
    double nan = NAN, inf = INFINITY, neg0 = -0.0, ok = 1.5;
    memset(pl, 0, sizeof(pl));
    /* type 1 (int) needs 8 bytes, type 3 (bool) one byte of 0 or 1 */
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 1u << 24 | 4, pl, 4)));
    assert_true(hs_meta_blob_ok(b, entry_blob(b, 1u << 24 | 8, pl, 8)));
    pl[0] = 2;
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 3u << 24 | 1, pl, 1)));
    pl[0] = 1;
    assert_true(hs_meta_blob_ok(b, entry_blob(b, 3u << 24 | 1, pl, 1)));
    /* unknown types */
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 5u << 24 | 1, pl, 1)));
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 0xffu << 24 | 1, pl, 1)));
    /* floats: NaN, infinity and -0.0 are never stored */
    const double *bad[] = {&nan, &inf, &neg0};
    for (int i = 0; i < 3; i++) {
        memcpy(pl, bad[i], 8);
        assert_false(hs_meta_blob_ok(b, entry_blob(b, 2u << 24 | 8, pl, 8)));
    }
    memcpy(pl, &ok, 8);
    assert_true(hs_meta_blob_ok(b, entry_blob(b, 2u << 24 | 8, pl, 8)));
    /* lists: [u32 n] elements; a list element is not allowed, the count must fit */
    uint8_t l1[] = {1, 0, 0, 0, 4, 0, 0, 0, 0};
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 4u << 24 | sizeof(l1), l1, sizeof(l1))));
    uint8_t l2[] = {2, 0, 0, 0, 3, 1, 3, 0};
    assert_true(hs_meta_blob_ok(b, entry_blob(b, 4u << 24 | sizeof(l2), l2, sizeof(l2))));
    uint8_t l3[] = {3, 0, 0, 0, 3, 1, 3, 0};
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 4u << 24 | sizeof(l3), l3, sizeof(l3))));
    uint8_t l4[] = {1, 0, 0, 0, 0, 9, 0, 0, 0, 'x'}; /* a string element longer than the list */
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 4u << 24 | sizeof(l4), l4, sizeof(l4))));
    uint8_t l5[] = {1, 0, 0, 0, 3, 1, 7}; /* bytes after the last element */
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 4u << 24 | sizeof(l5), l5, sizeof(l5))));
    uint8_t l6[] = {0xff, 0xff, 0xff, 0xff};
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 4u << 24 | sizeof(l6), l6, sizeof(l6))));
    /* a length beyond the blob, trailing bytes after the entries */
    assert_false(hs_meta_blob_ok(b, entry_blob(b, 40, pl, 8)));
    size_t n = entry_blob(b, 1u << 24 | 8, pl, 8);
    assert_false(hs_meta_blob_ok(b, n + 1));
}

static int count_text(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    ((sink *)ctx)->n += vl;
    return 0;
}

static int count_typed(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    (void)k;
    (void)kl;
    ((sink *)ctx)->n += v->type == HS_VALUE_LIST ? v->count : 1;
    return 0;
}

/* Random damage of typed blobs: refused or read without reading out of bounds (run under
 * AddressSanitizer in the sanitizer build). */
static void test_random_damage(void **state)
{
    (void)state;
    hs_value items[] = {V_STR("red"), V_INT(-3), V_FLOAT(0.25), V_BOOL(1)};
    hs_value vi = V_INT(42), vf = V_FLOAT(-7.5), vb = V_BOOL(0), vl = V_LIST(items);
    hs_kv kv[] = {KV_S("s", "text"), KV_T("i", &vi), KV_T("f", &vf), KV_T("b", &vb),
                  KV_T("l", &vl)};
    uint8_t *mem = stored(kv, 5);
    size_t len = hs_get_le32(mem);
    size_t accepted = 0;
    for (int round = 0; round < 20000; round++) {
        uint8_t *d = malloc(4 + len);
        memcpy(d, mem, 4 + len);
        int flips = 1 + (int)(rnd() % 3);
        for (int f = 0; f < flips; f++)
            d[4 + rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        size_t cut = rnd() % 4 ? len : rnd() % (len + 1);
        uint8_t *e = malloc(cut ? cut : 1); /* exactly cut bytes: the sanitizer sees overreads */
        memcpy(e, d + 4, cut);
        if (hs_meta_blob_ok(e, cut)) {
            accepted++;
            uint8_t *st = malloc(4 + cut);
            hs_put_le32(st, (uint32_t)cut);
            memcpy(st + 4, e, cut);
            sink s = {0};
            hs_meta_each_stored(st, count_text, &s);
            hs_meta_each_typed_stored(st, count_typed, &s);
            hs_value m = V_INT(42);
            hs_cond c = {.kind = HS_COND_MATCH, .key = "i", .key_len = 1, .typed = &m};
            hs_cond_match_blob(&c, st);
            free(st);
        }
        free(e);
        free(d);
    }
    assert_true(accepted > 0); /* some flips land in string bytes and keep the blob valid */
    free(mem);
}

/* ---- conditions on typed values --------------------------------------------------------------- */

static hs_cond match_typed(const char *k, const hs_value *v)
{
    return (hs_cond){.kind = HS_COND_MATCH, .key = k, .key_len = strlen(k), .typed = v};
}

static hs_cond match_str(const char *k, const char *v)
{
    return (hs_cond){.kind = HS_COND_MATCH, .key = k, .key_len = strlen(k), .value = v,
                     .value_len = strlen(v)};
}

static hs_cond range(const char *k)
{
    return (hs_cond){.kind = HS_COND_RANGE, .key = k, .key_len = strlen(k)};
}

static void test_typed_conditions(void **state)
{
    (void)state;
    hs_value tags[] = {V_STR("red"), V_STR("blue"), V_INT(3)};
    hs_value i7 = V_INT(7), f7 = V_FLOAT(7.0), f75 = V_FLOAT(7.5), t = V_BOOL(1);
    hs_value s7 = V_STR("7"), lt = V_LIST(tags), big = V_INT(9007199254740993LL);
    hs_kv kv[] = {KV_T("n", &i7), KV_T("x", &f75), KV_T("ok", &t), KV_T("tags", &lt),
                  KV_S("s", "7"), KV_T("big", &big), KV_S("name", "apple pie")};
    uint8_t *m = stored(kv, 7);
    hs_value v;
    hs_cond c;
    /* a number matches the same number, integer or float; a string never equals a number */
    c = match_typed("n", &i7);
    assert_true(hs_cond_match_blob(&c, m));
    c = match_typed("n", &f7);
    assert_true(hs_cond_match_blob(&c, m));
    c = match_typed("n", &s7);
    assert_false(hs_cond_match_blob(&c, m));
    c = match_str("n", "7");
    assert_false(hs_cond_match_blob(&c, m));
    c = match_typed("s", &i7);
    assert_false(hs_cond_match_blob(&c, m));
    c = match_str("s", "7");
    assert_true(hs_cond_match_blob(&c, m));
    c = match_typed("x", &f75);
    assert_true(hs_cond_match_blob(&c, m));
    c = match_typed("x", &i7);
    assert_false(hs_cond_match_blob(&c, m));
    /* booleans match booleans only */
    c = match_typed("ok", &t);
    assert_true(hs_cond_match_blob(&c, m));
    v = (hs_value)V_BOOL(0);
    c = match_typed("ok", &v);
    assert_false(hs_cond_match_blob(&c, m));
    v = (hs_value)V_INT(1);
    c = match_typed("ok", &v);
    assert_false(hs_cond_match_blob(&c, m));
    c = match_str("ok", "true");
    assert_false(hs_cond_match_blob(&c, m));
    /* a list matches when an element does */
    c = match_str("tags", "blue");
    assert_true(hs_cond_match_blob(&c, m));
    v = (hs_value)V_FLOAT(3.0);
    c = match_typed("tags", &v);
    assert_true(hs_cond_match_blob(&c, m));
    c = match_str("tags", "green");
    assert_false(hs_cond_match_blob(&c, m));
    /* ranges: integers and floats against float and integer bounds, exactly */
    c = range("x");
    c.fbounds = HS_FBOUND_GTE | HS_FBOUND_LT;
    c.fgte = 7.5;
    c.flt = 8;
    assert_true(hs_cond_match_blob(&c, m));
    c.fbounds = HS_FBOUND_GT;
    c.fgt = 7.5;
    assert_false(hs_cond_match_blob(&c, m));
    c = range("x");
    c.has_gte = 1;
    c.gte = 8;
    assert_false(hs_cond_match_blob(&c, m));
    c.gte = 7;
    assert_true(hs_cond_match_blob(&c, m));
    c = range("n");
    c.fbounds = HS_FBOUND_GT | HS_FBOUND_LTE;
    c.fgt = 6.999;
    c.flte = 7.0;
    assert_true(hs_cond_match_blob(&c, m));
    c.fgt = 7.0;
    assert_false(hs_cond_match_blob(&c, m));
    c = range("n");
    c.has_gt = 1;
    c.gt = 6;
    c.has_lt = 1;
    c.lt = 8;
    assert_true(hs_cond_match_blob(&c, m));
    c.gt = 7;
    assert_false(hs_cond_match_blob(&c, m));
    /* 2^53 + 1 is above the float bound 2^53 (a double comparison would say equal) */
    c = range("big");
    c.fbounds = HS_FBOUND_GT;
    c.fgt = 9007199254740992.0;
    assert_true(hs_cond_match_blob(&c, m));
    c.fbounds = HS_FBOUND_LTE;
    c.flte = 9007199254740992.0;
    assert_false(hs_cond_match_blob(&c, m));
    /* strings that parse as int64 are in integer ranges (spec B4.3); booleans never */
    c = range("s");
    c.fbounds = HS_FBOUND_GTE;
    c.fgte = 6.5;
    assert_true(hs_cond_match_blob(&c, m));
    c = range("ok");
    assert_false(hs_cond_match_blob(&c, m));
    /* a list is in a range when an element is */
    c = range("tags");
    c.has_lte = 1;
    c.lte = 3;
    assert_true(hs_cond_match_blob(&c, m));
    c.lte = 2;
    assert_false(hs_cond_match_blob(&c, m));
    /* prefix */
    c = (hs_cond){.kind = HS_COND_PREFIX, .key = "name", .key_len = 4, .value = "apple",
                  .value_len = 5};
    assert_true(hs_cond_match_blob(&c, m));
    c.value = "pie";
    c.value_len = 3;
    assert_false(hs_cond_match_blob(&c, m));
    c = (hs_cond){.kind = HS_COND_PREFIX, .key = "tags", .key_len = 4, .value = "bl",
                  .value_len = 2};
    assert_true(hs_cond_match_blob(&c, m));
    /* trees */
    hs_cond leaves[3] = {match_str("tags", "red"), match_typed("n", &f7),
                         match_str("name", "x")};
    hs_cond and2 = {.kind = HS_COND_AND, .sub = leaves, .nsub = 2};
    hs_cond and3 = {.kind = HS_COND_AND, .sub = leaves, .nsub = 3};
    hs_cond or3 = {.kind = HS_COND_OR, .sub = leaves + 2, .nsub = 1};
    hs_cond not1 = {.kind = HS_COND_NOT, .sub = &leaves[2], .nsub = 1};
    hs_cond mixed[2] = {and3, not1};
    hs_cond or_m = {.kind = HS_COND_OR, .sub = mixed, .nsub = 2};
    assert_true(hs_cond_match_blob(&and2, m));
    assert_false(hs_cond_match_blob(&and3, m));
    assert_false(hs_cond_match_blob(&or3, m));
    assert_true(hs_cond_match_blob(&not1, m));
    assert_true(hs_cond_match_blob(&or_m, m));
    /* a missing key never matches, so NOT of it holds */
    hs_cond missing = match_str("nope", "x");
    hs_cond not_missing = {.kind = HS_COND_NOT, .sub = &missing, .nsub = 1};
    assert_false(hs_cond_match_blob(&missing, m));
    assert_true(hs_cond_match_blob(&not_missing, m));
    free(m);
}

static void test_range_norm(void **state)
{
    (void)state;
    hs_nrange r;
    hs_cond c = range("k");
    c.fbounds = HS_FBOUND_GTE | HS_FBOUND_LTE;
    c.fgte = 2.5;
    c.flte = 4.5;
    hs_range_norm(&c, &r);
    assert_true(r.iany && r.ilo == 3 && r.ihi == 4 && r.fany && r.flo == 2.5 && r.fhi == 4.5);
    c.fgte = 3.5;
    c.flte = 3.75;
    hs_range_norm(&c, &r);
    assert_false(r.iany); /* no integer in [3.5, 3.75] */
    assert_true(r.fany);
    assert_false(hs_range_empty(&c));
    c.fgte = 5;
    hs_range_norm(&c, &r);
    assert_true(hs_range_empty(&c));
    /* integer bounds on floats: > 3 is the next double above 3 */
    c = range("k");
    c.has_gt = 1;
    c.gt = 3;
    hs_range_norm(&c, &r);
    assert_true(r.ilo == 4 && r.flo == nextafter(3.0, INFINITY));
    /* 2^53 + 1 is not a double: >= it starts at 2^53 + 2 for floats */
    c = range("k");
    c.has_gte = 1;
    c.gte = 9007199254740993LL;
    hs_range_norm(&c, &r);
    assert_true(r.flo == 9007199254740994.0 && r.ilo == 9007199254740993LL);
    c.has_gte = 0;
    c.has_lte = 1;
    c.lte = 9007199254740993LL;
    hs_range_norm(&c, &r);
    assert_true(r.fhi == 9007199254740992.0);
    /* bounds beyond int64 */
    c = range("k");
    c.fbounds = HS_FBOUND_GT;
    c.fgt = 1e19;
    hs_range_norm(&c, &r);
    assert_false(r.iany);
    c.fbounds = HS_FBOUND_LT;
    c.flt = -1e19;
    hs_range_norm(&c, &r);
    assert_false(r.iany);
    c.fbounds = HS_FBOUND_LTE;
    c.flte = 1e19;
    hs_range_norm(&c, &r);
    assert_true(r.iany && r.ihi == INT64_MAX);
    c = range("k");
    c.has_gt = 1;
    c.gt = INT64_MAX;
    hs_range_norm(&c, &r);
    assert_false(r.iany);
    assert_true(r.fany && r.flo > 9.2e18);
    /* the old form: gte > lte admits nothing */
    c = range("k");
    c.has_gte = c.has_lte = 1;
    c.gte = 5;
    c.lte = 4;
    assert_true(hs_range_empty(&c));
}

static void test_check(void **state)
{
    (void)state;
    hs_value l = {HS_VALUE_LIST, NULL, 0, 0, 0, NULL, 0}, nan = V_FLOAT(NAN);
    hs_cond bad[] = {match_typed("k", &l), match_typed("k", &nan),
                     {.kind = HS_COND_NOT, .nsub = 0}, {.kind = (hs_cond_kind)9, .key = "k",
                                                        .key_len = 1}};
    const char *msg[] = {"Invalid filter: must[0] compares with a value that is not a finite scalar",
                         "Invalid filter: must[0] compares with a value that is not a finite scalar",
                         "Invalid filter: must[0] must hold exactly one condition",
                         "Invalid filter: must[0] has an unknown kind"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hs_where w = {&bad[i], 1, NULL, 0, NULL, 0};
        hs_error err;
        assert_int_equal(hs_where_check(&w, &err), HS_EFILTER);
        assert_string_equal(err.message, msg[i]);
    }
    hs_cond r = range("k");
    r.fbounds = HS_FBOUND_LT;
    r.flt = NAN;
    hs_where w = {&r, 1, NULL, 0, NULL, 0};
    assert_int_equal(hs_where_check(&w, NULL), HS_EFILTER);
    /* nesting deeper than HS_COND_MAX_DEPTH levels (the leaf is a level) */
    hs_cond chain[HS_COND_MAX_DEPTH + 1];
    chain[HS_COND_MAX_DEPTH] = match_str("k", "v");
    for (int i = HS_COND_MAX_DEPTH - 1; i >= 0; i--)
        chain[i] = (hs_cond){.kind = HS_COND_NOT, .sub = &chain[i + 1], .nsub = 1};
    hs_where deep = {&chain[1], 1, NULL, 0, NULL, 0};
    assert_int_equal(hs_where_check(&deep, NULL), HS_OK);
    hs_where deeper = {&chain[0], 1, NULL, 0, NULL, 0};
    assert_int_equal(hs_where_check(&deeper, NULL), HS_EFILTER);
}

/* ---- the payload indexes on typed values ------------------------------------------------------ */

#define NS 4000

typedef struct tslot {
    int kind; /* 0 int, 1 float, 2 list of two numbers, 3 int string, 4 bool */
    int64_t i, j;
    double f;
    bool live;
} tslot;

/* The metadata of slot s: key "v" as its kind says, key "b" a boolean. */
static uint8_t *tslot_blob(const tslot *t)
{
    hs_value v, items[2], b = V_BOOL(t->i & 1);
    char text[24];
    hs_kv kv[2] = {{"v", 1, NULL, 0, &v}, {"b", 1, NULL, 0, &b}};
    switch (t->kind) {
    case 0:
        v = (hs_value)V_INT(t->i);
        break;
    case 1:
        v = (hs_value)V_FLOAT(t->f);
        break;
    case 2:
        items[0] = (hs_value)V_INT(t->i);
        items[1] = (hs_value)V_FLOAT(t->f);
        v = (hs_value){HS_VALUE_LIST, NULL, 0, 0, 0, items, 2};
        break;
    case 3:
        snprintf(text, sizeof(text), "%lld", (long long)t->i);
        kv[0] = (hs_kv){"v", 1, text, strlen(text), NULL};
        break;
    default:
        v = (hs_value)V_BOOL(t->i & 1);
        break;
    }
    return stored(kv, 2);
}

static bool tslot_in(const tslot *t, const hs_cond *c)
{
    uint8_t *m = tslot_blob(t);
    bool in = hs_cond_match_blob(c, m);
    free(m);
    return in;
}

static void check_index(const hs_pidx *x, tslot *ts)
{
    /* ranges with float bounds: count is an upper bound, slots are exactly the live matching
     * ones (once each) once the dead ones are filtered out */
    for (int q = 0; q < 60; q++) {
        hs_cond c = range("v");
        double a = (double)(int64_t)(rnd() % 2000) / 10.0 - 100.0, b = a + (double)(rnd() % 500) / 7.0;
        c.fbounds = q % 2 ? HS_FBOUND_GTE | HS_FBOUND_LT : HS_FBOUND_GT | HS_FBOUND_LTE;
        c.fgte = c.fgt = a;
        c.flt = c.flte = b;
        if (q % 5 == 0) {
            c.fbounds = HS_FBOUND_GT;
            c.has_lte = 1;
            c.lte = (int64_t)b;
        }
        size_t want = 0;
        for (int s = 0; s < NS; s++)
            want += ts[s].live && tslot_in(&ts[s], &c);
        uint64_t cnt = hs_pidx_range_count(x, &c);
        assert_true(cnt >= want);
        uint32_t *sl = malloc((cnt ? cnt : 1) * sizeof(uint32_t));
        size_t ns = hs_pidx_range_slots(x, &c, sl, cnt);
        size_t live = 0;
        for (size_t i = 0; i < ns; i++) {
            for (size_t j = 0; j < i; j++)
                assert_true(sl[j] != sl[i]);
            if (!ts[sl[i]].live)
                continue;
            assert_true(tslot_in(&ts[sl[i]], &c));
            live++;
        }
        assert_int_equal(live, want);
        /* the column says the same per slot */
        const hs_rcol *col = hs_pidx_rcol(x, "v", 1);
        hs_nrange nr;
        hs_range_norm(&c, &nr);
        for (int s = 0; s < NS; s++) {
            if (!ts[s].live)
                continue;
            int in = hs_rcol_check(col, (uint32_t)s, &nr);
            if (in >= 0)
                assert_int_equal(in, tslot_in(&ts[s], &c));
            else
                assert_int_equal(ts[s].kind, 2);
        }
        free(sl);
    }
    /* Match of numbers across int and float, and of booleans */
    for (int q = 0; q < 40; q++) {
        int s = (int)(rnd() % NS);
        hs_value v = ts[s].kind == 1 ? (hs_value)V_FLOAT(ts[s].f) : (hs_value)V_FLOAT((double)ts[s].i);
        if (ts[s].kind == 4)
            v = (hs_value)V_BOOL(ts[s].i & 1);
        hs_cond c = match_typed("v", &v);
        const roaring_bitmap_t *bm = hs_pidx_match_value(x, "v", 1, &v);
        for (int t = 0; t < NS; t++)
            if (ts[t].live && tslot_in(&ts[t], &c))
                assert_true(bm && roaring_bitmap_contains(bm, (uint32_t)t));
    }
}

static void fill_slots(tslot *ts)
{
    for (int s = 0; s < NS; s++) {
        ts[s].kind = (int)(rnd() % 5);
        ts[s].i = (int64_t)(rnd() % 200) - 100;
        ts[s].f = (double)(int64_t)(rnd() % 4000) / 16.0 - 120.0;
        ts[s].live = true;
    }
}

static void test_index_typed(void **state)
{
    (void)state;
    tslot *ts = calloc(NS, sizeof(*ts));
    fill_slots(ts);
    hs_pidx *x = hs_pidx_new();
    for (int s = 0; s < NS; s++) {
        uint8_t *m = tslot_blob(&ts[s]);
        assert_int_equal(hs_pidx_add_stored(x, (uint32_t)s, m), 0);
        free(m);
    }
    check_index(x, ts);
    /* remove a third (merges happen on the way) */
    for (int s = 0; s < NS; s += 3) {
        uint8_t *m = tslot_blob(&ts[s]);
        assert_int_equal(hs_pidx_remove_stored(x, (uint32_t)s, m), 0);
        ts[s].live = false;
        free(m);
    }
    check_index(x, ts);
    /* saved and loaded: the same answers */
    uint8_t *buf;
    size_t len;
    assert_int_equal(hs_pidx_save(x, NS, &buf, &len), 0);
    assert_int_equal(hs_get_le32(buf), 2);
    hs_pidx *y;
    assert_int_equal(hs_pidx_load(buf, len, NS, &y), 0);
    check_index(y, ts);
    /* damaged copies never crash the loader */
    for (int i = 0; i < 2000; i++) {
        uint8_t *d = malloc(len);
        memcpy(d, buf, len);
        d[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        hs_pidx *z;
        if (hs_pidx_load(d, len, NS, &z) == 0)
            hs_pidx_free(z);
        free(d);
    }
    free(buf);
    hs_pidx_free(x);
    hs_pidx_free(y);
    free(ts);
}

/* A version 1 section (integers only, no float run) still loads. */
static void test_index_v1(void **state)
{
    (void)state;
    uint8_t b[256], *p = b;
    hs_put_le32(p, 1); /* version */
    hs_put_le32(p + 4, 3); /* slots */
    p += 8;
    hs_put_le64(p, 0); /* no Match entries */
    p += 8;
    hs_put_le64(p, 1); /* one Range key */
    p += 8;
    /* its hash: take it from an index holding the same key */
    hs_pidx *x = hs_pidx_new();
    hs_kv kv = KV_S("n", "5");
    assert_int_equal(hs_pidx_add(x, 0, &kv, 1), 0);
    uint8_t *saved;
    size_t slen;
    assert_int_equal(hs_pidx_save(x, 1, &saved, &slen), 0);
    /* v2: header 8, match count 8 + entry (8 + 4 + 4), range count 8, then the key hash */
    uint64_t kh = hs_get_le64(saved + 8 + 8 + 16 + 8);
    free(saved);
    hs_pidx_free(x);
    hs_put_le64(p, kh);
    hs_put_le64(p + 8, 2);
    p += 16;
    int64_t vals[2] = {5, 9};
    for (int i = 0; i < 2; i++) {
        hs_put_le64(p, (uint64_t)vals[i]);
        hs_put_le32(p + 8, (uint32_t)i * 2);
        p += 12;
    }
    hs_put_le64(p, 8); /* the text index: no document */
    hs_put_le64(p + 8, 0);
    p += 16;
    hs_pidx *y;
    assert_int_equal(hs_pidx_load(b, (size_t)(p - b), 3, &y), 0);
    hs_cond c = range("n");
    c.has_gte = 1;
    c.gte = 5;
    uint32_t sl[4];
    assert_int_equal(hs_pidx_range_count(y, &c), 2);
    assert_int_equal(hs_pidx_range_slots(y, &c, sl, 4), 2);
    assert_int_equal(sl[0], 0);
    assert_int_equal(sl[1], 2);
    c.fbounds = HS_FBOUND_GT; /* the float bound: 9 > 8.5 only */
    c.fgt = 8.5;
    assert_int_equal(hs_pidx_range_count(y, &c), 1);
    int64_t v;
    assert_true(hs_rcol_value(hs_pidx_rcol(y, "n", 1), 2, &v) && v == 9);
    hs_pidx_free(y);
    /* version 3 is not read */
    hs_put_le32(b, 3);
    assert_int_equal(hs_pidx_load(b, (size_t)(p - b), 3, &y), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_long_list),
        cmocka_unit_test(test_old_format),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_typed_conditions),
        cmocka_unit_test(test_range_norm),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_index_typed),
        cmocka_unit_test(test_index_v1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
