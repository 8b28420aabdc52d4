/*
 * test_text.c: the tokeniser and BM25 (spec behaviour.md B5.1-B5.3) against the spec's examples
 * and hand-computed scores.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text/text.h"

typedef struct toks {
    char buf[512];
} toks;

static int join(void *ctx, const char *t, size_t n)
{
    toks *o = ctx;
    size_t l = strlen(o->buf);
    snprintf(o->buf + l, sizeof(o->buf) - l, "%s%.*s", l ? "|" : "", (int)n, t);
    return 0;
}

static const char *tokens(const char *s)
{
    static toks o;
    o.buf[0] = 0;
    assert_int_equal(hs_tokenize(s, strlen(s), join, &o), 0);
    return o.buf;
}

static void test_tokenizer(void **state)
{
    (void)state;
    assert_string_equal(tokens("Apple iPhone-15, M3"), "apple|iphone|15|m3");
    assert_string_equal(tokens("naïve café"), "naïve|café");
    assert_string_equal(tokens("snake_case"), "snake|case");
    assert_string_equal(tokens(""), "");
    assert_string_equal(tokens("  --  "), "");
    /* Greek and Cyrillic capitals lower-cased; Nl (Roman numeral) and No (superscript two) are
     * token characters; CJK ideographs are alphabetic */
    assert_string_equal(tokens("ΣΟΦΙΑ Москва Ⅻ x² 東京"), "σοφια|москва|ⅻ|x²|東京");
    /* invalid UTF-8 separates tokens and never crashes */
    assert_string_equal(tokens("ab\xff" "cd\xc3"), "ab|cd");
}

static void put1(hs_bm25 *ix, uint64_t id, const char *text)
{
    const char *t[] = {text};
    size_t l[] = {strlen(text)};
    assert_int_equal(hs_bm25_put(ix, id, t, l, 1), 0);
}

static double score_of(hs_bm25 *ix, const char *q, uint64_t id, size_t *n)
{
    hs_bm25_hit *h;
    assert_int_equal(hs_bm25_search(ix, 0, q, strlen(q), 0, &h, n), 0);
    double s = 0;
    for (size_t i = 0; i < *n; i++)
        if (h[i].id == id)
            s = h[i].score;
    free(h);
    return s;
}

static void test_bm25_spec_values(void **state)
{
    (void)state;
    hs_bm25 *ix = hs_bm25_new();
    put1(ix, 0, "Apple Macbook Pro M3");
    put1(ix, 1, "Apple iPhone 15");
    put1(ix, 2, "Samsung Galaxy S24");
    size_t n;
    assert_true(fabs(score_of(ix, "apple", 1, &n) - 0.4900511774126154) < 1e-12);
    assert_int_equal(n, 2);
    assert_true(fabs(score_of(ix, "apple", 0, &n) - 0.4344571362775708) < 1e-12);
    assert_true(fabs(score_of(ix, "iphone", 1, &n) - 1.0226655718605677) < 1e-12);
    assert_int_equal(n, 1);
    /* the order: best first, and a duplicate query token counts once */
    hs_bm25_hit *h;
    assert_int_equal(hs_bm25_search(ix, 0, "APPLE apple", 11, 0, &h, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].id, 1);
    assert_int_equal(h[1].id, 0);
    assert_true(fabs(h[0].score - 0.4900511774126154) < 1e-12);
    free(h);
    /* unknown terms and token-free queries give nothing */
    assert_int_equal(hs_bm25_search(ix, 0, "nokia", 5, 0, &h, &n), 0);
    assert_int_equal(n, 0);
    free(h);
    hs_bm25_free(ix);
}

/* The formula computed independently for a small corpus with repeated terms. */
static void test_bm25_hand_computed(void **state)
{
    (void)state;
    hs_bm25 *ix = hs_bm25_new();
    const char *t2[] = {"red red apple", "green"};
    size_t l2[] = {13, 5};
    assert_int_equal(hs_bm25_put(ix, 10, t2, l2, 2), 0); /* 4 tokens, tf(red) = 2 */
    put1(ix, 11, "red pear");                             /* 2 tokens */
    put1(ix, 12, "blue sky blue sea blue");               /* 5 tokens */
    assert_int_equal(hs_bm25_docs(ix), 3);
    assert_int_equal(hs_bm25_tokens(ix), 11);
    double N = 3, avgdl = 11.0 / 3, k1 = 1.2, b = 0.75;
    double idf_red = log(1 + (N - 2 + 0.5) / (2 + 0.5));
    double want10 = idf_red * 2 * (k1 + 1) / (2 + k1 * (1 - b + b * 4 / avgdl));
    double want11 = idf_red * 1 * (k1 + 1) / (1 + k1 * (1 - b + b * 2 / avgdl));
    size_t n;
    assert_true(fabs(score_of(ix, "red", 10, &n) - want10) < 1e-12);
    assert_true(fabs(score_of(ix, "red", 11, &n) - want11) < 1e-12);
    /* replacing a document changes the statistics at once; removing takes it out */
    put1(ix, 11, "yellow pear");
    assert_int_equal(hs_bm25_tokens(ix), 11);
    double idf1 = log(1 + (N - 1 + 0.5) / (1 + 0.5));
    assert_true(fabs(score_of(ix, "red", 10, &n) -
                     idf1 * 2 * (k1 + 1) / (2 + k1 * (1 - b + b * 4 / avgdl))) < 1e-12);
    assert_int_equal(n, 1);
    hs_bm25_remove(ix, 10);
    assert_int_equal(hs_bm25_docs(ix), 2);
    assert_int_equal(hs_bm25_tokens(ix), 7);
    score_of(ix, "red", 10, &n);
    assert_int_equal(n, 0);
    hs_bm25_free(ix);
}

/* Many documents and terms: the tables grow and rehash; every document stays findable. */
static void test_bm25_growth(void **state)
{
    (void)state;
    hs_bm25 *ix = hs_bm25_new();
    char text[64];
    for (uint64_t id = 0; id < 5000; id++) {
        snprintf(text, sizeof(text), "w%llu common k%llu", (unsigned long long)id,
                 (unsigned long long)(id % 7));
        put1(ix, id, text);
    }
    for (uint64_t id = 0; id < 5000; id += 2)
        hs_bm25_remove(ix, id);
    assert_int_equal(hs_bm25_docs(ix), 2500);
    size_t n;
    for (uint64_t id = 1; id < 5000; id += 498) { /* odd ids: still there */
        snprintf(text, sizeof(text), "w%llu", (unsigned long long)id);
        assert_true(score_of(ix, text, id, &n) > 0);
        assert_int_equal(n, 1);
    }
    snprintf(text, sizeof(text), "w%d", 10);
    score_of(ix, text, 10, &n);
    assert_int_equal(n, 0); /* removed */
    hs_bm25_hit *h;
    assert_int_equal(hs_bm25_search(ix, 0, "common", 6, 10, &h, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 1; i < n; i++) /* equal scores: ascending ids */
        assert_true(h[i - 1].id < h[i].id);
    free(h);
    hs_bm25_free(ix);
}

static int no_dist(void *ctx, uint64_t id, double *d)
{
    (void)ctx;
    *d = 100.0 + (double)id; /* text-only points: far away */
    return 0;
}

static void test_fusion(void **state)
{
    (void)state;
    /* the spec's check: vector ranks {2: 1, 0: 2, 1: 3}, text ranks {1: 1}, alpha 0.5 */
    uint64_t vid[] = {2, 0, 1};
    double vd[] = {0.1, 0.2, 0.3};
    hs_bm25_hit txt[] = {{1, 1.02}};
    hs_fused out[3];
    size_t n;
    assert_int_equal(hs_fuse(vid, vd, 3, txt, 1, 0.5, 3, no_dist, NULL, out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, 1);
    assert_int_equal(out[1].id, 2);
    assert_int_equal(out[2].id, 0);
    assert_true(out[0].score == 0.016133229247983348);
    assert_true(out[1].score == 0.00819672131147541);
    assert_true(out[2].score == 0.008064516129032258);
    assert_true(out[0].distance == 0.3); /* the vector distance, also for fused points */
    /* a point only the text branch found gets its distance from the callback; top_k cuts */
    hs_bm25_hit txt2[] = {{9, 2.0}, {2, 1.0}};
    assert_int_equal(hs_fuse(vid, vd, 3, txt2, 2, 1.0, 2, no_dist, NULL, out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].id, 9);
    assert_true(out[0].distance == 109.0);
    assert_int_equal(out[1].id, 2);
    /* alpha 0: the vector order; ties of score broken by distance then id */
    assert_int_equal(hs_fuse(vid, vd, 3, NULL, 0, 0.0, 3, no_dist, NULL, out, &n), 0);
    assert_int_equal(out[0].id, 2);
    assert_true(out[0].score == 1.0 / 61.0);
    assert_int_equal(hs_fuse_depth(10), 100);
    assert_int_equal(hs_fuse_depth(80), 160);
    assert_int_equal(hs_fuse_depth(9000), 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_bm25_spec_values),
        cmocka_unit_test(test_bm25_hand_computed),
        cmocka_unit_test(test_bm25_growth),
        cmocka_unit_test(test_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
