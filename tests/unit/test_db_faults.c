/*
 * test_db_faults.c: I/O faults at the database level, through the fault-injecting file layer:
 * a full disk while logging or while growing the vector files, a failed fsync (the collection
 * turns read-only, reads keep working, a restart recovers every acknowledged write), a refused
 * write or delete that no reader ever sees (not while it waits for its fsync, not after the
 * failure, not after a restart), a log line for every collection that turns read-only, a failed
 * checkpoint, and corrupt files on disk (the collection is quarantined with a message naming
 * the file; the others keep working; drop still works).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_io.h"
#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

static char root[64];
static fault_io fio;

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-faults-XXXXXX");
    assert_non_null(mkdtemp(root));
    fault_io_init(&fio);
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
    o.io = io;
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static hs_collection *make(hs_db *db, const char *name)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 4;
    c.metric = HS_METRIC_L2;
    hs_error err;
    hs_collection_create(db, "default_admin", name, &c, &err);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "default_admin", name, &h, &err), HS_OK);
    return h;
}

static int put(hs_collection *h, uint64_t id, hs_durability d, hs_error *err)
{
    double v[4] = {(double)id, 1, 2, 3};
    hs_point p = {id, v, 4, NULL, 0};
    return hs_upsert(h, &p, 1, d, err);
}

static uint64_t count(hs_collection *h)
{
    hs_collection_stats st;
    hs_coll_stats_of(h, &st);
    return st.count;
}

static void test_disk_full_on_log(void **state)
{
    (void)state;
    hs_db *db = open_db(&fio.ops);
    hs_collection *h = make(db, "c");
    hs_error err;
    assert_int_equal(put(h, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    fio.fail_pwrite_at = 1;
    fio.pwrite_errno = ENOSPC;
    assert_int_equal(put(h, 2, HS_DURABILITY_STRICT, &err), HS_ENOSPC);
    assert_string_equal(err.message, "No space left on device while writing collection 'c'");
    assert_int_equal(count(h), 1);
    assert_int_equal(hs_get(h, 2, NULL, NULL, NULL, &err), HS_ENOTFOUND);
    /* space is back: writes resume */
    assert_int_equal(put(h, 3, HS_DURABILITY_STRICT, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = make(db, "c");
    assert_int_equal(count(h), 2);
    assert_int_equal(hs_get(h, 2, NULL, NULL, NULL, &err), HS_ENOTFOUND);
    assert_int_equal(hs_get(h, 3, NULL, NULL, NULL, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_disk_full_on_vectors(void **state)
{
    (void)state;
    hs_db *db = open_db(&fio.ops);
    hs_collection *h = make(db, "v");
    hs_error err;
    assert_int_equal(put(h, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    /* the disk is full: the vector file grows (it doubles from a page) until it cannot */
    fio.disk_full = 1;
    int rc = HS_OK;
    uint64_t id = 2;
    for (; id < 200000 && rc == HS_OK; id++)
        rc = put(h, id, HS_DURABILITY_ASYNC, &err);
    assert_int_equal(rc, HS_ENOSPC);
    assert_non_null(strstr(err.message, "No space left on device while writing collection 'v'"));
    uint64_t before = count(h);
    assert_int_equal(before, id - 2); /* everything but the failed point */
    fio.disk_full = 0;
    assert_int_equal(put(h, id, HS_DURABILITY_STRICT, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = make(db, "v");
    assert_int_equal(count(h), before + 1);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_fsync_failure_is_final(void **state)
{
    (void)state;
    hs_db *db = open_db(&fio.ops);
    hs_collection *h = make(db, "f");
    hs_error err;
    assert_int_equal(put(h, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    fio.fail_fsync_at = 1;
    fio.fsync_errno = EIO;
    assert_int_equal(put(h, 2, HS_DURABILITY_STRICT, &err), HS_EIO);
    assert_non_null(strstr(err.message, "WAL Error: fsync failed"));
    /* never retried, never pretended: every later write is refused, reads work */
    assert_int_equal(put(h, 3, HS_DURABILITY_ASYNC, &err), HS_EREADONLY);
    assert_non_null(strstr(err.message, "Collection 'f' is read-only after a WAL fsync failure"));
    uint64_t del = 1;
    assert_int_equal(hs_delete(h, &del, 1, 0, NULL, &err), HS_EREADONLY);
    assert_int_equal(hs_get(h, 1, NULL, NULL, NULL, &err), HS_OK);
    hs_collection_stats st;
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.read_only, 1);
    /* other collections are unaffected */
    hs_collection *g = make(db, "g");
    assert_int_equal(put(g, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    hs_collection_close(g);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    /* a restart clears it; the acknowledged write is there */
    db = open_db(NULL);
    h = make(db, "f");
    assert_int_equal(hs_get(h, 1, NULL, NULL, NULL, &err), HS_OK);
    assert_int_equal(put(h, 4, HS_DURABILITY_STRICT, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* ---- refused writes ---------------------------------------------------------------------- */

#define BASE 10     /* durable points 1..BASE */
#define REFUSED 100 /* the refused batch: ids 100..199 */

typedef struct watch {
    hs_collection *h;
    int done;       /* atomic: the main thread is finished */
    int after;      /* atomic: the failure happened; iterations since are counted */
    int iterations; /* atomic */
    int seen;       /* atomic: times a reader saw the refused batch (or lost a point) */
} watch;

/* Every way of reading the collection: the refused batch is never there, the durable points
 * always are. */
static int sees_refused(hs_collection *h)
{
    hs_error err;
    uint64_t n = 0;
    int bad = hs_test_count(h, NULL, NULL, &n, &err) != HS_OK || n != BASE;
    hs_collection_stats st;
    bad |= hs_coll_stats_of(h, &st) != HS_OK || st.count != BASE;
    bad |= hs_get(h, 150, NULL, NULL, NULL, &err) != HS_ENOTFOUND;
    bad |= hs_get(h, 5, NULL, NULL, NULL, &err) != HS_OK;
    double q[4] = {150, 1, 2, 3};
    hs_search_opts o;
    hs_search_opts_init(&o);
    o.k = 20;
    hs_hit out[20];
    size_t k = 0;
    bad |= hs_search(h, q, 4, &o, out, &k, &err) != HS_OK || k != BASE;
    for (size_t i = 0; i < k; i++)
        bad |= out[i].id >= REFUSED;
    return bad;
}

static void *reader(void *arg)
{
    watch *w = arg;
    while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
        if (sees_refused(w->h))
            __atomic_fetch_add(&w->seen, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&w->after, __ATOMIC_ACQUIRE))
            __atomic_fetch_add(&w->iterations, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void test_refused_write_never_visible(void **state)
{
    (void)state;
    hs_db *db = open_db(&fio.ops);
    hs_collection *h = make(db, "r"), *d = make(db, "d");
    hs_error err;
    for (uint64_t id = 1; id <= BASE; id++) {
        assert_int_equal(put(h, id, HS_DURABILITY_STRICT, &err), HS_OK);
        assert_int_equal(put(d, id, HS_DURABILITY_STRICT, &err), HS_OK);
    }
    watch w = {h, 0, 0, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader, &w), 0);
    /* the batch's fsync fails: it is refused, and readers never saw it meanwhile */
    hs_point pts[REFUSED];
    double v[REFUSED][4];
    for (int i = 0; i < REFUSED; i++) {
        uint64_t id = REFUSED + (uint64_t)i;
        v[i][0] = (double)id, v[i][1] = 1, v[i][2] = 2, v[i][3] = 3;
        pts[i] = (hs_point){id, v[i], 4, NULL, 0};
    }
    fio.fail_fsync_at = 1;
    fio.fsync_errno = EIO;
    assert_int_equal(hs_upsert(h, pts, REFUSED, HS_DURABILITY_STRICT, &err), HS_EIO);
    __atomic_store_n(&w.after, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&w.iterations, __ATOMIC_ACQUIRE) < 50)
        sched_yield(); /* the reader keeps looking after the failure too */
    __atomic_store_n(&w.done, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    assert_int_equal(w.seen, 0);
    assert_false(sees_refused(h));
    hs_collection_stats st;
    hs_coll_stats_of(h, &st);
    assert_int_equal(st.read_only, 1);
    /* a refused delete: the point stays */
    uint64_t del = 5;
    fio.fail_fsync_at = 1;
    assert_int_equal(hs_delete(d, &del, 1, HS_DURABILITY_STRICT, NULL, &err), HS_EIO);
    assert_int_equal(hs_get(d, 5, NULL, NULL, NULL, &err), HS_OK);
    assert_int_equal(count(d), BASE);
    hs_collection_close(h);
    hs_collection_close(d);
    hs_db_close(db, NULL);
    /* after a restart: the same (the refused records were cut from the log) */
    db = open_db(NULL);
    h = make(db, "r");
    d = make(db, "d");
    assert_false(sees_refused(h));
    assert_int_equal(hs_get(d, 5, NULL, NULL, NULL, &err), HS_OK);
    assert_int_equal(count(d), BASE);
    assert_int_equal(put(h, 500, HS_DURABILITY_STRICT, &err), HS_OK); /* writable again */
    hs_collection_close(h);
    hs_collection_close(d);
    hs_db_close(db, NULL);
}

/* ---- every collection that turns read-only says so -------------------------------------- */

static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[8192];

static void keep_line(void *ctx, hs_log_level level, const char *message)
{
    (void)ctx;
    (void)level;
    pthread_mutex_lock(&lines_lock);
    size_t n = strlen(lines);
    snprintf(lines + n, sizeof(lines) - n, "%s\n", message);
    pthread_mutex_unlock(&lines_lock);
}

static void test_every_read_only_collection_logs(void **state)
{
    (void)state;
    lines[0] = 0;
    hs_log_set_sink(keep_line, NULL, HS_LOG_ERROR);
    hs_db *db = open_db(&fio.ops);
    hs_collection *f = make(db, "f"), *g = make(db, "g");
    hs_error err;
    assert_int_equal(put(f, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    assert_int_equal(put(g, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    assert_int_equal(put(g, 2, HS_DURABILITY_ASYNC, &err), HS_OK);
    /* f: a write's fsync fails; g: its checkpoint's log rotation fsync fails */
    fio.fail_fsync_at = 1;
    fio.fsync_errno = EIO;
    assert_int_equal(put(f, 2, HS_DURABILITY_STRICT, &err), HS_EIO);
    fio.fail_fsync_at = 1;
    assert_int_not_equal(hs_collection_checkpoint(g, &err), HS_OK);
    hs_collection_stats st;
    hs_coll_stats_of(f, &st);
    assert_int_equal(st.read_only, 1);
    hs_coll_stats_of(g, &st);
    assert_int_equal(st.read_only, 1);
    assert_int_equal(put(g, 3, HS_DURABILITY_ASYNC, &err), HS_EREADONLY);
    assert_non_null(strstr(err.message, "fsync failed"));
    hs_log_set_sink(NULL, NULL, HS_LOG_ERROR);
    assert_non_null(strstr(lines, "collection 'f' (tenant 'default_admin') is read-only"));
    assert_non_null(strstr(lines, "collection 'g' (tenant 'default_admin') is read-only"));
    hs_collection_close(f);
    hs_collection_close(g);
    hs_db_close(db, NULL);
}

static void test_checkpoint_failure(void **state)
{
    (void)state;
    hs_db *db = open_db(&fio.ops);
    hs_collection *h = make(db, "k");
    hs_error err;
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(put(h, i, HS_DURABILITY_BATCH, &err), HS_OK);
    fio.fail_pwrite_at = 2; /* the first checkpoint section */
    fio.pwrite_errno = EIO;
    assert_int_not_equal(hs_collection_checkpoint(h, &err), HS_OK);
    assert_int_equal(put(h, 100, HS_DURABILITY_STRICT, &err), HS_OK); /* still writable */
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(NULL);
    h = make(db, "k");
    assert_int_equal(count(h), 101);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void flip_byte(const char *path, long off)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, off, off < 0 ? SEEK_END : SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, -1, SEEK_CUR);
    fputc(ch ^ 0x10, fp);
    fclose(fp);
}

static void test_corruption_quarantines(void **state)
{
    (void)state;
    hs_db *db = open_db(NULL);
    hs_collection *h = make(db, "bad"), *g = make(db, "good");
    hs_error err;
    for (uint64_t i = 0; i < 50; i++) {
        put(h, i, HS_DURABILITY_ASYNC, &err);
        put(g, i, HS_DURABILITY_ASYNC, &err);
    }
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    for (uint64_t i = 50; i < 60; i++)
        put(h, i, HS_DURABILITY_ASYNC, &err);
    hs_collection_close(h);
    hs_collection_close(g);
    hs_db_close(db, NULL);
    /* a flipped bit inside the checkpoint's last section */
    char cmd[512], name[128], path[600], dir[400];
    hs_test_coll_dir(dir, sizeof(dir), root, "default_admin", "bad");
    snprintf(cmd, sizeof(cmd), "ls %s | grep '^checkpoint-' | tail -1", dir);
    FILE *ls = popen(cmd, "r");
    assert_non_null(fgets(name, sizeof(name), ls));
    pclose(ls);
    name[strcspn(name, "\n")] = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    flip_byte(path, -8);
    db = open_db(NULL);
    h = make(db, "bad");
    assert_int_equal(hs_get(h, 1, NULL, NULL, NULL, &err), HS_ELOAD);
    assert_non_null(strstr(err.message, "Collection 'bad' failed to load"));
    assert_non_null(strstr(err.message, name));
    assert_non_null(strstr(err.message, "checksum mismatch"));
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "default_admin", "bad", &st, &err), HS_OK);
    assert_true(strlen(st.error) > 0);
    g = make(db, "good");
    assert_int_equal(hs_get(g, 1, NULL, NULL, NULL, &err), HS_OK);
    hs_collection_close(h);
    hs_collection_close(g);
    assert_int_equal(hs_collection_drop(db, "default_admin", "bad", &err), HS_OK);
    hs_db_close(db, NULL);
}

static void test_wal_corruption_in_the_middle(void **state)
{
    (void)state;
    /* a child writes and dies without its final checkpoint: the log holds the records */
    pid_t pid = fork();
    if (pid == 0) {
        hs_db *db = open_db(NULL);
        hs_collection *h = make(db, "w");
        hs_error err;
        for (uint64_t i = 0; i < 40; i++)
            put(h, i, HS_DURABILITY_STRICT, &err);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    char path[512], dir[400];
    hs_test_coll_dir(dir, sizeof(dir), root, "default_admin", "w");
    snprintf(path, sizeof(path), "%s/0000000000000001.wal", dir);
    /* the 3rd record of 40: a flipped bit with valid records after it is corruption */
    long rec = 17 + 4 + 8 + 4 + 4 * 4 + 4; /* header + one-point upsert payload */
    flip_byte(path, 32 + 32 + 2 * rec + 25);
    hs_db *db = open_db(NULL);
    hs_collection *h = make(db, "w");
    hs_error err;
    assert_int_equal(hs_get(h, 1, NULL, NULL, NULL, &err), HS_ELOAD);
    assert_non_null(strstr(err.message, "0000000000000001.wal: corrupt record at offset"));
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

int main(void)
{
    hs_log_set_sink(NULL, NULL, HS_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disk_full_on_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_on_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure_is_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_write_never_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_read_only_collection_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_quarantines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_corruption_in_the_middle, setup, teardown),
    };
    return cmocka_run_group_tests_name("db faults", tests, NULL, NULL);
}
