/*
 * filter.h: the payload indexes of one collection and the evaluation of conditions (spec B4.3,
 * B5.2-B5.3).
 *
 *   pidx.c   one index object per loaded collection, keyed by slot (a slot's metadata never
 *            changes: a replacement takes a new slot):
 *              - Match: a hash table from (key, value) to a Roaring bitmap of the slots holding
 *                that pair.  Keyed by a 64-bit SipHash of the pair, so a bitmap is a superset
 *                (two pairs could share a hash): callers verify each slot against its metadata;
 *              - Range: per key, the (int64 value, slot) pairs of the values that parse as int64,
 *                a sorted run plus a short unsorted tail merged when it grows; removed slots are
 *                remembered in a bitmap and dropped at the next merge; and the same values as a
 *                column by slot (checking one point without parsing its metadata);
 *              - Text: the BM25 index (src/text) with the slot as document id.
 *   where.c  int64 parsing and the evaluation of an hs_where against a point's metadata.
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

/* Indexes slot's metadata entries kv[0..n).  Returns 0 or -1 (out of memory: the index is then
 * incomplete and must be dropped). */
int hs_pidx_add(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n);
/* Removes slot (whose entries were kv[0..n)) from every index.  Returns 0 or -1 (as above). */
int hs_pidx_remove(hs_pidx *x, uint32_t slot, const hs_kv *kv, size_t n);

/* Heap bytes held by the indexes (approximate). */
uint64_t hs_pidx_memory(const hs_pidx *x);

/* The slots whose value for key may equal value (a superset; NULL = none). */
const roaring_bitmap_t *hs_pidx_match(const hs_pidx *x, const char *key, size_t key_len,
                                      const char *value, size_t value_len);

/* An upper bound of the slots whose value for key is an int64 within the bounds (exact but for
 * removed slots not yet merged away). */
uint64_t hs_pidx_range_count(const hs_pidx *x, const hs_cond *c);
/* Writes up to cap of those slots to out (removed ones may be among them: check liveness);
 * returns how many. */
size_t hs_pidx_range_slots(const hs_pidx *x, const hs_cond *c, uint32_t *out, size_t cap);

/* The indexes as bytes for a checkpoint taken with nslots slots (*out malloc'd).  Returns 0
 * or -1 (out of memory). */
int hs_pidx_save(const hs_pidx *x, uint32_t nslots, uint8_t **out, size_t *len);
/* Indexes from saved bytes (untrusted: everything is checked, slots must be below nslots).
 * Returns 0, -1 (malformed) or -2 (out of memory). */
int hs_pidx_load(const uint8_t *buf, size_t len, uint32_t nslots, hs_pidx **out);

/* The int64 values of one key by slot (NULL when no value of key parses as int64), valid
 * while the index is not changed; hs_rcol_value gives slot's value (false when it has none). */
typedef struct hs_rcol hs_rcol;
const hs_rcol *hs_pidx_rcol(const hs_pidx *x, const char *key, size_t key_len);
bool hs_rcol_value(const hs_rcol *r, uint32_t slot, int64_t *v);

/* The text index (documents keyed by slot). */
hs_bm25 *hs_pidx_text(hs_pidx *x);

/* ---- where.c ---- */

/* Whether stored metadata ([u32 len][u32 n]([u32 klen][key][u32 vlen][value])*, NULL = none)
 * satisfies one condition / the whole filter. */
bool hs_cond_match_blob(const hs_cond *c, const uint8_t *mem);
bool hs_where_match_blob(const hs_where *w, const uint8_t *mem);
/* Conditions in w. */
size_t hs_where_size(const hs_where *w);
/* Checks the conditions (non-empty keys, known kinds); HS_EFILTER with a message otherwise. */
int hs_where_check(const hs_where *w, hs_error *err);

#endif /* HS_FILTER_H */
