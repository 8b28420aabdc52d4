/*
 * test_snapshot.c: snapshot archives through the engine API (core/snapshot.c, core/restore.c).
 *
 *   - under concurrent writers (one per collection, each write's clock read back), concurrent
 *     checkpoints and rebuilds: a collection snapshot and a node snapshot restore (under another
 *     name and tenant on the same node, and into a second, empty database) to exactly the state
 *     of the writes with a clock <= the snapshot's: digest (buckets, count) equal to a collection
 *     built from that model, the same points and metadata, the collection clock the last such
 *     write's; the restored collections survive a reopen, and later writes get higher clocks;
 *   - a flipped byte anywhere in an archive (sampled over every part: header, checkpoint,
 *     vectors, log, manifest, trailer) and every kind of cut are refused with HS_ECORRUPT (field
 *     SNAPSHOT) and change nothing: no collection, no directory left behind;
 *   - names: traversal, absolute paths, separators, hidden names, overlong names, symbolic and
 *     hard links, a FIFO and a directory with a valid name are never opened, served or removed;
 *   - targets: a collection holding points is not replaced (unless asked), an empty one is;
 *     import verifies a stream before keeping it; crash leftovers are removed at open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hs_test.h"
#include "hyperspace.h"

#define DIM 4
#define IDS 300

static char root[64], root2[64];

static hs_db *open_db(const char *dir)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.snapshot_interval_sec = 1;  /* automatic checkpoints keep trying during the snapshots */
    o.checkpoint_min_log_bytes = 0;
    o.wal_segment_bytes = 16384; /* several log segments per collection */
    hs_db *db;
    hs_error err;
    if (hs_db_open(dir, &o, &db, &err) != HS_OK)
        fail_msg("open %s: %s", dir, err.message);
    return db;
}

static void create(hs_db *db, const char *tenant, const char *name, hs_metric metric)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = DIM;
    c.metric = metric;
    hs_error err;
    if (hs_collection_create(db, tenant, name, &c, &err) != HS_OK)
        fail_msg("create %s: %s", name, err.message);
}

/* ---- a model of one collection's writes ---- */

typedef struct op {
    uint64_t clock; /* the collection clock after the write (its last point's) */
    int del;
    uint64_t id[4];
    int n;
    double v[4][DIM];
} op;

typedef struct writer {
    hs_db *db;
    const char *tenant, *name;
    hs_metric metric;
    op *ops;
    size_t n, cap;
    int stop;      /* atomic */
    size_t done;   /* atomic: ops so far */
    uint64_t seed;
} writer;

static double coord(writer *w, uint64_t id, uint64_t salt, int k)
{
    /* exact in float32; inside the unit ball for poincare */
    double x = (double)((id * 7 + salt * 13 + (uint64_t)k * 5) % 64) / 256.0;
    return w->metric == HS_METRIC_POINCARE ? x - 0.12 : x * 8 - 3;
}

static void *write_loop(void *arg)
{
    writer *w = arg;
    hs_collection *h;
    assert_int_equal(hs_collection_open(w->db, w->tenant, w->name, &h, NULL), HS_OK);
    uint64_t salt = 1;
    while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
        op o;
        memset(&o, 0, sizeof(o));
        uint64_t r = hs_test_xorshift(&w->seed);
        o.del = r % 5 == 0;
        o.n = 1 + (int)((r >> 8) % 4);
        for (int i = 0; i < o.n; i++) {
            o.id[i] = hs_test_xorshift(&w->seed) % IDS;
            for (int j = 0; j < i; j++)
                if (o.id[j] == o.id[i])
                    o.id[i] = (o.id[i] + 1) % IDS; /* distinct enough; duplicates are fine too */
        }
        hs_error err;
        int rc;
        if (o.del) {
            size_t deleted;
            rc = hs_delete(h, o.id, (size_t)o.n, HS_DURABILITY_DEFAULT, &deleted, &err);
        } else {
            hs_point p[4];
            char mv[4][32];
            hs_kv kv[4];
            for (int i = 0; i < o.n; i++) {
                for (int k = 0; k < DIM; k++)
                    o.v[i][k] = coord(w, o.id[i], salt, k);
                snprintf(mv[i], sizeof(mv[i]), "s%llu", (unsigned long long)salt);
                kv[i] = (hs_kv){"tag", 3, mv[i], strlen(mv[i]), NULL};
                p[i] = (hs_point){o.id[i], o.v[i], DIM, &kv[i], 1};
            }
            salt++;
            rc = hs_upsert(h, p, (size_t)o.n,
                           r % 3 ? HS_DURABILITY_DEFAULT : HS_DURABILITY_ASYNC, &err);
        }
        if (rc != HS_OK)
            fail_msg("write: %s", err.message);
        hs_collection_stats st;
        assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
        o.clock = st.clock;
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 1024;
            w->ops = realloc(w->ops, w->cap * sizeof(op));
        }
        w->ops[w->n++] = o;
        __atomic_store_n(&w->done, w->n, __ATOMIC_RELEASE);
    }
    hs_collection_close(h);
    return NULL;
}

/* The model at clock C: per id, live or not and its vector. */
typedef struct model {
    int live[IDS];
    double v[IDS][DIM];
    uint64_t clock;
} model;

static void model_at(const writer *w, uint64_t C, uint64_t created, model *m)
{
    memset(m, 0, sizeof(*m));
    m->clock = created;
    for (size_t i = 0; i < w->n && w->ops[i].clock <= C; i++) {
        const op *o = &w->ops[i];
        for (int k = 0; k < o->n; k++) {
            m->live[o->id[k]] = !o->del;
            if (!o->del)
                memcpy(m->v[o->id[k]], o->v[k], sizeof(m->v[0]));
        }
        if (o->clock > m->clock)
            m->clock = o->clock;
    }
}

static void digest_of(hs_db *db, const char *tenant, const char *name, hs_digest *d)
{
    hs_collection *h;
    hs_error err;
    if (hs_collection_open(db, tenant, name, &h, &err) != HS_OK)
        fail_msg("open %s/%s: %s", tenant, name, err.message);
    assert_int_equal(hs_collection_digest(h, d, &err), HS_OK);
    hs_collection_close(h);
}

/* The restored collection equals the model: digest against a collection built from it, every
 * live point's vector, the clock. */
static void check_restored(hs_db *db, const char *tenant, const char *name, hs_metric metric,
                           const model *m)
{
    static int k;
    char ename[32];
    snprintf(ename, sizeof(ename), "expect%d", k++);
    create(db, "model", ename, metric);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "model", ename, &h, NULL), HS_OK);
    for (uint64_t id = 0; id < IDS; id++)
        if (m->live[id]) {
            hs_point p = {id, m->v[id], DIM, NULL, 0};
            assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
        }
    hs_collection_close(h);
    hs_digest want, got;
    digest_of(db, "model", ename, &want);
    digest_of(db, tenant, name, &got);
    assert_int_equal(got.count, want.count);
    assert_int_equal(got.state_hash, want.state_hash);
    assert_memory_equal(got.buckets, want.buckets, sizeof(want.buckets));
    assert_int_equal(got.clock, m->clock);
    assert_int_equal(hs_collection_open(db, tenant, name, &h, NULL), HS_OK);
    for (uint64_t id = 0; id < IDS; id++) {
        double v[DIM];
        int rc = hs_get(h, id, v, NULL, NULL, NULL);
        assert_int_equal(rc, m->live[id] ? HS_OK : HS_ENOTFOUND);
        if (rc == HS_OK)
            assert_memory_equal(v, m->v[id], sizeof(v));
    }
    hs_collection_close(h);
}

typedef struct churn {
    hs_db *db;
    int stop;
} churn;

/* Explicit checkpoints and rebuilds of the written collections while snapshots run: they wait
 * for the gate, and must not take a file a snapshot copies. */
static void *churn_loop(void *arg)
{
    churn *c = arg;
    for (int i = 0; !__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE); i++) {
        hs_collection *h;
        const char *name = i % 2 ? "a" : "p";
        if (hs_collection_open(c->db, i % 2 ? "t1" : "t2", name, &h, NULL) != HS_OK)
            continue;
        if (i % 5 == 4)
            hs_collection_rebuild(h, NULL);
        else
            hs_collection_checkpoint(h, NULL);
        hs_collection_close(h);
    }
    return NULL;
}

static void wait_ops(writer *w, size_t n)
{
    while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) < n)
        usleep(1000);
}

static void test_concurrent_snapshot_and_restore(void **state)
{
    (void)state;
    hs_db *db = open_db(root);
    create(db, "t1", "a", HS_METRIC_L2);
    create(db, "t2", "p", HS_METRIC_POINCARE);
    writer wa = {db, "t1", "a", HS_METRIC_L2, NULL, 0, 0, 0, 0, 0x1234};
    writer wp = {db, "t2", "p", HS_METRIC_POINCARE, NULL, 0, 0, 0, 0, 0x9876};
    churn ch = {db, 0};
    pthread_t ta, tp, tc;
    pthread_create(&ta, NULL, write_loop, &wa);
    pthread_create(&tp, NULL, write_loop, &wp);
    pthread_create(&tc, NULL, churn_loop, &ch);
    wait_ops(&wa, 400);
    wait_ops(&wp, 400);
    hs_snapshot_info one, node;
    hs_error err;
    if (hs_snapshot_create(db, "t1", "a", NULL, &one, &err) != HS_OK)
        fail_msg("snapshot: %s", err.message);
    size_t after_one = __atomic_load_n(&wa.done, __ATOMIC_ACQUIRE);
    wait_ops(&wa, after_one + 200);
    if (hs_snapshot_create(db, NULL, NULL, "whole.hsnap", &node, &err) != HS_OK)
        fail_msg("node snapshot: %s", err.message);
    size_t after_node = __atomic_load_n(&wp.done, __ATOMIC_ACQUIRE);
    wait_ops(&wp, after_node + 100);
    __atomic_store_n(&wa.stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&wp.stop, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&ch.stop, 1, __ATOMIC_RELEASE);
    pthread_join(ta, NULL);
    pthread_join(tp, NULL);
    pthread_join(tc, NULL);
    /* writes both before and after each snapshot's clock */
    assert_true(wa.ops[0].clock <= one.clock && wa.ops[wa.n - 1].clock > one.clock);
    assert_true(wp.ops[0].clock <= node.clock && wp.ops[wp.n - 1].clock > node.clock);
    assert_int_equal(one.collections, 1);
    assert_int_equal(node.collections, 2);
    assert_int_equal(node.node, 1);
    assert_string_equal(node.name, "whole.hsnap");
    assert_non_null(strstr(one.name, "a-"));

    /* the collection snapshot under another name and tenant on the same node */
    hs_restore_opts ro;
    hs_restore_opts_init(&ro);
    ro.collection = "a";
    ro.to_tenant = "other";
    ro.to_name = "a2";
    if (hs_snapshot_restore(db, one.name, &ro, NULL, NULL, &err) != HS_OK)
        fail_msg("restore: %s", err.message);
    model m;
    model_at(&wa, one.clock, 0, &m); /* hundreds of writes follow the create */
    check_restored(db, "other", "a2", HS_METRIC_L2, &m);
    /* the restored collection takes writes, at clocks past everything */
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "other", "a2", &h, NULL), HS_OK);
    double v[DIM] = {1, 2, 3, 4};
    hs_point p = {IDS + 1, v, DIM, NULL, 0};
    assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_STRICT, NULL), HS_OK);
    hs_collection_stats st;
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    assert_true(st.clock > wa.ops[wa.n - 1].clock && st.clock > wp.ops[wp.n - 1].clock);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    /* the node snapshot into an empty database */
    char src[128], dst[512];
    snprintf(src, sizeof(src), "%s/.snapshots/whole.hsnap", root);
    hs_db *db2 = open_db(root2);
    snprintf(dst, sizeof(dst), "mkdir -p %s/.snapshots && cp %s %s/.snapshots/", root2, src,
             root2);
    assert_int_equal(system(dst), 0);
    if (hs_snapshot_restore(db2, "whole.hsnap", NULL, NULL, NULL, &err) != HS_OK)
        fail_msg("node restore: %s", err.message);
    model ma, mp;
    model_at(&wa, node.clock, 0, &ma);
    model_at(&wp, node.clock, 0, &mp);
    check_restored(db2, "t1", "a", HS_METRIC_L2, &ma);
    check_restored(db2, "t2", "p", HS_METRIC_POINCARE, &mp);
    assert_true(hs_db_clock(db2) >= node.clock);
    assert_int_equal(hs_db_close(db2, NULL), HS_OK);
    /* after a reopen: the same, and new writes take clocks above the archive's */
    db2 = open_db(root2);
    check_restored(db2, "t1", "a", HS_METRIC_L2, &ma);
    assert_int_equal(hs_collection_open(db2, "t2", "p", &h, NULL), HS_OK);
    double pv[DIM] = {0.1, 0.1, 0.1, 0.1};
    hs_point pp = {IDS + 2, pv, DIM, NULL, 0};
    assert_int_equal(hs_upsert(h, &pp, 1, HS_DURABILITY_STRICT, NULL), HS_OK);
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    assert_true(st.clock > node.clock);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db2, NULL), HS_OK);
    free(wa.ops);
    free(wp.ops);
}

/* ---- damage ---- */

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

static int list_names(void *ctx, const char *tenant, const char *name)
{
    (void)tenant;
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static void small_collection(hs_db *db)
{
    create(db, "d", "c", HS_METRIC_L2);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "d", "c", &h, NULL), HS_OK);
    for (uint64_t i = 0; i < 40; i++) {
        double v[DIM] = {(double)i, 1, 2, 3};
        char t[16];
        snprintf(t, sizeof(t), "v%llu", (unsigned long long)i);
        hs_kv kv = {"k", 1, t, strlen(t), NULL};
        hs_point p = {i, v, DIM, &kv, 1};
        assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
        if (i == 25)
            assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    }
    hs_collection_close(h);
}

static void test_damaged_archives_change_nothing(void **state)
{
    (void)state;
    hs_db *db = open_db(root);
    small_collection(db);
    hs_snapshot_info info;
    assert_int_equal(hs_snapshot_create(db, "d", "c", "good.hsnap", &info, NULL), HS_OK);
    char path[256], bad[256];
    snprintf(path, sizeof(path), "%s/.snapshots/good.hsnap", root);
    snprintf(bad, sizeof(bad), "%s/.snapshots/bad.hsnap", root);
    FILE *f = fopen(path, "rb");
    uint8_t *a = malloc(info.bytes);
    assert_int_equal(fread(a, 1, info.bytes, f), info.bytes);
    fclose(f);
    int before = 0;
    hs_collection_list(db, NULL, list_names, &before, NULL);
    size_t root_entries = count_entries(root);
    hs_restore_opts ro;
    hs_restore_opts_init(&ro);
    ro.collection = "c";
    ro.to_name = "copy";
    /* every 97th byte, and the first and last 40 (header, manifest end, trailer) */
    size_t tried = 0;
    for (size_t off = 0; off < info.bytes; off += off < 40 || off + 40 >= info.bytes ? 1 : 97) {
        a[off] ^= 0x04;
        f = fopen(bad, "wb");
        fwrite(a, 1, info.bytes, f);
        fclose(f);
        a[off] ^= 0x04;
        hs_error err;
        int rc = hs_snapshot_restore(db, "bad.hsnap", &ro, NULL, NULL, &err);
        if (rc != HS_ECORRUPT)
            fail_msg("a flipped byte at %zu of %llu: %d (%s)", off,
                     (unsigned long long)info.bytes, rc, err.message);
        assert_int_equal(err.field, HS_FIELD_SNAPSHOT);
        assert_non_null(strstr(err.message, "bad.hsnap"));
        tried++;
    }
    assert_true(tried > 60);
    /* cuts: inside the header, in the middle, before the manifest, before the trailer, a byte
     * short; and one byte too many */
    size_t cuts[] = {0, 10, info.bytes / 2, info.bytes - 200, info.bytes - 32, info.bytes - 1,
                     info.bytes + 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        f = fopen(bad, "wb");
        fwrite(a, 1, cuts[i] <= info.bytes ? cuts[i] : info.bytes, f);
        if (cuts[i] > info.bytes)
            fputc(0, f);
        fclose(f);
        hs_error err;
        assert_int_equal(hs_snapshot_restore(db, "bad.hsnap", &ro, NULL, NULL, &err),
                         HS_ECORRUPT);
        hs_snapshot_info di;
        assert_int_equal(hs_snapshot_describe(db, "bad.hsnap", &di, NULL, NULL, &err),
                         HS_ECORRUPT);
    }
    int after = 0;
    hs_collection_list(db, NULL, list_names, &after, NULL);
    assert_int_equal(after, before);
    assert_int_equal(count_entries(root), root_entries); /* no .restore-* left */
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "d", "copy", &st, NULL), HS_ENOTFOUND);
    /* and the good archive restores */
    hs_error err;
    if (hs_snapshot_restore(db, "good.hsnap", &ro, NULL, NULL, &err) != HS_OK)
        fail_msg("restore: %s", err.message);
    hs_digest d1, d2;
    digest_of(db, "d", "c", &d1);
    digest_of(db, "d", "copy", &d2);
    assert_int_equal(d1.state_hash, d2.state_hash);
    assert_int_equal(d1.count, 40);
    assert_int_equal(d1.clock, d2.clock);
    free(a);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- names ---- */

static void test_names_never_leave_the_directory(void **state)
{
    (void)state;
    hs_db *db = open_db(root);
    small_collection(db);
    char outside[128], snapdir[128], cmd[512];
    snprintf(outside, sizeof(outside), "%s-outside.hsnap", root);
    snprintf(snapdir, sizeof(snapdir), "%s/.snapshots", root);
    FILE *f = fopen(outside, "w");
    fputs("secret", f);
    fclose(f);
    hs_snapshot_info info;
    hs_error err;
    /* names refused by the rule, at every call */
    char longname[200];
    memset(longname, 'a', sizeof(longname));
    strcpy(longname + 150, ".hsnap");
    const char *bad[] = {"../x.hsnap", "..", ".", "/etc/passwd", "a/b.hsnap", ".hidden.hsnap",
                         "x", "x.hsnap/", "x.hsnap\n", "", longname, "..hsnap",
                         "../../../../../../tmp/y.hsnap", "x y.hsnap", "%2e%2e.hsnap"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(hs_snapshot_create(db, "d", "c", bad[i], &info, &err), HS_ENAME);
        assert_int_equal(err.field, HS_FIELD_SNAPSHOT);
        assert_int_equal(hs_snapshot_restore(db, bad[i], NULL, NULL, NULL, &err), HS_ENAME);
        assert_int_equal(hs_snapshot_delete(db, bad[i], &err), HS_ENAME);
        int fd;
        uint64_t len;
        assert_int_equal(hs_snapshot_open(db, bad[i], &fd, &len, &err), HS_ENAME);
        assert_int_equal(hs_snapshot_describe(db, bad[i], &info, NULL, NULL, &err), HS_ENAME);
    }
    assert_int_equal(hs_snapshot_create(db, "d", "c", "real.hsnap", &info, NULL), HS_OK);
    /* valid names that are not regular files of the directory */
    snprintf(cmd, sizeof(cmd),
             "cd %s && ln -s %s link.hsnap && ln -s real.hsnap inner-link.hsnap && "
             "ln %s hard.hsnap && mkfifo fifo.hsnap && mkdir dir.hsnap",
             snapdir, outside, "real.hsnap");
    assert_int_equal(system(cmd), 0);
    const char *odd[] = {"link.hsnap", "inner-link.hsnap", "hard.hsnap", "fifo.hsnap",
                         "dir.hsnap", "missing.hsnap"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        int fd;
        uint64_t len;
        assert_int_equal(hs_snapshot_open(db, odd[i], &fd, &len, &err), HS_ENOTFOUND);
        assert_int_equal(err.field, HS_FIELD_SNAPSHOT);
        assert_int_equal(hs_snapshot_describe(db, odd[i], &info, NULL, NULL, &err), HS_ENOTFOUND);
        assert_int_equal(hs_snapshot_restore(db, odd[i], NULL, NULL, NULL, &err), HS_ENOTFOUND);
        assert_int_equal(hs_snapshot_delete(db, odd[i], &err), HS_ENOTFOUND);
    }
    /* the file outside is untouched, the link to it still there */
    f = fopen(outside, "r");
    char buf[16] = {0};
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "secret");
    struct stat sb;
    assert_int_equal(lstat(snapdir, &sb), 0);
    char link[160];
    snprintf(link, sizeof(link), "%s/link.hsnap", snapdir);
    assert_int_equal(lstat(link, &sb), 0);
    /* real.hsnap has two names while hard.hsnap exists: it is served again once alone */
    int fd;
    uint64_t len;
    assert_int_equal(hs_snapshot_open(db, "real.hsnap", &fd, &len, NULL), HS_ENOTFOUND);
    snprintf(cmd, sizeof(cmd), "rm %s/hard.hsnap", snapdir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(hs_snapshot_open(db, "real.hsnap", &fd, &len, NULL), HS_OK);
    assert_int_equal(len, info.bytes);
    close(fd);
    unlink(outside);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

typedef struct listed {
    int n;
    char names[8][HS_SNAPSHOT_NAME_MAX + 1];
    int errors;
} listed;

static int on_list(void *ctx, const hs_snapshot_info *s)
{
    listed *l = ctx;
    if (l->n < 8)
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", s->name);
    l->n++;
    l->errors += s->error[0] != 0;
    return 0;
}

/* An archive in memory as a source, a thousand bytes at a time. */
typedef struct mem_src {
    uint8_t *p;
    size_t n, at;
} mem_src;

static long read_src(void *ctx, void *buf, size_t cap)
{
    mem_src *s = ctx;
    size_t k = s->n - s->at < cap ? s->n - s->at : cap;
    if (k > 1000)
        k = 1000;
    memcpy(buf, s->p + s->at, k);
    s->at += k;
    return (long)k;
}

static void test_targets_import_list_and_leftovers(void **state)
{
    (void)state;
    hs_db *db = open_db(root);
    small_collection(db);
    create(db, "d", "empty", HS_METRIC_L2);
    hs_snapshot_info info;
    hs_error err;
    assert_int_equal(hs_snapshot_create(db, "d", "c", "c.hsnap", &info, NULL), HS_OK);
    hs_restore_opts ro;
    hs_restore_opts_init(&ro);
    /* the same name holds points: refused, nothing changed */
    assert_int_equal(hs_snapshot_restore(db, "c.hsnap", &ro, NULL, NULL, &err), HS_EEXIST);
    assert_int_equal(err.field, HS_FIELD_COLLECTION);
    /* an empty collection is replaced */
    ro.collection = "c";
    ro.to_name = "empty";
    assert_int_equal(hs_snapshot_restore(db, "c.hsnap", &ro, NULL, NULL, &err), HS_OK);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "d", "empty", &st, NULL), HS_OK);
    assert_int_equal(st.count, 40);
    /* replace drops one that holds points */
    ro.replace = 1;
    ro.to_name = NULL;
    assert_int_equal(hs_snapshot_restore(db, "c.hsnap", &ro, NULL, NULL, &err), HS_OK);
    /* a frozen collection is archived and restored frozen */
    assert_int_equal(hs_collection_freeze(db, "d", "c", 1, NULL), HS_OK);
    assert_int_equal(hs_snapshot_create(db, "d", "c", "frozen.hsnap", NULL, &err), HS_OK);
    hs_restore_opts fo;
    hs_restore_opts_init(&fo);
    fo.collection = "c";
    fo.to_name = "ice";
    assert_int_equal(hs_snapshot_restore(db, "frozen.hsnap", &fo, NULL, NULL, &err), HS_OK);
    assert_int_equal(hs_collection_stats_get(db, "d", "ice", &st, NULL), HS_OK);
    assert_true(st.frozen);
    assert_int_equal(st.count, 40);
    hs_collection *ice;
    assert_int_equal(hs_collection_open(db, "d", "ice", &ice, NULL), HS_OK);
    double iv[DIM] = {1, 1, 1, 1};
    hs_point ip = {1000, iv, DIM, NULL, 0};
    assert_int_equal(hs_upsert(ice, &ip, 1, HS_DURABILITY_ASYNC, NULL), HS_EFROZEN);
    hs_collection_close(ice);
    assert_int_equal(hs_collection_freeze(db, "d", "c", 0, NULL), HS_OK);
    assert_int_equal(hs_snapshot_delete(db, "frozen.hsnap", NULL), HS_OK);
    /* a collection the archive does not hold */
    ro.collection = "nope";
    assert_int_equal(hs_snapshot_restore(db, "c.hsnap", &ro, NULL, NULL, &err), HS_ENOTFOUND);
    assert_int_equal(err.field, HS_FIELD_COLLECTION);
    /* import: a good stream is kept, a damaged one is not */
    char path[256];
    snprintf(path, sizeof(path), "%s/.snapshots/c.hsnap", root);
    FILE *f = fopen(path, "rb");
    uint8_t *a = malloc(info.bytes);
    assert_int_equal(fread(a, 1, info.bytes, f), info.bytes);
    fclose(f);
    mem_src s = {a, info.bytes, 0};
    long (*rd)(void *, void *, size_t) = read_src;
    hs_snapshot_info in;
    assert_int_equal(hs_snapshot_import(db, "copy.hsnap", rd, &s, &in, &err), HS_OK);
    assert_int_equal(in.bytes, info.bytes);
    assert_int_equal(in.clock, info.clock);
    a[info.bytes / 2] ^= 1;
    s.at = 0;
    assert_int_equal(hs_snapshot_import(db, "broken.hsnap", rd, &s, &in, &err), HS_ECORRUPT);
    assert_int_equal(err.field, HS_FIELD_SNAPSHOT);
    assert_int_equal(hs_snapshot_describe(db, "broken.hsnap", &in, NULL, NULL, &err),
                     HS_ENOTFOUND);
    s.at = 0;
    assert_int_equal(hs_snapshot_import(db, "copy.hsnap", rd, &s, &in, &err), HS_EEXIST);
    free(a);
    /* leftovers of a crash: an unfinished archive and an interrupted restore */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "touch %s/.snapshots/.x.hsnap.tmp-1 && mkdir -p %s/.restore-1/0",
             root, root);
    assert_int_equal(system(cmd), 0);
    listed l = {0};
    assert_int_equal(hs_snapshot_list(db, on_list, &l, NULL), HS_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.names[0], "c.hsnap");
    assert_string_equal(l.names[1], "copy.hsnap");
    assert_int_equal(hs_snapshot_delete(db, "copy.hsnap", NULL), HS_OK);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    db = open_db(root);
    struct stat sb;
    snprintf(path, sizeof(path), "%s/.snapshots/.x.hsnap.tmp-1", root);
    assert_int_not_equal(lstat(path, &sb), 0);
    snprintf(path, sizeof(path), "%s/.restore-1", root);
    assert_int_not_equal(lstat(path, &sb), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(hs_snapshot_list(db, on_list, &l, NULL), HS_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* A collection whose files are damaged is left out of a node snapshot (before any of its bytes
 * go in: the archive stays whole) and refuses a snapshot of its own; so does a quarantined one. */
static void test_damaged_collections_are_left_out(void **state)
{
    (void)state;
    hs_db *db = open_db(root);
    small_collection(db); /* d/c, checkpointed */
    create(db, "d", "bad", HS_METRIC_L2);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "d", "bad", &h, NULL), HS_OK);
    for (uint64_t i = 0; i < 30; i++) {
        double v[DIM] = {(double)i, 0, 0, 1};
        hs_point p = {i, v, DIM, NULL, 0};
        assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
    }
    assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    char dir[256], cmd[320];
    hs_test_coll_dir(dir, sizeof(dir), root, "d", "bad");
    snprintf(cmd, sizeof(cmd), "rm %s/vectors-0-000000.seg", dir);
    assert_int_equal(system(cmd), 0);
    db = open_db(root); /* the catalog vouches for it: cold, not known to be damaged */
    hs_snapshot_info info;
    hs_error err;
    assert_int_equal(hs_snapshot_create(db, "d", "bad", "bad.hsnap", &info, &err), HS_ELOAD);
    assert_int_equal(err.field, HS_FIELD_COLLECTION);
    assert_non_null(strstr(err.message, "vectors-0-000000.seg"));
    for (int round = 0; round < 2; round++) {
        char name[32];
        snprintf(name, sizeof(name), "node%d.hsnap", round);
        if (hs_snapshot_create(db, NULL, NULL, name, &info, &err) != HS_OK)
            fail_msg("node snapshot: %s", err.message);
        assert_int_equal(info.skipped, 1);
        assert_int_equal(info.collections, 1 + round); /* c, then c-copy0 too */
        hs_restore_opts ro;
        hs_restore_opts_init(&ro);
        ro.collection = "c";
        ro.to_name = round ? "c-copy1" : "c-copy0";
        assert_int_equal(hs_snapshot_restore(db, name, &ro, NULL, NULL, &err), HS_OK);
        /* then it is loaded and quarantined: the second round skips it as such */
        assert_int_equal(hs_collection_open(db, "d", "bad", &h, NULL), HS_OK);
        hs_digest d;
        assert_int_equal(hs_collection_digest(h, &d, NULL), HS_ELOAD);
        hs_collection_close(h);
    }
    hs_digest d1, d2;
    digest_of(db, "d", "c", &d1);
    digest_of(db, "d", "c-copy1", &d2);
    assert_int_equal(d1.state_hash, d2.state_hash);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* The changes a reader sees from `after` (up to `upto`), as kind/clock/id triples; the open's or
 * first read's code when it fails (a position the log no longer holds). */
static int changes_from(hs_db *db, const char *tenant, const char *name, uint64_t after,
                        uint64_t upto, uint64_t *out, size_t cap, size_t *n)
{
    hs_changes_opts o;
    memset(&o, 0, sizeof(o));
    o.after = after;
    o.with_vector = 0;
    hs_changes *r;
    *n = 0;
    int rc = hs_changes_open(db, tenant, name, &o, &r, NULL);
    if (rc != HS_OK)
        return rc;
    for (;;) {
        hs_change ch;
        int got = 0;
        rc = hs_changes_next(r, &ch, &got, NULL);
        if (rc != HS_OK || !got || ch.clock > upto)
            break;
        if (*n + 3 <= cap) {
            out[(*n)++] = ch.kind;
            out[(*n)++] = ch.clock;
            out[(*n)++] = ch.point.id;
        }
    }
    hs_changes_close(r);
    return rc;
}

/* A collection that keeps log for change readers (wal_retain_bytes): the restored copy keeps
 * the same history, so a reader of it sees, from any position, what a reader of the source sees
 * up to the snapshot's clock, and is refused the same positions. */
static void test_log_kept_for_change_readers_is_restored(void **state)
{
    (void)state;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.wal_segment_bytes = 4096;
    o.wal_retain_bytes = 12288;
    o.checkpoint_min_log_bytes = 0;
    o.snapshot_interval_sec = 0;
    hs_db *db;
    assert_int_equal(hs_db_open(root, &o, &db, NULL), HS_OK);
    create(db, "t", "r", HS_METRIC_L2);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "r", &h, NULL), HS_OK);
    for (uint64_t i = 0; i < 600; i++) {
        double v[DIM] = {(double)(i % 50), 1, 2, (double)i};
        hs_point p = {i % 50, v, DIM, NULL, 0};
        assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
        if (i % 7 == 3) {
            size_t d;
            uint64_t id = (i * 3) % 50;
            assert_int_equal(hs_delete(h, &id, 1, HS_DURABILITY_ASYNC, &d, NULL), HS_OK);
        }
        if (i % 100 == 99)
            assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    }
    hs_snapshot_info info;
    hs_error err;
    assert_int_equal(hs_snapshot_create(db, "t", "r", "r.hsnap", &info, &err), HS_OK);
    for (uint64_t i = 0; i < 30; i++) { /* after the snapshot: not in the copy */
        double v[DIM] = {9, 9, 9, (double)i};
        hs_point p = {i, v, DIM, NULL, 0};
        assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
    }
    hs_collection_close(h);
    hs_restore_opts ro;
    hs_restore_opts_init(&ro);
    ro.collection = "r";
    ro.to_name = "r2";
    if (hs_snapshot_restore(db, "r.hsnap", &ro, NULL, NULL, &err) != HS_OK)
        fail_msg("restore: %s", err.message);
    static uint64_t a[3 * 4096], b[3 * 4096];
    size_t na, nb;
    int truncated = 0, read = 0;
    for (uint64_t after = 0; after <= info.clock; after += 37) {
        int ra = changes_from(db, "t", "r", after, info.clock, a, 3 * 4096, &na);
        int rb = changes_from(db, "t", "r2", after, info.clock, b, 3 * 4096, &nb);
        if (ra != rb)
            fail_msg("after %llu: source %d, restored %d", (unsigned long long)after, ra, rb);
        truncated += ra == HS_ETRUNCATED;
        read += ra == HS_OK && na > 0;
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof(a[0]));
    }
    assert_true(truncated > 0 && read > 0); /* both kinds of position were tried */
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

static int setup(void **state)
{
    (void)state;
    if (hs_test_mkdtemp(root, sizeof(root), "snap") ||
        hs_test_mkdtemp(root2, sizeof(root2), "snap2"))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", root, root2);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_snapshot_and_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_archives_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_never_leave_the_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targets_import_list_and_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_collections_are_left_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_kept_for_change_readers_is_restored, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
