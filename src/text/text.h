/*
 * text.h: keyword search for hybrid queries (spec behaviour.md B5.1-B5.3).
 *
 *   tokenize.c  tokens of a UTF-8 text: maximal runs of Unicode alphanumerics (Alphabetic, Nd, Nl,
 *               No), lower-cased with the simple lowercase mapping (ICU 72 = Unicode 15.0)
 *   bm25.c      an in-memory inverted index over documents (one per point: the tokens of all its
 *               metadata values) with BM25 scoring, k1 = 1.2, b = 0.75
 *
 * Not thread-safe: the owner (a collection) serialises writers and readers.
 */
#ifndef HS_TEXT_H
#define HS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Receives one token (UTF-8, lower-cased, not NUL-terminated); non-zero stops. */
typedef int (*hs_token_fn)(void *ctx, const char *tok, size_t len);

/* Calls fn for each token of s[0..len) in order; invalid UTF-8 bytes separate tokens.  Returns
 * what fn returned when it stopped early, else 0; -1 when out of memory. */
int hs_tokenize(const char *s, size_t len, hs_token_fn fn, void *ctx);

typedef struct hs_bm25 hs_bm25;

hs_bm25 *hs_bm25_new(void);
void hs_bm25_free(hs_bm25 *ix);

/* Adds (or replaces) the document of `id`: the concatenated tokens of texts[0..n).
 * Returns 0 or -1 (out of memory; the index is unchanged). */
int hs_bm25_put(hs_bm25 *ix, uint64_t id, const char *const *texts, const size_t *lens, size_t n);
/* Removes the document of id (nothing when absent). */
void hs_bm25_remove(hs_bm25 *ix, uint64_t id);

/* Documents, and the total number of tokens in them. */
uint64_t hs_bm25_docs(const hs_bm25 *ix);
uint64_t hs_bm25_tokens(const hs_bm25 *ix);

typedef struct hs_bm25_hit {
    uint64_t id;
    double score;
} hs_bm25_hit;

/* The BM25 score of every document with a score > 0 for query, best first (ties by ascending
 * id), at most `limit` (0 = all).  n_docs is N of the statistics: the owner's document count,
 * documents without tokens included (at least the indexed documents are counted).  *out is
 * malloc'd (free it); *n gets the count.  Duplicate query tokens count once.  Returns 0 or -1
 * (out of memory). */
int hs_bm25_search(const hs_bm25 *ix, uint64_t n_docs, const char *query, size_t len,
                   size_t limit, hs_bm25_hit **out, size_t *n);
/* The same scores in document id order, not ranked (for callers that rank by another key). */
int hs_bm25_scores(const hs_bm25 *ix, uint64_t n_docs, const char *query, size_t len,
                   hs_bm25_hit **out, size_t *n);

/* Saving: hs_bm25_save writes hs_bm25_saved_size(ix) bytes to out.  hs_bm25_load fills an
 * empty index from saved bytes (untrusted: everything is checked; document ids above max_id are
 * refused).  Returns 0, -1 (malformed) or -2 (out of memory); on failure free the index. */
size_t hs_bm25_saved_size(const hs_bm25 *ix);
void hs_bm25_save(const hs_bm25 *ix, uint8_t *out);
int hs_bm25_load(hs_bm25 *ix, const uint8_t *buf, size_t len, uint64_t max_id);

/* ---- fusion (fuse.c, B5.4) ------------------------------------------------------------------ */

/* The depth of each branch of a hybrid search: min(10000, max(100, 2 * top_k)). */
size_t hs_fuse_depth(size_t top_k);

typedef struct hs_fused {
    uint64_t id;
    double distance; /* the exact vector distance */
    double score;    /* the fused score */
} hs_fused;

/* Weighted reciprocal rank fusion: score = (1 - alpha) / (60 + vector rank) + alpha / (60 + text
 * rank), a term being 0 outside its branch.  vec[0..nv) is the vector branch in rank order (ids
 * and distances), txt[0..nt) the text branch in rank order.  dist(ctx, id, &d) gives the exact
 * distance of a point found only by the text branch (non-zero return = failure, returned).  Writes
 * the best min(k, candidates) to out (room for k), ordered by score descending, then distance,
 * then id; *n gets the count.  Returns 0, -1 (out of memory) or dist's failure. */
int hs_fuse(const uint64_t *vec_ids, const double *vec_dist, size_t nv, const hs_bm25_hit *txt,
            size_t nt, double alpha, size_t k, int (*dist)(void *ctx, uint64_t id, double *d),
            void *ctx, hs_fused *out, size_t *n);

#endif /* HS_TEXT_H */
