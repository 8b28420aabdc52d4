/*
 * fuzz_grpc_messages.c: every protobuf request message of hyperspace.Database, decoded and
 * executed by the real RPC handlers (server/grpc_api.c) against a real database.  The first
 * input byte picks the RPC, the rest is the message.  Only the transport is replaced: the
 * call's reply and status are kept in memory instead of being sent (hs_gcall_finish below), so
 * each input runs decode -> validation -> engine -> reply packing.  Monitor, SubscribeToEvents,
 * Replicate and ReplicateSnapshot (streams) are left to the integration tests.  After each input the reply of a successful call must unpack.
 */
#include <grpc/status.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_server.h"
#include "hyperspace.pb-c.h"
#include "server/grpc_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the transport, in memory ------------------------------------------------------------ */

static int last_status = -1;

void hs_gcall_finish(hs_gcall *c, int status, const char *message)
{
    (void)message;
    last_status = status;
    c->final_status = status;
}

void hs_gcall_fail(hs_gcall *c, const hs_fail *f)
{
    hs_gcall_finish(c, hs_err_grpc_status(f->id), f->message);
}

void hs_gcall_free(hs_gcall *c) { (void)c; }

/* ---- set-up -------------------------------------------------------------------------------- */

static void seed(const char *dir, const char *name, int rpc, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n + 1);
    buf[0] = (uint8_t)rpc;
    protobuf_c_message_pack(m, buf + 1);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, n + 1, f);
        fclose(f);
    }
    free(buf);
}

static int rpc_index(const char *name)
{
    for (size_t i = 0; i < hs_grpc_rpc_count(); i++)
        if (!strcmp(hs_grpc_rpc_at(i)->name, name))
            return (int)i;
    abort();
}

/* UpdatePayload, Scroll, SearchMultiCollection, FreezeCollection (fl: a Filter). */
static void write_later_seeds(const char *dir, Hyperspace__Filter *fl)
{
    uint32_t ids[3] = {7, 9, 99};
    char *keys[1] = {"price"};
    Hyperspace__UpdatePayloadRequest up = HYPERSPACE__UPDATE_PAYLOAD_REQUEST__INIT;
    up.collection = "f3";
    up.ids = ids;
    up.n_ids = 3;
    up.mode = HYPERSPACE__PAYLOAD_MODE__PAYLOAD_DELETE_KEYS;
    up.keys = keys;
    up.n_keys = 1;
    seed(dir, "update_payload", rpc_index("UpdatePayload"), &up.base);
    Hyperspace__ScrollRequest sc = HYPERSPACE__SCROLL_REQUEST__INIT;
    sc.collection = "f3";
    sc.limit = 2;
    sc.offset = 1;
    sc.filters = &fl;
    sc.n_filters = 1;
    seed(dir, "scroll", rpc_index("Scroll"), &sc.base);
    double v3[3] = {0.1, 0.2, 0.3};
    char *names[2] = {"f3", "c3"};
    Hyperspace__SearchMultiCollectionRequest mu = HYPERSPACE__SEARCH_MULTI_COLLECTION_REQUEST__INIT;
    mu.collections = names;
    mu.n_collections = 2;
    mu.vector = v3;
    mu.n_vector = 3;
    mu.top_k = 4;
    seed(dir, "search_multi", rpc_index("SearchMultiCollection"), &mu.base);
    Hyperspace__FreezeCollectionRequest fr = HYPERSPACE__FREEZE_COLLECTION_REQUEST__INIT;
    fr.name = "p3";
    seed(dir, "freeze", rpc_index("FreezeCollection"), &fr.base);
}

/* String ids: the calls that take or return them, on the fixture collection s3. */
static void write_sid_seeds(const char *dir)
{
    double v3[3] = {0.1, 0.2, 0.3};
    char *sids[3] = {"7b1e2c4d-0000-4000-8000-000000000001", "docs/caf\xc3\xa9.md", "x"};
    Hyperspace__InsertRequest ins = HYPERSPACE__INSERT_REQUEST__INIT;
    ins.collection = "s3";
    ins.string_id = sids[0];
    ins.vector = v3;
    ins.n_vector = 3;
    seed(dir, "sid_insert", rpc_index("Insert"), &ins.base);
    Hyperspace__VectorData vd = HYPERSPACE__VECTOR_DATA__INIT;
    vd.vector = v3;
    vd.n_vector = 3;
    vd.string_id = sids[1];
    Hyperspace__VectorData *vdp = &vd;
    Hyperspace__BatchInsertRequest bi = HYPERSPACE__BATCH_INSERT_REQUEST__INIT;
    bi.collection = "s3";
    bi.vectors = &vdp;
    bi.n_vectors = 1;
    seed(dir, "sid_batch_insert", rpc_index("BatchInsert"), &bi.base);
    Hyperspace__GetPointsRequest gp = HYPERSPACE__GET_POINTS_REQUEST__INIT;
    gp.collection = "s3";
    gp.string_ids = sids;
    gp.n_string_ids = 3;
    seed(dir, "sid_get_points", rpc_index("GetPoints"), &gp.base);
    Hyperspace__SearchRequest sr = HYPERSPACE__SEARCH_REQUEST__INIT;
    sr.collection = "s3";
    sr.vector = v3;
    sr.n_vector = 3;
    sr.top_k = 3;
    seed(dir, "sid_search", rpc_index("Search"), &sr.base);
    Hyperspace__UpdatePayloadRequest up = HYPERSPACE__UPDATE_PAYLOAD_REQUEST__INIT;
    Hyperspace__UpdatePayloadRequest__MetadataEntry me =
        HYPERSPACE__UPDATE_PAYLOAD_REQUEST__METADATA_ENTRY__INIT;
    me.key = "tag";
    me.value = "b";
    Hyperspace__UpdatePayloadRequest__MetadataEntry *mep = &me;
    up.collection = "s3";
    up.string_ids = sids;
    up.n_string_ids = 3;
    up.metadata = &mep;
    up.n_metadata = 1;
    seed(dir, "sid_update_payload", rpc_index("UpdatePayload"), &up.base);
    Hyperspace__ScrollRequest sc = HYPERSPACE__SCROLL_REQUEST__INIT;
    sc.collection = "s3";
    sc.limit = 1;
    sc.cursor = "a";
    seed(dir, "sid_scroll", rpc_index("Scroll"), &sc.base);
    Hyperspace__DeleteRequest dr = HYPERSPACE__DELETE_REQUEST__INIT;
    dr.collection = "s3";
    dr.string_id = sids[1];
    seed(dir, "sid_delete", rpc_index("Delete"), &dr.base);
    Hyperspace__CreateCollectionRequest cc = HYPERSPACE__CREATE_COLLECTION_REQUEST__INIT;
    cc.name = "x2";
    cc.dimension = 3;
    cc.metric = "l2";
    cc.id_type = "string";
    seed(dir, "sid_create", rpc_index("CreateCollection"), &cc.base);
}

static void write_seeds(const char *dir)
{
    double v3[3] = {0.1, 0.2, 0.3};
    Hyperspace__InsertRequest ins = HYPERSPACE__INSERT_REQUEST__INIT;
    ins.collection = "f3";
    ins.id = 7;
    ins.vector = v3;
    ins.n_vector = 3;
    Hyperspace__InsertRequest__MetadataEntry me = HYPERSPACE__INSERT_REQUEST__METADATA_ENTRY__INIT;
    me.key = "price";
    me.value = "100";
    Hyperspace__InsertRequest__MetadataEntry *mep = &me;
    ins.metadata = &mep;
    ins.n_metadata = 1;
    seed(dir, "insert", rpc_index("Insert"), &ins.base);
    Hyperspace__SearchRequest sr = HYPERSPACE__SEARCH_REQUEST__INIT;
    sr.collection = "p3";
    sr.vector = v3;
    sr.n_vector = 3;
    sr.top_k = 5;
    Hyperspace__Range rg = HYPERSPACE__RANGE__INIT;
    rg.key = "price";
    rg._gte_case = HYPERSPACE__RANGE___GTE_GTE;
    rg.gte = 50;
    Hyperspace__Filter fl = HYPERSPACE__FILTER__INIT;
    fl.condition_case = HYPERSPACE__FILTER__CONDITION_RANGE;
    fl.range = &rg;
    Hyperspace__Filter *flp = &fl;
    sr.filters = &flp;
    sr.n_filters = 1;
    seed(dir, "search", rpc_index("Search"), &sr.base);
    sr.collection = "f3";
    sr._hybrid_query_case = HYPERSPACE__SEARCH_REQUEST___HYBRID_QUERY_HYBRID_QUERY;
    sr.hybrid_query = "Red apple 15";
    sr._hybrid_alpha_case = HYPERSPACE__SEARCH_REQUEST___HYBRID_ALPHA_HYBRID_ALPHA;
    sr.hybrid_alpha = 0.25f;
    seed(dir, "search_hybrid", rpc_index("Search"), &sr.base);
    sr._hybrid_query_case = HYPERSPACE__SEARCH_REQUEST___HYBRID_QUERY__NOT_SET;
    sr._hybrid_alpha_case = HYPERSPACE__SEARCH_REQUEST___HYBRID_ALPHA__NOT_SET;
    Hyperspace__BatchSearchRequest bs = HYPERSPACE__BATCH_SEARCH_REQUEST__INIT;
    Hyperspace__SearchRequest *srp = &sr;
    bs.searches = &srp;
    bs.n_searches = 1;
    seed(dir, "search_batch", rpc_index("SearchBatch"), &bs.base);
    Hyperspace__VectorData vd = HYPERSPACE__VECTOR_DATA__INIT;
    vd.vector = v3;
    vd.n_vector = 3;
    vd.id = 9;
    Hyperspace__VectorData *vdp = &vd;
    Hyperspace__BatchInsertRequest bi = HYPERSPACE__BATCH_INSERT_REQUEST__INIT;
    bi.collection = "c3";
    bi.vectors = &vdp;
    bi.n_vectors = 1;
    seed(dir, "batch_insert", rpc_index("BatchInsert"), &bi.base);
    Hyperspace__CreateCollectionRequest cc = HYPERSPACE__CREATE_COLLECTION_REQUEST__INIT;
    cc.name = "x1";
    cc.dimension = 4;
    cc.metric = "poincare";
    seed(dir, "create", rpc_index("CreateCollection"), &cc.base);
    Hyperspace__DeleteRequest dr = HYPERSPACE__DELETE_REQUEST__INIT;
    dr.collection = "f3";
    dr.id = 7;
    seed(dir, "delete", rpc_index("Delete"), &dr.base);
    Hyperspace__ConfigUpdate cu = HYPERSPACE__CONFIG_UPDATE__INIT;
    cu.collection = "f3";
    cu._ef_search_case = HYPERSPACE__CONFIG_UPDATE___EF_SEARCH_EF_SEARCH;
    cu.ef_search = 50;
    seed(dir, "configure", rpc_index("Configure"), &cu.base);
    Hyperspace__DigestRequest dg = HYPERSPACE__DIGEST_REQUEST__INIT;
    dg.collection = "f3";
    seed(dir, "digest", rpc_index("GetDigest"), &dg.base);
    write_later_seeds(dir, &fl);
    write_sid_seeds(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_server_open("grpc");
    const char *seeds = getenv("HS_FUZZ_SEEDS");
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz_fixtures(); /* a DeleteCollection may have removed them */
    const hs_rpc *rpc = hs_grpc_rpc_at(data[0] % hs_grpc_rpc_count());
    if (!strcmp(rpc->name, "Monitor") || !strcmp(rpc->name, "SubscribeToEvents") ||
        !strcmp(rpc->name, "Replicate") || !strcmp(rpc->name, "ReplicateSnapshot"))
        return 0;
    hs_gcall c;
    memset(&c, 0, sizeof(c));
    c.rpc = rpc;
    c.auth.who.role = HS_ROLE_ADMIN;
    c.auth.who.global = true;
    snprintf(c.auth.tenant, sizeof(c.auth.tenant), "%s", HS_DEFAULT_TENANT);
    last_status = -1;
    hs_grpc_run(&c, data + 1, size - 1);
    if (last_status < 0) /* every RPC must answer */
        abort();
    if (last_status == GRPC_STATUS_OK && c.reply_len > 0 && !c.reply)
        abort();
    free(c.reply);
    fz_bound_collections();
    return 0;
}
