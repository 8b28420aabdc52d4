/*
 * filter.h: the payload indexes of one collection and the evaluation of conditions (spec B4.3,
 * B5.2-B5.3; typed values and condition trees as include/hyperspace.h describes them).
 *
 *   pidx.c   one index object per loaded collection, keyed by slot (a slot's metadata never
 *            changes: a replacement takes a new slot):
 *              - Match: a hash table from (key, scalar) to a Roaring bitmap of the slots holding
 *                that pair (a list adds the slot under each element).  Keyed by a 64-bit
 *                SipHash of the pair, strings and typed scalars in separate domains (numbers in
 *                a canonical form, so 7 and 7.0 share an entry), so a bitmap is a superset (two
 *                pairs could share a hash): callers verify each slot against its metadata;
 *              - Range: per key, the (int64 value, slot) pairs of the integers and of the
 *                strings that parse as int64, and the (float value, slot) pairs of the floats,
 *                each a sorted run plus a short unsorted tail merged when it grows; removed
 *                slots are remembered in a bitmap and dropped at the next merge; and the value
 *                of each slot as a column by slot (checking one point without reading its
 *                metadata; a slot with several numbers for the key, from a list, is marked and
 *                checked on its metadata);
 *              - Text: the BM25 index (src/text) with the slot as document id, over the string
 *                forms of the values (each element of a list on its own).
 *   where.c  the evaluation of conditions and condition trees against a point's metadata, and
 *            the exact translation of mixed integer / float bounds into one integer and one
 *            float interval (hs_range_norm).
 *
 * Thread-safety: none of its own; the collection's rw lock guards it (writers hold it for
 * writing, queries for reading).
 */
#ifndef HS_FILTER_H
#define HS_FILTER_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"
#include "text/text.h"

typedef struct hs_pidx hs_pidx;

hs_pidx *hs_pidx_new(void);
void hs_pidx_free(hs_pidx *x);

/* Indexes slot's stored metadata ([u32 len][entries], util/meta.h; NULL = none).  Returns 0
 * or -1 (out of memory: the index is then incomplete and must be dropped). */
int hs_pidx_add_stored(hs_pidx *x, uint32_t slot, const uint8_t *stored);
/* Removes slot (whose stored metadata was `stored`) from every index.  Returns 0 or -1. */
int hs_pidx_remove_stored(hs_pidx *x, uint32_t slot, const uint8_t *stored);
/* The same for the entries kv[0..n) (encoded as the write path stores them). */
int hs_pidx_add(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n);
int hs_pidx_remove(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n);

/* Heap bytes held by the indexes (approximate). */
uint64_t hs_pidx_memory(const hs_pidx *x);

/* The slots whose value for key may equal the string value (a superset; NULL = none). */
const roaring_bitmap_t *hs_pidx_match(const hs_pidx *x, const char *key, size_t key_len,
                                      const char *value, size_t value_len);
/* The same for a typed scalar (a string is looked up as above). */
const roaring_bitmap_t *hs_pidx_match_value(const hs_pidx *x, const char *key, size_t key_len,
                                            const hs_value *v);

/* A Range's bounds as one integer and one float interval, exactly: an integer n satisfies the
 * Range iff iany and ilo <= n <= ihi, a float f iff fany and flo <= f <= fhi. */
typedef struct hs_nrange {
    bool iany, fany;
    int64_t ilo, ihi;
    double flo, fhi;
} hs_nrange;
void hs_range_norm(const hs_cond *c, hs_nrange *r);

/* An upper bound of the slots holding a number of key within the Range (exact but for removed
 * slots not yet merged away and slots holding several such numbers). */
uint64_t hs_pidx_range_count(const hs_pidx *x, const hs_cond *c);
/* Writes up to cap of those slots to out, each once (removed ones may be among them: check
 * liveness); returns how many. */
size_t hs_pidx_range_slots(const hs_pidx *x, const hs_cond *c, uint32_t *out, size_t cap);

/* The indexes as bytes for a checkpoint taken with nslots slots (*out malloc'd).  Returns 0
 * or -1 (out of memory). */
int hs_pidx_save(const hs_pidx *x, uint32_t nslots, uint8_t **out, size_t *len);
/* Indexes from saved bytes (untrusted: everything is checked, slots must be below nslots).
 * Returns 0, -1 (malformed) or -2 (out of memory). */
int hs_pidx_load(const uint8_t *buf, size_t len, uint32_t nslots, hs_pidx **out);

/* The numbers of one key by slot (NULL when no value of key is a number), valid while the
 * index is not changed.  hs_rcol_check says whether slot's number is within r: 1 yes, 0 no (or
 * none), -1 when the slot holds several numbers for the key (check its metadata);
 * hs_rcol_value gives slot's value when it is a single int64 (false otherwise). */
typedef struct hs_rcol hs_rcol;
const hs_rcol *hs_pidx_rcol(const hs_pidx *x, const char *key, size_t key_len);
int hs_rcol_check(const hs_rcol *col, uint32_t slot, const hs_nrange *r);
bool hs_rcol_value(const hs_rcol *r, uint32_t slot, int64_t *v);

/* The text index (documents keyed by slot). */
hs_bm25 *hs_pidx_text(hs_pidx *x);

/* ---- where.c ---- */

/* Whether stored metadata ([u32 len][entries], NULL = none) satisfies one condition / the
 * whole filter. */
bool hs_cond_match_blob(const hs_cond *c, const uint8_t *mem);
bool hs_where_match_blob(const hs_where *w, const uint8_t *mem);
/* Conditions in w (the top-level ones). */
size_t hs_where_size(const hs_where *w);
/* Checks the conditions (known kinds, non-empty keys, a scalar as a typed Match value, no NaN
 * bound, one sub-condition under NOT, some under AND / OR, nesting at most
 * HS_COND_MAX_DEPTH); HS_EFILTER with a message otherwise. */
int hs_where_check(const hs_where *w, hs_error *err);
/* Whether a Range admits no number at all. */
bool hs_range_empty(const hs_cond *c);

#endif /* HS_FILTER_H */
