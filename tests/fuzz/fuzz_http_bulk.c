/*
 * fuzz_http_bulk.c: the binary bulk format application/x-hyperspace-f32 (spec http.md 5) as
 * POST /api/collections/{name}/insert/batch bodies.  The first input byte picks the collection
 * (l2, Poincaré or cosine, dimension 3) and the durability; the rest is the body.  Besides the
 * checks every HTTP answer gets, a 200 must have added exactly `count` points or replaced
 * existing ones (the live count never exceeds what was there plus count).
 */
#include "fuzz_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void write_seeds(const char *dir)
{
    unsigned char b[256];
    /* two points without ids, first_id 100 */
    memcpy(b + 1, "HSF1", 4);
    b[0] = 0;
    put32(b + 5, 3);
    put32(b + 9, 2);
    put32(b + 13, 0);
    put32(b + 17, 100);
    float v[6] = {0.1f, 0.2f, 0.3f, 0.25f, -0.5f, 0.125f};
    memcpy(b + 21, v, sizeof(v));
    fz_write_seed(dir, "plain", b, 21 + sizeof(v));
    /* ids and metadata */
    put32(b + 13, 3);
    put32(b + 21, 10);
    put32(b + 25, 11);
    memcpy(b + 29, v, sizeof(v));
    size_t at = 29 + sizeof(v);
    const char *meta = "{\"tag\":\"a\",\"n\":5}";
    put32(b + at, (uint32_t)strlen(meta));
    memcpy(b + at + 4, meta, strlen(meta));
    at += 4 + strlen(meta);
    put32(b + at, 0);
    at += 4;
    b[0] = 1;
    fz_write_seed(dir, "ids_meta", b, at);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_setup();
    const char *seeds = getenv("HS_FUZZ_SEEDS");
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

static uint64_t live(const char *name)
{
    hs_collection_stats st;
    hs_error err;
    int rc = hs_ops_stats_named(HS_DEFAULT_TENANT, name, &st, &err);
    if (rc != HS_OK) {
        fprintf(stderr, "stats of %s: %s\n", name, err.message);
        return 0;
    }
    if (getenv("HS_FUZZ_DEBUG"))
        fprintf(stderr, "stats of %s: count %llu loaded %d error '%s'\n", name,
                (unsigned long long)st.count, st.loaded, st.error);
    return st.count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *names[] = {"f3", "p3", "c3"};
    static const char *dur[] = {"", "?durability=async", "?durability=strict", "?durability=x"};
    const char *name = names[data[0] % 3];
    char path[128];
    snprintf(path, sizeof(path), "/api/collections/%s/insert/batch", name);
    fz_req fr;
    memset(&fr, 0, sizeof(fr));
    fr.headers[0] = (fz_pair){"x-api-key", FUZZ_KEY};
    fr.headers[1] = (fz_pair){"Content-Type", "application/x-hyperspace-f32"};
    fr.nheaders = 2;
    const char *d = dur[(data[0] >> 2) % 4];
    if (*d) {
        fr.args[0] = (fz_pair){"durability", (char *)strchr(d, '=') + 1};
        fr.nargs = 1;
    }
    uint64_t before = live(name);
    uint32_t count = 0;
    if (size >= 13)
        memcpy(&count, data + 9, 4); /* little-endian hosts only (x86-64, aarch64) */
    fz_run("POST", path, &fr, (const char *)data + 1, size - 1);
    uint64_t after = live(name);
    if (after > before + count) {
        fprintf(stderr, "collection %s grew from %llu to %llu points by a batch of %u\n", name,
                (unsigned long long)before, (unsigned long long)after, count);
        abort();
    }
    return 0;
}
