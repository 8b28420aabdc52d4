/*
 * test_corruption.c: damaged files of a collection, one at a time.
 *
 * A child process builds a collection and dies without closing it: 66,000 points checkpointed
 * (two vector segment files; the checkpoint has every section, payload indexes and graph
 * included) and 3,000 more only in the log (several log segments, small segments configured).
 * Each case copies that directory, damages one file (delete, truncate, flip a byte) and opens it:
 * the collection must be quarantined with the damaged file named in the error, and no read may
 * ever return a point that differs from what was written.  One kind of damage cannot be told from
 * a crash and is not quarantined: a cut inside, or a flipped byte in the last record of, the
 * newest log segment (a torn tail, docs/file-format.md): there the file must be named in a
 * warning and only points of that tail may be missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

#define N_CKPT 66000u /* checkpointed: more than the 65,536 records of one vector file */
#define N_WAL 3000u   /* logged after the checkpoint */
#define N_ALL (N_CKPT + N_WAL)

/* The collection's directory relative to a data directory (its bucket). */
static const char *crel(void)
{
    static char rel[32];
    char b[4];
    hs_bucket_of("c", b);
    snprintf(rel, sizeof(rel), "t/%s/c", b);
    return rel;
}

static char base[64], pristine[128], work[128];
static char logbuf[1 << 16];
static size_t loglen;
static pthread_mutex_t logmu = PTHREAD_MUTEX_INITIALIZER;
static unsigned ncases, nquarantined, ntorn, nbad;

/* A case that went wrong: reported, counted, and the test fails at the end (all cases run). */
#define BAD(...)                                                                               \
    do {                                                                                       \
        printf("FAILED: " __VA_ARGS__);                                                        \
        printf("\n");                                                                          \
        nbad++;                                                                                \
    } while (0)

static void sink(void *ctx, hs_log_level level, const char *message)
{
    (void)ctx;
    (void)level;
    pthread_mutex_lock(&logmu);
    int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%s\n", message);
    if (n > 0 && loglen + (size_t)n < sizeof(logbuf))
        loglen += (size_t)n;
    pthread_mutex_unlock(&logmu);
}

static void vec_of(uint64_t id, double v[4])
{
    v[0] = (double)(id % 1000);
    v[1] = (double)(id / 1000);
    v[2] = 1;
    v[3] = -(double)(id % 7);
}

static hs_db *open_db(const char *root, hs_error *err)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.wal_segment_bytes = 32 << 10;
    hs_db *db = NULL;
    return hs_db_open(root, &o, &db, err) == HS_OK ? db : NULL;
}

static void upsert_range(hs_collection *h, uint64_t from, uint64_t to)
{
    hs_point p[1000];
    double v[1000][4];
    char val[1000][4];
    hs_kv kv[1000];
    size_t n = 0;
    for (uint64_t id = from; id < to; id++) {
        vec_of(id, v[n]);
        snprintf(val[n], sizeof(val[n]), "%u", (unsigned)(id % 5));
        kv[n] = (hs_kv){"k", 1, val[n], strlen(val[n])};
        p[n] = (hs_point){id, v[n], 4, &kv[n], id % 2 ? 0u : 1u};
        if (++n == (to - from > N_WAL ? 1000u : 50u) || id + 1 == to) {
            if (hs_upsert(h, p, n, HS_DURABILITY_ASYNC, NULL) != HS_OK)
                _exit(3);
            n = 0;
        }
    }
}

/* The child: builds the collection and exits without closing (the log keeps the tail). */
static void build_pristine(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        hs_db *db = open_db(pristine, NULL);
        hs_collection_config c;
        hs_collection_config_init(&c);
        c.dimension = 4;
        c.metric = HS_METRIC_L2;
        c.m = 4;
        c.ef_construction = 16;
        hs_collection *h;
        if (!db || hs_collection_create(db, "t", "c", &c, NULL) != HS_OK ||
            hs_collection_open(db, "t", "c", &h, NULL) != HS_OK)
            _exit(2);
        upsert_range(h, 0, N_CKPT);
        hs_collection_stats st;
        do /* the graph complete in the checkpoint: the cases' loads have no indexing to do */
            usleep(20000);
        while (hs_coll_stats_of(h, &st) == HS_OK && st.indexing_queue > 0);
        if (hs_collection_checkpoint(h, NULL) != HS_OK)
            _exit(4);
        upsert_range(h, N_CKPT, N_ALL);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

typedef struct meta_seen {
    char k[8];
    int entries;
} meta_seen;

static int meta_cb(void *ctx, const char *key, size_t kl, const char *value, size_t vl)
{
    meta_seen *m = ctx;
    m->entries++;
    if (kl == 1 && key[0] == 'k' && vl < sizeof(m->k)) {
        memcpy(m->k, value, vl);
        m->k[vl] = 0;
    }
    return 0;
}

typedef enum { DAMAGE_DELETE, DAMAGE_TRUNCATE, DAMAGE_FLIP, DAMAGE_RMDIR } damage_kind;
typedef enum { EXPECT_QUARANTINE, EXPECT_TORN } expectation;

static void apply(const char *path, damage_kind kind, long arg)
{
    char cmd[600];
    switch (kind) {
    case DAMAGE_DELETE:
        assert_int_equal(unlink(path), 0);
        break;
    case DAMAGE_RMDIR:
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        assert_int_equal(system(cmd), 0);
        break;
    case DAMAGE_TRUNCATE:
        assert_int_equal(truncate(path, arg), 0);
        break;
    case DAMAGE_FLIP: {
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        fseek(fp, arg, SEEK_SET);
        int ch = fgetc(fp);
        assert_true(ch != EOF);
        fseek(fp, arg, SEEK_SET);
        fputc(ch ^ 0x10, fp);
        fclose(fp);
        break;
    }
    }
}

/* One case: copy, damage, open, read everything. */
static void run_case(const char *rel, damage_kind kind, long arg, expectation ex)
{
    static const char *names[] = {"delete", "truncate to", "flip byte at", "remove directory"};
    char cmd[512], path[512], what[256];
    snprintf(what, sizeof(what), "%s: %s %ld", rel, names[kind], arg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", work, pristine, work);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/%s/%s", work, crel(), rel);
    apply(path, kind, arg);
    const char *file = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    pthread_mutex_lock(&logmu);
    loglen = 0;
    logbuf[0] = 0;
    pthread_mutex_unlock(&logmu);
    ncases++;

    hs_error err;
    hs_db *db = open_db(work, &err);
    if (!db) { /* a database-level refusal is a detection too, if it names the file */
        if (!strstr(err.message, file))
            BAD("%s: open failed without naming the file: %s", what, err.message);
        nquarantined++;
        return;
    }
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "c", &h, &err), HS_OK);
    bool quarantined = false;
    uint64_t missing = 0, first_missing = UINT64_MAX;
    for (uint64_t id = 0; id < N_ALL && !quarantined; id++) {
        double v[4], want[4];
        meta_seen m = {{0}, 0};
        int rc = hs_get(h, id, v, meta_cb, &m, &err);
        if (rc == HS_ELOAD) {
            if (!strstr(err.message, file))
                BAD("%s: quarantined without naming the file: %s", what, err.message);
            quarantined = true;
            break;
        }
        if (rc == HS_ENOTFOUND) {
            missing++;
            first_missing = id < first_missing ? id : first_missing;
            continue;
        }
        if (rc != HS_OK) {
            BAD("%s: get %llu: %s", what, (unsigned long long)id, err.message);
            break;
        }
        vec_of(id, want);
        char wk[8];
        snprintf(wk, sizeof(wk), "%u", (unsigned)(id % 5));
        if (memcmp(v, want, sizeof(v)) != 0 || m.entries != (id % 2 ? 0 : 1) ||
            (id % 2 == 0 && strcmp(m.k, wk) != 0)) {
            BAD("%s: WRONG DATA for point %llu: (%g, %g, %g, %g), %d metadata entries", what,
                (unsigned long long)id, v[0], v[1], v[2], v[3], m.entries);
            break;
        }
    }
    if (quarantined) {
        hs_collection_stats st;
        assert_int_equal(hs_collection_stats_get(db, "t", "c", &st, &err), HS_OK);
        if (!strstr(st.error, file))
            BAD("%s: the collection's error does not name the file: %s", what, st.error);
        nquarantined++;
    } else if (ex == EXPECT_TORN) {
        pthread_mutex_lock(&logmu);
        bool named = strstr(logbuf, file) && strstr(logbuf, "torn tail");
        pthread_mutex_unlock(&logmu);
        if (!named)
            BAD("%s: a torn tail without a warning naming the file (%llu points missing)", what,
                (unsigned long long)missing);
        /* only the newest points can be in the lost tail, and none of the checkpointed ones */
        else if (missing && (first_missing < N_CKPT || first_missing + missing != N_ALL))
            BAD("%s: %llu points missing from %llu on: not a tail", what,
                (unsigned long long)missing, (unsigned long long)first_missing);
        else
            ntorn++;
    } else {
        BAD("%s: NOT DETECTED (%llu of %u points missing; log: %.200s)", what,
            (unsigned long long)missing, N_ALL, logbuf);
    }
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static long file_size(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", pristine, crel(), rel);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

static void read_at(const char *rel, long off, void *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", pristine, crel(), rel);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, off, SEEK_SET);
    assert_int_equal(fread(buf, 1, len, fp), len);
    fclose(fp);
}

static void whole_file_cases(const char *rel)
{
    run_case(rel, DAMAGE_DELETE, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, file_size(rel) / 2, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, file_size(rel) - 1, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_FLIP, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_FLIP, file_size(rel) - 1, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_FLIP, file_size(rel) / 2, EXPECT_QUARANTINE);
}

static void segment_cases(const char *rel)
{
    uint32_t hdr[6];
    read_at(rel, 0, hdr, sizeof(hdr));
    uint32_t rec_len = hdr[3], shift = hdr[4], index = hdr[5];
    uint64_t per = (uint64_t)1 << shift;
    uint64_t recs = N_CKPT - index * per < per ? N_CKPT - index * per : per;
    long data = hdr[2] == 1 ? 4096 : 64, end = data + (long)(recs * rec_len); /* header: v1 or v2 */
    run_case(rel, DAMAGE_DELETE, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, data + (long)(recs / 2 * rec_len), EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, end - 1, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_FLIP, 8, EXPECT_QUARANTINE);          /* header */
    run_case(rel, DAMAGE_FLIP, data, EXPECT_QUARANTINE);       /* first record */
    run_case(rel, DAMAGE_FLIP, data + (long)(recs / 2 * rec_len) + 1, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_FLIP, end - 1, EXPECT_QUARANTINE);    /* last checkpointed record */
}

static void checkpoint_cases(const char *rel)
{
    whole_file_cases(rel);
    uint8_t h[1024];
    read_at(rel, 0, h, sizeof(h));
    uint32_t n;
    memcpy(&n, h + 12, 4);
    for (uint32_t i = 0; i < n; i++) { /* the middle of every section, and its last byte */
        uint64_t off, len;
        memcpy(&off, h + 16 + 24 * i + 8, 8);
        memcpy(&len, h + 16 + 24 * i + 16, 8);
        run_case(rel, DAMAGE_FLIP, (long)(off + len / 2), EXPECT_QUARANTINE);
        run_case(rel, DAMAGE_FLIP, (long)(off + len - 1), EXPECT_QUARANTINE);
    }
    run_case(rel, DAMAGE_FLIP, 16 + 24 * (long)n + 4, EXPECT_QUARANTINE); /* unused header */
}

/* Record boundaries of a log segment: offsets of the first, middle and last record. */
static void wal_records(const char *rel, long *first, long *mid, long *last, long *nrec)
{
    long size = file_size(rel), off = 32, k = 0;
    long offs[4096];
    while (off + 17 <= size && k < 4096) {
        uint32_t len;
        read_at(rel, off, &len, 4);
        offs[k++] = off;
        off += 17 + (long)len;
    }
    assert_int_equal(off, size);
    assert_true(k >= 3);
    *first = offs[0];
    *mid = offs[k / 2];
    *last = offs[k - 1];
    *nrec = k;
}

static void wal_cases(const char *rel, bool newest)
{
    long first, mid, last, nrec, size = file_size(rel);
    wal_records(rel, &first, &mid, &last, &nrec);
    run_case(rel, DAMAGE_DELETE, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, 0, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_TRUNCATE, 20, EXPECT_QUARANTINE);  /* inside the header */
    run_case(rel, DAMAGE_FLIP, 8, EXPECT_QUARANTINE);       /* header */
    run_case(rel, DAMAGE_FLIP, first + 20, EXPECT_QUARANTINE);
    run_case(rel, DAMAGE_FLIP, mid + 2, EXPECT_QUARANTINE); /* a length */
    run_case(rel, DAMAGE_FLIP, mid + 40, EXPECT_QUARANTINE);
    if (!newest) { /* a closed segment: every cut is caught, at a record boundary too */
        run_case(rel, DAMAGE_TRUNCATE, mid, EXPECT_QUARANTINE);
        run_case(rel, DAMAGE_TRUNCATE, last, EXPECT_QUARANTINE);
        run_case(rel, DAMAGE_TRUNCATE, size - 1, EXPECT_QUARANTINE);
        run_case(rel, DAMAGE_FLIP, last + 20, EXPECT_QUARANTINE);
        return;
    }
    /* the newest: a cut inside a record or a bad last record is a torn tail (a cut exactly at
     * a record boundary looks like a crash before the next write and is not noticed) */
    run_case(rel, DAMAGE_TRUNCATE, mid + 5, EXPECT_TORN);
    run_case(rel, DAMAGE_TRUNCATE, size - 1, EXPECT_TORN);
    run_case(rel, DAMAGE_FLIP, last + 20, EXPECT_TORN);
}

typedef struct listing {
    char names[64][64];
    int n;
} listing;

static void list_dir(const char *rel, listing *l)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s", pristine, crel(), rel);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *de;
    l->n = 0;
    while ((de = readdir(d)) && l->n < 64)
        if (de->d_name[0] != '.' && strlen(de->d_name) < 64)
            memcpy(l->names[l->n++], de->d_name, strlen(de->d_name) + 1);
    closedir(d);
    qsort(l->names, (size_t)l->n, 64, (int (*)(const void *, const void *))strcmp);
}

static void test_every_file(void **state)
{
    (void)state;
    build_pristine();
    listing top;
    list_dir("", &top);
    /* the pristine directory (flat: every file in the collection's directory) */
    int nckpt = 0, nman = 0, nwal = 0, nvec = 0;
    for (int i = 0; i < top.n; i++)
        nwal += strstr(top.names[i], ".wal") != NULL;
    for (int i = 0; i < top.n; i++) {
        const char *f = top.names[i];
        if (!strncmp(f, "checkpoint-", 11)) {
            nckpt++;
            checkpoint_cases(f);
        } else if (!strcmp(f, "collection.json") || !strcmp(f, "manifest")) {
            nman += !strcmp(f, "manifest");
            whole_file_cases(f);
        } else if (!strncmp(f, "vectors-0-", 10)) {
            nvec++;
            segment_cases(f);
        } else {
            assert_non_null(strstr(f, ".wal"));
            wal_cases(f, --nwal == 0);
        }
    }
    assert_int_equal(nvec, 2);
    if (nckpt != 1 || nman != 0) /* flat: the manifest is a member of collection.json */
        BAD("the collection has %d checkpoints and %d manifest files (expected 1 and 0)", nckpt, nman);
    /* the undamaged copy loads whole */
    unsigned before = nquarantined;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", work, pristine, work);
    assert_int_equal(system(cmd), 0);
    hs_db *db = open_db(work, NULL);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "c", &h, NULL), HS_OK);
    hs_collection_stats st;
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    assert_int_equal(st.count, N_ALL);
    double v[4];
    assert_int_equal(hs_get(h, N_ALL - 1, v, NULL, NULL, NULL), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    assert_int_equal(nquarantined, before);
    printf("corruption: %u cases, %u quarantined naming the file, %u torn tails (warned), "
           "%u failed\n", ncases, nquarantined, ntorn, nbad);
    assert_int_equal(nbad, 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/tmp/hs-test-corrupt-XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(pristine, sizeof(pristine), "%s/pristine", base);
    snprintf(work, sizeof(work), "%s/work", base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), base);
    return 0;
}

int main(void)
{
    hs_log_set_sink(sink, NULL, HS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_file, setup, teardown),
    };
    return cmocka_run_group_tests_name("corruption", tests, NULL, NULL);
}
