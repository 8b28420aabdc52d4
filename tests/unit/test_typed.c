/*
 * test_typed.c: typed metadata through a collection.  Points carry integers, floats, booleans,
 * strings and lists; filtered searches (Match over every scalar type, Range with float and
 * integer bounds, lists, Prefix, AND / OR / NOT, must_not, should) are checked against the
 * test's own evaluation of each condition on its copy of the points: min(k, matching) results,
 * every result matching, the exact path complete, recall >= 0.95 on the walk.  Counts and the
 * typed values read back are checked again after a reopen (log replay), a checkpoint, a rebuild;
 * the write path's refusals of bad typed values are checked with their typed details.
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

#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "typed"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint64_t rnd(void) { return hs_test_xorshift(&rng_state); }

#define TN 8000
#define TD 8

/* A point as the test knows it. */
typedef struct tpoint {
    double v[TD];
    bool price_float, price_string, ok;
    int64_t price;   /* price_float: price + 0.5 */
    double score;    /* in [0, 1), multiples of 1/1024 */
    int t, u, tagn;  /* tags: ["t<t>", "u<u>", tagn] */
    int name;        /* "item-<name>" */
    char sprice[24], tt[8], tu[8], sname[16];
    hs_value vprice, vscore, vok, items[3], vtags;
    hs_kv kv[5];
} tpoint;

static void make_point(tpoint *p, size_t i)
{
    for (int d = 0; d < TD; d++)
        p->v[d] = (double)(float)((double)(rnd() % 20001) / 10000.0 - 1.0);
    p->price = (int64_t)(i % 1000);
    p->price_float = i % 4 == 3;
    p->price_string = i % 50 == 0;
    p->score = (double)(rnd() % 1024) / 1024.0;
    p->ok = i % 10 == 0;
    p->t = (int)(i % 7);
    p->u = (int)(i % 11);
    p->tagn = (int)(i % 13);
    p->name = (int)(i % 100);
    snprintf(p->sprice, sizeof(p->sprice), "%lld", (long long)p->price);
    snprintf(p->tt, sizeof(p->tt), "t%d", p->t);
    snprintf(p->tu, sizeof(p->tu), "u%d", p->u);
    snprintf(p->sname, sizeof(p->sname), "item-%d", p->name);
}

/* The entries of p (pointers into p: call after p has its final address). */
static void point_kv(tpoint *p)
{
    if (p->price_float)
        p->vprice = (hs_value){HS_VALUE_FLOAT, NULL, 0, 0, (double)p->price + 0.5, NULL, 0};
    else
        p->vprice = (hs_value){HS_VALUE_INT, NULL, 0, p->price, 0, NULL, 0};
    p->vscore = (hs_value){HS_VALUE_FLOAT, NULL, 0, 0, p->score, NULL, 0};
    p->vok = (hs_value){HS_VALUE_BOOL, NULL, 0, p->ok, 0, NULL, 0};
    p->items[0] = (hs_value){HS_VALUE_STRING, p->tt, strlen(p->tt), 0, 0, NULL, 0};
    p->items[1] = (hs_value){HS_VALUE_STRING, p->tu, strlen(p->tu), 0, 0, NULL, 0};
    p->items[2] = (hs_value){HS_VALUE_INT, NULL, 0, p->tagn, 0, NULL, 0};
    p->vtags = (hs_value){HS_VALUE_LIST, NULL, 0, 0, 0, p->items, 3};
    p->kv[0] = p->price_string ? (hs_kv){"price", 5, p->sprice, strlen(p->sprice), NULL}
                               : (hs_kv){"price", 5, NULL, 0, &p->vprice};
    p->kv[1] = (hs_kv){"score", 5, NULL, 0, &p->vscore};
    p->kv[2] = (hs_kv){"ok", 2, NULL, 0, &p->vok};
    p->kv[3] = (hs_kv){"tags", 4, NULL, 0, &p->vtags};
    p->kv[4] = (hs_kv){"name", 4, p->sname, strlen(p->sname), NULL};
}

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

static hs_collection *open_coll(hs_db *db, bool create)
{
    hs_error err;
    if (create) {
        hs_collection_config c;
        hs_collection_config_init(&c);
        c.dimension = TD;
        c.metric = HS_METRIC_L2;
        if (hs_collection_create(db, "t", "typed", &c, &err) != HS_OK)
            fail_msg("create: %s", err.message);
    }
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "typed", &h, &err), HS_OK);
    return h;
}

static tpoint *fill(hs_collection *h)
{
    tpoint *p = calloc(TN, sizeof(*p));
    hs_point *pts = calloc(TN, sizeof(*pts));
    for (size_t i = 0; i < TN; i++) {
        make_point(&p[i], i);
        point_kv(&p[i]);
        pts[i] = (hs_point){i, p[i].v, TD, p[i].kv, 5};
    }
    hs_error err;
    for (size_t i = 0; i < TN; i += 1000)
        if (hs_upsert(h, pts + i, 1000, HS_DURABILITY_ASYNC, &err))
            fail_msg("upsert: %s", err.message);
    assert_int_equal(hs_collection_wait_indexed(h, &err), HS_OK);
    free(pts);
    return p;
}

/* ---- the filters and the test's own evaluation of them -------------------------------------- */

enum { NCASES = 15 };

static hs_value v_true = {HS_VALUE_BOOL, NULL, 0, 1, 0, NULL, 0};
static hs_value v_500 = {HS_VALUE_INT, NULL, 0, 500, 0, NULL, 0};
static hs_value v_500_5 = {HS_VALUE_FLOAT, NULL, 0, 0, 500.5, NULL, 0};
static hs_value v_5f = {HS_VALUE_FLOAT, NULL, 0, 0, 5.0, NULL, 0};
static hs_value v_1 = {HS_VALUE_INT, NULL, 0, 1, 0, NULL, 0};
static hs_value v_2_5 = {HS_VALUE_FLOAT, NULL, 0, 0, 2.5, NULL, 0};

typedef struct fcase {
    hs_cond must[2], should[2], must_not[1], sub[2];
    hs_where w;
} fcase;

static hs_cond c_match_t(const char *k, const hs_value *v)
{
    return (hs_cond){.kind = HS_COND_MATCH, .key = k, .key_len = strlen(k), .typed = v};
}

static hs_cond c_match_s(const char *k, const char *v)
{
    return (hs_cond){.kind = HS_COND_MATCH, .key = k, .key_len = strlen(k), .value = v,
                     .value_len = strlen(v)};
}

static hs_cond c_range(const char *k)
{
    return (hs_cond){.kind = HS_COND_RANGE, .key = k, .key_len = strlen(k)};
}

static void build_case(int i, fcase *f)
{
    memset(f, 0, sizeof(*f));
    size_t nm = 1, ns = 0, nn = 0;
    hs_cond *c = &f->must[0];
    switch (i) {
    case 0: /* ok == true: 10 % */
        *c = c_match_t("ok", &v_true);
        break;
    case 1: /* price == 500 (integer; the string "500" is another value) */
        *c = c_match_t("price", &v_500);
        break;
    case 2: /* price == 500.5 */
        *c = c_match_t("price", &v_500_5);
        break;
    case 3: /* a float range holding ~0.1 % */
        *c = c_range("score");
        c->fbounds = HS_FBOUND_GTE | HS_FBOUND_LT;
        c->fgte = 0.25;
        c->flt = 0.251;
        break;
    case 4: /* (0.1, 0.6]: ~50 % */
        *c = c_range("score");
        c->fbounds = HS_FBOUND_GT | HS_FBOUND_LTE;
        c->fgt = 0.1;
        c->flte = 0.6;
        break;
    case 5: /* price in [10.5, 20]: integers, floats x.5 and strings */
        *c = c_range("price");
        c->fbounds = HS_FBOUND_GTE;
        c->fgte = 10.5;
        c->has_lte = 1;
        c->lte = 20;
        break;
    case 6: /* tags hold "t3" */
        *c = c_match_s("tags", "t3");
        break;
    case 7: /* tags hold the number 5 (given as 5.0) */
        *c = c_match_t("tags", &v_5f);
        break;
    case 8: /* tags hold a number >= 12 */
        *c = c_range("tags");
        c->has_gte = 1;
        c->gte = 12;
        break;
    case 9: /* name starts with "item-1" */
        *c = (hs_cond){.kind = HS_COND_PREFIX, .key = "name", .key_len = 4, .value = "item-1",
                       .value_len = 6};
        break;
    case 10: /* ok AND score < 0.5 */
        f->sub[0] = c_match_t("ok", &v_true);
        f->sub[1] = c_range("score");
        f->sub[1].fbounds = HS_FBOUND_LT;
        f->sub[1].flt = 0.5;
        *c = (hs_cond){.kind = HS_COND_AND, .sub = f->sub, .nsub = 2};
        break;
    case 11: /* tags "t1" OR tags "u2" */
        f->sub[0] = c_match_s("tags", "t1");
        f->sub[1] = c_match_s("tags", "u2");
        *c = (hs_cond){.kind = HS_COND_OR, .sub = f->sub, .nsub = 2};
        break;
    case 12: /* NOT ok */
        f->sub[0] = c_match_t("ok", &v_true);
        *c = (hs_cond){.kind = HS_COND_NOT, .sub = f->sub, .nsub = 1};
        break;
    case 13: /* price < 100 and not tags "t0" */
        *c = c_range("price");
        c->has_lt = 1;
        c->lt = 100;
        f->must_not[0] = c_match_s("tags", "t0");
        nn = 1;
        break;
    default: /* should: price == 1 or price == 2.5 (neither exists as a float: 1 only) */
        nm = 0;
        f->should[0] = c_match_t("price", &v_1);
        f->should[1] = c_match_t("price", &v_2_5);
        ns = 2;
        break;
    }
    f->w = (hs_where){f->must, nm, f->should, ns, f->must_not, nn};
}

static double price_of(const tpoint *p) { return (double)p->price + (p->price_float ? 0.5 : 0); }

static bool oracle(int i, const tpoint *p)
{
    bool num = !p->price_string; /* a typed price */
    switch (i) {
    case 0:
        return p->ok;
    case 1:
        return num && !p->price_float && p->price == 500;
    case 2:
        return num && p->price_float && p->price == 500;
    case 3:
        return p->score >= 0.25 && p->score < 0.251;
    case 4:
        return p->score > 0.1 && p->score <= 0.6;
    case 5: /* strings parse as int64 and count as integers */
        return price_of(p) >= 10.5 && price_of(p) <= 20;
    case 6:
        return p->t == 3;
    case 7:
        return p->tagn == 5;
    case 8:
        return p->tagn >= 12;
    case 9:
        return p->name == 1 || (p->name >= 10 && p->name <= 19);
    case 10:
        return p->ok && p->score < 0.5;
    case 11:
        return p->t == 1 || p->u == 2;
    case 12:
        return !p->ok;
    case 13:
        return price_of(p) < 100 && p->t != 0;
    default:
        return num && !p->price_float && p->price == 1;
    }
}

typedef struct dist_id {
    double d;
    uint64_t id;
} dist_id;

static int cmp_dist(const void *a, const void *b)
{
    const dist_id *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static size_t matching_count(int ci, const tpoint *p)
{
    size_t m = 0;
    for (size_t i = 0; i < TN; i++)
        m += oracle(ci, &p[i]);
    return m;
}

/* Every case: searches against the oracle (when search), counts always. */
static void check_cases(hs_collection *h, const tpoint *p, bool search)
{
    double recall_sum = 0;
    int recall_n = 0;
    dist_id *all = malloc(TN * sizeof(*all));
    for (int ci = 0; ci < NCASES; ci++) {
        fcase f;
        build_case(ci, &f);
        size_t matching = matching_count(ci, p);
        hs_read_opts ro;
        hs_read_opts_init(&ro);
        ro.mode = HS_READ_COUNT;
        ro.where = &f.w;
        hs_read_result rr;
        hs_error err;
        assert_int_equal(hs_read(h, &ro, NULL, NULL, &rr, &err), HS_OK);
        if (rr.visited != matching)
            fail_msg("case %d: count %llu, want %zu", ci, (unsigned long long)rr.visited,
                     matching);
        for (int t = 0; search && t < 12; t++) {
            double q[TD];
            for (int d = 0; d < TD; d++)
                q[d] = (double)(rnd() % 20001) / 10000.0 - 1.0;
            size_t k = t % 2 ? 10 : 25, m = 0;
            for (size_t i = 0; i < TN; i++) {
                if (!oracle(ci, &p[i]))
                    continue;
                double s = 0;
                for (int d = 0; d < TD; d++)
                    s += (p[i].v[d] - q[d]) * (p[i].v[d] - q[d]);
                all[m++] = (dist_id){s, i};
            }
            qsort(all, m, sizeof(*all), cmp_dist);
            size_t nw = m < k ? m : k;
            hs_search_opts o;
            hs_search_opts_init(&o);
            o.k = k;
            o.ef = 16;
            o.where = &f.w;
            hs_hit got[25];
            size_t ng;
            if (hs_search(h, q, TD, &o, got, &ng, &err) != HS_OK)
                fail_msg("case %d: %s", ci, err.message);
            if (ng != nw)
                fail_msg("case %d: %zu results, want min(k=%zu, matching=%zu)", ci, ng, k, m);
            size_t hit = 0;
            for (size_t i = 0; i < ng; i++) {
                if (!oracle(ci, &p[got[i].id]))
                    fail_msg("case %d: result %llu does not match", ci,
                             (unsigned long long)got[i].id);
                for (size_t j = 0; j < nw; j++)
                    hit += got[i].id == all[j].id;
            }
            if (m <= 2048 && hit != nw)
                fail_msg("case %d: the exact path missed %zu of %zu", ci, nw - hit, nw);
            if (nw) {
                recall_sum += (double)hit / (double)nw;
                recall_n++;
            }
        }
    }
    free(all);
    if (recall_n) {
        printf("typed filters: recall %.4f over %d queries\n", recall_sum / recall_n, recall_n);
        assert_true(recall_sum / recall_n >= 0.95);
    }
}

/* ---- typed values read back ------------------------------------------------------------------- */

typedef struct readback {
    const tpoint *p;
    int entries, bad;
} readback;

static int check_value(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    readback *r = ctx;
    const tpoint *p = r->p;
    r->entries++;
    bool ok = false;
    if (kl == 5 && !memcmp(k, "price", 5)) {
        if (p->price_string)
            ok = v->type == HS_VALUE_STRING && v->len == strlen(p->sprice) &&
                 !memcmp(v->str, p->sprice, v->len);
        else if (p->price_float)
            ok = v->type == HS_VALUE_FLOAT && v->f == (double)p->price + 0.5;
        else
            ok = v->type == HS_VALUE_INT && v->i == p->price;
    } else if (kl == 5 && !memcmp(k, "score", 5)) {
        ok = v->type == HS_VALUE_FLOAT && v->f == p->score;
    } else if (kl == 2 && !memcmp(k, "ok", 2)) {
        ok = v->type == HS_VALUE_BOOL && v->i == p->ok;
    } else if (kl == 4 && !memcmp(k, "tags", 4)) {
        ok = v->type == HS_VALUE_LIST && v->count == 3 && v->items[0].type == HS_VALUE_STRING &&
             v->items[0].len == strlen(p->tt) && !memcmp(v->items[0].str, p->tt, v->items[0].len) &&
             v->items[1].type == HS_VALUE_STRING && v->items[2].type == HS_VALUE_INT &&
             v->items[2].i == p->tagn;
    } else if (kl == 4 && !memcmp(k, "name", 4)) {
        ok = v->type == HS_VALUE_STRING && v->len == strlen(p->sname);
    }
    r->bad += !ok;
    return 0;
}

typedef struct text_check {
    const tpoint *p;
    int bad;
} text_check;

/* The string forms a client of string metadata gets. */
static int check_text(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    text_check *t = ctx;
    char want[64];
    if (kl == 2 && !memcmp(k, "ok", 2))
        snprintf(want, sizeof(want), "%s", t->p->ok ? "true" : "false");
    else if (kl == 4 && !memcmp(k, "tags", 4))
        snprintf(want, sizeof(want), "[\"%s\",\"%s\",%d]", t->p->tt, t->p->tu, t->p->tagn);
    else if (kl == 5 && !memcmp(k, "price", 5) && t->p->price_float)
        snprintf(want, sizeof(want), "%lld.5", (long long)t->p->price);
    else
        return 0;
    t->bad += vl != strlen(want) || memcmp(v, want, vl);
    return 0;
}

typedef struct walk {
    const tpoint *p;
    size_t seen;
    int bad;
} walk;

static int on_point(void *ctx, const hs_point_view *v)
{
    walk *w = ctx;
    const tpoint *p = &w->p[v->id];
    readback r = {p, 0, 0};
    assert_int_equal(hs_meta_each_typed(v, check_value, &r), 0);
    text_check t = {p, 0};
    hs_meta_each(v, check_text, &t);
    w->bad += r.bad + t.bad + (r.entries != 5) + !hs_meta_has_typed(v);
    w->seen++;
    return 0;
}

static void check_values(hs_collection *h, const tpoint *p)
{
    hs_read_opts o;
    hs_read_opts_init(&o);
    o.limit = TN;
    walk w = {p, 0, 0};
    hs_error err;
    assert_int_equal(hs_read(h, &o, on_point, &w, NULL, &err), HS_OK);
    assert_int_equal(w.seen, TN);
    assert_int_equal(w.bad, 0);
}

static void test_typed_collection(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = open_coll(db, true);
    tpoint *p = fill(h);
    check_cases(h, p, true);
    check_values(h, p);
    /* reopen: replayed from the log */
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db();
    h = open_coll(db, false);
    check_values(h, p);
    check_cases(h, p, false);
    /* from a checkpoint (with its payload index section) */
    hs_error err;
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db();
    h = open_coll(db, false);
    check_cases(h, p, false);
    check_values(h, p);
    /* replacements and deletes, then a rebuild (slots renumbered, indexes rebuilt) */
    for (size_t i = 0; i < TN; i += 7) {
        p[i].ok = !p[i].ok;
        p[i].score = (double)(rnd() % 1024) / 1024.0;
        point_kv(&p[i]);
        hs_point pt = {i, p[i].v, TD, p[i].kv, 5};
        assert_int_equal(hs_upsert(h, &pt, 1, HS_DURABILITY_ASYNC, &err), HS_OK);
    }
    check_cases(h, p, false);
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK);
    check_cases(h, p, true);
    check_values(h, p);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    free(p);
}

/* Hybrid search reads the string forms: a number is a token. */
static void test_typed_text(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = open_coll(db, true);
    hs_value n = {HS_VALUE_INT, NULL, 0, 2024, 0, NULL, 0};
    hs_value items[2] = {{HS_VALUE_STRING, "red apple", 9, 0, 0, NULL, 0},
                         {HS_VALUE_FLOAT, NULL, 0, 0, 7.25, NULL, 0}};
    hs_value l = {HS_VALUE_LIST, NULL, 0, 0, 0, items, 2};
    double v[TD] = {0};
    hs_kv a[2] = {{"year", 4, NULL, 0, &n}, {"tags", 4, NULL, 0, &l}};
    hs_kv b[1] = {{"title", 5, "green pear", 10, NULL}};
    hs_point pts[2] = {{1, v, TD, a, 2}, {2, v, TD, b, 1}};
    hs_error err;
    assert_int_equal(hs_upsert(h, pts, 2, HS_DURABILITY_ASYNC, &err), HS_OK);
    const char *queries[] = {"2024", "apple", "25"};
    for (int i = 0; i < 3; i++) {
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.hybrid = 1;
        o.text = queries[i];
        o.text_len = strlen(queries[i]);
        o.alpha = 1.0;
        o.k = 1;
        hs_hit out[1];
        size_t got;
        assert_int_equal(hs_search(h, v, TD, &o, out, &got, &err), HS_OK);
        assert_int_equal(got, 1);
        assert_true(out[0].id == 1 && out[0].score > 0);
    }
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* The write path's refusals, with their typed details. */
static void test_typed_refused(void **state)
{
    (void)state;
    hs_db *db = open_db();
    hs_collection *h = open_coll(db, true);
    double v[TD] = {0};
    hs_value nan = {HS_VALUE_FLOAT, NULL, 0, 0, NAN, NULL, 0};
    hs_value inner = {HS_VALUE_LIST, NULL, 0, 0, 0, NULL, 0};
    hs_value nested = {HS_VALUE_LIST, NULL, 0, 0, 0, &inner, 1};
    hs_value *many = calloc(1025, sizeof(hs_value));
    hs_value lmany = {HS_VALUE_LIST, NULL, 0, 0, 0, many, 1025};
    hs_value *strs = calloc(1000, sizeof(hs_value));
    static char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 1000; i++)
        strs[i] = (hs_value){HS_VALUE_STRING, chunk, sizeof(chunk), 0, 0, NULL, 0};
    hs_value llong = {HS_VALUE_LIST, NULL, 0, 0, 0, strs, 1000}; /* 103,000 bytes as text */
    hs_value unknown = {(hs_value_type)7, NULL, 0, 0, 0, NULL, 0};
    hs_value bad_utf8 = {HS_VALUE_STRING, "\xff", 1, 0, 0, NULL, 0};
    struct {
        const hs_value *v;
        hs_field field;
        hs_reason reason;
        const char *message;
    } cases[] = {
        {&nan, HS_FIELD_METADATA_VALUE, HS_REASON_NONFINITE,
         "Invalid metadata: value of key 'k' is not a finite number"},
        {&nested, HS_FIELD_METADATA_VALUE, HS_REASON_TYPE,
         "Invalid metadata: list of key 'k' holds a list or a value of unknown type"},
        {&lmany, HS_FIELD_METADATA_VALUE, HS_REASON_TOO_MANY,
         "Invalid metadata: list of key 'k' has more than 1024 elements"},
        {&llong, HS_FIELD_METADATA_VALUE, HS_REASON_TOO_LONG,
         "Invalid metadata: value of key 'k' longer than 65536 bytes"},
        {&unknown, HS_FIELD_METADATA_VALUE, HS_REASON_TYPE,
         "Invalid metadata: value of key 'k' has an unknown type"},
        {&bad_utf8, HS_FIELD_METADATA, HS_REASON_ENCODING, "Invalid metadata: invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hs_kv kv = {"k", 1, NULL, 0, cases[i].v};
        hs_point pt = {1, v, TD, &kv, 1};
        hs_error err;
        assert_int_equal(hs_upsert(h, &pt, 1, HS_DURABILITY_ASYNC, &err), HS_EMETADATA);
        assert_int_equal(err.field, cases[i].field);
        assert_int_equal(err.reason, cases[i].reason);
        if (!getenv("HS_ERROR_REWORD"))
            assert_string_equal(err.message, cases[i].message);
    }
    /* 1,024 elements and a 65,536-byte text are within the limits */
    lmany.count = 1024;
    hs_kv kv = {"k", 1, NULL, 0, &lmany};
    hs_point pt = {1, v, TD, &kv, 1};
    hs_error err;
    assert_int_equal(hs_upsert(h, &pt, 1, HS_DURABILITY_ASYNC, &err), HS_OK);
    uint64_t count;
    assert_int_equal(hs_test_count(h, NULL, NULL, &count, &err), HS_OK);
    assert_int_equal(count, 1);
    free(many);
    free(strs);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_typed_collection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
