/*
 * test_wal.c: the write-ahead log: round trip, truncation at every byte offset (the recovered
 * records are exactly the complete prefix), a flipped bit in the middle is refused with file and
 * offset, garbage tails are cut, rotation and removal, ENOSPC / EIO / short writes remove the
 * partial record, a failed fsync makes the log read-only, group commit bounds the fsync count.
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
#include <sys/stat.h>
#include <unistd.h>

#include "fault_io.h"
#include "storage/storage.h"
#include "util/util.h"

#define NREC 24

typedef struct seen {
    size_t n;
    uint64_t lsn[4096];
    size_t len[4096];
    int bad;
} seen;

static int collect(void *ctx, const hs_wal_record *r)
{
    seen *s = ctx;
    /* payload i is (lsn * 7) repeated, length lsn % 50 + 1 */
    if (r->len != r->lsn % 50 + 1 || r->type != (uint8_t)(r->lsn & 0xff))
        s->bad++;
    for (size_t i = 0; i < r->len; i++)
        if (r->payload[i] != (uint8_t)(r->lsn * 7))
            s->bad++;
    if (s->n < 4096) {
        s->lsn[s->n] = r->lsn;
        s->len[s->n] = r->len;
    }
    s->n++;
    return 0;
}

static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/hs-test-wal-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static int append_lsn(hs_wal *w, uint64_t lsn, hs_error *err)
{
    uint8_t buf[HS_WAL_HEADER + 64];
    size_t len = lsn % 50 + 1;
    memset(buf + HS_WAL_HEADER, (uint8_t)(lsn * 7), len);
    uint64_t t;
    return hs_wal_append(w, (uint8_t)(lsn & 0xff), lsn, buf, len, &t, err);
}

static hs_wal *open_wal(const char *dir, const hs_io_ops *io, seen *s, hs_error *err, int *rc)
{
    hs_wal_opts o;
    hs_wal_opts_init(&o);
    if (io)
        o.io = io;
    hs_wal *w = NULL;
    memset(s, 0, sizeof(*s));
    *rc = hs_wal_open(dir, &o, (hs_wal_pos){0, 0}, collect, s, &w, err);
    return w;
}

static void write_records(const char *dir, size_t n)
{
    seen s;
    int rc;
    hs_error err;
    hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
    assert_int_equal(rc, HS_OK);
    for (uint64_t i = 1; i <= n; i++)
        assert_int_equal(append_lsn(w, i, &err), HS_OK);
    hs_wal_close(w);
}

static void seg_file(const char *dir, char *path, size_t len)
{
    snprintf(path, len, "%s/%016x.wal", dir, 1);
}

static void test_round_trip(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    write_records(dir, NREC);
    seen s;
    int rc;
    hs_error err;
    hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(s.n, NREC);
    assert_int_equal(s.bad, 0);
    for (size_t i = 0; i < NREC; i++)
        assert_int_equal(s.lsn[i], i + 1);
    /* appends continue after the replayed records */
    assert_int_equal(append_lsn(w, NREC + 1, &err), HS_OK);
    hs_wal_close(w);
    w = open_wal(dir, NULL, &s, &err, &rc);
    assert_int_equal(s.n, NREC + 1);
    hs_wal_close(w);
    hs_remove_tree(hs_io_posix(), dir);
}

/* Record boundaries of the segment written by write_records. */
static size_t record_end(size_t k)
{
    size_t off = HS_WAL_SEG_HEADER;
    for (uint64_t i = 1; i <= k; i++)
        off += HS_WAL_HEADER + i % 50 + 1;
    return off;
}

static void test_truncate_every_offset(void **state)
{
    (void)state;
    char dir[64], path[128];
    make_dir(dir, sizeof(dir));
    write_records(dir, NREC);
    seg_file(dir, path, sizeof(path));
    struct stat st;
    stat(path, &st);
    size_t full = (size_t)st.st_size;
    assert_int_equal(full, record_end(NREC));
    unsigned char *orig = malloc(full);
    FILE *fp = fopen(path, "rb");
    assert_int_equal(fread(orig, 1, full, fp), full);
    fclose(fp);
    for (size_t cut = 0; cut <= full; cut++) {
        fp = fopen(path, "wb");
        fwrite(orig, 1, cut, fp);
        fclose(fp);
        size_t complete = 0;
        while (complete < NREC && record_end(complete + 1) <= cut)
            complete++;
        seen s;
        int rc;
        hs_error err;
        hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
        assert_int_equal(rc, HS_OK);
        if (s.n != complete || s.bad)
            fail_msg("cut at %zu: replayed %zu records, expected %zu", cut, s.n, complete);
        /* the log is writable and the next record lands after the prefix */
        assert_int_equal(append_lsn(w, complete + 1, &err), HS_OK);
        hs_wal_close(w);
        w = open_wal(dir, NULL, &s, &err, &rc);
        assert_int_equal(rc, HS_OK);
        assert_int_equal(s.n, complete + 1);
        hs_wal_close(w);
    }
    free(orig);
    hs_remove_tree(hs_io_posix(), dir);
}

static void test_bit_flip_in_middle(void **state)
{
    (void)state;
    char dir[64], path[128];
    make_dir(dir, sizeof(dir));
    write_records(dir, NREC);
    seg_file(dir, path, sizeof(path));
    size_t full = record_end(NREC);
    unsigned char *orig = malloc(full);
    FILE *fp = fopen(path, "rb");
    assert_int_equal(fread(orig, 1, full, fp), full);
    fclose(fp);
    /* every byte of every record but the last: flipping a bit there is corruption */
    size_t refused = 0, tried = 0;
    for (size_t off = HS_WAL_SEG_HEADER; off < record_end(NREC - 1); off += 3) {
        unsigned char *copy = malloc(full);
        memcpy(copy, orig, full);
        copy[off] ^= (unsigned char)(1u << (off % 8));
        fp = fopen(path, "wb");
        fwrite(copy, 1, full, fp);
        fclose(fp);
        free(copy);
        seen s;
        int rc;
        hs_error err = {0};
        hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
        tried++;
        if (rc == HS_ECORRUPT) {
            refused++;
            assert_non_null(strstr(err.message, "0000000000000001.wal"));
            assert_non_null(strstr(err.message, "offset"));
        } else {
            fail_msg("flip at %zu: open returned %d after %zu records", off, rc, s.n);
        }
        assert_null(w);
    }
    assert_int_equal(refused, tried);
    /* the file is untouched by a refused open: restoring the byte makes it whole again */
    fp = fopen(path, "wb");
    fwrite(orig, 1, full, fp);
    fclose(fp);
    seen s;
    int rc;
    hs_error err;
    hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(s.n, NREC);
    hs_wal_close(w);
    free(orig);
    hs_remove_tree(hs_io_posix(), dir);
}

static void test_garbage_tail(void **state)
{
    (void)state;
    char dir[64], path[128];
    make_dir(dir, sizeof(dir));
    write_records(dir, NREC);
    seg_file(dir, path, sizeof(path));
    for (int kind = 0; kind < 2; kind++) {
        FILE *fp = fopen(path, "ab");
        hs_rng r;
        hs_rng_seed(&r, (uint64_t)kind + 5);
        for (int i = 0; i < 5000; i++)
            fputc(kind == 0 ? 0 : (int)(hs_rng_next(&r) & 0xff), fp);
        fclose(fp);
        seen s;
        int rc;
        hs_error err;
        hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
        assert_int_equal(rc, HS_OK);
        assert_int_equal(s.n, NREC);
        hs_wal_close(w);
        struct stat st;
        stat(path, &st);
        assert_int_equal((size_t)st.st_size, record_end(NREC));
    }
    hs_remove_tree(hs_io_posix(), dir);
}

static void test_rotate_and_remove(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    seen s;
    int rc;
    hs_error err;
    hs_wal *w = open_wal(dir, NULL, &s, &err, &rc);
    for (uint64_t i = 1; i <= 10; i++)
        append_lsn(w, i, &err);
    hs_wal_pos start;
    assert_int_equal(hs_wal_rotate(w, &start, &err), HS_OK);
    assert_int_equal(start.seg, 2);
    for (uint64_t i = 11; i <= 20; i++)
        append_lsn(w, i, &err);
    hs_wal_close(w);
    /* replay from the rotation point sees only the second half */
    hs_wal_opts o;
    hs_wal_opts_init(&o);
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_wal_open(dir, &o, start, collect, &s, &w, &err), HS_OK);
    assert_int_equal(s.n, 10);
    assert_int_equal(s.lsn[0], 11);
    assert_int_equal(hs_wal_remove_before(w, start, &err), HS_OK);
    hs_wal_close(w);
    char old[128];
    seg_file(dir, old, sizeof(old));
    assert_int_equal(access(old, F_OK), -1);
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_wal_open(dir, &o, (hs_wal_pos){0, 0}, collect, &s, &w, &err), HS_OK);
    assert_int_equal(s.n, 10);
    hs_wal_close(w);
    /* segments roll over by size */
    o.segment_bytes = 256;
    assert_int_equal(hs_wal_open(dir, &o, (hs_wal_pos){0, 0}, NULL, NULL, &w, &err), HS_OK);
    for (uint64_t i = 21; i <= 60; i++)
        assert_int_equal(append_lsn(w, i, &err), HS_OK);
    assert_true(hs_wal_end(w).seg > 4);
    hs_wal_close(w);
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_wal_open(dir, &o, (hs_wal_pos){0, 0}, collect, &s, &w, &err), HS_OK);
    assert_int_equal(s.n, 50);
    assert_int_equal(s.bad, 0);
    hs_wal_close(w);
    hs_remove_tree(hs_io_posix(), dir);
}

static void test_write_errors(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    fault_io f;
    fault_io_init(&f);
    seen s;
    int rc;
    hs_error err;
    hs_wal *w = open_wal(dir, &f.ops, &s, &err, &rc);
    assert_int_equal(append_lsn(w, 1, &err), HS_OK);
    f.fail_pwrite_at = 1;
    f.pwrite_errno = ENOSPC;
    assert_int_equal(append_lsn(w, 2, &err), HS_ENOSPC);
    assert_non_null(strstr(err.message, "No space"));
    f.short_writes = 1;
    assert_int_equal(append_lsn(w, 2, &err), HS_EIO);
    f.short_writes = 0;
    /* still writable, and nothing of the failed attempts remains */
    assert_int_equal(append_lsn(w, 2, &err), HS_OK);
    assert_int_equal(hs_wal_sync(w, &err), HS_OK); /* records 1 and 2 are durable */
    uint64_t t;
    uint8_t buf[HS_WAL_HEADER + 8];
    memset(buf + HS_WAL_HEADER, (uint8_t)(3 * 7), 4);
    assert_int_equal(hs_wal_append(w, 3, 3, buf, 4, &t, &err), HS_OK);
    f.fail_fsync_at = 1;
    f.fsync_errno = EIO;
    assert_int_equal(hs_wal_wait(w, t, HS_DURABILITY_STRICT, &err), HS_EIO);
    assert_true(hs_wal_failed(w));
    assert_int_equal(append_lsn(w, 4, &err), HS_EREADONLY);
    hs_wal_close(w);
    /* the refused record 3 was cut from the file: a restart does not replay it */
    w = open_wal(dir, NULL, &s, &err, &rc);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(s.n, 2);
    hs_wal_close(w);
    hs_remove_tree(hs_io_posix(), dir);
}

typedef struct group_arg {
    hs_wal *w;
    int id;
    int rc;
} group_arg;

static void *batch_writer(void *p)
{
    group_arg *a = p;
    hs_error err;
    for (int i = 0; i < 50 && a->rc == HS_OK; i++) {
        uint8_t buf[HS_WAL_HEADER + 16];
        memset(buf + HS_WAL_HEADER, 0, 16);
        uint64_t t;
        a->rc = hs_wal_append(a->w, 1, 1, buf, 16, &t, &err);
        if (a->rc == HS_OK)
            a->rc = hs_wal_wait(a->w, t, HS_DURABILITY_BATCH, &err);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    fault_io f;
    fault_io_init(&f);
    hs_wal_opts o;
    hs_wal_opts_init(&o);
    o.io = &f.ops;
    o.batch_interval_ms = 20;
    hs_wal *w;
    hs_error err;
    assert_int_equal(hs_wal_open(dir, &o, (hs_wal_pos){0, 0}, NULL, NULL, &w, &err), HS_OK);
    unsigned long before = f.fsyncs;
    uint64_t t0 = hs_now_ns();
    pthread_t th[8];
    group_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (group_arg){w, i, HS_OK};
        pthread_create(&th[i], NULL, batch_writer, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].rc, HS_OK);
    }
    double ms = (double)(hs_now_ns() - t0) / 1e6;
    unsigned long syncs = f.fsyncs - before;
    print_message("400 BATCH writes from 8 threads: %lu fsyncs in %.0f ms\n", syncs, ms);
    /* at most one fsync per interval (plus the first, which starts at once) */
    assert_true(syncs <= (unsigned long)(ms / 20.0) + 2);
    assert_true(syncs < 400);
    hs_wal_close(w);
    hs_remove_tree(hs_io_posix(), dir);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    uint8_t buf[64] = {0};
    hs_wal_record r;
    assert_int_equal(hs_wal_decode(buf, 10, &r), HS_EINVAL);
    buf[0] = 200; /* longer than available */
    assert_int_equal(hs_wal_decode(buf, 64, &r), HS_EINVAL);
    buf[0] = 4;
    assert_int_equal(hs_wal_decode(buf, 64, &r), HS_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_truncate_every_offset),
        cmocka_unit_test(test_bit_flip_in_middle), cmocka_unit_test(test_garbage_tail),
        cmocka_unit_test(test_rotate_and_remove), cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_group_commit),     cmocka_unit_test(test_decode_rejects),
    };
    return cmocka_run_group_tests_name("wal", tests, NULL, NULL);
}
