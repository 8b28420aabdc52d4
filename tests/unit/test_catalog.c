/*
 * test_catalog.c: the catalog at scale (core/catalog.c, core/catlog.c).
 *
 *   - a clean close lets the next open read no collection's files (counted through the I/O
 *     table), with every figure right;
 *   - a change after a clean close is seen after a crash (the DIRTY record);
 *   - a damaged catalog file costs time, never correctness;
 *   - the per-tenant usage sums match the collections' own statistics through loads, unloads,
 *     deletes and drops, and the collection quota refuses with HS_EFULL;
 *   - kill -9 during creates, drops and writes: every acknowledged write and collection is there
 *     after the restart, dropped ones are gone, and no unfinished directory is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hyperspace.h"
#include "hs_test.h"

static char root[64];
static int file_opens; /* opens of files inside collection directories (atomic) */

static int count_open(void *ctx, const char *path, int flags, unsigned mode)
{
    if (strstr(path, "/@")) /* inside a bucket: a collection's file */
        __atomic_fetch_add(&file_opens, 1, __ATOMIC_RELAXED);
    return hs_io_posix()->open(ctx, path, flags, mode);
}

static int file_syncs, dir_syncs; /* fsyncs of files and of directories (atomic) */

static int count_fsync(void *ctx, int fd)
{
    __atomic_fetch_add(&file_syncs, 1, __ATOMIC_RELAXED);
    return hs_io_posix()->fsync(ctx, fd);
}

static int count_fsync_dir(void *ctx, const char *path)
{
    __atomic_fetch_add(&dir_syncs, 1, __ATOMIC_RELAXED);
    return hs_io_posix()->fsync_dir(ctx, path);
}

static hs_io_ops counting;

static hs_db *open_db(uint32_t max_loaded, uint32_t quota)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.max_loaded = max_loaded;
    o.max_collections_per_tenant = quota;
    o.io = &counting;
    hs_db *db;
    hs_error err;
    assert_int_equal(hs_db_open(root, &o, &db, &err), HS_OK);
    return db;
}

static void create(hs_db *db, const char *tenant, const char *name)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 4;
    c.metric = HS_METRIC_L2;
    hs_error err;
    assert_int_equal(hs_collection_create(db, tenant, name, &c, &err), HS_OK);
}

static int put(hs_db *db, const char *tenant, const char *name, uint64_t from, size_t n,
               hs_durability d)
{
    hs_collection *h;
    hs_error err;
    int rc = hs_collection_open(db, tenant, name, &h, &err);
    if (rc != HS_OK)
        return rc;
    for (size_t i = 0; i < n && rc == HS_OK; i++) {
        double v[4] = {(double)(from + i), 1, 2, 3};
        hs_point p = {from + i, v, 4, NULL, 0};
        rc = hs_upsert(h, &p, 1, d, &err);
    }
    hs_collection_close(h);
    return rc;
}

static uint64_t count_of(hs_db *db, const char *tenant, const char *name)
{
    hs_collection_stats st;
    hs_error err;
    assert_int_equal(hs_collection_stats_get(db, tenant, name, &st, &err), HS_OK);
    return st.count;
}

typedef struct sums {
    uint64_t collections, points;
} sums;

static int add_usage(void *ctx, const hs_tenant_usage *u)
{
    sums *s = ctx;
    s->collections += u->collections;
    s->points += u->points;
    return 0;
}

static void setup_root(void)
{
    snprintf(root, sizeof(root), "/tmp/hs-test-catalog-XXXXXX");
    assert_non_null(mkdtemp(root));
    counting = *hs_io_posix();
    counting.open = count_open;
    counting.fsync = count_fsync;
    counting.fsync_dir = count_fsync_dir;
}

static void remove_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

static void test_open_reads_no_collection_file(void **state)
{
    (void)state;
    setup_root();
    hs_db *db = open_db(5, 0);
    char name[32];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        create(db, i % 2 ? "t1" : "t2", name);
        assert_int_equal(put(db, i % 2 ? "t1" : "t2", name, 0, (size_t)(i % 7), HS_DURABILITY_ASYNC),
                         HS_OK);
    }
    hs_db_close(db, NULL);
    __atomic_store_n(&file_opens, 0, __ATOMIC_RELAXED);
    db = open_db(5, 0);
    assert_int_equal(__atomic_load_n(&file_opens, __ATOMIC_RELAXED), 0);
    uint64_t ncoll, points, loaded, failed;
    hs_db_totals(db, &ncoll, &points, &loaded, &failed);
    assert_int_equal(ncoll, 200);
    assert_int_equal(loaded, 0);
    uint64_t want = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        assert_int_equal(count_of(db, i % 2 ? "t1" : "t2", name), (uint64_t)(i % 7));
        want += (uint64_t)(i % 7);
    }
    assert_int_equal(points, want);
    /* a change after the clean close, then a crash (the handle is never closed) */
    hs_db_close(db, NULL);
    pid_t pid = fork();
    if (pid == 0) {
        hs_db *d = open_db(5, 0);
        if (put(d, "t1", "c001", 100, 10, HS_DURABILITY_STRICT) != HS_OK)
            _exit(1);
        kill(getpid(), SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    __atomic_store_n(&file_opens, 0, __ATOMIC_RELAXED);
    db = open_db(5, 0);
    /* only the changed collection was read from its files */
    assert_true(__atomic_load_n(&file_opens, __ATOMIC_RELAXED) > 0);
    assert_int_equal(count_of(db, "t1", "c001"), 1 + 10);
    assert_int_equal(count_of(db, "t1", "c003"), 3);
    hs_db_close(db, NULL);
    remove_root();
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* What a create and its first points cost in syncs, once the tenant's bucket exists: the two
 * files (collection.json and the log with its create record), the new directory and its parent;
 * asynchronous writes add none (the catalog needs no DIRTY record for a collection it has never
 * called clean).  A sync more is a journal commit more on the way to a per-user collection's
 * first answer. */
static void test_create_sync_count(void **state)
{
    (void)state;
    setup_root();
    hs_db *db = open_db(1000, 0);
    create(db, "t1", "warm"); /* makes the tenant's directory */
    char name[32];
    for (int i = 0; i < 64; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        create(db, "t1", name); /* and most of its buckets (the ones these names fall into) */
    }
    char tdir[128];
    snprintf(tdir, sizeof(tdir), "%s/t1", root);
    int tried = 0;
    for (int i = 64; i < 128; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        int buckets = entries(tdir);
        __atomic_store_n(&file_syncs, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&dir_syncs, 0, __ATOMIC_RELAXED);
        create(db, "t1", name);
        if (entries(tdir) != buckets)
            continue; /* it made its bucket: two directory syncs more */
        assert_int_equal(__atomic_load_n(&file_syncs, __ATOMIC_RELAXED), 2);
        assert_int_equal(__atomic_load_n(&dir_syncs, __ATOMIC_RELAXED), 2);
        assert_int_equal(put(db, "t1", name, 0, 20, HS_DURABILITY_ASYNC), HS_OK);
        assert_int_equal(__atomic_load_n(&file_syncs, __ATOMIC_RELAXED), 2);
        assert_int_equal(__atomic_load_n(&dir_syncs, __ATOMIC_RELAXED), 2);
        tried++;
    }
    assert_true(tried > 8);
    hs_db_close(db, NULL);
    /* and they all came back */
    db = open_db(1000, 0);
    for (int i = 64; i < 128; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        hs_collection_stats st;
        hs_error err;
        assert_int_equal(hs_collection_stats_get(db, "t1", name, &st, &err), HS_OK);
    }
    hs_db_close(db, NULL);
    remove_root();
}

static void test_damaged_catalog_file(void **state)
{
    (void)state;
    setup_root();
    hs_db *db = open_db(5, 0);
    create(db, "t", "a");
    create(db, "t", "b");
    assert_int_equal(put(db, "t", "a", 0, 5, HS_DURABILITY_ASYNC), HS_OK);
    hs_db_close(db, NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/.catalog", root);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 30, SEEK_SET); /* inside the first record */
    int c = fgetc(f);
    fseek(f, 30, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    db = open_db(5, 0);
    assert_int_equal(count_of(db, "t", "a"), 5);
    assert_int_equal(count_of(db, "t", "b"), 0);
    hs_db_close(db, NULL);
    remove_root();
}

/* The catalog file cannot be written at open (here its temporary name is taken by a
 * directory): the database opens anyway, from the collections' own files, and writes work. */
static void test_unwritable_catalog_file(void **state)
{
    (void)state;
    setup_root();
    hs_db *db = open_db(5, 0);
    create(db, "t", "a");
    assert_int_equal(put(db, "t", "a", 0, 4, HS_DURABILITY_STRICT), HS_OK);
    hs_db_close(db, NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/..catalog.tmp", root);
    assert_int_equal(mkdir(path, 0755), 0);
    db = open_db(5, 0);
    assert_int_equal(count_of(db, "t", "a"), 4);
    assert_int_equal(put(db, "t", "a", 4, 2, HS_DURABILITY_STRICT), HS_OK);
    hs_db_close(db, NULL);
    assert_int_equal(rmdir(path), 0);
    db = open_db(5, 0);
    assert_int_equal(count_of(db, "t", "a"), 6);
    hs_db_close(db, NULL);
    remove_root();
}

static void test_usage_and_quota(void **state)
{
    (void)state;
    setup_root();
    hs_db *db = open_db(2, 3);
    create(db, "q", "a");
    create(db, "q", "b");
    create(db, "q", "c");
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = 4;
    hs_error err;
    assert_int_equal(hs_collection_create(db, "q", "d", &cfg, &err), HS_EFULL);
    assert_int_equal(err.field, HS_FIELD_TENANT);
    assert_int_equal(err.max, 3);
    create(db, "other", "a"); /* another tenant has its own quota */
    for (int round = 0; round < 3; round++) /* loads and unloads (limit 2) */
        for (const char *n = "abc"; *n; n++) {
            char name[2] = {*n, 0};
            assert_int_equal(put(db, "q", name, (uint64_t)round * 10, 4, HS_DURABILITY_ASYNC),
                             HS_OK);
        }
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "q", "a", &h, &err), HS_OK);
    uint64_t ids[] = {0, 1};
    assert_int_equal(hs_delete(h, ids, 2, HS_DURABILITY_ASYNC, NULL, &err), HS_OK);
    hs_collection_close(h);
    sums s = {0};
    assert_int_equal(hs_db_usage(db, NULL, add_usage, &s, &err), HS_OK);
    assert_int_equal(s.collections, 4);
    assert_int_equal(s.points, 3 * 12 - 2);
    assert_int_equal(hs_collection_drop(db, "q", "b", &err), HS_OK);
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_db_usage(db, "q", add_usage, &s, &err), HS_OK);
    assert_int_equal(s.collections, 2);
    assert_int_equal(s.points, 2 * 12 - 2);
    create(db, "q", "d"); /* under the quota again */
    hs_db_close(db, NULL);
    db = open_db(2, 3);
    memset(&s, 0, sizeof(s));
    assert_int_equal(hs_db_usage(db, "q", add_usage, &s, &err), HS_OK);
    assert_int_equal(s.collections, 3);
    assert_int_equal(s.points, 2 * 12 - 2);
    hs_db_close(db, NULL);
    remove_root();
}

/* The child creates, fills and drops collections, reporting each acknowledged step through a
 * pipe; the parent kills it at a random moment and checks the restart against the reports. */
enum { OP_CREATED = 1, OP_PUT = 2, OP_DROPPED = 3 };

typedef struct report {
    uint32_t op, coll, n;
} report;

static void child(int fd, unsigned seed, int first)
{
    hs_db *db = open_db(3, 0);
    srand(seed);
    for (int i = first;; i++) {
        char name[32];
        snprintf(name, sizeof(name), "k%05d", i);
        create(db, "crash", name);
        report r = {OP_CREATED, (uint32_t)i, 0};
        if (write(fd, &r, sizeof(r)) != sizeof(r))
            _exit(1);
        /* up to 300 points of 4-d: the vector file grows from one page (doubling) */
        uint32_t n = (uint32_t)(i % 5 == 0 ? rand() % 300 : rand() % 30);
        if (put(db, "crash", name, 0, n, HS_DURABILITY_STRICT) != HS_OK)
            _exit(1);
        r = (report){OP_PUT, (uint32_t)i, n};
        if (write(fd, &r, sizeof(r)) != sizeof(r))
            _exit(1);
        if (i > first && rand() % 4 == 0) {
            snprintf(name, sizeof(name), "k%05d", i - 1);
            hs_error err;
            if (hs_collection_drop(db, "crash", name, &err) != HS_OK)
                _exit(1);
            r = (report){OP_DROPPED, (uint32_t)(i - 1), 0};
            if (write(fd, &r, sizeof(r)) != sizeof(r))
                _exit(1);
        }
    }
}

static int leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!strncmp(de->d_name, ".new-", 5) || !strncmp(de->d_name, ".trash-", 7))
            n++;
        if (de->d_name[0] == '@') {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
            n += leftovers(sub);
        }
    }
    closedir(d);
    return n;
}

static void test_kill_during_creates_and_drops(void **state)
{
    (void)state;
    setup_root();
    enum { MAXC = 100000 };
    static int32_t want[MAXC]; /* -1 unknown/absent, -2 dropped, else acknowledged points */
    for (int i = 0; i < MAXC; i++)
        want[i] = -1;
    int next = 0;
    int cycles = getenv("HS_CATALOG_CYCLES") ? atoi(getenv("HS_CATALOG_CYCLES")) : 8;
    for (int cycle = 0; cycle < cycles; cycle++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child(p[1], (unsigned)cycle + 1, next);
        }
        close(p[1]);
        struct timespec ts = {0, (long)(50 + rand() % 400) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        report r;
        int created_max = next - 1;
        while (read(p[0], &r, sizeof(r)) == sizeof(r)) {
            if (r.coll >= MAXC)
                continue;
            if (r.op == OP_CREATED)
                want[r.coll] = 0;
            else if (r.op == OP_PUT)
                want[r.coll] = (int32_t)r.n;
            else
                want[r.coll] = -2;
            created_max = (int)r.coll > created_max ? (int)r.coll : created_max;
        }
        close(p[0]);
        waitpid(pid, NULL, 0);
        /* the restart: acknowledged collections with their points; dropped ones gone */
        hs_db *db = open_db(3, 0);
        char tdir[128];
        snprintf(tdir, sizeof(tdir), "%s/crash", root);
        assert_int_equal(leftovers(tdir), 0);
        for (int i = 0; i <= created_max + 1 && i < MAXC; i++) {
            char name[32];
            snprintf(name, sizeof(name), "k%05d", i);
            hs_collection_stats st;
            hs_error err;
            int rc = hs_collection_stats_get(db, "crash", name, &st, &err);
            if (want[i] == -2) {
                assert_int_equal(rc, HS_ENOTFOUND);
            } else if (want[i] >= 0 && rc == HS_ENOTFOUND && i >= created_max - 1) {
                want[i] = -2; /* its drop was in flight at the kill */
            } else if (want[i] >= 0) {
                assert_int_equal(rc, HS_OK);
                /* a write in flight at the kill may be there too (one more batch) */
                assert_true(st.count >= (uint64_t)want[i]);
                want[i] = (int32_t)st.count;
            } else if (rc == HS_OK) { /* created, not yet reported: it is the kill's */
                want[i] = (int32_t)st.count;
            }
        }
        next = created_max + 2;
        hs_db_close(db, NULL);
    }
    remove_root();
}

/* A vector file is synced by the first checkpoint that relies on it: after a power loss its
 * header (never synced) may read as zeros, and the file is taken as new, its records replayed
 * from the log. */
static void test_unsynced_vector_file(void **state)
{
    (void)state;
    setup_root();
    pid_t pid = fork();
    if (pid == 0) {
        hs_db *d = open_db(5, 0);
        create(d, "t", "v");
        if (put(d, "t", "v", 0, 3, HS_DURABILITY_STRICT) != HS_OK)
            _exit(1);
        kill(getpid(), SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    char dir[256], path[300];
    hs_test_coll_dir(dir, sizeof(dir), root, "t", "v");
    snprintf(path, sizeof(path), "%s/vectors-0-000000.seg", dir);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    char zero[64] = {0};
    assert_int_equal(fwrite(zero, 1, sizeof(zero), f), sizeof(zero));
    fclose(f);
    hs_db *db = open_db(5, 0);
    assert_int_equal(count_of(db, "t", "v"), 3);
    hs_collection *h;
    hs_error err;
    assert_int_equal(hs_collection_open(db, "t", "v", &h, &err), HS_OK);
    double v[4];
    assert_int_equal(hs_get(h, 2, v, NULL, NULL, &err), HS_OK);
    assert_true(v[0] == 2 && v[3] == 3);
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    db = open_db(5, 0);
    assert_int_equal(count_of(db, "t", "v"), 3);
    hs_db_close(db, NULL);
    remove_root();
}

/* Creates racing with opens, statistics and drops of the same names (CE_CREATING: the entry
 * is in the catalog while its files are made without db->lock). */
typedef struct racer {
    hs_db *db;
    int id, created, dropped;
} racer;

static void *creator(void *arg)
{
    racer *r = arg;
    for (int j = 0; j < 150; j++) {
        char name[32];
        snprintf(name, sizeof(name), "r%d_%03d", r->id, j);
        hs_collection_config c;
        hs_collection_config_init(&c);
        c.dimension = 4;
        hs_error err;
        if (hs_collection_create(r->db, "race", name, &c, &err) == HS_OK)
            r->created++;
    }
    return NULL;
}

static void *meddler(void *arg)
{
    racer *r = arg;
    unsigned seed = 7;
    for (int k = 0; k < 3000; k++) {
        char name[32];
        snprintf(name, sizeof(name), "r%d_%03d", rand_r(&seed) % 3, rand_r(&seed) % 150);
        hs_error err;
        hs_collection *h;
        if (hs_collection_open(r->db, "race", name, &h, &err) == HS_OK) {
            double v[4] = {1, 2, 3, 4};
            hs_point p = {1, v, 4, NULL, 0};
            int rc = hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, &err);
            assert_true(rc == HS_OK || rc == HS_ENOTFOUND);
            hs_collection_close(h);
        }
        hs_collection_stats st;
        hs_collection_stats_get(r->db, "race", name, &st, &err);
        if (k % 10 == 0 && hs_collection_drop(r->db, "race", name, &err) == HS_OK)
            r->dropped++;
    }
    return NULL;
}

static int count_names(void *ctx, const char *tenant, const char *name)
{
    (void)tenant;
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static void test_creates_race_with_other_operations(void **state)
{
    (void)state;
    setup_root();
    hs_db *db = open_db(4, 0);
    racer r[4] = {{db, 0, 0, 0}, {db, 1, 0, 0}, {db, 2, 0, 0}, {db, 3, 0, 0}};
    pthread_t t[4];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, creator, &r[i]), 0);
    assert_int_equal(pthread_create(&t[3], NULL, meddler, &r[3]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int listed = 0;
    hs_error err;
    assert_int_equal(hs_collection_list(db, "race", count_names, &listed, &err), HS_OK);
    int created = r[0].created + r[1].created + r[2].created;
    assert_int_equal(created, 450);
    assert_int_equal(listed, created - r[3].dropped);
    hs_db_close(db, NULL);
    db = open_db(4, 0);
    listed = 0;
    assert_int_equal(hs_collection_list(db, "race", count_names, &listed, &err), HS_OK);
    assert_int_equal(listed, created - r[3].dropped);
    hs_db_close(db, NULL);
    remove_root();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_reads_no_collection_file),
        cmocka_unit_test(test_create_sync_count),
        cmocka_unit_test(test_damaged_catalog_file),
        cmocka_unit_test(test_unwritable_catalog_file),
        cmocka_unit_test(test_usage_and_quota),
        cmocka_unit_test(test_unsynced_vector_file),
        cmocka_unit_test(test_creates_race_with_other_operations),
        cmocka_unit_test(test_kill_during_creates_and_drops),
    };
    hs_log_set_sink(NULL, NULL, HS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
