/*
 * test_archive.c: the snapshot archive container (storage/archive.c): a round trip of entries of
 * every size class (empty, one byte, several read chunks) with the manifest's description; a
 * flipped bit at every byte of an archive and a cut at every length are refused (and so are
 * bytes after the end); the manifest read alone (hs_archive_peek) agrees with a full read and
 * refuses the same damage to the parts it reads; a visitor that refuses an entry stops the read;
 * the writer refuses misuse (wrong lengths, an entry left open, kind 0, bad names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"
#include "util/util.h"

/* ---- an in-memory sink and source ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    size_t at;   /* source position */
    size_t step; /* source: at most this many bytes per call (0: all) */
} buf;

static int sink(void *ctx, const void *data, size_t len)
{
    buf *b = ctx;
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

static long source(void *ctx, void *out, size_t cap)
{
    buf *b = ctx;
    size_t k = b->n - b->at < cap ? b->n - b->at : cap;
    if (b->step && k > b->step)
        k = b->step;
    memcpy(out, b->p + b->at, k);
    b->at += k;
    return (long)k;
}

static long pread_buf(void *ctx, void *out, size_t len, uint64_t off)
{
    buf *b = ctx;
    if (off > b->n)
        return 0;
    size_t k = b->n - off < len ? b->n - (size_t)off : len;
    memcpy(out, b->p + off, k);
    return (long)k;
}

/* ---- a visitor that keeps what it was given ---- */

typedef struct got {
    size_t n;
    hs_archive_entry e[16];
    uint8_t *data[16];
    size_t len[16];
    int refuse_kind; /* begin refuses this kind */
    size_t ends;
} got;

static int v_begin(void *ctx, const hs_archive_entry *e, hs_error *err)
{
    got *g = ctx;
    (void)err;
    if (e->kind == g->refuse_kind)
        return HS_EINVAL;
    assert_true(g->n < 16);
    g->e[g->n] = *e;
    g->data[g->n] = malloc(e->len + 1);
    g->len[g->n] = 0;
    g->n++;
    return 0;
}

static int v_data(void *ctx, const void *data, size_t len, hs_error *err)
{
    got *g = ctx;
    (void)err;
    memcpy(g->data[g->n - 1] + g->len[g->n - 1], data, len);
    g->len[g->n - 1] += len;
    return 0;
}

static int v_end(void *ctx, const hs_archive_entry *e, hs_error *err)
{
    got *g = ctx;
    (void)err;
    assert_int_equal(e->offset, g->e[g->n - 1].offset);
    assert_int_equal(g->len[g->n - 1], e->len); /* every byte arrived before the end */
    g->ends++;
    return 0;
}

static void got_free(got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->data[i]);
    memset(g, 0, sizeof(*g));
}

/* The entries of the sample archive: sizes 0, 1, 1000, 200000 (several 64 KiB chunks). */
static const size_t sizes[] = {0, 1, 1000, 200000};

static uint8_t byte_at(size_t entry, size_t i) { return (uint8_t)(entry * 31 + i * 7 + (i >> 9)); }

static void write_sample(buf *b, size_t nentries, const size_t *len)
{
    hs_archive_writer *w;
    assert_int_equal(hs_archive_start(sink, b, 4242, &w, NULL), HS_OK);
    for (size_t k = 0; k < nentries; k++) {
        char name[32];
        snprintf(name, sizeof(name), "entry-%zu.bin", k);
        assert_int_equal(hs_archive_entry_begin(w, (uint32_t)k / 2, (uint16_t)(k + 1), name,
                                                len[k], NULL),
                         HS_OK);
        uint8_t piece[333];
        for (size_t i = 0; i < len[k];) {
            size_t m = len[k] - i < sizeof(piece) ? len[k] - i : sizeof(piece);
            for (size_t j = 0; j < m; j++)
                piece[j] = byte_at(k, i + j);
            assert_int_equal(hs_archive_entry_data(w, piece, m, NULL), HS_OK);
            i += m;
        }
        assert_int_equal(hs_archive_entry_end(w, NULL), HS_OK);
    }
    uint64_t total = 0;
    assert_int_equal(hs_archive_finish(w, "described", 9, &total, NULL), HS_OK);
    assert_int_equal(total, b->n);
    hs_archive_writer_free(w);
}

static int read_all(buf *b, got *g, hs_archive_toc *t, hs_error *err)
{
    hs_archive_visitor v = {v_begin, v_data, v_end, g};
    b->at = 0;
    return hs_archive_read(source, b, g ? &v : NULL, t, err);
}

static void test_round_trip(void **state)
{
    (void)state;
    buf b = {0};
    write_sample(&b, 4, sizes);
    for (size_t step = 0; step <= 7; step += 7) { /* whole reads, then 7 bytes at a time */
        b.step = step;
        got g = {0};
        hs_archive_toc t;
        hs_error err;
        assert_int_equal(read_all(&b, &g, &t, &err), HS_OK);
        assert_int_equal(t.clock, 4242);
        assert_int_equal(t.total, b.n);
        assert_int_equal(t.n, 4);
        assert_int_equal(t.meta_len, 9);
        assert_memory_equal(t.meta, "described", 9);
        assert_int_equal(g.n, 4);
        assert_int_equal(g.ends, 4);
        for (size_t k = 0; k < 4; k++) {
            char name[32];
            snprintf(name, sizeof(name), "entry-%zu.bin", k);
            assert_string_equal(g.e[k].name, name);
            assert_string_equal(t.entries[k].name, name);
            assert_int_equal(t.entries[k].kind, k + 1);
            assert_int_equal(t.entries[k].group, k / 2);
            assert_int_equal(t.entries[k].len, sizes[k]);
            assert_int_equal(g.len[k], sizes[k]);
            for (size_t i = 0; i < sizes[k]; i++)
                if (g.data[k][i] != byte_at(k, i))
                    fail_msg("entry %zu byte %zu differs", k, i);
        }
        hs_archive_toc_free(&t);
        got_free(&g);
    }
    /* the manifest read alone says the same */
    hs_archive_toc p;
    assert_int_equal(hs_archive_peek(pread_buf, &b, b.n, &p, NULL), HS_OK);
    assert_int_equal(p.clock, 4242);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.entries[3].len, 200000);
    assert_memory_equal(p.meta, "described", 9);
    hs_archive_toc_free(&p);
    /* an archive without entries */
    buf e = {0};
    write_sample(&e, 0, NULL);
    hs_archive_toc t;
    assert_int_equal(read_all(&e, NULL, &t, NULL), HS_OK);
    assert_int_equal(t.n, 0);
    hs_archive_toc_free(&t);
    free(e.p);
    free(b.p);
}

/* A flipped bit at every byte offset of a small archive: the full read and (for the bytes it
 * reads) the manifest read refuse it; nothing is handed to a visitor as complete that was not. */
static void test_every_flipped_byte(void **state)
{
    (void)state;
    static const size_t small[] = {0, 5, 300};
    buf b = {0};
    write_sample(&b, 3, small);
    size_t refused = 0;
    for (size_t off = 0; off < b.n; off++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b.p[off] ^= (uint8_t)(1u << bit);
            hs_archive_toc t;
            hs_error err;
            int rc = read_all(&b, NULL, &t, &err);
            if (rc == HS_OK)
                fail_msg("a flipped bit %d at offset %zu of %zu was accepted", bit, off, b.n);
            assert_true(rc == HS_ECORRUPT || rc == HS_EVERSION);
            assert_non_null(strstr(err.message, "archive"));
            assert_null(t.entries);
            /* the manifest read checks the header, the manifest and the trailer */
            hs_archive_toc p;
            int prc = hs_archive_peek(pread_buf, &b, b.n, &p, NULL);
            if (prc == HS_OK)
                hs_archive_toc_free(&p);
            b.p[off] ^= (uint8_t)(1u << bit);
            refused++;
        }
    }
    assert_true(refused >= b.n);
    /* the manifest read refuses damage to what it reads: the last byte of the manifest's data,
     * the trailer, the header */
    size_t spots[] = {0, 20, b.n - 40, b.n - 1, b.n - 20};
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        b.p[spots[i]] ^= 0x10;
        hs_archive_toc p;
        assert_int_not_equal(hs_archive_peek(pread_buf, &b, b.n, &p, NULL), HS_OK);
        b.p[spots[i]] ^= 0x10;
    }
    free(b.p);
}

static void test_every_cut_and_extension(void **state)
{
    (void)state;
    static const size_t small[] = {3, 0, 70000};
    buf b = {0};
    write_sample(&b, 3, small);
    size_t full = b.n;
    for (size_t len = 0; len < full; len += len < 200 || full - len < 200 ? 1 : 97) {
        b.n = len;
        hs_archive_toc t;
        hs_error err;
        int rc = read_all(&b, NULL, &t, &err);
        if (rc != HS_ECORRUPT)
            fail_msg("an archive cut at %zu of %zu bytes gave %d", len, full, rc);
        hs_archive_toc p;
        assert_int_not_equal(hs_archive_peek(pread_buf, &b, b.n, &p, NULL), HS_OK);
    }
    b.n = full;
    /* one extra byte after the trailer, and a copy of the archive after itself */
    uint8_t x = 0;
    sink(&b, &x, 1);
    hs_archive_toc t;
    hs_error err;
    assert_int_equal(read_all(&b, NULL, &t, &err), HS_ECORRUPT);
    assert_non_null(strstr(err.message, "after the trailer"));
    hs_archive_toc p;
    assert_int_equal(hs_archive_peek(pread_buf, &b, b.n, &p, NULL), HS_ECORRUPT);
    b.n = full;
    uint8_t *copy = malloc(full);
    memcpy(copy, b.p, full);
    sink(&b, copy, full);
    free(copy);
    assert_int_equal(read_all(&b, NULL, &t, NULL), HS_ECORRUPT);
    free(b.p);
}

static void test_visitor_stops(void **state)
{
    (void)state;
    buf b = {0};
    write_sample(&b, 4, sizes);
    got g = {0};
    g.refuse_kind = 3;
    hs_archive_toc t;
    assert_int_equal(read_all(&b, &g, &t, NULL), HS_EINVAL);
    assert_int_equal(g.n, 2); /* the entries before the refused one */
    got_free(&g);
    free(b.p);
}

static void test_writer_misuse(void **state)
{
    (void)state;
    buf b = {0};
    hs_archive_writer *w;
    hs_error err;
    assert_int_equal(hs_archive_start(sink, &b, 1, &w, NULL), HS_OK);
    assert_int_equal(hs_archive_entry_begin(w, 0, 0, "x", 1, &err), HS_EINVAL); /* kind 0 */
    assert_int_equal(hs_archive_entry_begin(w, 0, 1, "", 1, &err), HS_EINVAL);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(hs_archive_entry_begin(w, 0, 1, longname, 1, &err), HS_EINVAL);
    assert_int_equal(hs_archive_entry_begin(w, 0, 1, "x", 2, &err), HS_OK);
    assert_int_equal(hs_archive_entry_begin(w, 0, 1, "y", 2, &err), HS_EINVAL); /* x is open */
    assert_int_equal(hs_archive_entry_data(w, "abc", 3, &err), HS_EINVAL);      /* too long */
    assert_int_equal(hs_archive_entry_data(w, "a", 1, &err), HS_OK);
    assert_int_equal(hs_archive_entry_end(w, &err), HS_EINVAL); /* one byte short */
    assert_int_equal(hs_archive_entry_data(w, "b", 1, &err), HS_OK);
    assert_int_equal(hs_archive_entry_end(w, &err), HS_OK);
    assert_int_equal(hs_archive_finish(w, NULL, 0, NULL, &err), HS_OK);
    hs_archive_writer_free(w);
    hs_archive_toc t;
    b.at = 0;
    assert_int_equal(hs_archive_read(source, &b, NULL, &t, NULL), HS_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.meta_len, 0);
    hs_archive_toc_free(&t);
    free(b.p);
}

static int failing_sink(void *ctx, const void *data, size_t len)
{
    (void)data;
    size_t *left = ctx;
    if (len > *left)
        return -28; /* ENOSPC */
    *left -= len;
    return 0;
}

static void test_sink_failure(void **state)
{
    (void)state;
    size_t left = 100;
    hs_archive_writer *w;
    hs_error err;
    assert_int_equal(hs_archive_start(failing_sink, &left, 1, &w, NULL), HS_OK);
    assert_int_equal(hs_archive_entry_begin(w, 0, 1, "x", 200, NULL), HS_OK);
    uint8_t data[200] = {0};
    assert_int_equal(hs_archive_entry_data(w, data, 200, &err), HS_ENOSPC);
    assert_non_null(strstr(err.message, "write failed"));
    /* nothing more is written after a failure */
    assert_int_not_equal(hs_archive_finish(w, NULL, 0, NULL, NULL), HS_OK);
    hs_archive_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_flipped_byte),
        cmocka_unit_test(test_every_cut_and_extension),
        cmocka_unit_test(test_visitor_stops),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_sink_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
