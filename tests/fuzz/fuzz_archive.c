/*
 * fuzz_archive.c: snapshot archives on arbitrary bytes, in two modes chosen by the first byte.
 *
 *   even: the bytes are an archive.  The container reader (hs_archive_read, read in pieces of
 *         varying size) and the manifest-only read (hs_archive_peek) run on them; whatever they
 *         accept is then restored as a snapshot file of a real database (hs_snapshot_restore).
 *   odd:  the bytes describe entries (u8 kind, u8 group, u8 name length, name, u16 data length,
 *         data; kind 0 is the manifest's description) that the archive writer seals with valid
 *         checksums: the restore sees well-formed archives with arbitrary names, orders, files
 *         and descriptions (what a crafted archive would bring), and must refuse or restore
 *         without crashing, never writing outside its staging directory.
 * Checked: the reader hands over exactly each entry's length before its end; a restore that
 * succeeds produces loadable collections (they are dropped again).
 * Seeds: the archive of a small collection with a checkpoint and a log tail, in both modes.
 */
#include <stdint.h>

#include "core/core.h"
#include "fuzz_common.h"
#include "util/bytes.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hs_db *db;
static char snap_path[256];

typedef struct mem {
    const uint8_t *p;
    size_t n, at, step;
} mem;

static long mem_read(void *ctx, void *buf, size_t cap)
{
    mem *m = ctx;
    size_t k = m->n - m->at < cap ? m->n - m->at : cap;
    if (m->step && k > m->step)
        k = m->step;
    memcpy(buf, m->p + m->at, k);
    m->at += k;
    return (long)k;
}

static long mem_pread(void *ctx, void *buf, size_t len, uint64_t off)
{
    mem *m = ctx;
    if (off >= m->n)
        return 0;
    size_t k = m->n - (size_t)off < len ? m->n - (size_t)off : len;
    memcpy(buf, m->p + off, k);
    return (long)k;
}

typedef struct counter {
    uint64_t want, got;
} counter;

static int c_begin(void *ctx, const hs_archive_entry *e, hs_error *err)
{
    (void)err;
    counter *c = ctx;
    c->want = e->len;
    c->got = 0;
    return 0;
}

static int c_data(void *ctx, const void *buf, size_t len, hs_error *err)
{
    (void)buf;
    (void)err;
    ((counter *)ctx)->got += len;
    return 0;
}

static int c_end(void *ctx, const hs_archive_entry *e, hs_error *err)
{
    (void)e;
    (void)err;
    counter *c = ctx;
    if (c->got != c->want)
        abort(); /* an entry's end before all of its bytes */
    return 0;
}

typedef struct growbuf {
    uint8_t *p;
    size_t n, cap;
} growbuf;

static int grow_sink(void *ctx, const void *data, size_t len)
{
    growbuf *b = ctx;
    if (b->n + len > b->cap) {
        size_t cap = (b->n + len) * 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return -12;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

static int drop_restored(void *ctx, const hs_snapshot_coll *c)
{
    (void)ctx;
    /* it loads, then goes */
    hs_collection *h;
    if (hs_collection_open(db, c->tenant, c->name, &h, NULL) == HS_OK) {
        hs_digest d;
        hs_collection_digest(h, &d, NULL);
        hs_collection_close(h);
    }
    return 0;
}

typedef struct name_list {
    char t[8][HS_NAME_MAX + 1], n[8][HS_NAME_MAX + 1];
    int k;
} name_list;

static int keep_name(void *ctx, const hs_snapshot_coll *c)
{
    name_list *l = ctx;
    drop_restored(NULL, c);
    if (l->k < 8) {
        snprintf(l->t[l->k], sizeof(l->t[0]), "%s", c->tenant);
        snprintf(l->n[l->k], sizeof(l->n[0]), "%s", c->name);
        l->k++;
    }
    return 0;
}

/* Restores the archive held in bytes as the snapshot file "f.hsnap", then drops what came. */
static void restore_bytes(const uint8_t *data, size_t size)
{
    fuzz_write_file(snap_path, data, size);
    name_list l = {0};
    hs_restore_opts o;
    hs_restore_opts_init(&o);
    o.replace = 1;
    hs_snapshot_restore(db, "f.hsnap", &o, keep_name, &l, NULL);
    for (int i = 0; i < l.k; i++)
        hs_collection_drop(db, l.t[i], l.n[i], NULL);
    unlink(snap_path);
}

/* Odd mode: entries sealed by the writer. */
static void sealed(const uint8_t *data, size_t size)
{
    growbuf out = {0};
    hs_archive_writer *w;
    if (hs_archive_start(grow_sink, &out, 1u << 20, &w, NULL) != HS_OK)
        return;
    hs_reader r = hs_reader_of(data, size);
    const uint8_t *meta = NULL;
    size_t meta_len = 0;
    uint8_t kind, group, nl;
    while (hs_read_bytes(&r, &kind, 1) && hs_read_bytes(&r, &group, 1) &&
           hs_read_bytes(&r, &nl, 1)) {
        const uint8_t *name, *len_at, *body;
        if (!hs_read_span(&r, nl, &name) || !hs_read_span(&r, 2, &len_at))
            break;
        size_t len = (size_t)len_at[0] | (size_t)len_at[1] << 8;
        if (!hs_read_span(&r, len, &body))
            break;
        if (kind == 0) {
            meta = body;
            meta_len = len;
            continue;
        }
        char nm[256];
        memcpy(nm, name, nl);
        nm[nl] = 0;
        if (hs_archive_entry_begin(w, group, kind, nm, len, NULL) == HS_OK) {
            hs_archive_entry_data(w, body, len, NULL);
            hs_archive_entry_end(w, NULL);
        }
    }
    uint64_t total;
    if (hs_archive_finish(w, meta, meta_len, &total, NULL) == HS_OK)
        restore_bytes(out.p, out.n);
    hs_archive_writer_free(w);
    free(out.p);
}

/* The framed form of an archive's entries (the odd mode's seed). */
static void frame_seed(const uint8_t *a, size_t n)
{
    mem m = {a, n, 0, 0};
    hs_archive_toc t;
    if (hs_archive_read(mem_read, &m, NULL, &t, NULL) != HS_OK)
        abort();
    growbuf f = {0};
    uint8_t mode = 1;
    grow_sink(&f, &mode, 1);
    for (size_t i = 0; i < t.n; i++) {
        const hs_archive_entry *e = &t.entries[i];
        size_t nl = strlen(e->name);
        if (e->len > 65535)
            abort();
        uint8_t h[3] = {(uint8_t)e->kind, (uint8_t)e->group, (uint8_t)nl};
        uint8_t len[2] = {(uint8_t)e->len, (uint8_t)(e->len >> 8)};
        grow_sink(&f, h, 3);
        grow_sink(&f, e->name, nl);
        grow_sink(&f, len, 2);
        grow_sink(&f, a + e->offset + 32 + nl, (size_t)e->len);
    }
    uint8_t h[3] = {0, 0, 1}, len[2] = {(uint8_t)t.meta_len, (uint8_t)(t.meta_len >> 8)};
    grow_sink(&f, h, 3);
    grow_sink(&f, "m", 1);
    grow_sink(&f, len, 2);
    grow_sink(&f, t.meta, t.meta_len);
    fuzz_seed("sealed", f.p, f.n);
    free(f.p);
    hs_archive_toc_free(&t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char root[128];
    snprintf(root, sizeof(root), "%s/db", fuzz_scratch());
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    if (hs_db_open(root, &o, &db, NULL) != HS_OK)
        abort();
    snprintf(snap_path, sizeof(snap_path), "%s/.snapshots/f.hsnap", root);
    char dir[160];
    snprintf(dir, sizeof(dir), "%s/.snapshots", root);
    mkdir(dir, 0755);
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 2;
    c.metric = HS_METRIC_L2;
    c.m = 4;
    hs_collection_create(db, "t", "s", &c, NULL);
    hs_collection *h;
    if (hs_collection_open(db, "t", "s", &h, NULL) != HS_OK)
        abort();
    for (uint64_t i = 0; i < 12; i++) {
        double v[2] = {(double)i, 1};
        char val[8];
        snprintf(val, sizeof(val), "v%u", (unsigned)i);
        hs_kv kv = {"k", 1, val, strlen(val), NULL};
        hs_point p = {i, v, 2, &kv, 1};
        hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL);
        if (i == 8)
            hs_collection_checkpoint(h, NULL);
    }
    hs_collection_close(h);
    growbuf a = {0};
    uint8_t mode = 0;
    grow_sink(&a, &mode, 1);
    if (hs_snapshot_write(db, "t", "s", grow_sink, &a, NULL, NULL) != HS_OK)
        abort();
    fuzz_seed("archive", a.p, a.n);
    frame_seed(a.p + 1, a.n - 1);
    free(a.p);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        sealed(data + 1, size - 1);
        return 0;
    }
    counter cnt = {0, 0};
    hs_archive_visitor v = {c_begin, c_data, c_end, &cnt};
    mem m = {data + 1, size - 1, 0, (size_t)(data[0] >> 1) * 37 + 1};
    hs_archive_toc t;
    int rc = hs_archive_read(mem_read, &m, &v, &t, NULL);
    hs_archive_toc p;
    mem whole = {data + 1, size - 1, 0, 0};
    int prc = hs_archive_peek(mem_pread, &whole, size - 1, &p, NULL);
    if (rc == HS_OK && prc != HS_OK)
        abort(); /* a whole archive the reader accepts has a readable manifest */
    if (prc == HS_OK)
        hs_archive_toc_free(&p);
    if (rc == HS_OK) {
        hs_snap_meta meta;
        if (hs_snap_meta_parse(t.meta, t.meta_len, &meta, NULL) == HS_OK)
            hs_snap_meta_free(&meta);
        hs_archive_toc_free(&t);
        restore_bytes(data + 1, size - 1);
    }
    return 0;
}
