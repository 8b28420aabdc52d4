/*
 * texmex.h: TEXMEX files (.fvecs float32 rows, .ivecs int32 rows: each row a little-endian
 * int32 dimension followed by its components) read whole into memory, for the benchmark tools.
 */
#ifndef HS_BENCH_TEXMEX_H
#define HS_BENCH_TEXMEX_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct texmex {
    size_t n, dim;
    float *f;   /* .fvecs */
    int32_t *i; /* .ivecs */
} texmex;

/* Reads a file of 4-byte components; on error prints the reason and exits with 1. */
static inline texmex texmex_read(const char *path, bool ints)
{
    texmex m = {0};
    FILE *f = fopen(path, "rb");
    int32_t d;
    const char *bad = NULL;
    if (!f)
        bad = strerror(errno);
    else if (fread(&d, 4, 1, f) != 1 || d <= 0 || d > 1 << 20)
        bad = "bad header";
    long size = 0;
    size_t rec = 0;
    if (!bad) {
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        rec = 4 + (size_t)d * 4;
        if (size < 0 || (size_t)size % rec)
            bad = "file size is not a multiple of the record size";
    }
    void *data = NULL;
    if (!bad) {
        m.n = (size_t)size / rec;
        m.dim = (size_t)d;
        data = malloc(m.n * m.dim * 4 + 1);
        if (!data)
            bad = "out of memory";
    }
    for (size_t r = 0; !bad && r < m.n; r++)
        if (fread(&d, 4, 1, f) != 1 || (size_t)d != m.dim ||
            fread((char *)data + r * m.dim * 4, 4, m.dim, f) != m.dim)
            bad = "short or inconsistent record";
    if (f)
        fclose(f);
    if (bad) {
        fprintf(stderr, "%s: %s\n", path, bad);
        exit(1);
    }
    if (ints)
        m.i = data;
    else
        m.f = data;
    return m;
}

#endif /* HS_BENCH_TEXMEX_H */
