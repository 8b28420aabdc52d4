/*
 * bm25.c: an inverted index with BM25 scoring (spec behaviour.md B5.2-B5.3).
 *
 * Terms live in an open-addressing table keyed by SipHash of their bytes; each term keeps its
 * postings (document id, term frequency) in an array, so n(t) is the array's length. Documents
 * live in a second table keyed by id, with their length and their distinct terms, which is what
 * removal walks (a removal scans each of its terms' postings: O(sum of their lengths)).
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "util/bytes.h"
#include "util/siphash.h"

#define K1 1.2
#define B 0.75

typedef struct posting {
    uint64_t id;
    uint32_t tf;
} posting;

typedef struct term {
    char *text; /* NULL = empty slot */
    size_t len;
    uint64_t hash;
    posting *post;
    size_t npost, cap;
} term;

typedef struct doc_term {
    uint32_t term; /* index into the term table */
    uint32_t tf;
} doc_term;

typedef struct doc {
    uint64_t id;
    int used;
    uint32_t len; /* tokens */
    doc_term *terms;
    uint32_t nterms;
} doc;

struct hs_bm25 {
    term *terms;
    size_t nterms, tcap;
    doc *docs;
    size_t ndocs, dcap;
    uint64_t tokens;
    doc_term *pending; /* the terms of a document being added (remapped by term_grow too) */
    uint32_t npending;
};

static uint64_t hash_bytes(const char *s, size_t n) { return hs_siphash13(0x62, 0x6d, s, n); }

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

hs_bm25 *hs_bm25_new(void)
{
    hs_bm25 *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->tcap = 64;
    ix->dcap = 64;
    ix->terms = calloc(ix->tcap, sizeof(term));
    ix->docs = calloc(ix->dcap, sizeof(doc));
    if (!ix->terms || !ix->docs) {
        hs_bm25_free(ix);
        return NULL;
    }
    return ix;
}

void hs_bm25_free(hs_bm25 *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; ix->terms && i < ix->tcap; i++) {
        free(ix->terms[i].text);
        free(ix->terms[i].post);
    }
    for (size_t i = 0; ix->docs && i < ix->dcap; i++)
        free(ix->docs[i].terms);
    free(ix->terms);
    free(ix->docs);
    free(ix);
}

uint64_t hs_bm25_docs(const hs_bm25 *ix) { return ix->ndocs; }
uint64_t hs_bm25_tokens(const hs_bm25 *ix) { return ix->tokens; }

/* ---- the term table (terms are never removed, so indexes stay valid) ----------------------- */

static size_t term_slot(const hs_bm25 *ix, const char *s, size_t n, uint64_t h)
{
    size_t i = (size_t)h & (ix->tcap - 1);
    while (ix->terms[i].text &&
           !(ix->terms[i].hash == h && ix->terms[i].len == n && !memcmp(ix->terms[i].text, s, n)))
        i = (i + 1) & (ix->tcap - 1);
    return i;
}

static int term_grow(hs_bm25 *ix)
{
    size_t cap = ix->tcap * 2;
    term *t = calloc(cap, sizeof(term));
    if (!t)
        return -1;
    /* rehashing moves terms: documents refer to them by index, so remap those too */
    uint32_t *where = malloc(ix->tcap * sizeof(uint32_t));
    if (!where) {
        free(t);
        return -1;
    }
    for (size_t i = 0; i < ix->tcap; i++) {
        if (!ix->terms[i].text)
            continue;
        size_t j = (size_t)ix->terms[i].hash & (cap - 1);
        while (t[j].text)
            j = (j + 1) & (cap - 1);
        t[j] = ix->terms[i];
        where[i] = (uint32_t)j;
    }
    for (size_t d = 0; d < ix->dcap; d++)
        for (uint32_t k = 0; ix->docs[d].used && k < ix->docs[d].nterms; k++)
            ix->docs[d].terms[k].term = where[ix->docs[d].terms[k].term];
    for (uint32_t k = 0; k < ix->npending; k++)
        ix->pending[k].term = where[ix->pending[k].term];
    free(where);
    free(ix->terms);
    ix->terms = t;
    ix->tcap = cap;
    return 0;
}

/* The index of the term s, added when missing; -1 when out of memory. */
static long term_get(hs_bm25 *ix, const char *s, size_t n)
{
    if ((ix->nterms + 1) * 4 > ix->tcap * 3 && term_grow(ix))
        return -1;
    uint64_t h = hash_bytes(s, n);
    size_t i = term_slot(ix, s, n, h);
    if (!ix->terms[i].text) {
        char *copy = malloc(n ? n : 1);
        if (!copy)
            return -1;
        memcpy(copy, s, n);
        ix->terms[i] = (term){copy, n, h, NULL, 0, 0};
        ix->nterms++;
    }
    return (long)i;
}

static long term_find(const hs_bm25 *ix, const char *s, size_t n)
{
    size_t i = term_slot(ix, s, n, hash_bytes(s, n));
    return ix->terms[i].text ? (long)i : -1;
}

/* ---- the document table ------------------------------------------------------------------ */

static size_t doc_slot(const hs_bm25 *ix, uint64_t id)
{
    size_t i = (size_t)mix(id) & (ix->dcap - 1);
    while (ix->docs[i].used && ix->docs[i].id != id)
        i = (i + 1) & (ix->dcap - 1);
    return i;
}

static int doc_grow(hs_bm25 *ix)
{
    size_t cap = ix->dcap * 2;
    doc *d = calloc(cap, sizeof(doc));
    if (!d)
        return -1;
    for (size_t i = 0; i < ix->dcap; i++) {
        if (!ix->docs[i].used)
            continue;
        size_t j = (size_t)mix(ix->docs[i].id) & (cap - 1);
        while (d[j].used)
            j = (j + 1) & (cap - 1);
        d[j] = ix->docs[i];
    }
    free(ix->docs);
    ix->docs = d;
    ix->dcap = cap;
    return 0;
}

/* Removes the slot's document and closes the gap (linear probing: re-inserts the run after it). */
static void doc_erase(hs_bm25 *ix, size_t i)
{
    doc *d = &ix->docs[i];
    for (uint32_t k = 0; k < d->nterms; k++) {
        term *t = &ix->terms[d->terms[k].term];
        for (size_t p = 0; p < t->npost; p++)
            if (t->post[p].id == d->id) {
                t->post[p] = t->post[--t->npost];
                break;
            }
    }
    ix->tokens -= d->len;
    ix->ndocs--;
    free(d->terms);
    memset(d, 0, sizeof(*d));
    for (size_t j = (i + 1) & (ix->dcap - 1); ix->docs[j].used; j = (j + 1) & (ix->dcap - 1)) {
        doc moved = ix->docs[j];
        memset(&ix->docs[j], 0, sizeof(doc));
        ix->docs[doc_slot(ix, moved.id)] = moved;
    }
}

void hs_bm25_remove(hs_bm25 *ix, uint64_t id)
{
    size_t i = doc_slot(ix, id);
    if (ix->docs[i].used)
        doc_erase(ix, i);
}

/* ---- adding ------------------------------------------------------------------------------- */

typedef struct collect {
    hs_bm25 *ix;
    doc_term *terms;
    uint32_t n, cap, len;
    int oom;
} collect;

static int add_token(void *ctx, const char *tok, size_t len)
{
    collect *c = ctx;
    long t = term_get(c->ix, tok, len);
    if (t < 0) {
        c->oom = 1;
        return 1;
    }
    c->len++;
    for (uint32_t k = 0; k < c->n; k++)
        if (c->terms[k].term == (uint32_t)t) {
            c->terms[k].tf++;
            return 0;
        }
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 8;
        doc_term *nt = realloc(c->terms, cap * sizeof(doc_term));
        if (!nt) {
            c->oom = 1;
            return 1;
        }
        c->terms = nt;
        c->cap = cap;
    }
    c->terms[c->n++] = (doc_term){(uint32_t)t, 1};
    c->ix->pending = c->terms;
    c->ix->npending = c->n;
    return 0;
}

int hs_bm25_put(hs_bm25 *ix, uint64_t id, const char *const *texts, const size_t *lens, size_t n)
{
    hs_bm25_remove(ix, id);
    /* a term table growth while tokenising remaps the indexes already collected (pending) */
    collect c = {ix, NULL, 0, 0, 0, 0};
    for (size_t i = 0; i < n && !c.oom; i++)
        if (hs_tokenize(texts[i], lens[i], add_token, &c) < 0)
            c.oom = 1;
    ix->pending = NULL;
    ix->npending = 0;
    if (!c.oom && c.n == 0) {
        free(c.terms);
        return 0; /* no tokens: not in the text ranking */
    }
    for (uint32_t k = 0; k < c.n && !c.oom; k++) {
        term *t = &ix->terms[c.terms[k].term];
        if (t->npost == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 4;
            posting *p = realloc(t->post, cap * sizeof(posting));
            if (!p) {
                c.oom = 1;
                break;
            }
            t->post = p;
            t->cap = cap;
        }
    }
    if (!c.oom && (ix->ndocs + 1) * 4 > ix->dcap * 3 && doc_grow(ix))
        c.oom = 1;
    if (c.oom) {
        free(c.terms);
        return -1;
    }
    for (uint32_t k = 0; k < c.n; k++) {
        term *t = &ix->terms[c.terms[k].term];
        t->post[t->npost++] = (posting){id, c.terms[k].tf};
    }
    size_t i = doc_slot(ix, id);
    ix->docs[i] = (doc){id, 1, c.len, c.terms, c.n};
    ix->ndocs++;
    ix->tokens += c.len;
    return 0;
}

/* ---- searching ---------------------------------------------------------------------------- */

typedef struct qterms {
    const hs_bm25 *ix;
    long *t;
    size_t n, cap;
    int oom;
} qterms;

static int query_token(void *ctx, const char *tok, size_t len)
{
    qterms *q = ctx;
    long t = term_find(q->ix, tok, len);
    if (t < 0 || q->ix->terms[t].npost == 0)
        return 0; /* n(t) = 0: contributes nothing */
    for (size_t k = 0; k < q->n; k++)
        if (q->t[k] == t)
            return 0; /* duplicate query tokens count once */
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        long *nt = realloc(q->t, cap * sizeof(long));
        if (!nt) {
            q->oom = 1;
            return 1;
        }
        q->t = nt;
        q->cap = cap;
    }
    q->t[q->n++] = t;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const hs_bm25_hit *)a)->id, y = ((const hs_bm25_hit *)b)->id;
    return x < y ? -1 : x > y;
}

static int by_score(const void *a, const void *b)
{
    const hs_bm25_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int hs_bm25_scores(const hs_bm25 *ix, uint64_t n_docs, const char *query, size_t len,
                   hs_bm25_hit **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    qterms q = {ix, NULL, 0, 0, 0};
    if (hs_tokenize(query, len, query_token, &q) < 0 || q.oom) {
        free(q.t);
        return -1;
    }
    size_t total = 0;
    for (size_t k = 0; k < q.n; k++)
        total += ix->terms[q.t[k]].npost;
    hs_bm25_hit *h = malloc((total ? total : 1) * sizeof(hs_bm25_hit));
    if (!h) {
        free(q.t);
        return -1;
    }
    /* documents without tokens count in N (spec B5.3: N = live points) */
    double N = (double)(n_docs > ix->ndocs ? n_docs : ix->ndocs);
    double avgdl = N > 0 ? (double)ix->tokens / N : 1.0;
    size_t m = 0;
    for (size_t k = 0; k < q.n; k++) {
        const term *t = &ix->terms[q.t[k]];
        double df = (double)t->npost;
        double idf = log(1.0 + (N - df + 0.5) / (df + 0.5));
        for (size_t p = 0; p < t->npost; p++) {
            const doc *d = &ix->docs[doc_slot(ix, t->post[p].id)];
            double tf = (double)t->post[p].tf;
            double s = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * (double)d->len / avgdl));
            h[m++] = (hs_bm25_hit){t->post[p].id, s};
        }
    }
    free(q.t);
    /* sum the contributions per document, in a fixed order (query term order within an id) */
    qsort(h, m, sizeof(*h), by_id);
    size_t w = 0;
    for (size_t r = 0; r < m; r++) {
        if (w && h[w - 1].id == h[r].id)
            h[w - 1].score += h[r].score;
        else
            h[w++] = h[r];
    }
    size_t keep = 0;
    for (size_t r = 0; r < w; r++)
        if (h[r].score > 0)
            h[keep++] = h[r];
    *out = h;
    *n = keep;
    return 0;
}

int hs_bm25_search(const hs_bm25 *ix, uint64_t n_docs, const char *query, size_t len,
                   size_t limit, hs_bm25_hit **out, size_t *n)
{
    if (hs_bm25_scores(ix, n_docs, query, len, out, n) != 0)
        return -1;
    qsort(*out, *n, sizeof(**out), by_score);
    if (limit && *n > limit)
        *n = limit;
    return 0;
}

/* ---- saving and loading ------------------------------------------------------------------- */

/*
 * Saved form (little-endian): u64 number of terms with postings; per term: u32 length, the
 * bytes, u64 number of postings, then (u64 document id, u32 term frequency) per posting.  The
 * documents (their lengths and term lists) follow from the postings.
 */
size_t hs_bm25_saved_size(const hs_bm25 *ix)
{
    size_t n = 8;
    for (size_t i = 0; i < ix->tcap; i++)
        if (ix->terms[i].text && ix->terms[i].npost)
            n += 4 + ix->terms[i].len + 8 + ix->terms[i].npost * 12;
    return n;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    hs_put_le32(p, v);
    return p + 4;
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    hs_put_le64(p, v);
    return p + 8;
}

void hs_bm25_save(const hs_bm25 *ix, uint8_t *out)
{
    uint64_t count = 0;
    uint8_t *p = out + 8;
    for (size_t i = 0; i < ix->tcap; i++) {
        const term *t = &ix->terms[i];
        if (!t->text || !t->npost)
            continue;
        count++;
        p = put_u32(p, (uint32_t)t->len);
        memcpy(p, t->text, t->len);
        p = put_u64(p + t->len, t->npost);
        for (size_t k = 0; k < t->npost; k++)
            p = put_u32(put_u64(p, t->post[k].id), t->post[k].tf);
    }
    put_u64(out, count);
}

/* Adds (term t, tf) to document id's list. */
static int load_posting(hs_bm25 *ix, uint32_t t, uint64_t id, uint32_t tf)
{
    if ((ix->ndocs + 1) * 4 > ix->dcap * 3 && doc_grow(ix))
        return -2;
    doc *d = &ix->docs[doc_slot(ix, id)];
    if (!d->used) {
        *d = (doc){id, 1, 0, NULL, 0};
        ix->ndocs++;
    }
    if (d->nterms && d->terms[d->nterms - 1].term == t)
        return -1; /* the same document twice in one term's postings */
    if ((d->nterms & (d->nterms - 1)) == 0) { /* grow at powers of two */
        doc_term *nt = realloc(d->terms, (d->nterms ? d->nterms * 2 : 1) * sizeof(doc_term));
        if (!nt)
            return -2;
        d->terms = nt;
    }
    d->terms[d->nterms++] = (doc_term){t, tf};
    if (d->len > UINT32_MAX - tf)
        return -1;
    d->len += tf;
    ix->tokens += tf;
    return 0;
}

int hs_bm25_load(hs_bm25 *ix, const uint8_t *buf, size_t len, uint64_t max_id)
{
    hs_reader r = hs_reader_of(buf, len);
    uint64_t count;
    if (ix->ndocs || ix->nterms || !hs_read_le64(&r, &count))
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t tl;
        uint64_t np;
        const uint8_t *tp;
        if (!hs_read_le32(&r, &tl) || !hs_read_span(&r, tl, &tp))
            return -1;
        const char *text = (const char *)tp;
        if (!hs_read_le64(&r, &np) || np == 0 || np > hs_reader_left(&r) / 12)
            return -1;
        size_t before = ix->nterms;
        long t = term_get(ix, text, tl);
        if (t < 0)
            return -2;
        if (ix->nterms == before)
            return -1; /* a term saved twice */
        term *tm = &ix->terms[t];
        if (!(tm->post = malloc(np * sizeof(posting))))
            return -2;
        tm->cap = np;
        for (uint64_t k = 0; k < np; k++) {
            uint64_t id = 0;
            uint32_t tf = 0;
            hs_read_le64(&r, &id);
            hs_read_le32(&r, &tf);
            if (id > max_id || tf == 0)
                return -1;
            /* term indexes move when the table grows: look the term up again after adding */
            int rc = load_posting(ix, (uint32_t)t, id, tf);
            if (rc)
                return rc;
            ix->terms[t].post[ix->terms[t].npost++] = (posting){id, tf};
        }
    }
    return r.p == r.end ? 0 : -1;
}
