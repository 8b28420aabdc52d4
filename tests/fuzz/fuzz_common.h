/*
 * fuzz_common.h: helpers shared by the libFuzzer targets: a private scratch directory per
 * process, whole-file writes, and seed writing (HS_FUZZ_SEEDS=<dir> makes a target write its
 * seed inputs there and exit, so no binary seed files live in the repository).
 */
#ifndef HS_FUZZ_COMMON_H
#define HS_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hyperspace.h"
#include "storage/storage.h"

static char fuzz_dir[64];

static inline const char *fuzz_scratch(void)
{
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/hs-fuzz-%d-XXXXXX", (int)getpid());
        if (!mkdtemp(fuzz_dir))
            abort();
        hs_log_set_sink(NULL, NULL, HS_LOG_ERROR);
    }
    return fuzz_dir;
}

static inline void fuzz_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        abort();
    if (len && fwrite(data, 1, len, fp) != len)
        abort();
    fclose(fp);
}

static inline void fuzz_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        abort();
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *data = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(*data, 1, (size_t)n, fp);
    fclose(fp);
}

/* Writes one seed input when HS_FUZZ_SEEDS is set. */
static inline void fuzz_seed(const char *name, const void *data, size_t len)
{
    const char *dir = getenv("HS_FUZZ_SEEDS");
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fuzz_write_file(path, data, len);
}

#endif
