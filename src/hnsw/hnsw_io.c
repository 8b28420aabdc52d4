/*
 * hnsw_io.c: the graph to and from a byte buffer (format in docs/file-format.md, "HNSW graph").
 *
 *   header (80 bytes in version 2, 64 in version 1; little-endian):
 *     0  magic "HSHNSW01"      8  u32 version (2)     12 u32 m
 *     16 u32 ef_construction   20 u32 nslots          24 u64 seed
 *     32 u64 entry (packed: (max_level + 1) << 32 | slot; 0 = empty)
 *     40 u64 nodes             48 u64 deleted         56 u32 upper_words
 *     60 u32 over_words (version 1: reserved, 0)
 *     64 u32 hub               68 f32 alpha           (version 2 only)
 *     72 u32 mode (0 probing, 1 engaged, 2 published)  76 u32 reserved (0)
 *   info bytes [nslots], zero-padded to a multiple of 4
 *   level-0 in-degrees [nslots] u32 (a hint: wrong values only affect link repair choices)
 *   level-0 lists [nslots][1 + 2m] u32 (count <= hub x 2m, the first min(count, 2m) links)
 *   upper lists: for each slot with level > 0, in slot order, level x [1 + m] u32
 *     (upper_words = total u32 in this part)
 *   overflow: for each slot whose count exceeds 2m, in slot order, its links beyond the first
 *     2m (over_words = total u32 in this part; version 2 only)
 *
 * Deserialisation treats the buffer as untrusted: every size, count, level and link is checked,
 * and the totals must agree, before anything is returned.
 */
#include <stdlib.h>
#include <string.h>

#include "hnsw/hnsw_int.h"
#include "util/bytes.h"
#include "util/error.h"

#define HNSW_MAGIC "HSHNSW01"
#define HNSW_VERSION 2u
#define HNSW_HEADER_V1 64u
#define HNSW_HEADER 80u

static uint64_t used_slots(const hs_hnsw *h)
{
    uint64_t cap = hs_chunks_capacity(&h->info), hi = 0;
    for (uint64_t i = 0; i < cap; i++)
        if (hnsw_info(h, (uint32_t)i) & HS_INFO_LINKED)
            hi = i + 1;
    return hi;
}

static uint64_t upper_words(const hs_hnsw *h, uint64_t n)
{
    uint64_t words = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t info = hnsw_info(h, (uint32_t)i);
        if (info & HS_INFO_LINKED)
            words += (uint64_t)(info & HS_INFO_LEVEL_MASK) * (1 + h->m);
    }
    return words;
}

/* u32 words of level-0 links beyond the inline 2m, over the first n slots. */
static uint64_t over_words(const hs_hnsw *h, uint64_t n)
{
    uint64_t words = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!(hnsw_info(h, (uint32_t)i) & HS_INFO_LINKED))
            continue;
        hnsw_view v = hnsw_view_of(h, (uint32_t)i, 0);
        uint32_t cnt = view_count(&v);
        words += cnt > h->m0 ? cnt - h->m0 : 0;
    }
    return words;
}

/* Offsets of the parts of a buffer of n slots. */
typedef struct layout {
    uint64_t info, indeg, l0, up, ov, total;
} layout;

static layout layout_of(uint32_t version, uint64_t n, uint64_t m, uint64_t uw, uint64_t ow)
{
    layout l;
    l.info = version == 1 ? HNSW_HEADER_V1 : HNSW_HEADER;
    l.indeg = l.info + HS_ALIGN_UP(n, 4);
    l.l0 = l.indeg + 4 * n;
    l.up = l.l0 + n * 4 * (1 + 2 * m);
    l.ov = l.up + 4 * uw;
    l.total = l.ov + 4 * ow;
    return l;
}

size_t hs_hnsw_serialized_size(const hs_hnsw *h)
{
    uint64_t n = used_slots(h);
    return layout_of(HNSW_VERSION, n, h->m, upper_words(h, n), over_words(h, n)).total;
}

int hs_hnsw_serialize(const hs_hnsw *h, void *buf, size_t len)
{
    uint64_t n = used_slots(h);
    uint64_t uw = upper_words(h, n), ow = over_words(h, n);
    layout lo = layout_of(HNSW_VERSION, n, h->m, uw, ow);
    if (len != lo.total || uw > UINT32_MAX || ow > UINT32_MAX)
        return HS_EINVAL;
    char *p = buf;
    memset(p, 0, HNSW_HEADER);
    memcpy(p, HNSW_MAGIC, 8);
    hs_put_le32(p + 8, HNSW_VERSION);
    hs_put_le32(p + 12, h->m);
    hs_put_le32(p + 16, __atomic_load_n(&h->ef_construction, __ATOMIC_RELAXED));
    hs_put_le32(p + 20, (uint32_t)n);
    hs_put_le64(p + 24, h->seed);
    hs_put_le64(p + 32, hnsw_ep(h));
    uint64_t nodes = 0, deleted = 0;
    char *info = p + lo.info;
    memset(info, 0, HS_ALIGN_UP(n, 4));
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = hnsw_info(h, (uint32_t)i);
        if (!(b & HS_INFO_LINKED))
            b = 0;
        info[i] = (char)b;
        nodes += (b & HS_INFO_LINKED) != 0;
        deleted += (b & HS_INFO_DELETED) != 0;
    }
    hs_put_le64(p + 40, nodes);
    hs_put_le64(p + 48, deleted);
    hs_put_le32(p + 56, (uint32_t)uw);
    hs_put_le32(p + 60, (uint32_t)ow);
    hs_put_le32(p + 64, h->cap0 / h->m0);
    memcpy(p + 68, &h->alpha, 4);
    hs_put_le32(p + 72, __atomic_load_n(&h->mode, __ATOMIC_ACQUIRE));
    char *l0 = p + lo.l0;
    size_t rec0 = 4 * (1 + (size_t)h->m0);
    char *up = p + lo.up;
    char *ov = p + lo.ov;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)info[i];
        hs_put_le32(p + lo.indeg + 4 * i, __atomic_load_n(hnsw_indeg(h, (uint32_t)i), __ATOMIC_RELAXED));
        hnsw_view v = hnsw_view_of(h, (uint32_t)i, 0);
        uint32_t cnt = b ? view_count(&v) : 0;
        memset(l0 + i * rec0, 0, rec0);
        hs_put_le32(l0 + i * rec0, cnt);
        for (uint32_t k = 0; k < cnt; k++) {
            if (k < h->m0) {
                hs_put_le32(l0 + i * rec0 + 4 + 4 * k, view_get(&v, k));
            } else {
                hs_put_le32(ov, view_get(&v, k));
                ov += 4;
            }
        }
        for (int l = 1; l <= (int)(b & HS_INFO_LEVEL_MASK); l++) {
            const uint32_t *ul = hnsw_list(h, (uint32_t)i, l);
            uint32_t uc = list_count(ul, h->m);
            memset(up, 0, 4 * (1 + (size_t)h->m));
            hs_put_le32(up, uc);
            for (uint32_t k = 0; k < uc; k++)
                hs_put_le32(up + 4 + 4 * k, list_get(ul, k));
            up += 4 * (1 + (size_t)h->m);
        }
    }
    return HS_OK;
}

typedef struct hnsw_hdr {
    uint32_t version, m, efc, n, uw, ow, hub, mode;
    float alpha; /* 0 in version 1: the metric's default */
    uint64_t seed, ep, nodes, deleted;
} hnsw_hdr;

static int parse_header(const char *p, size_t len, const hs_chunks *recs, hnsw_hdr *hd,
                        hs_error *err)
{
    if (len < HNSW_HEADER_V1 || memcmp(p, HNSW_MAGIC, 8) != 0)
        return hs_error_set(err, HS_ECORRUPT, "hnsw: bad magic or short buffer (%zu bytes)", len);
    hd->version = hs_get_le32(p + 8);
    if (hd->version != 1 && hd->version != HNSW_VERSION)
        return hs_error_set(err, HS_EVERSION, "hnsw: unsupported version %u", hd->version);
    if (hd->version == 1) {
        if (hs_get_le32(p + 60) != 0)
            return hs_error_set(err, HS_ECORRUPT, "hnsw: reserved header field is not zero");
        hd->ow = 0;
        hd->hub = 1;
        hd->alpha = 0;
        hd->mode = HNSW_PLAIN; /* version 1 was built by the published algorithm */
    } else {
        if (len < HNSW_HEADER)
            return hs_error_set(err, HS_ECORRUPT, "hnsw: short buffer (%zu bytes)", len);
        hd->ow = hs_get_le32(p + 60);
        hd->hub = hs_get_le32(p + 64);
        memcpy(&hd->alpha, p + 68, 4);
        hd->mode = hs_get_le32(p + 72);
        if (hd->hub < 1 || hd->hub > HNSW_MAX_HUB || !(hd->alpha >= 1.0f && hd->alpha <= 2.0f) ||
            hd->mode > HNSW_PLAIN || hs_get_le32(p + 76) != 0)
            return hs_error_set(err, HS_ECORRUPT, "hnsw: bad parameters hub=%u alpha=%g mode=%u",
                                hd->hub, (double)hd->alpha, hd->mode);
    }
    hd->m = hs_get_le32(p + 12);
    hd->efc = hs_get_le32(p + 16);
    hd->n = hs_get_le32(p + 20);
    hd->seed = hs_get_le64(p + 24);
    hd->ep = hs_get_le64(p + 32);
    hd->nodes = hs_get_le64(p + 40);
    hd->deleted = hs_get_le64(p + 48);
    hd->uw = hs_get_le32(p + 56);
    if (hd->m < HS_HNSW_MIN_M || hd->m > HS_HNSW_MAX_M || hd->efc < 1 || hd->efc > 10000)
        return hs_error_set(err, HS_ECORRUPT, "hnsw: bad parameters m=%u ef=%u", hd->m, hd->efc);
    if (hd->n > hs_chunks_capacity(recs))
        return hs_error_set(err, HS_ECORRUPT, "hnsw: %u slots but only %llu records", hd->n,
                            (unsigned long long)hs_chunks_capacity(recs));
    uint64_t need = layout_of(hd->version, hd->n, hd->m, hd->uw, hd->ow).total;
    if (need != len)
        return hs_error_set(err, HS_ECORRUPT, "hnsw: length %zu, expected %llu", len,
                            (unsigned long long)need);
    return HS_OK;
}

/* Checks one list of `max` stored entries (the count may be up to `limit`; entries past max are
 * checked with the overflow part): every stored link a slot below n.  (A link to a slot that is
 * not in the graph is harmless on level 0: that node simply has no neighbours.) */
static bool list_ok(const char *lp, uint32_t max, uint32_t limit, uint32_t n)
{
    uint32_t cnt = hs_get_le32(lp);
    if (cnt > limit)
        return false;
    uint32_t bad = 0;
    for (uint32_t k = 0; k < max; k++) /* fixed trip count: the compiler vectorises it */
        bad |= (k < cnt) & (hs_get_le32(lp + 4 + 4 * k) >= n);
    return !bad;
}

/* Checks the overflow part: each hub's extra links are slots below n and the words add up. */
static int overflow_ok(const char *p, const hnsw_hdr *hd, const layout *lo, hs_error *err)
{
    size_t rec0 = 4 * (1 + 2 * (size_t)hd->m);
    uint64_t ow = 0;
    for (uint32_t i = 0; i < hd->n; i++) {
        uint32_t cnt = hs_get_le32(p + lo->l0 + (size_t)i * rec0);
        if (cnt <= 2 * hd->m)
            continue;
        for (uint32_t k = 0; k < cnt - 2 * hd->m; k++, ow++) {
            if (ow >= hd->ow || hs_get_le32(p + lo->ov + 4 * ow) >= hd->n)
                return hs_error_set(err, HS_ECORRUPT, "hnsw: bad level-0 overflow at slot %u", i);
        }
    }
    if (ow != hd->ow)
        return hs_error_set(err, HS_ECORRUPT, "hnsw: overflow words disagree with the header");
    return HS_OK;
}


/* Validates the whole body; returns HS_OK or HS_ECORRUPT with the first problem. */
static int validate_body(const char *p, const hnsw_hdr *hd, hs_error *err)
{
    layout lo = layout_of(hd->version, hd->n, hd->m, hd->uw, hd->ow);
    const char *info = p + lo.info;
    const char *l0 = p + lo.l0;
    size_t rec0 = 4 * (1 + 2 * (size_t)hd->m);
    const char *up = p + lo.up;
    uint64_t nodes = 0, deleted = 0, uw = 0;
    for (uint32_t i = 0; i < hd->n; i++) {
        uint8_t b = (uint8_t)info[i];
        int level = b & HS_INFO_LEVEL_MASK;
        if ((b & ~(HS_INFO_LEVEL_MASK | HS_INFO_LINKED | HS_INFO_DELETED)) ||
            (b && !(b & HS_INFO_LINKED)) || level > HS_HNSW_MAX_LEVEL)
            return hs_error_set(err, HS_ECORRUPT, "hnsw: bad info byte 0x%02x at slot %u", b, i);
        nodes += b != 0;
        deleted += (b & HS_INFO_DELETED) != 0;
        if (!list_ok(l0 + (size_t)i * rec0, 2 * hd->m, 2 * hd->m * hd->hub, hd->n) ||
            (!b && hs_get_le32(l0 + (size_t)i * rec0) != 0))
            return hs_error_set(err, HS_ECORRUPT, "hnsw: bad level-0 list at slot %u", i);
        for (int l = 1; l <= level; l++) {
            if (uw + 1 + hd->m > hd->uw || !list_ok(up + 4 * uw, hd->m, hd->m, hd->n))
                return hs_error_set(err, HS_ECORRUPT, "hnsw: bad level-%d list at slot %u", l, i);
            for (uint32_t k = 0; k < hs_get_le32(up + 4 * uw); k++) {
                uint32_t v = hs_get_le32(up + 4 * uw + 4 + 4 * k);
                if ((int)(info[v] & HS_INFO_LEVEL_MASK) < l)
                    return hs_error_set(err, HS_ECORRUPT,
                                        "hnsw: slot %u links to slot %u above its level", i, v);
            }
            uw += 1 + hd->m;
        }
    }
    if (uw != hd->uw || nodes != hd->nodes || deleted != hd->deleted)
        return hs_error_set(err, HS_ECORRUPT, "hnsw: totals disagree with the header");
    int rc = overflow_ok(p, hd, &lo, err);
    if (rc != HS_OK)
        return rc;
    if (hd->ep == 0 ? nodes != 0 : (uint32_t)hd->ep >= hd->n)
        return hs_error_set(err, HS_ECORRUPT, "hnsw: bad entry point");
    if (hd->ep) {
        uint8_t b = (uint8_t)info[(uint32_t)hd->ep];
        /* the stored top level is level + 1; compared unsigned (an untrusted value) */
        if (!(b & HS_INFO_LINKED) ||
            (uint32_t)(b & HS_INFO_LEVEL_MASK) + 1 != (uint32_t)(hd->ep >> 32))
            return hs_error_set(err, HS_ECORRUPT, "hnsw: entry point level mismatch");
    }
    return HS_OK;
}

/* Copies a validated body into a fresh index.  The level-0 lists are stored exactly as the
 * in-memory table holds them, so they are copied a chunk at a time. */
static int load_body(hs_hnsw *h, const char *p, const hnsw_hdr *hd)
{
    layout lo = layout_of(hd->version, hd->n, hd->m, hd->uw, hd->ow);
    const char *info = p + lo.info;
    const char *l0 = p + lo.l0;
    size_t rec0 = 4 * (1 + (size_t)h->m0);
    const char *up = p + lo.up;
    const char *ov = p + lo.ov;
    int rc = HS_OK;
    pthread_mutex_lock(&h->grow_lock);
    if (hd->n) {
        rc = hs_chunks_reserve(&h->links0, hd->n);
        if (rc == HS_OK)
            rc = hs_chunks_reserve(&h->upper, hd->n);
        if (rc == HS_OK)
            rc = hs_chunks_reserve(&h->indeg, hd->n);
        if (rc == HS_OK)
            rc = hs_chunks_reserve(&h->over, hd->n);
        if (rc == HS_OK)
            rc = hs_chunks_reserve(&h->info, hd->n);
    }
    pthread_mutex_unlock(&h->grow_lock);
    uint32_t per = 1u << h->links0.shift;
    for (uint32_t i = 0; i < hd->n && rc == HS_OK; i += per) {
        uint32_t m = HS_MIN(per, hd->n - i);
        memcpy(hs_chunks_at(&h->links0, i), l0 + (size_t)i * rec0, (size_t)m * rec0);
        memcpy(hs_chunks_at(&h->info, i), info + i, m);
        memcpy(hs_chunks_at(&h->indeg, i), p + lo.indeg + 4 * (size_t)i, 4 * (size_t)m);
    }
    for (uint32_t i = 0; i < hd->n && rc == HS_OK; i++) {
        int level = (uint8_t)info[i] & HS_INFO_LEVEL_MASK;
        if (level == 0)
            continue;
        size_t bytes = (size_t)level * (1 + h->m) * sizeof(uint32_t);
        uint32_t *mem = malloc(bytes);
        if (!mem) {
            rc = HS_ENOMEM;
            break;
        }
        memcpy(mem, up, bytes);
        *(uint32_t **)hs_chunks_at(&h->upper, i) = mem;
        h->upper_bytes += bytes;
        up += bytes;
    }
    for (uint32_t i = 0; i < hd->n && rc == HS_OK && hd->ow; i++) {
        uint32_t cnt = hs_get_le32(l0 + (size_t)i * rec0);
        if (cnt <= h->m0)
            continue;
        size_t bytes = sizeof(hnsw_ovb) + (size_t)(cnt - h->m0) * sizeof(uint32_t);
        hnsw_ovb *mem = calloc(1, bytes);
        if (!mem) {
            rc = HS_ENOMEM;
            break;
        }
        mem->cap = cnt - h->m0;
        memcpy(mem->links, ov, (size_t)(cnt - h->m0) * sizeof(uint32_t));
        *(hnsw_ovb **)hs_chunks_at(&h->over, i) = mem;
        h->over_bytes += bytes;
        h->hubs++;
        ov += (size_t)(cnt - h->m0) * sizeof(uint32_t);
    }
    h->nodes = hd->nodes;
    h->ndeleted = hd->deleted;
    __atomic_store_n(&h->ep, hd->ep, __ATOMIC_RELEASE);
    return rc;
}

int hs_hnsw_deserialize(const void *buf, size_t len, const hs_space *space, const hs_chunks *recs,
                        hs_hnsw **out, hs_error *err)
{
    *out = NULL;
    hnsw_hdr hd = {0};
    int rc = parse_header(buf, len, recs, &hd, err);
    if (rc == HS_OK)
        rc = validate_body(buf, &hd, err);
    if (rc != HS_OK)
        return rc;
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    o.m = hd.m;
    o.ef_construction = hd.efc;
    o.seed = hd.seed;
    /* the engaged parameters as stored (version 1: the defaults), then the stored mode: a graph
     * goes on as it was built (a version-1 graph as the published algorithm; a rebuild makes
     * it adaptive) */
    o.alpha = hd.version == 1 ? 0 : hd.alpha;
    o.hub = hd.version == 1 ? 0 : hd.hub;
    hs_hnsw *h;
    rc = hs_hnsw_new(&o, space, recs, &h);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "hnsw: cannot create the index");
    hnsw_set_mode(h, hd.mode);
    rc = load_body(h, buf, &hd);
    if (rc != HS_OK) {
        hs_hnsw_free(h);
        return hs_error_set(err, rc, "hnsw: out of memory while loading");
    }
    *out = h;
    return HS_OK;
}
