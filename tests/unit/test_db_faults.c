/*
 * test_db_faults.c: I/O faults at the database level, through the fault-injecting file layer:
 * a full disk while logging or while growing the vector files, a failed fsync (the collection
 * turns read-only, reads keep working, a restart recovers every acknowledged write), a failed
 * checkpoint, and corrupt files on disk (the collection is quarantined with a message naming
 * the file; the others keep working; drop still works).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault_io.h"
#include "hyperspace.h"
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
    hs_collection_stats_of(h, &st);
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
    /* the first segment grows in 1 MiB steps: fill it until the next growth fails */
    fio.fail_fallocate_at = 1;
    fio.fallocate_errno = ENOSPC;
    int rc = HS_OK;
    uint64_t id = 2;
    for (; id < 200000 && rc == HS_OK; id++)
        rc = put(h, id, HS_DURABILITY_ASYNC, &err);
    assert_int_equal(rc, HS_ENOSPC);
    assert_non_null(strstr(err.message, "No space left on device while writing collection 'v'"));
    uint64_t before = count(h);
    assert_int_equal(before, id - 2); /* everything but the failed point */
    fio.fail_fallocate_at = 0;
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
    hs_collection_stats_of(h, &st);
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
    char cmd[256], name[128], path[512];
    snprintf(cmd, sizeof(cmd), "ls %s/default_admin/bad | grep '^checkpoint-' | tail -1", root);
    FILE *ls = popen(cmd, "r");
    assert_non_null(fgets(name, sizeof(name), ls));
    pclose(ls);
    name[strcspn(name, "\n")] = 0;
    snprintf(path, sizeof(path), "%s/default_admin/bad/%s", root, name);
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
    char path[512];
    snprintf(path, sizeof(path), "%s/default_admin/w/wal/0000000000000001.wal", root);
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
        cmocka_unit_test_setup_teardown(test_checkpoint_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_quarantines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_corruption_in_the_middle, setup, teardown),
    };
    return cmocka_run_group_tests_name("db faults", tests, NULL, NULL);
}
