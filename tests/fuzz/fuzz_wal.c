/*
 * fuzz_wal.c: the write-ahead log's decoders on arbitrary bytes.  Each input becomes a log
 * segment file and the log is opened and replayed (record framing, checksums, torn-tail versus
 * corruption classification, truncation); the input's bytes are also given to hs_wal_decode
 * directly.  Seeds: a real segment with records of several sizes.
 */
#include <stdint.h>

#include "fuzz_common.h"

static int count_records(void *ctx, const hs_wal_record *r)
{
    (*(size_t *)ctx)++;
    volatile uint8_t sink = r->len ? r->payload[r->len - 1] : 0; /* touch the payload */
    (void)sink;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/wal", fuzz_scratch());
    mkdir(dir, 0755);
    hs_wal *w;
    if (hs_wal_open(dir, NULL, (hs_wal_pos){0, 0}, NULL, NULL, &w, NULL) != HS_OK)
        abort();
    for (uint64_t i = 1; i <= 6; i++) {
        uint8_t buf[HS_WAL_HEADER + 300];
        memset(buf + HS_WAL_HEADER, (int)i, sizeof(buf) - HS_WAL_HEADER);
        uint64_t t;
        hs_wal_append(w, (uint8_t)(i % 4 + 1), i, buf, (size_t)(i * 37 % 300), &t, NULL);
    }
    hs_wal_close(w);
    char path[256];
    snprintf(path, sizeof(path), "%s/%016x.wal", dir, 1);
    uint8_t *seg;
    size_t len;
    fuzz_read_file(path, &seg, &len);
    fuzz_seed("segment", seg, len);
    fuzz_seed("one-record", seg + HS_WAL_SEG_HEADER, len > 200 ? 200 : len);
    free(seg);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_wal_record r;
    hs_wal_decode(data, size, &r);
    char dir[128], path[256];
    snprintf(dir, sizeof(dir), "%s/w", fuzz_scratch());
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/%016x.wal", dir, 1);
    fuzz_write_file(path, data, size);
    hs_wal *w = NULL;
    size_t n = 0;
    if (hs_wal_open(dir, NULL, (hs_wal_pos){0, 0}, count_records, &n, &w, NULL) == HS_OK)
        hs_wal_close(w);
    hs_remove_tree(hs_io_posix(), dir);
    return 0;
}
