/*
 * test_applied.c: the applied clock (hs_db_applied_clock, hs_db_wait_applied).  The tracker on
 * its own (ranges ended out of order, abandoned ones, a merge's "+ 1", a restore's raise); the
 * engine's tick sites (upserts, deletes, payload updates, creates, drops) ending their clocks
 * on success and on failure; and writer threads on several collections, with creates and drops,
 * under injected I/O failures (log writes refused with ENOSPC or EIO, a rare failed fsync that
 * turns a collection read-only, failed creates) while a checker samples the applied clock: an
 * observer sees each change before it counts as applied, so a change observed at or below a
 * sampled applied clock is a violation; once the writers stop the applied clock is the node
 * clock (label concurrency: also under TSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "hs_test.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "applied"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static hs_db *open_db(const hs_io_ops *io)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.io = io;
    o.batch_interval_ms = 1;
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static int create(hs_db *db, const char *name, hs_error *err)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 4;
    c.metric = HS_METRIC_L2;
    return hs_collection_create(db, "t", name, &c, err);
}

/* ---- the tracker alone --------------------------------------------------------------------- */

static void test_out_of_order(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    uint64_t base = hs_db_clock(db), a, b, c;
    assert_int_equal(hs_db_applied_clock(db), base);
    assert_int_equal(hs_db_tick(db, NULL, HS_TICK_WRITE, 1, &a, NULL), HS_OK);
    assert_int_equal(hs_db_tick(db, NULL, HS_TICK_WRITE, 3, &b, NULL), HS_OK);
    assert_int_equal(hs_db_tick(db, NULL, HS_TICK_WRITE, 1, &c, NULL), HS_OK);
    assert_int_equal(a, base + 1);
    assert_int_equal(b, base + 2);
    assert_int_equal(c, base + 5);
    uint64_t none;
    assert_int_equal(hs_db_tick(db, NULL, HS_TICK_WRITE, 0, &none, NULL), HS_OK);
    assert_int_equal(hs_db_clock(db), base + 5);
    hs_db_tick_done(db, c, true);
    assert_int_equal(hs_db_applied_clock(db), base); /* a and b in flight below c */
    assert_int_equal(hs_db_wait_applied(db, base, 20), base); /* times out */
    hs_db_tick_done(db, a, true);
    assert_int_equal(hs_db_applied_clock(db), base + 1);
    hs_db_tick_done(db, b, false); /* abandoned: passed over */
    assert_int_equal(hs_db_applied_clock(db), base + 5);
    /* a merge: the leader's clock 1,000, the node clock becomes 1,001; only 1,000 is covered */
    assert_int_equal(hs_db_clock_merge(db, NULL, HS_TICK_WRITE, 1000, 1, NULL), HS_OK);
    assert_int_equal(hs_db_clock(db), 1001);
    assert_int_equal(hs_db_applied_clock(db), base + 5);
    hs_db_tick_done(db, 1000, true);
    assert_int_equal(hs_db_applied_clock(db), 1000);
    /* merge(r) with r below the node clock: C + 1 (B2.7) */
    assert_int_equal(hs_db_clock_merge(db, NULL, HS_TICK_WRITE, 1001, 1, NULL), HS_OK);
    assert_int_equal(hs_db_clock(db), 1002);
    hs_db_tick_done(db, 1001, true);
    /* a raise holds every value it passes over until it ends */
    uint64_t held;
    assert_int_equal(hs_db_clock_raise(db, 5000, &held, NULL), HS_OK);
    assert_int_equal(held, 1003);
    assert_int_equal(hs_db_tick(db, NULL, HS_TICK_WRITE, 1, &a, NULL), HS_OK);
    assert_int_equal(a, 5001);
    hs_db_tick_done(db, a, true);
    assert_int_equal(hs_db_applied_clock(db), 1001);
    hs_db_tick_done(db, held, true);
    assert_int_equal(hs_db_applied_clock(db), 5001);
    assert_int_equal(hs_db_clock_raise(db, 10, &held, NULL), HS_OK); /* below: nothing held */
    assert_int_equal(held, 0);
    hs_db_close(db, NULL);
}

/* A thread ends a tick after a while; another waits for it. */
typedef struct later {
    hs_db *db;
    uint64_t first;
} later;

static void *end_later(void *arg)
{
    later *l = arg;
    usleep(50 * 1000);
    hs_db_tick_done(l->db, l->first, true);
    return NULL;
}

static void test_wait(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    uint64_t base = hs_db_clock(db), a;
    assert_int_equal(hs_db_tick(db, NULL, HS_TICK_WRITE, 2, &a, NULL), HS_OK);
    later l = {db, a};
    pthread_t t;
    pthread_create(&t, NULL, end_later, &l);
    assert_int_equal(hs_db_wait_applied(db, base, 10000), base + 2);
    pthread_join(t, NULL);
    assert_int_equal(hs_db_wait_applied(db, base, 0), base + 2); /* no wait needed */
    hs_db_close(db, NULL);
}

/* ---- the engine's tick sites ---------------------------------------------------------------- */

static void test_sites(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    hs_error err;
    assert_int_equal(create(db, "a", &err), HS_OK);
    assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "a", &h, &err), HS_OK);
    double v[4] = {1, 2, 3, 4};
    hs_point p[3] = {{1, v, 4, NULL, 0, NULL, 0}, {2, v, 4, NULL, 0, NULL, 0},
                     {3, v, 4, NULL, 0, NULL, 0}};
    for (int d = HS_DURABILITY_ASYNC; d <= HS_DURABILITY_STRICT; d++) {
        assert_int_equal(hs_upsert(h, p, 3, (hs_durability)d, &err), HS_OK);
        assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    }
    uint64_t ids[2] = {1, 99};
    size_t deleted;
    assert_int_equal(hs_delete(h, ids, 2, HS_DURABILITY_BATCH, &deleted, &err), HS_OK);
    assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    hs_kv kv = {"k", 1, "v", 1, NULL};
    hs_payload_opts po;
    hs_payload_opts_init(&po);
    po.meta = &kv;
    po.nmeta = 1;
    uint64_t two = 2;
    po.ids = &two;
    po.nids = 1;
    hs_payload_result pr;
    assert_int_equal(hs_update_payload(h, &po, &pr, &err), HS_OK);
    assert_int_equal(pr.updated, 1);
    assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    /* a write refused before its tick (wrong dimension) ticks nothing */
    uint64_t before = hs_db_clock(db);
    hs_point bad = {7, v, 3, NULL, 0, NULL, 0};
    assert_int_equal(hs_upsert(h, &bad, 1, HS_DURABILITY_BATCH, &err), HS_EDIM);
    assert_int_equal(hs_db_clock(db), before);
    hs_collection_close(h);
    assert_int_equal(hs_collection_drop(db, "t", "a", &err), HS_OK);
    assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    assert_int_equal(create(db, "a", &err), HS_OK);
    assert_int_equal(create(db, "a", &err), HS_EEXIST); /* refused before a tick */
    assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    hs_db_close(db, NULL);
}

/* ---- writers under injected failures --------------------------------------------------------- */

/* POSIX with random failures while `armed`: a pwrite fails (ENOSPC or EIO) once in `pw`, an
 * fsync (EIO) once in `fs`; thread-safe (per-call random numbers from an atomic counter). */
typedef struct chaos_io {
    hs_io_ops ops;
    int armed;      /* atomic */
    uint64_t calls; /* atomic */
    unsigned pw, fs;
    uint64_t pwrite_failed, fsync_failed; /* atomic */
} chaos_io;

static chaos_io cio;

static uint64_t roll(void)
{
    uint64_t x = __atomic_add_fetch(&cio.calls, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

static int c_open(void *ctx, const char *path, int flags, unsigned mode)
{
    return hs_io_posix()->open(NULL, path, flags, mode);
}
static int c_close(void *ctx, int fd) { return hs_io_posix()->close(NULL, fd); }
static long c_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    return hs_io_posix()->pread(NULL, fd, buf, len, off);
}
static long c_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    if (__atomic_load_n(&cio.armed, __ATOMIC_RELAXED) && roll() % cio.pw == 0) {
        __atomic_add_fetch(&cio.pwrite_failed, 1, __ATOMIC_RELAXED);
        return roll() & 1 ? -ENOSPC : -EIO;
    }
    return hs_io_posix()->pwrite(NULL, fd, buf, len, off);
}
static int c_fsync(void *ctx, int fd)
{
    if (__atomic_load_n(&cio.armed, __ATOMIC_RELAXED) && roll() % cio.fs == 0) {
        __atomic_add_fetch(&cio.fsync_failed, 1, __ATOMIC_RELAXED);
        return -EIO;
    }
    return hs_io_posix()->fsync(NULL, fd);
}
static int c_ftruncate(void *ctx, int fd, uint64_t len)
{
    return hs_io_posix()->ftruncate(NULL, fd, len);
}
static int c_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    return hs_io_posix()->fallocate(NULL, fd, off, len);
}
static int c_size(void *ctx, int fd, uint64_t *len) { return hs_io_posix()->size(NULL, fd, len); }
static int c_rename(void *ctx, const char *a, const char *b)
{
    return hs_io_posix()->rename(NULL, a, b);
}
static int c_unlink(void *ctx, const char *p) { return hs_io_posix()->unlink(NULL, p); }
static int c_mkdir(void *ctx, const char *p, unsigned m)
{
    return hs_io_posix()->mkdir(NULL, p, m);
}
static int c_rmdir(void *ctx, const char *p) { return hs_io_posix()->rmdir(NULL, p); }
static int c_fsync_dir(void *ctx, const char *p) { return hs_io_posix()->fsync_dir(NULL, p); }
static int c_list(void *ctx, const char *d, int (*fn)(void *, const char *), void *arg)
{
    return hs_io_posix()->list(NULL, d, fn, arg);
}
static void *c_mmap(void *ctx, int fd, size_t len, int w)
{
    return hs_io_posix()->mmap(NULL, fd, len, w);
}
static int c_munmap(void *ctx, void *a, size_t len) { return hs_io_posix()->munmap(NULL, a, len); }
static int c_msync(void *ctx, void *a, size_t len) { return hs_io_posix()->msync(NULL, a, len); }

static void chaos_init(unsigned pw, unsigned fs)
{
    memset(&cio, 0, sizeof(cio));
    cio.ops = (hs_io_ops){&cio, c_open, c_close, c_pread, c_pwrite, c_fsync, c_ftruncate,
                          c_fallocate, c_size, c_rename, c_unlink, c_mkdir, c_rmdir,
                          c_fsync_dir, c_list, c_mmap, c_munmap, c_msync,
                          hs_io_posix()->writeback, hs_io_posix()->advise};
    cio.pw = pw;
    cio.fs = fs;
}

enum { NCOLL = 6, NWRITERS = 6, OPS = 400 };

typedef struct run {
    hs_db *db;
    uint64_t max_seen;  /* atomic: the highest applied clock a checker sampled */
    uint64_t violations; /* atomic */
    uint64_t observed;   /* atomic */
    uint64_t ok, failed; /* atomic: writes that succeeded / failed */
    int stop;            /* atomic */
} run;

static run R;

/* Called on apply, before the change's clock is ended: a sampled applied clock at or above it
 * would have passed a change not yet applied. */
static void observer(void *ctx, const char *tenant, const char *name, uint64_t clock)
{
    (void)ctx;
    (void)tenant;
    (void)name;
    __atomic_add_fetch(&R.observed, 1, __ATOMIC_RELAXED);
    if (clock <= __atomic_load_n(&R.max_seen, __ATOMIC_ACQUIRE))
        __atomic_add_fetch(&R.violations, 1, __ATOMIC_RELAXED);
}

static void *checker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&R.stop, __ATOMIC_ACQUIRE)) {
        uint64_t w = hs_db_applied_clock(R.db);
        uint64_t c = hs_db_clock(R.db);
        if (w > c)
            __atomic_add_fetch(&R.violations, 1, __ATOMIC_RELAXED);
        uint64_t m = __atomic_load_n(&R.max_seen, __ATOMIC_RELAXED);
        if (w < m)
            __atomic_add_fetch(&R.violations, 1, __ATOMIC_RELAXED); /* moved back */
        while (w > m && !__atomic_compare_exchange_n(&R.max_seen, &m, w, false,
                                                     __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            ;
        hs_db_wait_applied(R.db, w, 2);
    }
    return NULL;
}

static void count_err(int rc, const hs_error *err)
{
    if (rc != HS_OK && getenv("HS_TEST_VERBOSE"))
        fprintf(stderr, "FAIL %s %s\n", hs_rc_name(rc), err->message);
    __atomic_add_fetch(rc == HS_OK ? &R.ok : &R.failed, 1, __ATOMIC_RELAXED);
}

static void *writer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7919 + 17;
    char name[16];
    double v[4];
    for (int i = 0; i < OPS; i++) {
        uint64_t x = hs_test_xorshift(&seed);
        snprintf(name, sizeof(name), "c%d", (int)(x % NCOLL));
        int op = (int)((x >> 8) % 100);
        hs_error err;
        if (op < 2) {
            count_err(hs_collection_drop(R.db, "t", name, &err), &err);
            continue;
        }
        if (op < 5) {
            count_err(create(R.db, name, &err), &err);
            continue;
        }
        hs_collection *h;
        if (hs_collection_open(R.db, "t", name, &h, &err) != HS_OK)
            continue;
        hs_durability d = (hs_durability)(1 + (x >> 16) % 3);
        if (op < 70) {
            size_t n = 1 + (x >> 20) % 3;
            hs_point p[3];
            for (size_t j = 0; j < n; j++) {
                for (int k = 0; k < 4; k++)
                    v[k] = (double)((x >> (k * 8)) & 255);
                p[j] = (hs_point){(x >> 24) % 50 + j, v, 4, NULL, 0, NULL, 0};
            }
            count_err(hs_upsert(h, p, n, d, &err), &err);
        } else if (op < 90) {
            uint64_t id = (x >> 24) % 50;
            size_t del;
            count_err(hs_delete(h, &id, 1, d, &del, &err), &err);
        } else {
            hs_kv kv = {"k", 1, "v", 1, NULL};
            hs_payload_opts po;
            hs_payload_opts_init(&po);
            po.meta = &kv;
            po.nmeta = 1;
            uint64_t id = (x >> 24) % 50;
            po.ids = &id;
            po.nids = 1;
            po.durability = d;
            hs_payload_result pr;
            count_err(hs_update_payload(h, &po, &pr, &err), &err);
        }
        hs_collection_close(h);
    }
    return NULL;
}

static void test_writers_under_faults(void **state)
{
    (void)state;
    chaos_init(40, 400);
    memset(&R, 0, sizeof(R));
    R.db = open_db(&cio.ops);
    hs_db_set_change_observer(R.db, observer, NULL);
    hs_error err;
    for (int i = 0; i < NCOLL; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        assert_int_equal(create(R.db, name, &err), HS_OK);
    }
    __atomic_store_n(&cio.armed, 1, __ATOMIC_RELAXED);
    pthread_t chk, w[NWRITERS];
    pthread_create(&chk, NULL, checker, NULL);
    for (uintptr_t i = 0; i < NWRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(i + 1));
    for (int i = 0; i < NWRITERS; i++)
        pthread_join(w[i], NULL);
    __atomic_store_n(&R.stop, 1, __ATOMIC_RELEASE);
    pthread_join(chk, NULL);
    __atomic_store_n(&cio.armed, 0, __ATOMIC_RELAXED);
    print_message("writes ok %llu failed %llu, observed %llu, pwrite faults %llu, fsync faults "
                  "%llu\n", (unsigned long long)R.ok, (unsigned long long)R.failed,
                  (unsigned long long)R.observed, (unsigned long long)cio.pwrite_failed,
                  (unsigned long long)cio.fsync_failed);
    assert_int_equal(R.violations, 0);
    assert_true(R.ok > 100);
    assert_true(R.failed > 10);
    assert_true(cio.pwrite_failed > 10);
    /* every clock handed out ended: the applied clock is the node clock */
    assert_int_equal(hs_db_applied_clock(R.db), hs_db_clock(R.db));
    assert_int_equal(hs_db_wait_applied(R.db, hs_db_clock(R.db) - 1, 0), hs_db_clock(R.db));
    hs_db_set_change_observer(R.db, NULL, NULL);
    hs_db_close(R.db, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writers_under_faults, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
