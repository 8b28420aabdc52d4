/*
 * test_power_loss.c: simulated power loss.  Each cycle forks a writer whose file operations go
 * through the fault-injecting layer (tests/common/fault_io.c), which remembers what each file
 * held at its last fsync.  After a random number of operations the writer "loses power": every
 * file is put back to its last fsynced content (files whose directory entry was never fsynced
 * vanish) and the process exits at once.  The parent reopens the database with the real file
 * layer and checks that every upsert acknowledged under BATCH or STRICT durability is present
 * with its exact vector, that acknowledged deletes stay deleted, and that the collection opens.
 * ASYNC writes may be lost by design and are not checked.  Cycles: HS_POWER_CYCLES (default 40).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault_io.h"
#include "hyperspace.h"
#include "storage/storage.h"
#include "util/util.h"

#define DIM 8
#define MAX_IDS 100000

static uint8_t must[MAX_IDS]; /* 1: acknowledged durable upsert, 2: acknowledged delete,
                                  0: not required either way */

static void vector_of(uint64_t id, double *v)
{
    for (int i = 0; i < DIM; i++)
        v[i] = sin((double)id * 0.731 + i) * 3.0 + (double)(id % 97) * 0.01;
}

typedef struct msg {
    char kind; /* 'u' durable upsert acked, 'D' delete attempted, 'd' durable delete acked */
    uint32_t first, n;
} msg;

static hs_db *open_db(const char *dir, const hs_io_ops *io)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.io = io;
    o.snapshot_interval_sec = 0;
    o.batch_interval_ms = 2;
    o.wal_segment_bytes = 64 << 10;
    hs_db *db = NULL;
    hs_error err;
    if (hs_db_open(dir, &o, &db, &err) != HS_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        return NULL;
    }
    return db;
}

static void writer(const char *dir, int fd, uint32_t next_id, uint64_t seed)
{
    fault_io f;
    fault_io_init(&f);
    f.track_power_loss = 1;
    hs_db *db = open_db(dir, &f.ops);
    if (!db)
        _exit(2);
    hs_error err;
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = DIM;
    c.metric = HS_METRIC_L2;
    hs_collection_create(db, "default_admin", "power", &c, &err);
    hs_collection *h;
    if (hs_collection_open(db, "default_admin", "power", &h, &err) != HS_OK)
        _exit(2);
    hs_rng r;
    hs_rng_seed(&r, seed);
    int ops = 5 + (int)(hs_rng_next(&r) % 120);
    double vs[32 * DIM];
    hs_point pts[32];
    for (int op = 0; op < ops; op++) {
        uint32_t roll = (uint32_t)(hs_rng_next(&r) % 100);
        hs_durability d = (hs_durability)(1 + hs_rng_next(&r) % 3);
        if (roll < 5) {
            hs_collection_checkpoint(h, &err);
            continue;
        }
        if (roll < 12 && next_id > 0) {
            uint64_t id = hs_rng_next(&r) % next_id;
            msg m = {'D', (uint32_t)id, 1}; /* from now on the id's presence is unknown */
            if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
                _exit(3);
            if (hs_delete(h, &id, 1, d, NULL, &err) == HS_OK && d != HS_DURABILITY_ASYNC) {
                m.kind = 'd';
                if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
                    _exit(3);
            }
            continue;
        }
        uint32_t n = 1 + (uint32_t)(hs_rng_next(&r) % 32);
        for (uint32_t i = 0; i < n; i++) {
            vector_of(next_id + i, vs + i * DIM);
            pts[i] = (hs_point){next_id + i, vs + i * DIM, DIM, NULL, 0};
        }
        if (hs_upsert(h, pts, n, d, &err) == HS_OK && d != HS_DURABILITY_ASYNC) {
            msg m = {'u', next_id, n};
            if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
                _exit(3);
        }
        next_id += n;
    }
    char dump[64];
    snprintf(dump, sizeof(dump), "%s.dump", dir);
    fault_io_power_loss(&f, dump); /* the durable state, applied by the parent */
    _exit(0);                      /* no close, no final checkpoint */
}

int main(void)
{
    const char *env = getenv("HS_POWER_CYCLES");
    int cycles = env ? atoi(env) : 40;
    env = getenv("HS_POWER_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("power-loss test: %d cycles, seed %llu (HS_POWER_SEED to replay)\n", cycles,
           (unsigned long long)seed);
    char dir[] = "/tmp/hs-power-XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    hs_log_set_sink(NULL, NULL, HS_LOG_ERROR);
    hs_rng r;
    hs_rng_seed(&r, seed);
    uint32_t next_id = 0;
    int problems = 0;
    uint64_t acked = 0;
    for (int cycle = 0; cycle < cycles && !problems; cycle++) {
        int fds[2];
        if (pipe(fds) < 0)
            return 2;
        /* ids continue after everything ever attempted, so they never repeat */
        uint32_t first = next_id;
        uint64_t cseed = hs_rng_next(&r);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            writer(dir, fds[1], first, cseed);
        }
        close(fds[1]);
        msg m;
        while (read(fds[0], &m, sizeof(m)) == (ssize_t)sizeof(m)) {
            for (uint32_t i = 0; i < m.n && m.first + i < MAX_IDS; i++)
                must[m.first + i] = m.kind == 'u' ? 1 : m.kind == 'd' ? 2 : 0;
            if (m.kind == 'u')
                acked += m.n;
        }
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        char dump[64];
        snprintf(dump, sizeof(dump), "%s.dump", dir);
        if (fault_io_apply_dump(dump) != 0) {
            fprintf(stderr, "the writer left no power-loss state (exit status %d)\n", status);
            problems++;
            break;
        }
        next_id = first + 32 * 125; /* beyond anything the writer could have used */
        hs_db *db = open_db(dir, NULL);
        if (!db) {
            problems++;
            break;
        }
        hs_collection *h;
        hs_error err;
        if (hs_collection_open(db, "default_admin", "power", &h, &err) == HS_OK) {
            double v[DIM], want[DIM];
            for (uint32_t id = 0; id < next_id && id < MAX_IDS; id++) {
                int rc = hs_get(h, id, v, NULL, NULL, &err);
                if (rc == HS_ELOAD) {
                    fprintf(stderr, "collection failed to load: %s\n", err.message);
                    problems++;
                    break;
                }
                if (must[id] == 1 && rc != HS_OK) {
                    fprintf(stderr, "LOST acknowledged id %u\n", id);
                    problems++;
                } else if (must[id] == 2 && rc == HS_OK) {
                    fprintf(stderr, "RESURRECTED deleted id %u\n", id);
                    problems++;
                } else if (rc == HS_OK) {
                    vector_of(id, want);
                    for (int i = 0; i < DIM; i++)
                        if (v[i] != (double)(float)want[i]) {
                            fprintf(stderr, "CORRUPT vector of id %u\n", id);
                            problems++;
                            break;
                        }
                }
            }
            hs_collection_close(h);
        } else if (acked) {
            fprintf(stderr, "collection missing after power loss: %s\n", err.message);
            problems++;
        }
        hs_db_close(db, NULL);
        printf("cycle %2d: durable acknowledged upserts so far %llu, problems %d\n", cycle,
               (unsigned long long)acked, problems);
        fflush(stdout);
    }
    if (getenv("HS_POWER_KEEP"))
        printf("kept %s\n", dir);
    else
        hs_remove_tree(hs_io_posix(), dir);
    printf("%s: %d problems\n", problems ? "FAIL" : "PASS", problems);
    return problems ? 1 : 0;
}
