/*
 * fuzz_checkpoint.c: checkpoint files on arbitrary bytes.  Each input is parsed as a checkpoint
 * container (hs_ckpt_parse) and then installed as the newest checkpoint of a real collection,
 * which is loaded: every section decoder (state, ids, live bits, metadata, graph) sees it.  An
 * input with a SIDS section goes to a collection of string ids (string ids and keys decoded).
 * Seeds: the checkpoints of two small collections (integer and string ids) with metadata and
 * deletions.
 */
#include <stdint.h>

#include "core/core.h"
#include "fuzz_common.h"

static hs_db *db;
static hs_collection *h, *hs; /* integer ids, string ids */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void make_collection(void)
{
    char root[128];
    snprintf(root, sizeof(root), "%s/db", fuzz_scratch());
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    if (hs_db_open(root, &o, &db, NULL) != HS_OK)
        abort();
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 4;
    c.metric = HS_METRIC_L2;
    c.m = 4;
    hs_collection_create(db, "t", "f", &c, NULL);
    c.id_type = HS_ID_STRING;
    hs_collection_create(db, "t", "s", &c, NULL);
    if (hs_collection_open(db, "t", "f", &h, NULL) != HS_OK ||
        hs_collection_open(db, "t", "s", &hs, NULL) != HS_OK)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    make_collection();
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    for (uint64_t i = 0; i < 40; i++) {
        double v[4] = {(double)i, (double)(i % 7), 1, -1};
        char val[16];
        snprintf(val, sizeof(val), "v%llu", (unsigned long long)i);
        hs_kv kv = {"k", 1, val, strlen(val)};
        hs_point p = {i, v, 4, &kv, i % 3 ? 1u : 0u, NULL, 0};
        hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL);
        char sid[32];
        snprintf(sid, sizeof(sid), i % 2 ? "id-%llu" : "caf\xc3\xa9/%llu", (unsigned long long)i);
        p.sid = sid;
        p.sid_len = strlen(sid);
        hs_upsert(hs, &p, 1, HS_DURABILITY_ASYNC, NULL);
    }
    uint64_t del[] = {3, 9};
    hs_delete(h, del, 2, HS_DURABILITY_ASYNC, NULL, NULL);
    hs_sid sdel[] = {{"id-3", 4}, {"id-9", 4}};
    hs_delete_sids(hs, sdel, 2, HS_DURABILITY_ASYNC, NULL, NULL);
    hs_collection_checkpoint(h, NULL);
    hs_collection_checkpoint(hs, NULL);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp %s/db/t/*/f/checkpoint-*.ckpt %s/checkpoint && "
             "cp %s/db/t/*/s/checkpoint-*.ckpt %s/checkpoint-sid", fuzz_scratch(),
             getenv("HS_FUZZ_SEEDS"), fuzz_scratch(), getenv("HS_FUZZ_SEEDS"));
    if (system(cmd) != 0)
        abort();
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_ckpt k;
    uint64_t wal_seg = 1;
    hs_collection *t = h; /* the collection the input goes to */
    if (hs_ckpt_parse(data, size, &k, NULL) == HS_OK) {
        size_t len;
        const uint8_t *st = hs_ckpt_section(&k, HS_SEC_STATE, &len);
        if (st && len >= 24)
            memcpy(&wal_seg, st + 16, 8);
        if (hs_ckpt_section(&k, HS_SEC_SIDS, &len))
            t = hs;
    }
    /* the log segment the checkpoint's replay starts from, so that the load gets past the
     * log's completeness check and runs to the end */
    char wal[512];
    hs_coll_wal_dir(t->e, wal, sizeof(wal));
    hs_wal *w;
    if (wal_seg < ((uint64_t)1 << 40) &&
        hs_wal_open(wal, NULL, (hs_wal_pos){wal_seg, 0}, NULL, NULL, &w, NULL) == HS_OK)
        hs_wal_close(w);
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoint-7fffffffffffffff.ckpt", t->e->dir);
    fuzz_write_file(path, data, size);
    hs_coll *c = NULL;
    hs_error err;
    if (hs_coll_load(db, t->e, &c, &err) == HS_OK) {
        hs_indexer_forget(c);
        hs_coll_free(c);
    }
    /* back to an empty collection: only its parameters with a manifest naming nothing (a
     * flat collection keeps it in collection.json; a successful load rewrites it), no log */
    unlink(path);
    hs_manifest m = {0, 0, NULL, 0};
    if (hs_config_write_m(db, t->e->dir, t->e, &m, NULL) != HS_OK)
        abort();
    char sub[600];
    snprintf(sub, sizeof(sub), "rm -f %s/*.wal %s/vectors-*", t->e->dir, t->e->dir);
    if (system(sub) != 0)
        abort();
    return 0;
}
