/*
 * fuzz_segment.c: vector segment files on arbitrary bytes: the header check, and opening a
 * segment set whose first file holds the input.  Seeds: a real segment header.
 */
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!getenv("HS_FUZZ_SEEDS"))
        return 0;
    char dir[128], path[256];
    snprintf(dir, sizeof(dir), "%s/seed", fuzz_scratch());
    hs_segset *s;
    if (hs_segset_open(hs_io_posix(), dir, "", 64, 8, &s, NULL) != HS_OK ||
        hs_segset_reserve(s, 10, NULL) != HS_OK)
        abort();
    hs_segset_close(s);
    snprintf(path, sizeof(path), "%s/000000.seg", dir);
    uint8_t *seg;
    size_t len;
    fuzz_read_file(path, &seg, &len);
    fuzz_seed("segment", seg, len > 8192 ? 8192 : len);
    free(seg);
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_seg_header_check(data, size, 64, 8, 0);
    if (size >= 8)
        hs_seg_header_check(data, size, data[0] | (uint32_t)data[1] << 8, data[2] & 31, data[3]);
    char dir[128], path[256];
    snprintf(dir, sizeof(dir), "%s/v", fuzz_scratch());
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/000000.seg", dir);
    fuzz_write_file(path, data, size);
    hs_segset *s;
    if (hs_segset_open(hs_io_posix(), dir, "", 64, 8, &s, NULL) == HS_OK) {
        const hs_chunks *t = hs_segset_chunks(s);
        if (hs_chunks_capacity(t) > 0 && size >= HS_SEG_HEADER + 64) {
            volatile uint8_t b = *(const uint8_t *)hs_chunks_at(t, 0);
            (void)b;
        }
        hs_segset_close(s);
    }
    hs_remove_tree(hs_io_posix(), dir);
    return 0;
}
