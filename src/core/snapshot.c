/*
 * snapshot.c: snapshot archives (docs/file-format.md, "Snapshot archive"): a copy of one
 * collection or of the whole node exactly as it was at one clock C, written as one stream
 * (storage/archive.c).  The snapshot directory that keeps them is snapdir.c, restoring is
 * restore.c.
 *
 * The cut.  A snapshot holds the gate (db->snap_gate) for writing while it copies: checkpoints,
 * rebuilds and drops hold it for reading (automatic checkpoints only try, and skip their turn),
 * so no file it copies is deleted and every collection that existed at C is still there.  C is
 * the node clock read under db->lock with the catalog (a create ticks under that lock, so both
 * agree).  Then, collection by collection, in name order:
 *   - a loaded one: its writer lock is taken and released, after which every record with a
 *     clock <= C has been appended (a writer ticks and appends under that lock), and its log is
 *     synced, after which none of them can be refused any more; writers are held up only by
 *     the lock being taken and released, the sync runs beside them;
 *   - a cold one: its files are complete (unloading syncs the log); a request may load it
 *     meanwhile and write, with clocks > C;
 *   - its newest checkpoint (finished before the gate was taken, so of a clock <= C), the
 *     vector records that checkpoint covers (records are written once and never change) and
 *     its log from the checkpoint's replay position up to the last record with a clock <= C
 *     go into the archive (with the older segments a checkpoint kept for change readers,
 *     whole).  The restored collection replays exactly that log.
 * Quarantined collections, and collections whose files do not read back (found while planning,
 * before any of their bytes is written), are left out of a node snapshot (counted, logged) and
 * refuse a collection snapshot (HS_ELOAD).
 *
 * Locking: the gate, then db->lock (briefly, to find and pin a collection), then a collection's
 * wlock (taken and released).  The gate's holders per thread are counted, so a rebuild's own
 * checkpoint enters it again freely.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/log.h"

#define META_VERSION 2u /* 1: without the flags of each collection (still read) */
#define SUFFIX ".hsnap"
#define COPY_CHUNK (1u << 20)
#define MAX_COLLECTIONS (1u << 24)
#define META_FROZEN 1u /* flags of a collection (version 2) */
#define META_SID 2u    /* ... the collection uses string ids (hs_collection_config.id_type) */

/* ---- the gate ---------------------------------------------------------------------------- */

/* The gates this thread holds for reading, with their depth (a rebuild's checkpoint nests). */
typedef struct gate_hold {
    hs_db *db;
    int depth;
} gate_hold;
static __thread gate_hold gate_held[4];

static gate_hold *held_of(hs_db *db)
{
    for (size_t i = 0; i < 4; i++)
        if (gate_held[i].db == db && gate_held[i].depth > 0)
            return &gate_held[i];
    return NULL;
}

bool hs_snap_gate_enter(hs_db *db, bool try_only)
{
    gate_hold *h = held_of(db);
    if (h) {
        h->depth++;
        return true;
    }
    if (try_only ? pthread_rwlock_tryrdlock(&db->snap_gate) != 0
                 : pthread_rwlock_rdlock(&db->snap_gate) != 0)
        return false;
    for (size_t i = 0; i < 4; i++)
        if (gate_held[i].depth == 0) {
            gate_held[i] = (gate_hold){db, 1};
            break;
        }
    return true;
}

void hs_snap_gate_leave(hs_db *db)
{
    gate_hold *h = held_of(db);
    if (h && --h->depth > 0)
        return;
    if (h)
        h->db = NULL;
    pthread_rwlock_unlock(&db->snap_gate);
}

static int io_fail(hs_error *err, int neg, const char *what, const char *path)
{
    return hs_error_set(err, hs_rc_from_errno(neg), "%s %s: %s", what, path, strerror(-neg));
}

/* ---- the description in the manifest ---------------------------------------------------- */

typedef struct mbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} mbuf;

static void mput(mbuf *b, const void *d, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = (b->n + len) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, len);
    b->n += len;
}

static void mput32(mbuf *b, uint32_t v)
{
    uint8_t x[4];
    hs_put_le32(x, v);
    mput(b, x, 4);
}

static void mput64(mbuf *b, uint64_t v)
{
    uint8_t x[8];
    hs_put_le64(x, v);
    mput(b, x, 8);
}

static void mput_str(mbuf *b, const char *s)
{
    mput32(b, (uint32_t)strlen(s));
    mput(b, s, strlen(s));
}

static void meta_coll_put(mbuf *b, const hs_snap_coll *c)
{
    mput_str(b, c->tenant);
    mput_str(b, c->name);
    mput32(b, c->config.dimension);
    mput32(b, (uint32_t)c->config.metric);
    mput32(b, (uint32_t)c->config.quantization);
    mput32(b, c->config.m);
    mput32(b, c->config.ef_construction);
    mput32(b, c->config.ef_search);
    mput64(b, c->created_clock);
    mput64(b, c->clock);
    mput32(b, (c->frozen ? META_FROZEN : 0) | (c->config.id_type == HS_ID_STRING ? META_SID : 0));
}

static bool read_str(hs_reader *r, char *out, size_t cap)
{
    uint32_t n;
    const uint8_t *p;
    if (!hs_read_le32(r, &n) || n >= cap || !hs_read_span(r, n, &p))
        return false;
    memcpy(out, p, n);
    out[n] = 0;
    return strlen(out) == n;
}

static bool config_ok(const hs_collection_config *c)
{
    return c->dimension >= 1 && c->dimension <= HS_MAX_DIM && (unsigned)c->metric <= 3 &&
           (unsigned)c->quantization <= 2 && c->m >= HS_HNSW_MIN_M && c->m <= HS_HNSW_MAX_M &&
           c->ef_construction <= HS_EF_MAX && c->ef_search <= HS_EF_MAX &&
           (unsigned)c->id_type <= HS_ID_STRING;
}

static int cmp_coll(const hs_snap_coll *a, const hs_snap_coll *b)
{
    int t = strcmp(a->tenant, b->tenant);
    return t ? t : strcmp(a->name, b->name);
}

int hs_snap_meta_parse(const uint8_t *b, size_t len, hs_snap_meta *m, hs_error *err)
{
    memset(m, 0, sizeof(*m));
    hs_reader r = hs_reader_of(b, len);
    uint32_t ver = 0, node = 0, n = 0;
    bool ok = hs_read_le32(&r, &ver) && ver >= 1 && ver <= META_VERSION &&
              hs_read_le32(&r, &node) && node <= 1 && hs_read_le64(&r, &m->created_ms) &&
              hs_read_le32(&r, &m->skipped) &&
              read_str(&r, m->node_id, sizeof(m->node_id)) && hs_read_le32(&r, &n) &&
              n <= MAX_COLLECTIONS && (node || n == 1) && n <= hs_reader_left(&r) / 48;
    m->node = node;
    m->colls = ok ? calloc(n ? n : 1, sizeof(*m->colls)) : NULL;
    if (ok && !m->colls)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    for (uint32_t i = 0; ok && i < n; i++) {
        hs_snap_coll *c = &m->colls[i];
        uint32_t metric = 0, quant = 0, flags = 0;
        ok = read_str(&r, c->tenant, sizeof(c->tenant)) && read_str(&r, c->name, sizeof(c->name)) &&
             hs_read_le32(&r, &c->config.dimension) && hs_read_le32(&r, &metric) &&
             hs_read_le32(&r, &quant) && hs_read_le32(&r, &c->config.m) &&
             hs_read_le32(&r, &c->config.ef_construction) &&
             hs_read_le32(&r, &c->config.ef_search) && hs_read_le64(&r, &c->created_clock) &&
             hs_read_le64(&r, &c->clock) && (ver < 2 || hs_read_le32(&r, &flags)) &&
             (flags & ~(META_FROZEN | META_SID)) == 0;
        c->frozen = flags & META_FROZEN;
        c->config.id_type = flags & META_SID ? HS_ID_STRING : HS_ID_INTEGER;
        c->config.metric = (hs_metric)metric;
        c->config.quantization = (hs_quantization)quant;
        ok = ok && hs_check_names(c->tenant, c->name, NULL) == HS_OK && config_ok(&c->config) &&
             metric <= 3 && quant <= 2 && c->created_clock <= c->clock &&
             (i == 0 || cmp_coll(&m->colls[i - 1], c) < 0); /* sorted, no name twice */
        m->n = i + 1;
    }
    if (!ok || hs_reader_left(&r)) {
        hs_snap_meta_free(m);
        return hs_error_set(err, HS_ECORRUPT, "the description of the collections is invalid");
    }
    return HS_OK;
}

void hs_snap_meta_free(hs_snap_meta *m)
{
    free(m->colls);
    memset(m, 0, sizeof(*m));
}

/* ---- entry names ----------------------------------------------------------------------- */

static void entry_name(int kind, uint64_t num, uint32_t gen, char *out, size_t cap)
{
    if (kind == HS_SNAP_CKPT)
        snprintf(out, cap, "checkpoint-%016" PRIx64 ".ckpt", num);
    else if (kind == HS_SNAP_VECS)
        snprintf(out, cap, "vectors-%u-%06" PRIu64 ".seg", gen, num);
    else
        snprintf(out, cap, "%016" PRIx64 ".wal", num);
}

bool hs_snap_entry_file(const hs_archive_entry *e, uint64_t *num, uint32_t *gen)
{
    unsigned long long a = 0;
    unsigned g = 0;
    int k = e->kind;
    bool ok = (k == HS_SNAP_CKPT && sscanf(e->name, "checkpoint-%16llx.ckpt", &a) == 1) ||
              (k == HS_SNAP_VECS && sscanf(e->name, "vectors-%u-%6llu.seg", &g, &a) == 2) ||
              (k == HS_SNAP_WAL && sscanf(e->name, "%16llx.wal", &a) == 1);
    if (!ok)
        return false;
    /* the name must be exactly the one the numbers give: nothing else ever reaches a path */
    char again[HS_ARCHIVE_NAME_MAX + 1];
    entry_name(k, a, g, again, sizeof(again));
    *num = a;
    *gen = g;
    return !strcmp(again, e->name) && (k != HS_SNAP_VECS || a < 65536);
}

/* ---- reading a collection's files -------------------------------------------------------- */

/* A log segment and where the archive cuts it. */
typedef struct seg_cut {
    uint64_t seq, len;
} seg_cut;

/* One collection being archived. */
typedef struct job {
    hs_db *db;
    centry e;          /* a copy: tenant, name, dir, format, config, created_clock */
    char dir[HS_PATH_MAX];
    hs_ckpt_info ck;
    bool have_ckpt;
    uint32_t rec_len, shift;
    seg_cut *segs;
    size_t nsegs;
    uint64_t *vlen;    /* bytes of each vector file the archive keeps */
    size_t nvec;
    uint64_t clock;    /* the collection's clock at C */
} job;

typedef struct seg_list {
    uint64_t *seq;
    size_t n, cap;
    bool oom;
} seg_list;

static int collect_seg(void *arg, const char *name)
{
    seg_list *l = arg;
    unsigned long long seq;
    char again[32];
    if (strlen(name) != 20 || sscanf(name, "%16llx.wal", &seq) != 1)
        return 0;
    snprintf(again, sizeof(again), "%016llx.wal", seq);
    if (strcmp(again, name))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        uint64_t *v = realloc(l->seq, cap * sizeof(*v));
        if (!v) {
            l->oom = true;
            return 1;
        }
        l->seq = v;
        l->cap = cap;
    }
    l->seq[l->n++] = seq;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A window over a file for reading records. */
typedef struct win {
    const hs_io_ops *io;
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;
    uint64_t at; /* file offset of buf[0] */
    size_t have;
} win;

/* Makes [off, off + len) readable at buf + (off - at); false when the file is shorter. */
static bool win_get(win *w, uint64_t off, size_t len, const uint8_t **p)
{
    if (off + len > w->size)
        return false;
    if (off < w->at || off + len > w->at + w->have) {
        size_t want = HS_MAX(len, (size_t)COPY_CHUNK);
        if (want > w->cap) {
            uint8_t *b = realloc(w->buf, want);
            if (!b)
                return false;
            w->buf = b;
            w->cap = want;
        }
        size_t n = (size_t)HS_MIN((uint64_t)w->cap, w->size - off);
        if (w->io->pread(w->io->ctx, w->fd, w->buf, n, off) != (long)n)
            return false;
        w->at = off;
        w->have = n;
    }
    *p = w->buf + (off - w->at);
    return true;
}

/* The clock of the last point a record stands for. */
static uint64_t record_clock(const hs_wal_record *r)
{
    if ((r->type == HS_REC_UPSERT || r->type == HS_REC_DELETE || r->type == HS_REC_UPSERT_SID ||
         r->type == HS_REC_DELETE_SID) &&
        r->len >= 4) {
        uint32_t n = hs_get_le32(r->payload);
        return r->lsn + (n ? n - 1 : 0);
    }
    return r->type == HS_REC_CREATE ? r->lsn : 0;
}

/* Whether a record with a clock <= C decodes anywhere in [from, size): then the bad record
 * before it is damage, not the end of the log. */
static bool valid_after(win *w, uint64_t from, uint64_t C)
{
    for (uint64_t off = from; off + HS_WAL_HEADER <= w->size; off++) {
        const uint8_t *p;
        hs_wal_record r;
        if (!win_get(w, off, HS_WAL_HEADER, &p))
            return false;
        size_t len = hs_get_le32(p);
        if (off + HS_WAL_HEADER + len <= w->size && win_get(w, off, HS_WAL_HEADER + len, &p) &&
            hs_wal_decode(p, HS_WAL_HEADER + len, &r) == HS_OK && r.lsn <= C)
            return true;
    }
    return false;
}

/* Finds where segment `seq` stops holding records with a clock <= C: *cut, and *beyond when a
 * later record follows.  A record that does not decode ends the log in the newest segment (a
 * record being appended, or a torn tail the next load cuts); in an older one it is damage. */
static int scan_segment(job *j, const char *path, uint64_t C, bool last, seg_cut *out,
                        bool *beyond, hs_error *err)
{
    const hs_io_ops *io = j->db->io;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return io_fail(err, fd, "cannot open", path);
    win w = {io, fd, 0, NULL, 0, 0, 0};
    int rc = io->size(io->ctx, fd, &w.size) < 0 ? io_fail(err, -EIO, "cannot read", path) : HS_OK;
    const uint8_t *p;
    uint64_t off = HS_WAL_SEG_HEADER;
    if (rc == HS_OK && (!win_get(&w, 0, HS_WAL_SEG_HEADER, &p) || memcmp(p, "HSWAL001", 8))) {
        off = 0; /* created and never filled: only the newest may be (a crash in a rotation) */
        if (!last)
            rc = hs_error_set(err, HS_ECORRUPT, "WAL %s: bad segment header at offset 0", path);
    }
    while (rc == HS_OK && off && off < w.size) {
        hs_wal_record r;
        bool ok = win_get(&w, off, HS_WAL_HEADER, &p);
        size_t len = ok ? hs_get_le32(p) : 0;
        ok = ok && win_get(&w, off, HS_WAL_HEADER + len, &p) &&
             hs_wal_decode(p, HS_WAL_HEADER + len, &r) == HS_OK;
        if (!ok && (!last || valid_after(&w, off + 1, C)))
            rc = hs_error_set(err, HS_ECORRUPT, "WAL %s: corrupt record at offset %" PRIu64
                              " followed by valid records", path, off);
        if (!ok)
            break;
        if (r.lsn > C) {
            *beyond = true;
            break;
        }
        j->clock = HS_MAX(j->clock, record_clock(&r));
        off += HS_WAL_HEADER + len;
    }
    free(w.buf);
    io->close(io->ctx, fd);
    out->len = off;
    return rc;
}

/* The log segments from the checkpoint's replay position on, each cut at C. */
static int plan_log(job *j, uint64_t C, hs_error *err)
{
    char wal[HS_PATH_MAX];
    hs_coll_wal_dir(&j->e, wal, sizeof(wal));
    seg_list l = {0};
    int lrc = j->db->io->list(j->db->io->ctx, wal, collect_seg, &l);
    if (l.oom) {
        free(l.seq);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    if (lrc < 0) {
        free(l.seq);
        return io_fail(err, lrc, "cannot list", wal);
    }
    if (l.n > 1)
        qsort(l.seq, l.n, sizeof(*l.seq), cmp_u64);
    uint64_t first = j->have_ckpt ? HS_MAX(j->ck.wal.seg, 1) : 1;
    size_t i0 = 0;
    while (i0 < l.n && l.seq[i0] < first)
        i0++;
    /* segments before it a checkpoint kept for change readers (hs_db_opts.wal_retain_bytes):
     * the run of them that ends right before it goes along whole, so that a reader of the
     * restored copy finds the history its checkpoint's log floor promises */
    size_t k0 = i0;
    while (k0 > 0 && l.seq[k0 - 1] + (i0 - k0) + 1 == first)
        k0--;
    int rc = HS_OK;
    j->segs = calloc(l.n - k0 + 1, sizeof(*j->segs));
    if (!j->segs)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    for (size_t i = k0; rc == HS_OK && i < i0; i++) {
        char path[HS_PATH_MAX];
        hs_path(path, sizeof(path), "%s/%016" PRIx64 ".wal", wal, l.seq[i]);
        int fd = j->db->io->open(j->db->io->ctx, path, O_RDONLY, 0);
        seg_cut *s = &j->segs[j->nsegs];
        s->seq = l.seq[i];
        if (fd < 0 || j->db->io->size(j->db->io->ctx, fd, &s->len) < 0)
            rc = io_fail(err, fd < 0 ? fd : -EIO, "cannot read", path);
        if (fd >= 0)
            j->db->io->close(j->db->io->ctx, fd);
        if (rc == HS_OK)
            j->nsegs++;
    }
    if (rc == HS_OK && (i0 == l.n || l.seq[i0] != first))
        rc = hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: missing (the collection's "
                          "log starts there)", wal, first);
    bool beyond = false;
    for (size_t i = i0; rc == HS_OK && i < l.n && !beyond; i++) {
        char path[HS_PATH_MAX];
        if (l.seq[i] != first + (i - i0)) {
            rc = hs_error_set(err, HS_ECORRUPT, "WAL %s/%016" PRIx64 ".wal: missing", wal,
                              first + (i - i0));
            break;
        }
        hs_path(path, sizeof(path), "%s/%016" PRIx64 ".wal", wal, l.seq[i]);
        seg_cut *s = &j->segs[j->nsegs];
        s->seq = l.seq[i];
        rc = scan_segment(j, path, C, i + 1 == l.n, s, &beyond, err);
        if (rc == HS_OK && s->len == 0 && i > i0)
            break; /* an empty newest segment left by a crash: the log ends before it */
        if (rc == HS_OK && s->len == 0)
            rc = hs_error_set(err, HS_ECORRUPT, "WAL %s: bad segment header at offset 0", path);
        if (rc == HS_OK)
            j->nsegs++;
    }
    free(l.seq);
    return rc;
}

/* Vector file i of the checkpoint's generation. */
static void vec_path(const job *j, uint64_t i, char *path, size_t len)
{
    char dir[HS_PATH_MAX], prefix[32];
    hs_coll_vec_place(&j->e, j->ck.gen, dir, sizeof(dir), prefix);
    hs_path(path, len, "%s/%s%06" PRIu64 ".seg", dir, prefix, i);
}

/* The vector records the checkpoint covers: file i holds records [i << shift, ...) after its
 * header (64 bytes, or 4,096 in version 1 files); the archive keeps the header and those. */
static int plan_vectors(job *j, hs_error *err)
{
    uint64_t per = (uint64_t)1 << j->shift, n = j->ck.nslots;
    j->vlen = calloc((size_t)((n + per - 1) / per) + 1, sizeof(*j->vlen));
    if (!j->vlen)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    for (uint64_t i = 0; i * per < n; i++) {
        char path[HS_PATH_MAX];
        vec_path(j, i, path, sizeof(path));
        int fd = j->db->io->open(j->db->io->ctx, path, O_RDONLY, 0);
        uint8_t h[64];
        uint64_t size = 0;
        bool ok = fd >= 0 && j->db->io->pread(j->db->io->ctx, fd, h, sizeof(h), 0) == 64 &&
                  j->db->io->size(j->db->io->ctx, fd, &size) == 0;
        if (fd >= 0)
            j->db->io->close(j->db->io->ctx, fd);
        uint64_t hdr = ok && hs_get_le32(h + 8) == 1 ? HS_SEG_HEADER : 64;
        uint64_t len = hdr + HS_MIN(per, n - i * per) * j->rec_len;
        if (!ok || size < len)
            return hs_error_set(err, HS_ECORRUPT, "%s: missing or shorter than the %" PRIu64
                                " bytes the checkpoint covers", path, len);
        j->vlen[j->nvec++] = len;
    }
    return HS_OK;
}

/* What a collection's archive holds: its newest checkpoint, and its log cut at C. */
static int plan(job *j, uint64_t C, hs_error *err)
{
    int rc = hs_coll_newest_ckpt(j->db, j->dir, &j->ck, err);
    j->have_ckpt = rc == HS_OK;
    if (rc != HS_OK && rc != HS_ENOTFOUND)
        return rc;
    if (j->have_ckpt && j->ck.clock > C)
        return hs_error_set(err, HS_EINTERNAL, "%s: checkpoint of clock %" PRIu64 " is newer "
                            "than the snapshot's %" PRIu64, j->dir, j->ck.clock, C);
    j->clock = HS_MAX(j->e.created_clock, j->have_ckpt ? j->ck.clock : 0);
    hs_space sp;
    const hs_collection_config *c = &j->e.config;
    bool f64 = c->metric == HS_METRIC_POINCARE || c->metric == HS_METRIC_LORENTZ;
    rc = hs_space_init(&sp, c->metric, f64 ? HS_CODE_F64 : HS_CODE_F32, c->dimension);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "%s: bad parameters", j->dir);
    j->rec_len = sp.rec_len;
    j->shift = hs_seg_shift_for(j->rec_len);
    rc = j->have_ckpt ? plan_vectors(j, err) : HS_OK;
    return rc == HS_OK ? plan_log(j, C, err) : rc;
}

/* ---- writing a collection ------------------------------------------------------------------ */

/* Copies [0, len) of the file at path into the open entry. */
static int copy_file(job *j, hs_archive_writer *w, const char *path, uint64_t len, uint8_t *buf,
                     hs_error *err)
{
    const hs_io_ops *io = j->db->io;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return io_fail(err, fd, "cannot open", path);
    int rc = HS_OK;
    for (uint64_t off = 0; off < len && rc == HS_OK;) {
        size_t n = (size_t)HS_MIN(len - off, (uint64_t)COPY_CHUNK);
        long got = io->pread(io->ctx, fd, buf, n, off);
        if (got != (long)n)
            rc = hs_error_set(err, got < 0 ? hs_rc_from_errno((int)got) : HS_ECORRUPT,
                              "%s: cannot read %zu bytes at offset %" PRIu64, path, n, off);
        else
            rc = hs_archive_entry_data(w, buf, n, err);
        off += n;
    }
    io->close(io->ctx, fd);
    return rc;
}

static int put_file(job *j, hs_archive_writer *w, uint32_t group, int kind, uint64_t num,
                    const char *path, uint64_t len, uint8_t *buf, hs_error *err)
{
    char name[HS_ARCHIVE_NAME_MAX + 1];
    entry_name(kind, num, j->have_ckpt ? j->ck.gen : 0, name, sizeof(name));
    int rc = hs_archive_entry_begin(w, group, (uint16_t)kind, name, len, err);
    if (rc == HS_OK)
        rc = copy_file(j, w, path, len, buf, err);
    return rc == HS_OK ? hs_archive_entry_end(w, err) : rc;
}

static int put_vectors(job *j, hs_archive_writer *w, uint32_t group, uint8_t *buf, hs_error *err)
{
    int rc = HS_OK;
    for (size_t i = 0; rc == HS_OK && i < j->nvec; i++) {
        char path[HS_PATH_MAX];
        vec_path(j, i, path, sizeof(path));
        rc = put_file(j, w, group, HS_SNAP_VECS, i, path, j->vlen[i], buf, err);
    }
    return rc;
}

static int put_collection(job *j, hs_archive_writer *w, uint32_t group, hs_error *err)
{
    uint8_t *buf = malloc(COPY_CHUNK);
    if (!buf)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    int rc = HS_OK;
    if (j->have_ckpt) {
        char path[HS_PATH_MAX];
        hs_path(path, sizeof(path), "%s/checkpoint-%016" PRIx64 ".ckpt", j->dir, j->ck.seq);
        int fd = j->db->io->open(j->db->io->ctx, path, O_RDONLY, 0);
        uint64_t len = 0;
        if (fd < 0 || j->db->io->size(j->db->io->ctx, fd, &len) < 0)
            rc = io_fail(err, fd < 0 ? fd : -EIO, "cannot read", path);
        if (fd >= 0)
            j->db->io->close(j->db->io->ctx, fd);
        if (rc == HS_OK)
            rc = put_file(j, w, group, HS_SNAP_CKPT, j->ck.seq, path, len, buf, err);
        if (rc == HS_OK)
            rc = put_vectors(j, w, group, buf, err);
    }
    char wal[HS_PATH_MAX];
    hs_coll_wal_dir(&j->e, wal, sizeof(wal));
    for (size_t i = 0; rc == HS_OK && i < j->nsegs; i++) {
        char path[HS_PATH_MAX];
        hs_path(path, sizeof(path), "%s/%016" PRIx64 ".wal", wal, j->segs[i].seq);
        rc = put_file(j, w, group, HS_SNAP_WAL, j->segs[i].seq, path, j->segs[i].len, buf, err);
    }
    free(buf);
    return rc;
}

/* Finds and pins the collection (its entry referenced: not unloaded meanwhile); *c is its
 * loaded state or NULL when cold; *skip when it does not belong in a snapshot at C. */
static int pin(hs_db *db, const char *tenant, const char *name, uint64_t C, job *j, hs_coll **c,
               bool *skip, hs_error *err)
{
    *c = NULL;
    *skip = false;
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_created_locked(db, tenant, name);
    while (e && (e->state == CE_LOADING || e->state == CE_UNLOADING)) {
        pthread_cond_wait(&db->cond, &db->lock);
        e = hs_db_find_created_locked(db, tenant, name);
    }
    int rc = HS_OK;
    if (!e || e->created_clock > C) {
        *skip = true; /* created after C (or never: a create that failed) */
    } else if (e->state == CE_FAILED) {
        *skip = true;
        hs_error_set(err, HS_ELOAD, "Collection '%s' failed to load: %s", name,
                     e->error ? e->error : "");
        hs_error_name(err, name);
        rc = hs_error_about(err, HS_ELOAD, HS_FIELD_COLLECTION, HS_REASON_NONE);
    } else {
        e->refs++;
        if (e->state == CE_LOADED)
            *c = e->coll;
        memset(&j->e, 0, sizeof(j->e));
        memcpy(j->e.tenant, e->tenant, sizeof(e->tenant));
        memcpy(j->e.name, e->name, sizeof(e->name));
        snprintf(j->dir, sizeof(j->dir), "%s", e->dir);
        j->e.dir = j->dir;
        j->e.format = e->format;
        j->e.config = e->config;
        j->e.created_clock = e->created_clock;
        j->e.frozen = __atomic_load_n(&e->frozen, __ATOMIC_ACQUIRE);
    }
    pthread_mutex_unlock(&db->lock);
    return rc;
}

static void unpin(hs_db *db, const char *tenant, const char *name)
{
    pthread_mutex_lock(&db->lock);
    centry *e = hs_db_find_locked(db, tenant, name);
    if (e && e->refs > 0)
        e->refs--;
    pthread_cond_broadcast(&db->cond);
    pthread_mutex_unlock(&db->lock);
}

/* Archives one collection as group `group`; *skipped when it is not in the snapshot. */
static int archive_one(hs_db *db, hs_archive_writer *w, uint32_t group, const char *tenant,
                       const char *name, uint64_t C, hs_snap_coll *out, bool *skipped,
                       hs_error *err)
{
    job j;
    memset(&j, 0, sizeof(j));
    j.db = db;
    hs_coll *c;
    int rc = pin(db, tenant, name, C, &j, &c, skipped, err);
    if (rc != HS_OK || *skipped)
        return rc;
    if (c) {
        /* every writer that ticked <= C has appended once the lock was free; then durable */
        pthread_mutex_lock(&c->wlock);
        pthread_mutex_unlock(&c->wlock);
        if (!hs_wal_failed(c->wal))
            rc = hs_wal_sync(c->wal, err);
    }
    if (rc == HS_OK)
        rc = plan(&j, C, err);
    /* nothing of it is in the archive yet: a damaged collection can be left out (HS_ELOAD) */
    if (rc == HS_ECORRUPT && err) {
        char why[sizeof(err->message)];
        memcpy(why, err->message, sizeof(why));
        hs_error_set(err, HS_ELOAD, "Collection '%s' cannot be read: %s", name, why);
        hs_error_name(err, name);
        snprintf(err->cause, sizeof(err->cause), "%s", why);
        rc = hs_error_about(err, HS_ELOAD, HS_FIELD_COLLECTION, HS_REASON_NONE);
    } else if (rc == HS_ECORRUPT) {
        rc = HS_ELOAD;
    }
    if (rc == HS_OK)
        rc = put_collection(&j, w, group, err);
    if (rc == HS_OK) {
        memset(out, 0, sizeof(*out));
        memcpy(out->tenant, j.e.tenant, sizeof(out->tenant));
        memcpy(out->name, j.e.name, sizeof(out->name));
        out->config = j.e.config;
        out->created_clock = j.e.created_clock;
        out->clock = j.clock;
        out->frozen = j.e.frozen;
    }
    free(j.segs);
    free(j.vlen);
    unpin(db, tenant, name);
    return rc;
}

/* ---- writing a snapshot ---------------------------------------------------------------------- */

typedef char name_pair[2][HS_NAME_MAX + 1];

/* C and the collections in scope, read together under db->lock. */
static int scope(hs_db *db, const char *tenant, const char *collection, uint64_t *C,
                 name_pair **names, size_t *n, hs_error *err)
{
    pthread_mutex_lock(&db->lock);
    *C = hs_db_clock(db);
    size_t k = 0;
    centry **v = NULL;
    if (collection) {
        centry *e = hs_db_find_created_locked(db, tenant, collection);
        if (!e) {
            pthread_mutex_unlock(&db->lock);
            return hs_not_found(err, collection);
        }
        *C = hs_db_clock(db); /* a create waited for above is before C */
        k = 1;
    } else {
        v = hs_cat_sorted_locked(db, NULL, false, &k);
        if (!v) {
            pthread_mutex_unlock(&db->lock);
            return hs_error_set(err, HS_ENOMEM, "Out of memory");
        }
    }
    *names = malloc((k ? k : 1) * sizeof(**names));
    for (size_t i = 0; *names && i < k; i++) {
        snprintf((*names)[i][0], HS_NAME_MAX + 1, "%s", collection ? tenant : v[i]->tenant);
        snprintf((*names)[i][1], HS_NAME_MAX + 1, "%s", collection ? collection : v[i]->name);
    }
    free(v);
    pthread_mutex_unlock(&db->lock);
    *n = k;
    return *names ? HS_OK : hs_error_set(err, HS_ENOMEM, "Out of memory");
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hs_snap_info_fill(hs_db *db, const hs_snap_meta *m, uint64_t clock, uint64_t bytes,
                       hs_snapshot_info *out)
{
    memset(out, 0, sizeof(*out));
    (void)db;
    out->clock = clock;
    out->bytes = bytes;
    out->created_ms = m->created_ms;
    out->collections = (uint32_t)m->n;
    out->skipped = m->skipped;
    out->node = (int)m->node;
    if (!m->node && m->n == 1) {
        snprintf(out->tenant, sizeof(out->tenant), "%s", m->colls[0].tenant);
        snprintf(out->collection, sizeof(out->collection), "%s", m->colls[0].name);
    }
    snprintf(out->node_id, sizeof(out->node_id), "%s", m->node_id);
}

/* The snapshot proper, with the gate held. */
static int write_gated(hs_db *db, const char *tenant, const char *collection, hs_archive_sink sink,
                       void *ctx, hs_snapshot_info *out, hs_error *err)
{
    uint64_t C;
    name_pair *names = NULL;
    size_t n = 0;
    int rc = scope(db, tenant, collection, &C, &names, &n, err);
    if (rc != HS_OK)
        return rc;
    hs_snap_meta m = {collection ? 0u : 1u, now_ms(), "", 0,
                      calloc(n ? n : 1, sizeof(hs_snap_coll)), 0};
    snprintf(m.node_id, sizeof(m.node_id), "%s", db->node_id);
    hs_archive_writer *w = NULL;
    if (!m.colls)
        rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc == HS_OK)
        rc = hs_archive_start(sink, ctx, C, &w, err);
    for (size_t i = 0; rc == HS_OK && i < n; i++) {
        bool skipped = false;
        hs_error cerr;
        memset(&cerr, 0, sizeof(cerr));
        rc = archive_one(db, w, (uint32_t)m.n, names[i][0], names[i][1], C, &m.colls[m.n],
                         &skipped, &cerr);
        if (rc == HS_ELOAD && !collection) {
            hs_log(HS_LOG_WARN, "snapshot: collection '%s' (tenant '%s') left out: %s",
                   names[i][1], names[i][0], cerr.message);
            m.skipped++;
            rc = HS_OK;
        } else if (rc != HS_OK && err) {
            *err = cerr;
        } else if (!skipped) {
            m.n++;
        } else if (collection) {
            rc = hs_not_found(err, collection);
        }
    }
    mbuf b = {0};
    if (rc == HS_OK) {
        mput32(&b, META_VERSION);
        mput32(&b, m.node);
        mput64(&b, m.created_ms);
        mput32(&b, m.skipped);
        mput_str(&b, m.node_id);
        mput32(&b, (uint32_t)m.n);
        for (size_t i = 0; i < m.n; i++)
            meta_coll_put(&b, &m.colls[i]);
        if (b.oom)
            rc = hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    uint64_t total = 0;
    if (rc == HS_OK)
        rc = hs_archive_finish(w, b.p, b.n, &total, err);
    if (rc == HS_OK)
        hs_snap_info_fill(db, &m, C, total, out);
    free(b.p);
    hs_archive_writer_free(w);
    hs_snap_meta_free(&m);
    free(names);
    return rc;
}

int hs_snapshot_write(hs_db *db, const char *tenant, const char *collection,
                      int (*sink)(void *ctx, const void *buf, size_t len), void *ctx,
                      hs_snapshot_info *out, hs_error *err)
{
    if (collection) {
        int rc = hs_check_names(tenant, collection, err);
        if (rc != HS_OK)
            return rc;
    }
    uint64_t t0 = hs_now_ns();
    hs_snapshot_info info;
    pthread_rwlock_wrlock(&db->snap_gate);
    int rc = write_gated(db, tenant, collection, sink, ctx, &info, err);
    pthread_rwlock_unlock(&db->snap_gate);
    if (rc != HS_OK)
        return rc;
    hs_log(HS_LOG_INFO, "snapshot of %s at clock %llu: %u collections, %llu bytes, %.3f s",
           collection ? "a collection" : "the node", (unsigned long long)info.clock,
           info.collections, (unsigned long long)info.bytes, (double)(hs_now_ns() - t0) / 1e9);
    if (out)
        *out = info;
    return HS_OK;
}

