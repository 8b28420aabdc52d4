/*
 * test_filter.c: the payload indexes against a brute-force oracle (Match, Range, removal, tail
 * merges), the B4.3 worked example, filtered search (must / should / must_not) against exact
 * filtered search on both planner paths, metadata changes reflected at once in Match, Range and
 * BM25 (also after reopen and rebuild), and hybrid search: the B5.3/B5.4 checks through a
 * collection and a labelled keyword test.
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
#include <unistd.h>

#include "filter/filter.h"
#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"
#include "util/numfmt.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "filter"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) { return hs_test_xorshift(&rng_state); }

/* ---- the index alone ----------------------------------------------------------------------- */

#define NS 6000

typedef struct slotmeta {
    char a[8], n[24];
    bool live;
} slotmeta;

static void kvs_of(const slotmeta *m, hs_kv *kv)
{
    kv[0] = (hs_kv){"a", 1, m->a, strlen(m->a)};
    kv[1] = (hs_kv){"n", 1, m->n, strlen(m->n)};
}

static void random_meta(slotmeta *m)
{
    snprintf(m->a, sizeof(m->a), "v%u", (unsigned)(rnd() % 7));
    switch (rnd() % 6) {
    case 0:
        snprintf(m->n, sizeof(m->n), "x%u", (unsigned)(rnd() % 100)); /* not a number */
        break;
    case 1:
        snprintf(m->n, sizeof(m->n), "0%u", (unsigned)(rnd() % 1000)); /* leading zero */
        break;
    case 2:
        snprintf(m->n, sizeof(m->n), "%u.5", (unsigned)(rnd() % 1000)); /* never a Range */
        break;
    default:
        snprintf(m->n, sizeof(m->n), "%d", (int)(rnd() % 2001) - 1000);
    }
}

static void check_index(const hs_pidx *x, const slotmeta *m, uint32_t n)
{
    /* Match */
    for (int v = 0; v < 8; v++) {
        char val[8];
        snprintf(val, sizeof(val), "v%d", v);
        const roaring_bitmap_t *bm = hs_pidx_match(x, "a", 1, val, strlen(val));
        uint32_t want = 0;
        for (uint32_t s = 0; s < n; s++) {
            bool match = m[s].live && !strcmp(m[s].a, val);
            want += match;
            if (match)
                assert_true(bm && roaring_bitmap_contains(bm, s));
        }
        if (bm) /* removed slots leave the bitmaps at once */
            assert_int_equal(roaring_bitmap_get_cardinality(bm), want);
        else
            assert_int_equal(want, 0);
    }
    /* the value column agrees with the metadata for every live slot */
    const hs_rcol *col = hs_pidx_rcol(x, "n", 1);
    for (uint32_t s = 0; s < n; s++) {
        int64_t want, got;
        if (!m[s].live)
            continue;
        bool num = hs_parse_int64(m[s].n, strlen(m[s].n), &want);
        bool has = col && hs_rcol_value(col, s, &got);
        assert_int_equal(has, num);
        if (num)
            assert_true(got == want);
    }
    /* Range */
    for (int t = 0; t < 40; t++) {
        hs_cond c = {.kind = HS_COND_RANGE, .key = "n", .key_len = 1};
        c.has_gte = rnd() % 4 != 0;
        c.has_lte = rnd() % 4 != 0;
        c.gte = (int64_t)(rnd() % 2400) - 1200;
        c.lte = c.gte + (int64_t)(rnd() % 800) - 100;
        /* the run's slots, as a search scans them: removed slots may be among them and are
         * dropped by liveness; each slot at most once */
        uint64_t cnt = hs_pidx_range_count(x, &c);
        uint32_t *sl = malloc((cnt ? cnt : 1) * sizeof(uint32_t));
        size_t ns = hs_pidx_range_slots(x, &c, sl, cnt);
        roaring_bitmap_t *bm = roaring_bitmap_create();
        for (size_t i = 0; i < ns; i++) {
            assert_true(sl[i] < n);
            assert_false(roaring_bitmap_contains(bm, sl[i]));
            roaring_bitmap_add(bm, sl[i]);
            if (!m[sl[i]].live)
                roaring_bitmap_remove(bm, sl[i]);
        }
        free(sl);
        uint64_t want = 0;
        for (uint32_t s = 0; s < n; s++) {
            int64_t v;
            bool match = m[s].live && hs_parse_int64(m[s].n, strlen(m[s].n), &v) &&
                    (!c.has_gte || v >= c.gte) && (!c.has_lte || v <= c.lte);
            want += match;
            if (roaring_bitmap_contains(bm, s) != match)
                fail_msg("range [%lld%s, %lld%s] slot %u value '%s': index %d, oracle %d",
                         (long long)c.gte, c.has_gte ? "" : "(none)", (long long)c.lte,
                         c.has_lte ? "" : "(none)", s, m[s].n, roaring_bitmap_contains(bm, s),
                         match);
        }
        assert_int_equal(roaring_bitmap_get_cardinality(bm), want);
        assert_true(hs_pidx_range_count(x, &c) >= want); /* an upper bound */
        roaring_bitmap_free(bm);
    }
}

static void test_index_oracle(void **state)
{
    (void)state;
    hs_pidx *x = hs_pidx_new();
    assert_non_null(x);
    slotmeta *m = calloc(NS, sizeof(*m));
    hs_kv kv[2];
    /* slots are appended; some are removed later (as deletes and replacements do) */
    for (uint32_t s = 0; s < NS; s++) {
        random_meta(&m[s]);
        m[s].live = true;
        kvs_of(&m[s], kv);
        assert_int_equal(hs_pidx_add(x, s, kv, 2), 0);
        if (s > 10 && rnd() % 3 == 0) {
            uint32_t r = (uint32_t)(rnd() % s);
            if (m[r].live) {
                kvs_of(&m[r], kv);
                assert_int_equal(hs_pidx_remove(x, r, kv, 2), 0);
                m[r].live = false;
            }
        }
        if (s == 500 || s == 3000 || s == NS - 1)
            check_index(x, m, s + 1);
    }
    /* remove most of what is left: the removed set is merged away */
    for (uint32_t s = 0; s < NS; s++)
        if (m[s].live && rnd() % 5) {
            kvs_of(&m[s], kv);
            assert_int_equal(hs_pidx_remove(x, s, kv, 2), 0);
            m[s].live = false;
        }
    check_index(x, m, NS);
    assert_true(hs_pidx_memory(x) > 0);
    hs_pidx_free(x);
    free(m);
}

/* The checkpoint form: a loaded index answers like the saved one; every truncation and a
 * sample of bit flips are refused or load into something consistent, never a crash. */
static void test_index_save_load(void **state)
{
    (void)state;
    enum { N = 3000 };
    hs_pidx *x = hs_pidx_new();
    slotmeta *m = calloc(N, sizeof(*m));
    const char *titles[] = {"red apple", "green pear", "apple pie", "blue sky", ""};
    for (uint32_t s = 0; s < N; s++) {
        random_meta(&m[s]);
        m[s].live = true;
        hs_kv kv[3];
        kvs_of(&m[s], kv);
        kv[2] = (hs_kv){"t", 1, titles[s % 5], strlen(titles[s % 5])};
        assert_int_equal(hs_pidx_add(x, s, kv, 3), 0);
        if (s % 7 == 3) {
            assert_int_equal(hs_pidx_remove(x, s, kv, 3), 0);
            m[s].live = false;
        }
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(hs_pidx_save(x, N, &buf, &len), 0);
    hs_pidx *y;
    assert_int_equal(hs_pidx_load(buf, len, N, &y), 0);
    check_index(y, m, N);
    hs_bm25_hit *a, *b;
    size_t na, nb;
    assert_int_equal(hs_bm25_search(hs_pidx_text(x), N, "apple sky", 9, 0, &a, &na), 0);
    assert_int_equal(hs_bm25_search(hs_pidx_text(y), N, "apple sky", 9, 0, &b, &nb), 0);
    assert_int_equal(na, nb);
    assert_true(na > 0);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].id, b[i].id);
        assert_true(a[i].score == b[i].score);
    }
    free(a);
    free(b);
    /* a slot count other than the checkpoint's is refused */
    hs_pidx *z = NULL;
    assert_int_equal(hs_pidx_load(buf, len, N + 1, &z), -1);
    assert_null(z);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
        assert_int_equal(hs_pidx_load(buf, cut, N, &z), -1);
        assert_null(z);
    }
    for (int t = 0; t < 2000; t++) {
        size_t at = rnd() % len;
        uint8_t old = buf[at];
        buf[at] ^= (uint8_t)(1u << (rnd() % 8));
        if (hs_pidx_load(buf, len, N, &z) == 0)
            hs_pidx_free(z);
        buf[at] = old;
    }
    free(buf);
    hs_pidx_free(x);
    hs_pidx_free(y);
    free(m);
}

static void test_int64_parsing(void **state)
{
    (void)state;
    int64_t v;
    assert_true(hs_parse_int64("0100", 4, &v) && v == 100);
    assert_true(hs_parse_int64("-9223372036854775808", 20, &v) && v == INT64_MIN);
    assert_true(hs_parse_int64("+9223372036854775807", 20, &v) && v == INT64_MAX);
    assert_false(hs_parse_int64("9223372036854775808", 19, &v));
    const char *bad[] = {"9.5", " 7", "1e3", "", "-", "+", "7 ", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(hs_parse_int64(bad[i], strlen(bad[i]), &v));
}

/* ---- through a collection ------------------------------------------------------------------ */

static hs_db *open_db(void)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.exact_threshold = 0; /* the planner decides, not the collection size */
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static hs_collection *make(hs_db *db, const char *name, uint32_t dim, hs_quantization q)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = dim;
    c.metric = HS_METRIC_L2;
    c.quantization = q;
    hs_error err;
    if (hs_collection_create(db, "t", name, &c, &err) != HS_OK)
        fail_msg("create: %s", err.message);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", name, &h, &err), HS_OK);
    return h;
}

static hs_collection *reopen(hs_db *db, const char *name)
{
    hs_collection *h;
    hs_error err;
    assert_int_equal(hs_collection_open(db, "t", name, &h, &err), HS_OK);
    return h;
}

static void put(hs_collection *h, uint64_t id, const double *v, size_t dim, const hs_kv *kv,
                size_t n)
{
    hs_point p = {id, v, dim, kv, n};
    hs_error err;
    if (hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, &err) != HS_OK)
        fail_msg("upsert %llu: %s", (unsigned long long)id, err.message);
}

static size_t search(hs_collection *h, const double *q, size_t dim, size_t k, uint32_t ef,
                     const hs_where *w, hs_hit *out)
{
    hs_search_opts o;
    hs_search_opts_init(&o);
    o.k = k;
    o.ef = ef;
    o.where = w;
    size_t n;
    hs_error err;
    if (hs_search(h, q, dim, &o, out, &n, &err) != HS_OK)
        fail_msg("search: %s", err.message);
    return n;
}

static bool ids_equal(const hs_hit *h, size_t n, const uint64_t *ids, size_t m)
{
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h[i].id != ids[i])
            return false;
    return true;
}

#define C_MATCH(k, v) {HS_COND_MATCH, k, sizeof(k) - 1, v, sizeof(v) - 1, 0, 0, 0, 0}
#define C_RANGE(k, hg, g, hl, l) {HS_COND_RANGE, k, sizeof(k) - 1, NULL, 0, hg, hl, g, l}

/* spec B4.3's worked example */
static void test_worked_example(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = make(db, "ex", 2, HS_QUANT_NONE);
    const char *price[] = {"100", "200", "50"}, *cat[] = {"a", "b", "a"};
    for (int i = 0; i < 3; i++) {
        double v[2] = {i, 1};
        hs_kv kv[2] = {{"price", 5, price[i], strlen(price[i])}, {"cat", 3, cat[i], 1}};
        put(h, (uint64_t)i + 1, v, 2, kv, 2);
    }
    double q[2] = {0, 1};
    hs_hit out[10];
    struct {
        hs_cond must[2];
        size_t n;
        uint64_t want[3];
        size_t nwant;
    } cases[] = {
        {{C_RANGE("price", 1, 80, 0, 0)}, 1, {1, 2}, 2},
        {{C_RANGE("price", 0, 0, 1, 150)}, 1, {1, 3}, 2},
        {{C_RANGE("price", 1, 80, 1, 150)}, 1, {1}, 1},
        {{C_RANGE("price", 1, 80, 0, 0), C_MATCH("cat", "b")}, 2, {2}, 1},
        {{C_MATCH("cat", "a")}, 1, {1, 3}, 2},
        {{C_RANGE("price", 1, 300, 1, 10)}, 1, {0}, 0},
        {{C_MATCH("price", "0100")}, 1, {0}, 0},
        {{C_MATCH("missing", "a")}, 1, {0}, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hs_where w = {cases[i].must, cases[i].n, NULL, 0, NULL, 0};
        size_t n = search(h, q, 2, 10, 0, &w, out);
        if (!ids_equal(out, n, cases[i].want, cases[i].nwant))
            fail_msg("case %zu: %zu results, first %llu", i, n,
                     n ? (unsigned long long)out[0].id : 0ULL);
        uint64_t cnt;
        hs_error err;
        assert_int_equal(hs_test_count(h, hs_test_where_accept, &w, &cnt, &err), HS_OK);
        assert_int_equal(cnt, cases[i].nwant);
    }
    /* must_not and should */
    hs_cond a = C_MATCH("cat", "a"), r = C_RANGE("price", 1, 150, 0, 0);
    hs_cond sh[2] = {C_MATCH("price", "50"), C_MATCH("price", "200")};
    hs_where w1 = {NULL, 0, NULL, 0, &a, 1};
    uint64_t w1ids[] = {2};
    assert_true(ids_equal(out, search(h, q, 2, 10, 0, &w1, out), w1ids, 1));
    hs_where w2 = {NULL, 0, sh, 2, &r, 1};
    uint64_t w2ids[] = {3};
    assert_true(ids_equal(out, search(h, q, 2, 10, 0, &w2, out), w2ids, 1));
    hs_where w3 = {NULL, 0, sh, 2, NULL, 0};
    uint64_t w3ids[] = {2, 3}; /* by distance to (0, 1) */
    assert_true(ids_equal(out, search(h, q, 2, 10, 0, &w3, out), w3ids, 2));
    /* an empty key is refused, naming the condition */
    hs_cond bad = {HS_COND_MATCH, "", 0, "x", 1, 0, 0, 0, 0};
    hs_where wb = {NULL, 0, NULL, 0, &bad, 1};
    hs_search_opts o;
    hs_search_opts_init(&o);
    o.where = &wb;
    size_t n;
    hs_error err;
    assert_int_equal(hs_search(h, q, 2, &o, out, &n, &err), HS_EFILTER);
    assert_string_equal(err.message, "Invalid filter: must_not[0]: key must not be empty");
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* ---- filtered search against exact filtered search ------------------------------------------ */

#define FN 12000
#define FD 12

typedef struct fpoint {
    double v[FD];
    char g[24], h[24], n[24];
} fpoint;

static fpoint *fill(hs_collection *h, size_t n)
{
    fpoint *p = calloc(n, sizeof(*p));
    hs_point *pts = calloc(n, sizeof(*pts));
    hs_kv *kv = calloc(n * 3, sizeof(*kv));
    for (size_t i = 0; i < n; i++) {
        for (int d = 0; d < FD; d++)
            p[i].v[d] = (double)(float)((double)(rnd() % 20001) / 10000.0 - 1.0);
        snprintf(p[i].g, sizeof(p[i].g), "%zu", i % 1000);
        snprintf(p[i].h, sizeof(p[i].h), "%zu", i % 2);
        snprintf(p[i].n, sizeof(p[i].n), "%zu", i);
        kv[3 * i] = (hs_kv){"g", 1, p[i].g, strlen(p[i].g)};
        kv[3 * i + 1] = (hs_kv){"h", 1, p[i].h, strlen(p[i].h)};
        kv[3 * i + 2] = (hs_kv){"n", 1, p[i].n, strlen(p[i].n)};
        pts[i] = (hs_point){i, p[i].v, FD, &kv[3 * i], 3};
    }
    hs_error err;
    for (size_t i = 0; i < n; i += 1000)
        if (hs_upsert(h, pts + i, n - i < 1000 ? n - i : 1000, HS_DURABILITY_ASYNC, &err))
            fail_msg("upsert: %s", err.message);
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    free(pts);
    free(kv);
    return p;
}

typedef struct dist_id {
    double d;
    uint64_t id;
} dist_id;

static int cmp_di(const void *a, const void *b)
{
    const dist_id *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool p_matches(const fpoint *p, const hs_where *w)
{
    /* the same evaluation as a stored blob, on the test's own copy */
    uint8_t blob[128];
    uint32_t len = 4, cnt = 3;
    const char *k[3] = {"g", "h", "n"}, *v[3] = {p->g, p->h, p->n};
    uint8_t *q = blob + 8;
    for (int i = 0; i < 3; i++) {
        uint32_t kl = 1, vl = (uint32_t)strlen(v[i]);
        memcpy(q, &kl, 4);
        memcpy(q + 4, k[i], kl);
        memcpy(q + 4 + kl, &vl, 4);
        memcpy(q + 8 + kl, v[i], vl);
        q += 8 + kl + vl;
        len += 8 + kl + vl;
    }
    memcpy(blob, &len, 4);
    memcpy(blob + 4, &cnt, 4);
    return hs_where_match_blob(w, blob);
}

/* Exact filtered top k into want; returns min(k, matching). */
static size_t exact(const fpoint *p, size_t n, const double *q, const hs_where *w, size_t k,
                    uint64_t *want, size_t *matching)
{
    dist_id *all = malloc(n * sizeof(*all));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p_matches(&p[i], w))
            continue;
        double s = 0;
        for (int d = 0; d < FD; d++)
            s += (p[i].v[d] - q[d]) * (p[i].v[d] - q[d]);
        all[m++] = (dist_id){s, i};
    }
    qsort(all, m, sizeof(*all), cmp_di);
    *matching = m;
    size_t r = m < k ? m : k;
    for (size_t i = 0; i < r; i++)
        want[i] = all[i].id;
    free(all);
    return r;
}

static void run_filtered(hs_quantization quant)
{
    hs_db *db = open_db();
    hs_collection *h = make(db, "f", FD, quant);
    fpoint *p = fill(h, FN);
    /* selectivities from 1 point to 50 %, over both planner paths (ef 16 keeps the exact-scan
     * limit near 2,048 matching points) */
    hs_cond one = C_MATCH("n", "777"), g = C_MATCH("g", "5"), half = C_MATCH("h", "1");
    hs_cond r12 = C_RANGE("n", 1, 100, 1, 111), r30 = C_RANGE("n", 1, 0, 1, 3599);
    hs_cond rnone = C_RANGE("n", 1, 20000, 0, 0);
    hs_cond sh[2] = {C_MATCH("g", "7"), C_MATCH("g", "8")};
    hs_cond notg = C_MATCH("g", "9");
    hs_cond both[2] = {C_MATCH("h", "0"), C_RANGE("n", 1, 2000, 0, 0)};
    hs_where ws[] = {
        {&one, 1, NULL, 0, NULL, 0},  {&g, 1, NULL, 0, NULL, 0},    {&half, 1, NULL, 0, NULL, 0},
        {&r12, 1, NULL, 0, NULL, 0},  {&r30, 1, NULL, 0, NULL, 0},  {&rnone, 1, NULL, 0, NULL, 0},
        {NULL, 0, sh, 2, NULL, 0},    {&half, 1, NULL, 0, &notg, 1}, {both, 2, NULL, 0, NULL, 0},
        {NULL, 0, NULL, 0, &half, 1},
    };
    double recall_sum = 0;
    int recall_n = 0;
    for (size_t wi = 0; wi < sizeof(ws) / sizeof(ws[0]); wi++) {
        for (int t = 0; t < 20; t++) {
            double q[FD];
            for (int d = 0; d < FD; d++)
                q[d] = (double)(rnd() % 20001) / 10000.0 - 1.0;
            size_t k = t % 2 ? 10 : 25, matching;
            uint64_t want[25];
            hs_hit got[25];
            size_t nw = exact(p, FN, q, &ws[wi], k, want, &matching);
            size_t ng = search(h, q, FD, k, 16, &ws[wi], got);
            if (ng != nw)
                fail_msg("filter %zu: %zu results, want min(k=%zu, matching=%zu)", wi, ng, k,
                         matching);
            size_t hit = 0;
            for (size_t i = 0; i < ng; i++) {
                assert_true(p_matches(&p[got[i].id], &ws[wi]));
                for (size_t j = 0; j < nw; j++)
                    hit += got[i].id == want[j];
            }
            if (nw) {
                recall_sum += (double)hit / (double)nw;
                recall_n++;
            }
            if (matching <= 2048 && hit != nw) /* the exact path */
                fail_msg("filter %zu: exact path missed %zu of %zu", wi, nw - hit, nw);
        }
    }
    /* the same conditions as a callback instead of a hs_where (a graph walk at 50 %) */
    hs_search_opts o;
    hs_search_opts_init(&o);
    o.k = 10;
    o.ef = 16;
    o.accept = hs_test_where_accept;
    o.accept_ctx = &ws[2];
    double q0[FD] = {0};
    hs_hit got[10];
    size_t ng;
    hs_error err;
    assert_int_equal(hs_search(h, q0, FD, &o, got, &ng, &err), HS_OK);
    assert_int_equal(ng, 10);
    for (size_t i = 0; i < ng; i++)
        assert_true(p_matches(&p[got[i].id], &ws[2]));
    double recall = recall_sum / recall_n;
    printf("filtered recall (quantization %d): %.4f over %d queries\n", (int)quant, recall,
           recall_n);
    assert_true(recall >= 0.95);
    free(p);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_filtered_vs_exact(void **state)
{
    (void)state;
    run_filtered(HS_QUANT_NONE);
}

static void test_filtered_vs_exact_scalar(void **state)
{
    (void)state;
    run_filtered(HS_QUANT_SCALAR);
}

/* ---- metadata changes, reopen, rebuild ------------------------------------------------------ */

static size_t hybrid(hs_collection *h, const double *q, size_t dim, size_t k, const char *text,
                     double alpha, const hs_where *w, hs_hit *out)
{
    hs_search_opts o;
    hs_search_opts_init(&o);
    o.k = k;
    o.where = w;
    o.hybrid = 1;
    o.text = text;
    o.text_len = strlen(text);
    o.alpha = alpha;
    size_t n;
    hs_error err;
    if (hs_search(h, q, dim, &o, out, &n, &err) != HS_OK)
        fail_msg("hybrid search: %s", err.message);
    return n;
}

static bool contains(const hs_hit *h, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].id == id)
            return true;
    return false;
}

/* id 7 is found by Match cat=a, Range price<=20 and the keyword "apple" exactly when `old` */
static void check_seven(hs_collection *h, bool old)
{
    double q[2] = {0, 0};
    hs_hit out[32];
    hs_cond ca = C_MATCH("cat", "a"), cb = C_MATCH("cat", "b");
    hs_cond lo = C_RANGE("price", 0, 0, 1, 20), hi = C_RANGE("price", 1, 50, 0, 0);
    hs_where wa = {&ca, 1, NULL, 0, NULL, 0}, wb = {&cb, 1, NULL, 0, NULL, 0};
    hs_where wlo = {&lo, 1, NULL, 0, NULL, 0}, whi = {&hi, 1, NULL, 0, NULL, 0};
    assert_int_equal(contains(out, search(h, q, 2, 32, 0, &wa, out), 7), old);
    assert_int_equal(contains(out, search(h, q, 2, 32, 0, &wlo, out), 7), old);
    assert_int_equal(contains(out, search(h, q, 2, 32, 0, &wb, out), 7), !old);
    assert_int_equal(contains(out, search(h, q, 2, 32, 0, &whi, out), 7), !old);
    /* alpha 1: the text ranking decides; only id 7 ever holds "apple" or "pear" */
    size_t n = hybrid(h, q, 2, 1, "apple", 1.0, NULL, out);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id == 7, old);
    n = hybrid(h, q, 2, 1, "pear", 1.0, NULL, out);
    assert_int_equal(out[0].id == 7, !old);
}

static void test_metadata_change_reflected(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = make(db, "m", 2, HS_QUANT_NONE);
    for (uint64_t i = 0; i < 20; i++) {
        double v[2] = {(double)i, 1.0};
        char price[8];
        snprintf(price, sizeof(price), "%llu", (unsigned long long)(30 + i));
        hs_kv kv[3] = {{"cat", 3, "c", 1}, {"price", 5, price, strlen(price)},
                       {"title", 5, "plain item", 10}};
        put(h, i + 100, v, 2, kv, 3);
    }
    double v7[2] = {5, 5};
    hs_kv old[3] = {{"cat", 3, "a", 1}, {"price", 5, "10", 2}, {"title", 5, "red apple", 9}};
    put(h, 7, v7, 2, old, 3);
    check_seven(h, true);
    hs_kv neu[3] = {{"cat", 3, "b", 1}, {"price", 5, "99", 2}, {"title", 5, "green pear", 10}};
    put(h, 7, v7, 2, neu, 3);
    check_seven(h, false);
    /* reopen: replayed from the log, then from a checkpoint */
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db();
    h = reopen(db, "m");
    check_seven(h, false);
    hs_error err;
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db();
    h = reopen(db, "m");
    check_seven(h, false);
    /* rebuild renumbers the slots: the indexes follow */
    put(h, 7, v7, 2, old, 3);
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK);
    check_seven(h, true);
    /* deletes leave every index */
    size_t deleted;
    uint64_t id = 7;
    assert_int_equal(hs_delete(h, &id, 1, HS_DURABILITY_ASYNC, &deleted, &err), HS_OK);
    hs_hit out[32];
    double q[2] = {0, 0};
    hs_cond ca = C_MATCH("cat", "a");
    hs_where wa = {&ca, 1, NULL, 0, NULL, 0};
    assert_int_equal(search(h, q, 2, 32, 0, &wa, out), 0);
    assert_int_equal(hybrid(h, q, 2, 32, "apple", 1.0, NULL, out), 20);
    assert_false(contains(out, 20, 7));
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* ---- hybrid ---------------------------------------------------------------------------------- */

/* spec B5.3 / B5.4 through a collection */
static void test_hybrid_spec_checks(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = make(db, "hy", 2, HS_QUANT_NONE);
    const char *titles[] = {"Apple Macbook Pro M3", "Apple iPhone 15", "Samsung Galaxy S24"};
    /* vector ranks for the query (0, 0): 2, 0, 1 */
    double vs[3][2] = {{2, 0}, {3, 0}, {1, 0}};
    for (int i = 0; i < 3; i++) {
        hs_kv kv = {"title", 5, titles[i], strlen(titles[i])};
        put(h, (uint64_t)i, vs[i], 2, &kv, 1);
    }
    double q[2] = {0, 0};
    hs_hit out[10];
    size_t n = hybrid(h, q, 2, 10, "iphone", 0.5, NULL, out);
    assert_int_equal(n, 3);
    uint64_t order[] = {1, 2, 0};
    double score[] = {0.016133229247983348, 0.00819672131147541, 0.008064516129032258};
    double dist[] = {9, 1, 4}; /* squared Euclidean */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].id, order[i]);
        assert_true(out[i].score == score[i]);
        assert_true(fabs(out[i].distance - dist[i]) < 1e-12);
    }
    /* no tokens: vector order, score (1 - a) / (60 + rank) */
    n = hybrid(h, q, 2, 10, " ,; ", 0.25, NULL, out);
    assert_int_equal(n, 3);
    const uint64_t vorder[] = {2, 0, 1};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].id, vorder[i]);
        assert_true(out[i].score == 0.75 / (60.0 + i + 1));
    }
    /* "apple": BM25(1) > BM25(0) (shorter document); alpha 1 puts the text order first */
    n = hybrid(h, q, 2, 2, "apple", 1.0, NULL, out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].id, 1);
    assert_int_equal(out[1].id, 0);
    /* a filter applies to both branches */
    hs_cond not1 = C_MATCH("title", "Apple iPhone 15");
    hs_where w = {NULL, 0, NULL, 0, &not1, 1};
    n = hybrid(h, q, 2, 10, "iphone", 0.5, &w, out);
    assert_int_equal(n, 2);
    assert_false(contains(out, n, 1));
    /* alpha outside [0, 1] */
    hs_search_opts o;
    hs_search_opts_init(&o);
    o.hybrid = 1;
    o.text = "x";
    o.text_len = 1;
    o.alpha = 1.5;
    hs_error err;
    assert_int_equal(hs_search(h, q, 2, &o, out, &n, &err), HS_ERANGE);
    o.alpha = NAN;
    assert_int_equal(hs_search(h, q, 2, &o, out, &n, &err), HS_ERANGE);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* Five documents hold a rare keyword and lie far from the query: vector search misses them,
 * hybrid search with the keyword lifts all five into the top 10. */
static void test_hybrid_labelled(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = make(db, "lab", 8, HS_QUANT_NONE);
    const char *words[] = {"river", "stone", "garden", "window", "paper", "orange", "cloud"};
    for (uint64_t i = 0; i < 400; i++) {
        double v[8];
        bool rel = i % 80 == 3; /* ids 3, 83, 163, 243, 323 */
        for (int d = 0; d < 8; d++)
            v[d] = (rel ? 5.0 : 0.0) + (double)(rnd() % 1000) / 1000.0;
        char title[96];
        snprintf(title, sizeof(title), "%s %s %s%s", words[rnd() % 7], words[rnd() % 7],
                 words[rnd() % 7], rel ? " zeppelin" : "");
        hs_kv kv = {"title", 5, title, strlen(title)};
        put(h, i, v, 8, &kv, 1);
    }
    double q[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    hs_hit out[10];
    size_t n = search(h, q, 8, 10, 0, NULL, out);
    size_t rel_vec = 0, rel_hyb = 0;
    for (size_t i = 0; i < n; i++)
        rel_vec += out[i].id % 80 == 3;
    n = hybrid(h, q, 8, 10, "Zeppelin", 0.5, NULL, out);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        rel_hyb += out[i].id % 80 == 3;
    printf("relevant in the top 10: vector %zu, hybrid %zu of 5\n", rel_vec, rel_hyb);
    assert_int_equal(rel_vec, 0);
    assert_int_equal(rel_hyb, 5);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_oracle),
        cmocka_unit_test(test_index_save_load),
        cmocka_unit_test(test_int64_parsing),
        cmocka_unit_test_setup_teardown(test_worked_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_vs_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_vs_exact_scalar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_change_reflected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hybrid_spec_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hybrid_labelled, setup, teardown),
    };
    return cmocka_run_group_tests_name("filter", tests, NULL, NULL);
}
