/*
 * persist.c: a collection's files (docs/file-format.md):
 *   collection.json                 parameters (atomic replace)
 *   wal/                            the log (storage/wal.c)
 *   vectors-<gen>/                  stored vectors (storage/segment.c); a rebuild writes gen+1
 *   checkpoint-<seq as 16 hex>.ckpt sections STATE, IDS, LIVE, META, GRAPH, DIGEST, PIDX, VECS,
 *                                   CODES
 *   manifest                        the newest checkpoint and the log segments (storage/manifest.c)
 * Loading = newest checkpoint + replay of the log from the position it records.  Checkpoint =
 * (writers paused) rotate the log, sync the vectors, capture the state; (writers running) write
 * the file, record it in the manifest, then delete older checkpoints and the log segments it
 * covers.  A load verifies every file against the manifest and the checkpoint before use.
 *
 * Locking: ckpt_mu serialises checkpoints and rebuilds of one collection (taken before wlock).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/error.h"
#include "util/log.h"
#include "util/meta.h"

#define STATE_LEN 64u
#define STATE_VERSION 1u
#define VECS_VERSION 1u
#define VECS_FIXED 16u /* version, count, record length, shift */
#define CODES_VERSION 1u
#define CODES_FIXED 16u /* version, code, record length, dimension */
#define VECS_ENTRY 16u
/* collection.json: format 1 (no checksum, no manifest) is read and upgraded by the first load;
 * format 2 ends with its CRC-32C and comes with a manifest */
#define CONFIG_FORMAT HS_CONFIG_FORMAT           /* subdirectories wal/ and vectors-<gen>/ */
#define CONFIG_FORMAT_FLAT HS_CONFIG_FORMAT_FLAT /* every file in the collection's directory */
#define CONFIG_CRC_KEY "\n  \"crc32c\": "

typedef struct coll_state {
    uint32_t gen;
    uint64_t clock;
    hs_wal_pos wal;
    uint32_t nslots, nlive, index_low;
    uint64_t disk_bytes;
    uint64_t floor; /* the log floor (hs_coll.log_floor); has_floor: written by this build */
    bool has_floor;
} coll_state;

#define STATE_HAS_FLOOR 1u /* STATE flags (bytes 52..55) */


/* ---- collection.json -------------------------------------------------------------------- */

static const char *metric_name(hs_metric m)
{
    return m == HS_METRIC_L2         ? "l2"
           : m == HS_METRIC_POINCARE ? "poincare"
           : m == HS_METRIC_LORENTZ  ? "lorentz"
                                     : "cosine";
}

static const char *quant_name(hs_quantization q)
{
    return q == HS_QUANT_SCALAR ? "scalar" : q == HS_QUANT_BINARY ? "binary" : "none";
}

/* The manifest of a flat collection lives in its collection.json (a hex member before the
 * checksum): one small file instead of two. */
static char *manifest_hex(const hs_manifest *m, hs_error *err)
{
    uint8_t *b;
    size_t len;
    if (hs_manifest_encode(m, &b, &len, err) != HS_OK)
        return NULL;
    char *hex = malloc(2 * len + 1);
    if (hex)
        for (size_t i = 0; i < len; i++)
            snprintf(hex + 2 * i, 3, "%02x", b[i]);
    free(b);
    if (!hex)
        hs_error_set(err, HS_ENOMEM, "Out of memory");
    return hex;
}

/* The text of collection.json (malloc'd into *out). */
static int config_text(const centry *e, const hs_manifest *m, char **out, size_t *out_len,
                       hs_error *err)
{
    bool flat = e->format == CONFIG_FORMAT_FLAT;
    char *hex = flat && m ? manifest_hex(m, err) : NULL;
    if (flat && m && !hex)
        return err ? err->rc : HS_ENOMEM;
    size_t cap = 1024 + (hex ? strlen(hex) : 0);
    char *buf = malloc(cap);
    if (!buf) {
        free(hex);
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    }
    const hs_collection_config *c = &e->config;
    int n = snprintf(buf, cap,
                     "{\n  \"format\": %d,\n  \"tenant\": \"%s\",\n  \"name\": \"%s\",\n"
                     "  \"dimension\": %u,\n  \"metric\": \"%s\",\n  \"quantization\": \"%s\",\n"
                     "  \"m\": %u,\n  \"ef_construction\": %u,\n  \"ef_search\": %u,\n"
                     "  \"created_clock\": %" PRIu64 ",",
                     flat ? CONFIG_FORMAT_FLAT : CONFIG_FORMAT, e->tenant, e->name, c->dimension,
                     metric_name(c->metric), quant_name(c->quantization), c->m,
                     c->ef_construction, c->ef_search, e->created_clock);
    if (__atomic_load_n(&e->frozen, __ATOMIC_ACQUIRE)) /* written only when set */
        n += snprintf(buf + n, cap - (size_t)n, "\n  \"frozen\": true,");
    if (c->id_type == HS_ID_STRING) /* likewise: integer ids are the absent member */
        n += snprintf(buf + n, cap - (size_t)n, "\n  \"id_type\": \"string\",");
    if (c->oversampling > 0) /* likewise: 0 (the quantization's default) is the absent member */
        n += snprintf(buf + n, cap - (size_t)n, "\n  \"oversampling\": %.2f,", c->oversampling);
    if (hex)
        n += snprintf(buf + n, cap - (size_t)n, "\n  \"manifest\": \"%s\",", hex);
    /* the checksum covers every byte before its own line */
    n += snprintf(buf + n, cap - (size_t)n, CONFIG_CRC_KEY "%u\n}\n",
                  hs_crc32c(0, buf, (size_t)n));
    free(hex);
    *out = buf;
    *out_len = (size_t)n;
    return HS_OK;
}

int hs_config_write_m(hs_db *db, const char *dir, const centry *e, const hs_manifest *m,
                      hs_error *err)
{
    char *buf;
    size_t len;
    int rc = config_text(e, m, &buf, &len, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_file_replace(db->io, dir, "collection.json", buf, len, err);
    free(buf);
    return rc;
}

int hs_config_write_new(hs_db *db, const char *dir, const centry *e, const hs_manifest *m,
                        int *fd_out, hs_error *err)
{
    char *buf, path[HS_PATH_MAX];
    size_t len;
    *fd_out = -1;
    if (hs_path(path, sizeof(path), "%s/collection.json", dir) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long: %s", dir);
    int rc = config_text(e, m, &buf, &len, err);
    if (rc != HS_OK)
        return rc;
    int fd = db->io->open(db->io->ctx, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    long n = fd < 0 ? fd : db->io->pwrite(db->io->ctx, fd, buf, len, 0);
    int frc = fd < 0 ? fd : n == (long)len ? 0 : (n < 0 ? (int)n : -EIO);
    free(buf);
    if (frc < 0) {
        if (fd >= 0)
            db->io->close(db->io->ctx, fd);
        return hs_error_set(err, hs_rc_from_errno(frc), "%s: %s", path, strerror(-frc));
    }
    if (db->io->writeback)
        db->io->writeback(db->io->ctx, fd); /* a hint: its blocks join the log's commit */
    *fd_out = fd;
    return HS_OK;
}

int hs_config_write(hs_db *db, const char *dir, const centry *e, hs_error *err)
{
    return hs_config_write_m(db, dir, e, NULL, err);
}

/* Writes c's manifest m: into collection.json for a flat collection (its parameters with it),
 * else the manifest file.  Caller holds c->man_mu (which also serialises collection.json). */
static int manifest_write_locked(hs_coll *c, const hs_manifest *m, hs_error *err)
{
    if (c->e->format == CONFIG_FORMAT_FLAT)
        return hs_config_write_m(c->db, c->e->dir, c->e, m, err);
    return hs_manifest_write(c->db->io, c->e->dir, m, err);
}

int hs_coll_config_write(hs_coll *c, const centry *updated, hs_error *err)
{
    pthread_mutex_lock(&c->man_mu);
    int rc = hs_config_write_m(c->db, c->e->dir, updated, &c->man, err);
    if (rc == HS_OK) {
        pthread_mutex_lock(&c->db->lock);
        c->e->config = updated->config;
        __atomic_store_n(&c->e->frozen, updated->frozen, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&c->db->lock);
    }
    pthread_mutex_unlock(&c->man_mu);
    return rc;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* The manifest member of a flat collection.json (m zeroed when absent: HS_ENOTFOUND). */
static int json_manifest(const cJSON *j, hs_manifest *m)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "manifest");
    if (!cJSON_IsString(v))
        return HS_ENOTFOUND;
    size_t n = strlen(v->valuestring);
    uint8_t *b = n % 2 == 0 ? malloc(n / 2 + 1) : NULL;
    if (!b)
        return HS_ECORRUPT;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(v->valuestring[i]), lo = hexval(v->valuestring[i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return HS_ECORRUPT;
        }
        b[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    int rc = hs_manifest_parse(b, n / 2, m);
    free(b);
    return rc;
}

static bool json_uint(const cJSON *j, const char *key, uint64_t max, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return false;
    *out = (uint64_t)v->valuedouble;
    return true;
}

int hs_config_read(hs_db *db, const char *dir, centry *e, hs_error *err)
{
    return hs_config_read_m(db, dir, e, NULL, err);
}

int hs_config_read_m(hs_db *db, const char *dir, centry *e, hs_manifest *man, hs_error *err)
{
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/collection.json", dir) != HS_OK)
        return hs_error_set(err, HS_ERANGE, "path too long");
    char *data;
    size_t len;
    int rc = hs_file_read(db->io, path, &data, &len, 4u << 20, err);
    if (rc != HS_OK)
        return rc;
    /* the checksum line, when there is one, must hold the CRC-32C of everything before it */
    const char *line = strstr(data, CONFIG_CRC_KEY);
    bool sum_ok = false;
    if (line) {
        const char *num = line + strlen(CONFIG_CRC_KEY);
        char *rest;
        unsigned long v = strtoul(num, &rest, 10);
        sum_ok = rest > num && *num >= '0' && *num <= '9' && !strcmp(rest, "\n}\n") &&
                 rest + 3 == data + len && v == hs_crc32c(0, data, (size_t)(line - data));
    }
    cJSON *j = cJSON_ParseWithLength(data, len);
    free(data);
    uint64_t fmt, dim, m, efc, efs, clock;
    const cJSON *metric = cJSON_GetObjectItemCaseSensitive(j, "metric");
    const cJSON *quant = cJSON_GetObjectItemCaseSensitive(j, "quantization");
    const cJSON *frozen = cJSON_GetObjectItemCaseSensitive(j, "frozen"); /* optional */
    const cJSON *idt = cJSON_GetObjectItemCaseSensitive(j, "id_type");   /* optional */
    const cJSON *ovs = cJSON_GetObjectItemCaseSensitive(j, "oversampling"); /* optional */
    bool ok = j && json_uint(j, "format", 1000, &fmt) && json_uint(j, "dimension", HS_MAX_DIM, &dim) &&
              dim >= 1 && json_uint(j, "m", HS_HNSW_MAX_M, &m) && m >= HS_HNSW_MIN_M &&
              json_uint(j, "ef_construction", 10000, &efc) &&
              json_uint(j, "ef_search", 10000, &efs) &&
              json_uint(j, "created_clock", UINT64_MAX, &clock) && cJSON_IsString(metric) &&
              cJSON_IsString(quant) && (!frozen || cJSON_IsBool(frozen)) &&
              (!idt || (cJSON_IsString(idt) && (!strcmp(idt->valuestring, "string") ||
                                                !strcmp(idt->valuestring, "integer")))) &&
              (!ovs || (cJSON_IsNumber(ovs) && ovs->valuedouble >= 1 &&
                        ovs->valuedouble <= HS_OVERSAMPLING_MAX));
    bool is_frozen = ok && frozen && cJSON_IsTrue(frozen);
    if ((line || (ok && fmt >= 2)) && !sum_ok) {
        cJSON_Delete(j);
        return hs_error_set(err, HS_ECORRUPT, "%s: checksum mismatch or missing", path);
    }
    if (ok && fmt != 1 && fmt != CONFIG_FORMAT && fmt != CONFIG_FORMAT_FLAT) {
        cJSON_Delete(j);
        return hs_error_set(err, HS_EVERSION, "%s: unsupported format %" PRIu64, path, fmt);
    }
    if (ok && fmt == CONFIG_FORMAT_FLAT && man) {
        int mrc = json_manifest(j, man);
        if (mrc != HS_OK) {
            cJSON_Delete(j);
            return hs_error_set(err, mrc == HS_ENOMEM ? HS_ENOMEM : HS_ECORRUPT,
                                "%s: the manifest member is %s", path,
                                mrc == HS_ENOTFOUND ? "missing" : "damaged");
        }
    }
    hs_collection_config c = {0};
    if (ok) {
        const char *ms = metric->valuestring, *qs = quant->valuestring;
        c.metric = !strcmp(ms, "l2")         ? HS_METRIC_L2
                   : !strcmp(ms, "poincare") ? HS_METRIC_POINCARE
                   : !strcmp(ms, "lorentz")  ? HS_METRIC_LORENTZ
                                             : HS_METRIC_COSINE;
        ok = !strcmp(ms, "l2") || !strcmp(ms, "poincare") || !strcmp(ms, "lorentz") ||
             !strcmp(ms, "cosine");
        c.quantization = !strcmp(qs, "scalar") ? HS_QUANT_SCALAR
                         : !strcmp(qs, "binary") ? HS_QUANT_BINARY
                                                 : HS_QUANT_NONE;
        ok = ok && (!strcmp(qs, "scalar") || !strcmp(qs, "binary") || !strcmp(qs, "none"));
        c.dimension = (uint32_t)dim;
        c.m = (uint32_t)m;
        c.ef_construction = (uint32_t)efc;
        c.ef_search = (uint32_t)efs;
        c.id_type = idt && !strcmp(idt->valuestring, "string") ? HS_ID_STRING : HS_ID_INTEGER;
        c.oversampling = ovs ? ovs->valuedouble : 0;
    }
    cJSON_Delete(j);
    if (!ok)
        return hs_error_set(err, HS_ECORRUPT, "%s: invalid collection parameters", path);
    e->config = c;
    e->created_clock = clock;
    e->format = (uint32_t)fmt;
    __atomic_store_n(&e->frozen, is_frozen, __ATOMIC_RELEASE);
    return HS_OK;
}

/* ---- checkpoint files --------------------------------------------------------------------- */

typedef struct ckpt_scan {
    const hs_io_ops *io;
    const char *dir;
    uint64_t best;
    bool found;
    bool clean; /* remove the files of interrupted checkpoints (only their owner may) */
} ckpt_scan;

static int scan_ckpt(void *arg, const char *name)
{
    ckpt_scan *s = arg;
    unsigned long long seq;
    char tail[16];
    if (sscanf(name, "checkpoint-%16llx%15s", &seq, tail) != 2)
        return 0;
    if (!strcmp(tail, ".ckpt")) {
        if (!s->found || seq > s->best)
            s->best = seq;
        s->found = true;
    } else if (s->clean && !strcmp(tail, ".ckpt.tmp")) {
        char path[HS_PATH_MAX];
        if (hs_path(path, sizeof(path), "%s/%s", s->dir, name) == HS_OK)
            s->io->unlink(s->io->ctx, path); /* an interrupted checkpoint */
    }
    return 0;
}

static bool newest_ckpt(const hs_io_ops *io, const char *dir, uint64_t *seq)
{
    ckpt_scan s = {io, dir, 0, false, true};
    io->list(io->ctx, dir, scan_ckpt, &s);
    *seq = s.best;
    return s.found;
}

static void ckpt_path(const char *dir, uint64_t seq, char *buf, size_t len)
{
    hs_path(buf, len, "%s/checkpoint-%016" PRIx64 ".ckpt", dir, seq);
}

static bool state_decode(const uint8_t *b, size_t len, coll_state *st)
{
    if (len != STATE_LEN || hs_get_le32(b) != STATE_VERSION)
        return false;
    st->gen = hs_get_le32(b + 4);
    st->clock = hs_get_le64(b + 8);
    st->wal.seg = hs_get_le64(b + 16);
    st->wal.off = hs_get_le64(b + 24);
    st->nslots = hs_get_le32(b + 32);
    st->nlive = hs_get_le32(b + 36);
    st->index_low = hs_get_le32(b + 40);
    st->floor = hs_get_le64(b + 44);
    st->has_floor = (hs_get_le32(b + 52) & STATE_HAS_FLOOR) != 0;
    st->disk_bytes = hs_get_le64(b + 56);
    return st->nlive <= st->nslots && st->index_low <= st->nslots;
}

static void state_encode(const coll_state *st, uint8_t *b)
{
    memset(b, 0, STATE_LEN);
    hs_put_le32(b, STATE_VERSION);
    hs_put_le32(b + 4, st->gen);
    hs_put_le64(b + 8, st->clock);
    hs_put_le64(b + 16, st->wal.seg);
    hs_put_le64(b + 24, st->wal.off);
    hs_put_le32(b + 32, st->nslots);
    hs_put_le32(b + 36, st->nlive);
    hs_put_le32(b + 40, st->index_low);
    hs_put_le64(b + 44, st->floor);
    hs_put_le32(b + 52, STATE_HAS_FLOOR);
    hs_put_le64(b + 56, st->disk_bytes);
}

/* The log floor a checkpoint's state implies: its own, or (written before log retention, when
 * a checkpoint removed all the log it covered) its clock. */
static uint64_t state_floor(const coll_state *st) { return st->has_floor ? st->floor : st->clock; }

uint64_t hs_ckpt_log_floor(hs_db *db, const char *dir)
{
    /* a checkpoint may be under way: its temporary file is left alone, and the newest file
     * found may be replaced (removed) before it is read, so the look is repeated */
    for (int tries = 0; tries < 3; tries++) {
        ckpt_scan scan = {db->io, dir, 0, false, false};
        db->io->list(db->io->ctx, dir, scan_ckpt, &scan);
        if (!scan.found)
            return 0;
        char path[HS_PATH_MAX];
        ckpt_path(dir, scan.best, path, sizeof(path));
        uint8_t buf[STATE_LEN];
        size_t len = 0;
        coll_state st;
        if (hs_ckpt_peek(db->io, path, HS_SEC_STATE, buf, sizeof(buf), &len, NULL) == HS_OK &&
            state_decode(buf, len, &st))
            return state_floor(&st);
    }
    return UINT64_MAX; /* unreadable: nothing can be vouched for */
}

/* Sets e->replay_pending when the collection's log holds writes past `from`. */
static void check_pending(hs_db *db, centry *e, hs_wal_pos from)
{
    char wal[HS_PATH_MAX];
    hs_coll_wal_dir(e, wal, sizeof(wal));
    static const uint8_t changes[] = {HS_REC_UPSERT, HS_REC_DELETE, HS_REC_UPSERT_SID,
                                      HS_REC_DELETE_SID};
    bool pending = false;
    if (hs_wal_pending(db->io, wal, from, changes, 4, &pending) == HS_OK)
        e->replay_pending = pending;
}

void hs_coll_cold_stats(hs_db *db, centry *e)
{
    e->cold_clock = e->created_clock;
    uint64_t seq;
    if (!newest_ckpt(db->io, e->dir, &seq)) {
        check_pending(db, e, (hs_wal_pos){0, 0});
        return;
    }
    char path[HS_PATH_MAX];
    ckpt_path(e->dir, seq, path, sizeof(path));
    uint8_t buf[STATE_LEN];
    size_t len = 0;
    coll_state st;
    if (hs_ckpt_peek(db->io, path, HS_SEC_STATE, buf, sizeof(buf), &len, NULL) == HS_OK &&
        state_decode(buf, len, &st)) {
        e->cold_count = st.nlive;
        e->cold_deleted = st.nslots - st.nlive;
        e->cold_clock = HS_MAX(st.clock, e->created_clock);
        e->cold_disk = st.disk_bytes;
        check_pending(db, e, st.wal);
    }
}

int hs_coll_newest_ckpt(hs_db *db, const char *dir, hs_ckpt_info *out, hs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!newest_ckpt(db->io, dir, &out->seq))
        return HS_ENOTFOUND;
    char path[HS_PATH_MAX];
    ckpt_path(dir, out->seq, path, sizeof(path));
    uint8_t buf[STATE_LEN];
    size_t len = 0;
    coll_state st;
    int rc = hs_ckpt_peek(db->io, path, HS_SEC_STATE, buf, sizeof(buf), &len, err);
    if (rc == HS_OK && !state_decode(buf, len, &st))
        rc = hs_error_set(err, HS_ECORRUPT, "%s: bad STATE section", path);
    if (rc != HS_OK)
        return rc;
    out->gen = st.gen;
    out->clock = st.clock;
    out->wal = st.wal;
    out->nslots = st.nslots;
    return HS_OK;
}

/* ---- tables ----------------------------------------------------------------------------- */

int hs_coll_open_tables(hs_coll *c, hs_error *err)
{
    const hs_collection_config *cfg = &c->cfg;
    c->f64 = cfg->metric == HS_METRIC_POINCARE || cfg->metric == HS_METRIC_LORENTZ;
    int rc = hs_space_init(&c->full, cfg->metric, c->f64 ? HS_CODE_F64 : HS_CODE_F32,
                           cfg->dimension);
    c->quantized = cfg->quantization != HS_QUANT_NONE;
    c->trav = c->full;
    bool lorentz = cfg->metric == HS_METRIC_LORENTZ;
    /* a hyperboloid point's code is that of its image in the ball (hs_coll_encode_code) */
    if (rc == HS_OK && c->quantized)
        rc = hs_space_init(&c->trav, lorentz ? HS_METRIC_POINCARE : cfg->metric,
                           cfg->quantization == HS_QUANT_SCALAR ? HS_CODE_SQ8 : HS_CODE_BIN,
                           lorentz ? cfg->dimension - 1 : cfg->dimension);
    if (rc == HS_OK)
        rc = hs_chunks_init(&c->slot_ids, sizeof(uint64_t), 12);
    if (rc == HS_OK)
        rc = hs_chunks_init(&c->meta, sizeof(uint8_t *), 12);
    c->sid = cfg->id_type == HS_ID_STRING;
    if (rc == HS_OK && c->sid)
        rc = hs_chunks_init(&c->sids, sizeof(uint8_t *), 12);
    hs_sidmap_init(&c->smap);
    if (rc == HS_OK && c->quantized)
        rc = hs_chunks_init(&c->codes, c->trav.rec_len, HS_CODES_SHIFT);
    /* the narrow copy starts on (an empty collection is exact) where it can exist: bfloat16
     * copies of float32 records, float32 copies of a Poincare collection's float64 records */
    if (rc == HS_OK && !c->quantized && !c->db->opts.no_narrow &&
        hs_space_init(&c->narrow_sp, cfg->metric, c->f64 ? HS_CODE_F64N : HS_CODE_BF16,
                      cfg->dimension) == HS_OK &&
        hs_chunks_init(&c->narrow, c->narrow_sp.rec_len, HS_CODES_SHIFT) == HS_OK)
        c->narrow_on = true;
    c->scratch = malloc((size_t)cfg->dimension * sizeof(double));
    c->codebuf = malloc((size_t)cfg->dimension * sizeof(double));
    c->hashbuf = malloc(HS_SID_MAX + 8 * (size_t)cfg->dimension);
    if (rc == HS_OK && (!c->scratch || !c->codebuf || !c->hashbuf))
        rc = HS_ENOMEM;
    hs_idmap_init(&c->ids);
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->man_mu, NULL);
    pthread_mutex_init(&c->ckpt_mu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&c->index_mu, NULL);
    pthread_cond_init(&c->index_cv, NULL);
    if (rc != HS_OK)
        return hs_error_set(err, rc, "cannot set up the collection's tables");
    return HS_OK;
}

int hs_coll_reserve(hs_coll *c, uint64_t n, hs_error *err)
{
    int rc = hs_segset_reserve(c->vecs, n, err);
    if (rc == HS_ENOSPC)
        return hs_coll_no_space(c, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_chunks_reserve(&c->slot_ids, n);
    if (rc == HS_OK)
        rc = hs_chunks_reserve(&c->meta, n);
    if (rc == HS_OK && c->sid)
        rc = hs_chunks_reserve(&c->sids, n);
    if (rc == HS_OK && c->quantized)
        rc = hs_chunks_reserve(&c->codes, n);
    if (rc == HS_OK && c->narrow_on)
        rc = hs_chunks_reserve(&c->narrow, n);
    size_t words = (size_t)((n + 63) / 64);
    if (rc == HS_OK && words > c->live_words) {
        size_t nw = HS_MAX(words, c->live_words * 2);
        uint64_t *nl = calloc(nw, sizeof(*nl));
        if (!nl) {
            rc = HS_ENOMEM;
        } else {
            pthread_rwlock_wrlock(&c->rw);
            if (c->live_words)
                memcpy(nl, c->live, c->live_words * sizeof(*nl));
            free(c->live);
            c->live = nl;
            c->live_words = nw;
            pthread_rwlock_unlock(&c->rw);
        }
    }
    if (rc != HS_OK)
        return hs_error_set(err, rc, "Out of memory");
    return HS_OK;
}

/* The string ids: the slot table, the blobs and the map (an estimate read without a lock). */
static uint64_t sid_memory(const hs_coll *c, uint64_t nslots)
{
    if (!c->sid)
        return 0;
    return nslots * sizeof(uint8_t *) + __atomic_load_n(&c->sid_bytes, __ATOMIC_RELAXED) +
           hs_sidmap_bytes(&c->smap);
}

uint64_t hs_coll_memory(hs_coll *c)
{
    hs_hnsw_stats st;
    hs_hnsw_stats_get(c->graph, &st);
    uint64_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
    uint64_t mem = st.graph_bytes + n * (sizeof(uint64_t) + sizeof(uint8_t *)) +
                   c->live_words * 8 + hs_idmap_bytes(&c->ids) +
                   __atomic_load_n(&c->meta_bytes, __ATOMIC_RELAXED) + sid_memory(c, n);
    mem += n * (c->quantized                                         ? c->trav.rec_len
                : __atomic_load_n(&c->narrow_on, __ATOMIC_RELAXED) ? c->narrow_sp.rec_len
                                                                   : c->full.rec_len);
    pthread_rwlock_rdlock(&c->rw);
    if (c->pidx)
        mem += hs_pidx_memory(c->pidx);
    pthread_rwlock_unlock(&c->rw);
    return mem;
}

void hs_coll_resident(hs_coll *c, hs_collection_stats *st)
{
    hs_hnsw_stats gs;
    hs_hnsw_stats_get(c->graph, &gs);
    uint64_t n = __atomic_load_n(&c->nslots, __ATOMIC_ACQUIRE);
    st->resident_graph_bytes = gs.resident_bytes;
    pthread_rwlock_rdlock(&c->rw); /* the narrow copy is dropped under it */
    st->resident_codes_bytes = c->quantized  ? hs_chunks_resident_bytes(&c->codes, n)
                               : c->narrow_on ? hs_chunks_resident_bytes(&c->narrow, n)
                                              : 0;
    pthread_rwlock_unlock(&c->rw);
    st->resident_vector_bytes = hs_segset_resident_bytes(c->vecs);
    uint64_t payload = n * (sizeof(uint64_t) + sizeof(uint8_t *)) + c->live_words * 8 +
                       hs_idmap_bytes(&c->ids) + __atomic_load_n(&c->meta_bytes, __ATOMIC_RELAXED) +
                       sid_memory(c, n);
    pthread_rwlock_rdlock(&c->rw);
    if (c->pidx)
        payload += hs_pidx_memory(c->pidx);
    pthread_rwlock_unlock(&c->rw);
    st->resident_payload_bytes = payload;
}

void hs_coll_vectors_cold(hs_coll *c)
{
    if (hs_coll_walks_off_vectors(c))
        hs_segset_release(c->vecs);
}

void hs_coll_narrow_off(hs_coll *c, const char *why)
{
    if (!c->narrow_on)
        return;
    __atomic_store_n(&c->narrow_on, false, __ATOMIC_RELEASE);
    hs_chunks_destroy(&c->narrow);
    if (c->e) /* (a collection being set up has no log line worth writing) */
        hs_log(HS_LOG_INFO, "collection '%s': %s: searches walk the full records from now on",
               c->e->name, why);
}

void hs_coll_narrow_put(hs_coll *c, uint32_t slot, const void *rec)
{
    if (!c->narrow_on)
        return;
    void *out = hs_chunks_at(&c->narrow, slot);
    if (c->f64) { /* converted in one pass, the record's alpha copied (not computed again) */
        const double *x = rec;
        float *v = out;
        bool exact = true;
        for (uint32_t j = 0; j < c->cfg.dimension; j++) {
            v[j] = (float)x[j];
            exact &= (double)v[j] == x[j];
        }
        if (!exact) {
            hs_coll_narrow_off(c, "a vector is not exactly float32");
            return;
        }
        for (uint32_t j = c->cfg.dimension; j < c->narrow_sp.kdim; j++)
            v[j] = 0.0f; /* the kernels' padding */
        if (c->full.alpha_off) /* (Poincare: the only metric with a float64 copy) */
            memcpy((char *)out + c->narrow_sp.alpha_off, (const char *)rec + c->full.alpha_off,
                   sizeof(double));
        return;
    }
    if (!hs_bf16_exact(rec, c->cfg.dimension)) {
        hs_coll_narrow_off(c, "a vector is not exactly bfloat16");
        return;
    }
    hs_space_encode_f32(&c->narrow_sp, rec, out);
}

void hs_coll_narrow_decode(const hs_coll *c, uint32_t slot, void *buf)
{
    const void *r = hs_chunks_at(&c->narrow, slot);
    memset(buf, 0, c->full.rec_len);
    if (c->f64) {
        const float *v = r;
        for (uint32_t j = 0; j < c->cfg.dimension; j++)
            ((double *)buf)[j] = (double)v[j];
        if (c->full.alpha_off) /* the alpha the record was encoded with */
            memcpy((char *)buf + c->full.alpha_off, (const char *)r + c->narrow_sp.alpha_off,
                   sizeof(double));
        return;
    }
    const uint16_t *h = r;
    for (uint32_t j = 0; j < c->cfg.dimension; j++)
        ((float *)buf)[j] = hs_bf16_to_f32(h[j]);
}

void hs_coll_free(hs_coll *c)
{
    if (!c)
        return;
    hs_wal_close(c->wal);
    hs_pidx_free(c->pidx);
    for (uint64_t i = 0; i < hs_chunks_capacity(&c->meta); i++)
        hs_meta_free(c, *(uint8_t **)hs_chunks_at(&c->meta, (uint32_t)i));
    free(c->meta_arena);
    for (uint64_t i = 0; c->sid && i < hs_chunks_capacity(&c->sids); i++)
        hs_sid_free(c, *(uint8_t **)hs_chunks_at(&c->sids, (uint32_t)i));
    free(c->sid_arena);
    if (c->sid)
        hs_chunks_destroy(&c->sids);
    hs_sidmap_destroy(&c->smap);
    hs_hnsw_free(c->graph);
    hs_segset_close(c->vecs);
    hs_chunks_destroy(&c->slot_ids);
    hs_chunks_destroy(&c->meta);
    if (c->quantized)
        hs_chunks_destroy(&c->codes);
    if (c->narrow_on)
        hs_chunks_destroy(&c->narrow);
    hs_idmap_destroy(&c->ids);
    hs_manifest_destroy(&c->man);
    free(c->live);
    free(c->scratch);
    free(c->codebuf);
    free(c->hashbuf);
    pthread_mutex_destroy(&c->man_mu);
    pthread_mutex_destroy(&c->wlock);
    pthread_mutex_destroy(&c->ckpt_mu);
    pthread_rwlock_destroy(&c->rw);
    pthread_mutex_destroy(&c->index_mu);
    pthread_cond_destroy(&c->index_cv);
    free(c);
}

/* ---- the id map -------------------------------------------------------------------------- */

int hs_coll_ids_locked(hs_coll *c, hs_error *err)
{
    if (__atomic_load_n(&c->ids_ready, __ATOMIC_ACQUIRE))
        return HS_OK;
    pthread_rwlock_wrlock(&c->rw);
    int rc = hs_idmap_reserve(&c->ids, c->nlive) == HS_OK ? HS_OK : HS_ENOMEM;
    if (rc == HS_OK && c->sid && hs_sidmap_reserve(&c->smap, c->nlive) != HS_OK)
        rc = HS_ENOMEM;
    for (uint32_t s = 0; s < c->nslots && rc == HS_OK; s++) {
        if (!hs_live(c, s))
            continue;
        if (hs_idmap_put(&c->ids, *(uint64_t *)hs_chunks_at(&c->slot_ids, s), s) != HS_OK)
            rc = HS_ENOMEM;
        uint8_t *sid = hs_coll_sid(c, s);
        if (rc == HS_OK && c->sid && (!sid || hs_sidmap_put(&c->smap, sid) != HS_OK))
            rc = sid ? HS_ENOMEM : HS_ECORRUPT;
    }
    /* two live slots with one id (or one string) */
    if (rc == HS_OK && (c->ids.count != c->nlive || (c->sid && c->smap.count != c->nlive)))
        rc = HS_ECORRUPT;
    if (rc == HS_OK) {
        __atomic_store_n(&c->ids_ready, true, __ATOMIC_RELEASE);
    } else {
        hs_idmap_destroy(&c->ids);
        hs_sidmap_destroy(&c->smap);
    }
    pthread_rwlock_unlock(&c->rw);
    if (rc != HS_OK)
        return hs_error_set(err, rc, rc == HS_ENOMEM ? "Out of memory"
                                                     : "Collection '%s': duplicate ids", c->e->name);
    return HS_OK;
}

int hs_coll_ids(hs_coll *c, hs_error *err)
{
    if (__atomic_load_n(&c->ids_ready, __ATOMIC_ACQUIRE))
        return HS_OK;
    pthread_mutex_lock(&c->wlock);
    int rc = hs_coll_ids_locked(c, err);
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

/* ---- the payload indexes ---------------------------------------------------------------- */

void hs_coll_pidx_update(hs_coll *c, uint32_t slot, const uint8_t *mem, bool add)
{
    if (!c->pidx || !mem)
        return;
    int rc = add ? hs_pidx_add_stored(c->pidx, slot, mem)
                 : hs_pidx_remove_stored(c->pidx, slot, mem);
    if (rc != 0) {
        hs_log(HS_LOG_WARN, "collection '%s': payload index dropped (out of memory); it is "
               "rebuilt by the next filtered query", c->e->name);
        hs_pidx_free(c->pidx);
        c->pidx = NULL;
    }
}

int hs_coll_pidx_locked(hs_coll *c, hs_error *err)
{
    if (c->pidx) /* only changes under wlock, which the caller holds */
        return HS_OK;
    hs_pidx *x = hs_pidx_new();
    int rc = x ? HS_OK : HS_ENOMEM;
    /* writers are excluded by wlock; readers do not change slots or metadata */
    for (uint32_t s = 0; s < c->nslots && rc == HS_OK; s++) {
        if (!hs_live(c, s))
            continue;
        const uint8_t *mem = *(uint8_t *const *)hs_chunks_at(&c->meta, s);
        if (mem && hs_pidx_add_stored(x, s, mem) != 0)
            rc = HS_ENOMEM;
    }
    if (rc != HS_OK) {
        hs_pidx_free(x);
        return hs_error_set(err, rc, "Out of memory");
    }
    pthread_rwlock_wrlock(&c->rw);
    c->pidx = x;
    pthread_rwlock_unlock(&c->rw);
    return HS_OK;
}

int hs_coll_pidx(hs_coll *c, hs_error *err)
{
    pthread_mutex_lock(&c->wlock);
    int rc = hs_coll_pidx_locked(c, err);
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

/* ---- loading ---------------------------------------------------------------------------- */

static int new_graph(hs_coll *c, hs_error *err)
{
    hs_hnsw_opts o;
    hs_hnsw_opts_init(&o);
    o.m = c->cfg.m;
    o.ef_construction = hs_coll_ef_construction(c);
    int rc = hs_hnsw_new(&o, c->graph_space, c->graph_recs, &c->graph);
    return rc == HS_OK ? HS_OK : hs_error_set(err, rc, "cannot create the graph");
}

void hs_coll_encode_code(const hs_coll *c, const void *x, void *code, double *buf)
{
    if (c->cfg.metric == HS_METRIC_LORENTZ) {
        const double *v = x;
        for (uint32_t i = 1; i < c->cfg.dimension; i++)
            buf[i - 1] = v[i] / (1.0 + v[0]);
        hs_space_encode_f64(&c->trav, buf, code);
    } else if (c->f64) {
        hs_space_encode_f64(&c->trav, x, code);
    } else {
        hs_space_encode_f32(&c->trav, x, code);
    }
}

static void encode_codes(hs_coll *c, uint32_t from, uint32_t to)
{
    const hs_chunks *full = hs_segset_chunks(c->vecs);
    for (uint32_t s = from; s < to; s++)
        hs_coll_encode_code(c, hs_chunks_at(full, s), hs_chunks_at(&c->codes, s), c->codebuf);
}

/* The codes of slots [0, n) from a CODES section when it matches the collection (true), else
 * false: the caller encodes them from the vectors. */
static bool restore_codes(hs_coll *c, const hs_ckpt *k, uint64_t n)
{
    size_t len;
    const uint8_t *sec = hs_ckpt_section(k, HS_SEC_CODES, &len);
    if (!sec || len < CODES_FIXED || hs_get_le32(sec) != CODES_VERSION ||
        hs_get_le32(sec + 4) != (uint32_t)c->trav.code ||
        hs_get_le32(sec + 8) != c->trav.rec_len || hs_get_le32(sec + 12) != c->cfg.dimension ||
        len - CODES_FIXED != n * c->trav.rec_len)
        return false;
    uint32_t per = 1u << c->codes.shift;
    for (uint64_t from = 0; from < n; from += per)
        memcpy(hs_chunks_at(&c->codes, (uint32_t)from), sec + CODES_FIXED + from * c->trav.rec_len,
               (size_t)HS_MIN((uint64_t)per, n - from) * c->trav.rec_len);
    return true;
}

/* Section SIDS of a collection of string ids: u64 the next internal key, then per slot
 * { u64 key, u16 length, the string id } (length 0 for a slot that is not live): the blob
 * layout, so the live slots point into one arena holding the records.  Live bits are set. */
static int restore_sids(hs_coll *c, const uint8_t *sec, size_t len, uint64_t n, hs_error *err)
{
    if (!sec || len < 8)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: missing or mis-sized SIDS section");
    c->next_key = hs_get_le64(sec);
    c->sid_arena_len = len - 8;
    c->sid_arena = malloc(len - 8 ? len - 8 : 1);
    if (!c->sid_arena)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    memcpy(c->sid_arena, sec + 8, len - 8);
    uint8_t *p = c->sid_arena, *end = c->sid_arena + c->sid_arena_len;
    for (uint64_t s = 0; s < n; s++) {
        size_t sl = end - p >= HS_SID_HDR ? hs_sid_len(p) : 0;
        bool live = hs_live(c, (uint32_t)s);
        if (end - p < HS_SID_HDR || (size_t)(end - p - HS_SID_HDR) < sl ||
            hs_sid_key(p) >= c->next_key || live != (sl > 0) ||
            (live && hs_sid_check(hs_sid_str(p), sl, NULL) != HS_OK))
            return hs_error_set(err, HS_ECORRUPT, "checkpoint: bad string id at slot %llu",
                                (unsigned long long)s);
        *(uint64_t *)hs_chunks_at(&c->slot_ids, (uint32_t)s) = hs_sid_key(p);
        *(uint8_t **)hs_chunks_at(&c->sids, (uint32_t)s) = live ? p : NULL;
        if (live)
            c->sid_bytes += HS_SID_HDR + sl;
        p += HS_SID_HDR + sl;
    }
    if (p != end)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: mis-sized SIDS section");
    return HS_OK;
}

/* Restores ids, live bits, metadata and graph from a verified checkpoint. */
static int restore(hs_coll *c, const hs_ckpt *k, const coll_state *st, hs_error *err)
{
    size_t ilen = 0, llen, mlen, glen, slen = 0;
    /* a collection of string ids has SIDS instead of IDS (a build that knows only IDS cannot
     * load it, rather than load its points without their ids) */
    const uint8_t *ids = c->sid ? NULL : hs_ckpt_section(k, HS_SEC_IDS, &ilen);
    const uint8_t *sids = c->sid ? hs_ckpt_section(k, HS_SEC_SIDS, &slen) : NULL;
    const uint8_t *live = hs_ckpt_section(k, HS_SEC_LIVE, &llen);
    const uint8_t *meta = hs_ckpt_section(k, HS_SEC_META, &mlen);
    const uint8_t *graph = hs_ckpt_section(k, HS_SEC_GRAPH, &glen);
    uint64_t n = st->nslots, words = (n + 63) / 64;
    if ((!c->sid && (!ids || ilen != n * 8)) || !live || !meta || !graph ||
        llen != words * 8 || mlen < (n + 1) * 8)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: missing or mis-sized sections");
    int rc = hs_coll_reserve(c, n, err);
    if (rc != HS_OK)
        return rc;
    if (llen)
        memcpy(c->live, live, llen);
    if (c->sid && (rc = restore_sids(c, sids, slen, n, err)) != HS_OK)
        return rc;
    /* the blobs (each [u32 length][blob]) go into one arena; slots point into it */
    uint64_t table = (n + 1) * 8, area = mlen - table, count = 0;
    c->meta_arena_len = (size_t)area;
    c->meta_arena = malloc(area ? (size_t)area : 1);
    if (!c->meta_arena)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    memcpy(c->meta_arena, meta + table, (size_t)area);
    for (uint64_t s = 0; s < n; s++) {
        if (ids)
            *(uint64_t *)hs_chunks_at(&c->slot_ids, (uint32_t)s) = hs_get_le64(ids + 8 * s);
        uint64_t a = hs_get_le64(meta + 8 * s), b = hs_get_le64(meta + 8 * (s + 1));
        if (a > b || b > area || (a < b && (b - a < 4 || hs_get_le32(c->meta_arena + a) != b - a - 4)))
            return hs_error_set(err, HS_ECORRUPT, "checkpoint: bad metadata at slot %llu",
                                (unsigned long long)s);
        if (!hs_live(c, (uint32_t)s))
            continue;
        count++;
        if (a < b) {
            uint8_t *blob = c->meta_arena + a;
            const uint8_t *q = blob + 8, *end = blob + (b - a);
            uint32_t entries = hs_get_le32(blob + 4);
            for (uint32_t e = 0; e < entries; e++) {
                const char *kk, *vv;
                uint32_t kl, vl;
                if (!hs_meta_next(&q, end, &kk, &kl, &vv, &vl))
                    return hs_error_set(err, HS_ECORRUPT, "checkpoint: bad metadata at slot %llu",
                                        (unsigned long long)s);
            }
            *(uint8_t **)hs_chunks_at(&c->meta, (uint32_t)s) = blob;
            c->meta_bytes += b - a;
        }
    }
    if (count != st->nlive)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: live count mismatch");
    size_t dlen;
    const uint8_t *dig = hs_ckpt_section(k, HS_SEC_DIGEST, &dlen);
    if (dig && dlen == sizeof(c->digest))
        memcpy(c->digest, dig, sizeof(c->digest));
    else
        return hs_error_set(err, HS_ECORRUPT, "checkpoint: missing digest");
    c->nslots = (uint32_t)n;
    c->nlive = st->nlive;
    size_t plen;
    const uint8_t *pidx = hs_ckpt_section(k, HS_SEC_PIDX, &plen);
    if (pidx) {
        int prc = hs_pidx_load(pidx, plen, (uint32_t)n, &c->pidx);
        if (prc == -2)
            return hs_error_set(err, HS_ENOMEM, "Out of memory");
        if (prc != 0) /* derived data: rebuilt from the metadata by the first query */
            hs_log(HS_LOG_WARN, "collection '%s': checkpoint: unreadable payload index section; "
                   "it will be rebuilt", c->e->name);
    }
    if (c->quantized && !restore_codes(c, k, n))
        encode_codes(c, 0, (uint32_t)n);
    const hs_chunks *full = hs_segset_chunks(c->vecs); /* every slot: walks meet dead ones */
    for (uint32_t s = 0; s < (uint32_t)n && c->narrow_on; s++)
        hs_coll_narrow_put(c, s, hs_chunks_at(full, s));
    hs_hnsw_free(c->graph);
    c->graph = NULL;
    rc = hs_hnsw_deserialize(graph, glen, c->graph_space, c->graph_recs, &c->graph, err);
    if (rc == HS_OK) {
        hs_hnsw_set_ef_construction(c->graph, hs_coll_ef_construction(c));
        c->ckpt_nodes = hs_hnsw_nodes(c->graph);
    }
    return rc;
}

typedef struct gen_scan {
    const hs_io_ops *io;
    const char *dir;
    uint32_t keep;
} gen_scan;

static int drop_other_gens(void *arg, const char *name)
{
    gen_scan *g = arg;
    unsigned gen;
    char tail[4];
    unsigned idx;
    char path[HS_PATH_MAX];
    if (hs_path(path, sizeof(path), "%s/%s", g->dir, name) != HS_OK)
        return 0;
    if (sscanf(name, "vectors-%u%3s", &gen, tail) == 1 && gen != g->keep)
        hs_remove_tree(g->io, path); /* left by an interrupted rebuild */
    else if (sscanf(name, "vectors-%u-%u.se%1s", &gen, &idx, tail) == 3 && gen != g->keep)
        g->io->unlink(g->io->ctx, path); /* likewise, in a flat directory */
    return 0;
}

void hs_coll_wal_dir(const centry *e, char *buf, size_t len)
{
    if (e->format == CONFIG_FORMAT_FLAT)
        snprintf(buf, len, "%s", e->dir);
    else
        hs_path(buf, len, "%s/wal", e->dir);
}

void hs_coll_vec_place(const centry *e, uint32_t gen, char *dir, size_t len, char prefix[32])
{
    if (e->format == CONFIG_FORMAT_FLAT) {
        snprintf(dir, len, "%s", e->dir);
        snprintf(prefix, 32, "vectors-%u-", gen);
    } else {
        hs_path(dir, len, "%s/vectors-%u", e->dir, gen);
        prefix[0] = 0;
    }
}

typedef struct gen_files {
    const hs_io_ops *io;
    const char *dir, *prefix;
} gen_files;

static int unlink_prefixed(void *arg, const char *name)
{
    gen_files *g = arg;
    char path[HS_PATH_MAX];
    if (!strncmp(name, g->prefix, strlen(g->prefix)) &&
        hs_path(path, sizeof(path), "%s/%s", g->dir, name) == HS_OK)
        g->io->unlink(g->io->ctx, path);
    return 0;
}

void hs_coll_vec_remove(const centry *e, const hs_io_ops *io, uint32_t gen)
{
    char dir[HS_PATH_MAX], prefix[32];
    hs_coll_vec_place(e, gen, dir, sizeof(dir), prefix);
    if (!prefix[0]) {
        hs_remove_tree(io, dir);
        return;
    }
    gen_files g = {io, dir, prefix};
    io->list(io->ctx, dir, unlink_prefixed, &g);
}

static int open_vectors(hs_coll *c, uint32_t gen, hs_error *err)
{
    char dir[HS_PATH_MAX], prefix[32];
    hs_coll_vec_place(c->e, gen, dir, sizeof(dir), prefix);
    gen_scan g = {c->db->io, c->e->dir, gen};
    c->db->io->list(c->db->io->ctx, c->e->dir, drop_other_gens, &g);
    c->gen = gen;
    int rc = hs_segset_open(c->db->io, dir, prefix, c->full.rec_len,
                            hs_seg_shift_for(c->full.rec_len), &c->vecs, err);
    if (rc == HS_OK)
        hs_coll_set_graph_recs(c);
    if (rc == HS_OK && c->quantized)
        hs_segset_set_random(c->vecs); /* read only to re-rank: record by record */
    return rc;
}

/* Checks the vector records a checkpoint covers against its VECS section (absent in
 * checkpoints written before it existed: nothing to check). */
static int verify_vectors(hs_coll *c, const hs_ckpt *k, const coll_state *st, hs_error *err)
{
    size_t len;
    const uint8_t *v = hs_ckpt_section(k, HS_SEC_VECS, &len);
    if (!v)
        return HS_OK;
    uint32_t n = len >= VECS_FIXED ? hs_get_le32(v + 4) : 0;
    uint32_t shift = hs_seg_shift_for(c->full.rec_len);
    if (len < VECS_FIXED || hs_get_le32(v) != VECS_VERSION || len != VECS_FIXED + (size_t)n * VECS_ENTRY ||
        hs_get_le32(v + 8) != c->full.rec_len || hs_get_le32(v + 12) != shift)
        return hs_error_set(err, HS_ECORRUPT, "checkpoint-%016" PRIx64 ".ckpt: bad VECS section",
                            c->ckpt_seq);
    hs_seg_sum *sums = malloc((n ? n : 1) * sizeof(*sums));
    if (!sums)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = v + VECS_FIXED + (size_t)i * VECS_ENTRY;
        sums[i] = (hs_seg_sum){hs_get_le32(e), hs_get_le32(e + 4), hs_get_le64(e + 8)};
        bytes += sums[i].len;
    }
    int rc = HS_OK;
    for (uint32_t i = 0; i < n && rc == HS_OK; i++)
        if (sums[i].index != i)
            rc = HS_ECORRUPT;
    if (rc != HS_OK || bytes != (uint64_t)st->nslots * c->full.rec_len)
        rc = hs_error_set(err, HS_ECORRUPT, "checkpoint-%016" PRIx64 ".ckpt: the VECS section "
                          "does not cover the %u slots", c->ckpt_seq, st->nslots);
    else
        rc = hs_segset_verify(c->vecs, sums, n, err);
    free(sums);
    return rc;
}

/* Under the log's lock, once a new log segment is durable: the manifest names it. */
static int on_segment(void *ctx, const hs_wal_seginfo *closed, uint64_t seq, hs_error *err)
{
    hs_coll *c = ctx;
    pthread_mutex_lock(&c->man_mu);
    int rc = closed ? hs_manifest_add_closed(&c->man, *closed) : HS_OK;
    if (rc != HS_OK)
        rc = hs_error_set(err, rc, "Out of memory");
    uint64_t old = c->man.wal_last;
    c->man.wal_last = HS_MAX(old, seq);
    if (rc == HS_OK)
        rc = manifest_write_locked(c, &c->man, err);
    if (rc != HS_OK)
        c->man.wal_last = old;
    pthread_mutex_unlock(&c->man_mu);
    return rc;
}

/* The manifest a load ends with: what it found, as opened (a log segment created or a torn
 * tail cut by the open); written only when it changed.  A first load of a collection from
 * before manifests writes one and upgrades collection.json.  A failure keeps the previous
 * manifest, which stays true (it names fewer files), and is logged. */
static void manifest_after_load(hs_coll *c, bool legacy, uint64_t first)
{
    hs_wal_seginfo *segs;
    size_t n;
    if (hs_wal_segments(c->wal, &segs, &n) != HS_OK)
        return;
    hs_manifest m = {c->ckpt_seq, n ? segs[n - 1].seq : c->man.wal_last, NULL, 0};
    int rc = HS_OK;
    for (size_t i = 0; i + 1 < n && rc == HS_OK; i++)
        if (segs[i].seq >= first)
            rc = hs_manifest_add_closed(&m, segs[i]);
    free(segs);
    bool same = m.ckpt_seq == c->man.ckpt_seq && m.wal_last == c->man.wal_last &&
                m.nclosed == c->man.nclosed &&
                (!m.nclosed || !memcmp(m.closed, c->man.closed, m.nclosed * sizeof(*m.closed)));
    hs_error err;
    memset(&err, 0, sizeof(err));
    pthread_mutex_lock(&c->man_mu);
    if (rc == HS_OK && !same)
        rc = manifest_write_locked(c, &m, &err);
    if (rc == HS_OK) {
        hs_manifest_destroy(&c->man);
        c->man = m;
    } else {
        hs_manifest_destroy(&m);
    }
    pthread_mutex_unlock(&c->man_mu);
    if (rc == HS_OK && legacy && hs_config_write(c->db, c->e->dir, c->e, &err) == HS_OK)
        c->e->format = CONFIG_FORMAT;
    else if (rc != HS_OK || legacy)
        hs_log(HS_LOG_WARN, "collection '%s': cannot record its files: %s", c->e->name,
               err.message);
}

/* Reads the manifest and checks the newest checkpoint against it.  *legacy: a collection from
 * before manifests (collection.json format 1 and no manifest). */
static int manifest_load(hs_coll *c, bool have, uint64_t seq, bool *legacy, hs_error *err)
{
    *legacy = false;
    int rc;
    if (c->e->format == CONFIG_FORMAT_FLAT) {
        centry tmp = {0}; /* read into a scratch entry: the parameters are the catalog's */
        rc = hs_config_read_m(c->db, c->e->dir, &tmp, &c->man, err);
        if (rc != HS_OK)
            return rc;
    } else {
        rc = hs_manifest_read(c->db->io, c->e->dir, &c->man, err);
    }
    if (rc == HS_ENOTFOUND && c->e->format < CONFIG_FORMAT) {
        *legacy = true;
        return HS_OK;
    }
    if (rc == HS_ENOTFOUND)
        return hs_error_set(err, HS_ECORRUPT, "%s/" HS_MANIFEST_NAME ": missing", c->e->dir);
    if (rc != HS_OK)
        return rc;
    if (c->man.ckpt_seq && (!have || seq < c->man.ckpt_seq))
        return hs_error_set(err, HS_ECORRUPT, "%s/checkpoint-%016" PRIx64 ".ckpt: missing (the "
                            "manifest records it)", c->e->dir, c->man.ckpt_seq);
    return HS_OK;
}

int hs_coll_load(hs_db *db, centry *e, hs_coll **out, hs_error *err)
{
    *out = NULL;
    hs_coll *c = calloc(1, sizeof(*c));
    if (!c)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    c->unreachable = -1;
    c->db = db;
    c->e = e;
    c->cfg = e->config;
    c->ef_search_set = e->config.ef_search != 0;
    c->ef_construction_set = e->config.ef_construction != 0;
    c->clock = e->created_clock;
    int rc = hs_coll_open_tables(c, err);
    coll_state st = {0};
    hs_ckpt k = {0};
    uint64_t seq = 0;
    bool have = rc == HS_OK && newest_ckpt(db->io, e->dir, &seq);
    bool legacy = false;
    if (rc == HS_OK)
        rc = manifest_load(c, have, seq, &legacy, err);
    if (rc == HS_OK && have) {
        char path[HS_PATH_MAX];
        ckpt_path(e->dir, seq, path, sizeof(path));
        rc = hs_ckpt_open(db->io, path, &k, err);
        size_t len;
        const uint8_t *s = rc == HS_OK ? hs_ckpt_section(&k, HS_SEC_STATE, &len) : NULL;
        if (rc == HS_OK && (!s || !state_decode(s, len, &st)))
            rc = hs_error_set(err, HS_ECORRUPT, "%s: bad STATE section", path);
        c->ckpt_seq = seq;
    }
    if (rc == HS_OK)
        rc = open_vectors(c, st.gen, err);
    if (rc == HS_OK && have)
        rc = verify_vectors(c, &k, &st, err);
    if (rc == HS_OK)
        rc = new_graph(c, err);
    if (rc == HS_OK && have)
        rc = restore(c, &k, &st, err);
    if (rc == HS_OK && !have)
        c->ids_ready = true; /* nothing to index */
    if (k.map)
        hs_ckpt_close(&k);
    if (rc == HS_OK) {
        c->clock = HS_MAX(c->clock, st.clock);
        c->log_floor = have ? state_floor(&st) : 0;
        c->index_next = c->index_low = st.index_low;
        char wal[HS_PATH_MAX];
        hs_coll_wal_dir(e, wal, sizeof(wal));
        hs_wal_opts wo;
        hs_wal_opts_init(&wo);
        wo.io = db->io;
        wo.segment_bytes = db->opts.wal_segment_bytes;
        wo.batch_interval_ms = db->opts.batch_interval_ms;
        /* a log without a checkpoint starts at segment 1; one with starts where it says */
        wo.first_seg = have ? HS_MAX(st.wal.seg, 1) : 1;
        wo.last_seg = c->man.wal_last;
        wo.closed = c->man.closed;
        wo.nclosed = c->man.nclosed;
        wo.on_segment = on_segment;
        wo.hook_ctx = c;
        rc = hs_wal_open(wal, &wo, st.wal, hs_coll_replay, c, &c->wal, err);
        if (rc == HS_OK)
            manifest_after_load(c, legacy, wo.first_seg);
    }
    if (rc == HS_OK)
        hs_coll_vectors_cold(c); /* read to verify and encode: not needed in RAM any more */
    if (rc != HS_OK) {
        hs_coll_free(c);
        return rc;
    }
    hs_db_observe_clock(db, c->clock);
    __atomic_store_n(&c->last_ckpt_ns, hs_now_ns(), __ATOMIC_RELAXED);
    *out = c;
    return HS_OK;
}

/* ---- checkpoint ------------------------------------------------------------------------ */

typedef struct capture {
    coll_state st;
    uint8_t state[STATE_LEN];
    uint64_t digest[256];
    uint8_t *ids, *live, *meta, *graph, *pidx, *vecs;
    size_t ids_len, live_len, meta_len, graph_len, pidx_len, vecs_len;
} capture;

static void capture_free(capture *cp)
{
    free(cp->pidx);
    free(cp->vecs);
    free(cp->ids);
    free(cp->live);
    free(cp->meta);
    free(cp->graph);
}

/* Section VECS: the checksums of the records [0, nslots) per vector file. */
static int capture_vecs(hs_coll *c, uint32_t n, capture *cp, hs_error *err)
{
    hs_seg_sum *sums;
    size_t count;
    int rc = hs_segset_sums(c->vecs, n, &sums, &count, err);
    if (rc != HS_OK)
        return rc;
    cp->vecs_len = VECS_FIXED + count * VECS_ENTRY;
    cp->vecs = calloc(1, cp->vecs_len);
    if (cp->vecs) {
        hs_put_le32(cp->vecs, VECS_VERSION);
        hs_put_le32(cp->vecs + 4, (uint32_t)count);
        hs_put_le32(cp->vecs + 8, c->full.rec_len);
        hs_put_le32(cp->vecs + 12, hs_seg_shift_for(c->full.rec_len));
        for (size_t i = 0; i < count; i++) {
            uint8_t *e = cp->vecs + VECS_FIXED + i * VECS_ENTRY;
            hs_put_le32(e, sums[i].index);
            hs_put_le32(e + 4, sums[i].crc);
            hs_put_le64(e + 8, sums[i].len);
        }
    }
    free(sums);
    return cp->vecs ? HS_OK : hs_error_set(err, HS_ENOMEM, "checkpoint: out of memory");
}

/* Copies the state into buffers.  Writers and the indexer are paused by the caller. */
static int capture_state(hs_coll *c, hs_wal_pos from, capture *cp, hs_error *err)
{
    uint32_t n = c->nslots;
    cp->st = (coll_state){c->gen, c->clock, from, n, c->nlive, c->index_next,
                          hs_segset_disk_bytes(c->vecs)};
    state_encode(&cp->st, cp->state);
    memcpy(cp->digest, c->digest, sizeof(cp->digest));
    cp->ids_len = (size_t)n * 8;
    if (c->sid) { /* SIDS: the next key, then per slot { u64 key, u16 length, bytes } */
        cp->ids_len = 8 + (size_t)n * HS_SID_HDR;
        for (uint32_t s = 0; s < n; s++) {
            const uint8_t *sid = hs_coll_sid(c, s);
            cp->ids_len += sid ? hs_sid_len(sid) : 0;
        }
    }
    cp->live_len = (size_t)((n + 63) / 64) * 8;
    uint64_t blob_bytes = 0;
    for (uint32_t s = 0; s < n; s++) {
        const uint8_t *b = *(uint8_t **)hs_chunks_at(&c->meta, s);
        blob_bytes += b ? 4 + hs_get_le32(b) : 0;
    }
    cp->meta_len = ((size_t)n + 1) * 8 + blob_bytes;
    cp->graph_len = hs_hnsw_serialized_size(c->graph);
    cp->ids = malloc(cp->ids_len + 1);
    cp->live = malloc(cp->live_len + 1);
    cp->meta = malloc(cp->meta_len);
    cp->graph = malloc(cp->graph_len);
    if (!cp->ids || !cp->live || !cp->meta || !cp->graph)
        return hs_error_set(err, HS_ENOMEM, "checkpoint: out of memory");
    if (cp->live_len)
        memcpy(cp->live, c->live, cp->live_len);
    uint64_t off = 0;
    uint8_t *blobs = cp->meta + ((size_t)n + 1) * 8, *sp = cp->ids + 8;
    if (c->sid)
        hs_put_le64(cp->ids, c->next_key);
    for (uint32_t s = 0; s < n; s++) {
        uint64_t key = *(uint64_t *)hs_chunks_at(&c->slot_ids, s);
        const uint8_t *sid = hs_coll_sid(c, s);
        if (!c->sid) {
            hs_put_le64(cp->ids + 8 * (size_t)s, key);
        } else if (sid) {
            memcpy(sp, sid, HS_SID_HDR + hs_sid_len(sid));
            sp += HS_SID_HDR + hs_sid_len(sid);
        } else {
            hs_put_le64(sp, key);
            sp[8] = sp[9] = 0;
            sp += HS_SID_HDR;
        }
        hs_put_le64(cp->meta + 8 * (size_t)s, off);
        const uint8_t *b = *(uint8_t **)hs_chunks_at(&c->meta, s);
        if (b) {
            memcpy(blobs + off, b, 4 + (size_t)hs_get_le32(b));
            off += 4 + hs_get_le32(b);
        }
    }
    hs_put_le64(cp->meta + 8 * (size_t)n, off);
    /* the payload indexes travel with the metadata they index (built now if no query has) */
    if (blob_bytes && hs_coll_pidx_locked(c, err) != HS_OK)
        return err->rc;
    if (c->pidx && hs_pidx_save(c->pidx, n, &cp->pidx, &cp->pidx_len) != 0)
        return hs_error_set(err, HS_ENOMEM, "checkpoint: out of memory");
    int rc = capture_vecs(c, n, cp, err);
    if (rc != HS_OK)
        return rc;
    return hs_hnsw_serialize(c->graph, cp->graph, cp->graph_len) == HS_OK
               ? HS_OK
               : hs_error_set(err, HS_EINTERNAL, "checkpoint: graph serialisation failed");
}

/* Section CODES: u32 version 1, u32 the code (HS_CODE_SQ8 / HS_CODE_BIN), u32 record length,
 * u32 dimension, then the records of slots [0, n) in order, written from the table's chunks.
 * The records below nslots never change (a write takes a new slot) and ckpt_mu keeps a rebuild
 * from replacing the table, so the writers need not wait for this. */
static int write_codes(hs_coll *c, hs_ckpt_writer *w, uint32_t n, hs_error *err)
{
    uint8_t head[CODES_FIXED];
    hs_put_le32(head, CODES_VERSION);
    hs_put_le32(head + 4, (uint32_t)c->trav.code);
    hs_put_le32(head + 8, c->trav.rec_len);
    hs_put_le32(head + 12, c->cfg.dimension);
    uint32_t per = 1u << c->codes.shift;
    size_t nparts = 1 + (n + per - 1) / per;
    hs_ckpt_part *parts = malloc(nparts * sizeof(*parts));
    if (!parts)
        return hs_error_set(err, HS_ENOMEM, "checkpoint: out of memory");
    parts[0] = (hs_ckpt_part){head, sizeof(head)};
    for (size_t i = 1; i < nparts; i++) {
        uint32_t from = (uint32_t)(i - 1) * per;
        parts[i] = (hs_ckpt_part){hs_chunks_at(&c->codes, from),
                                  (size_t)HS_MIN(per, n - from) * c->trav.rec_len};
    }
    int rc = hs_ckpt_add_parts(w, HS_SEC_CODES, parts, nparts, err);
    free(parts);
    return rc;
}

static int write_file(hs_coll *c, uint64_t seq, const capture *cp, hs_error *err)
{
    char name[64];
    snprintf(name, sizeof(name), "checkpoint-%016" PRIx64 ".ckpt", seq);
    hs_ckpt_writer *w;
    int rc = hs_ckpt_begin(c->db->io, c->e->dir, name, &w, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_ckpt_add(w, HS_SEC_STATE, cp->state, STATE_LEN, err);
    if (rc == HS_OK) /* a collection of string ids: SIDS holds the keys and the strings */
        rc = hs_ckpt_add(w, c->sid ? HS_SEC_SIDS : HS_SEC_IDS, cp->ids, cp->ids_len, err);
    if (rc == HS_OK)
        rc = hs_ckpt_add(w, HS_SEC_LIVE, cp->live, cp->live_len, err);
    if (rc == HS_OK)
        rc = hs_ckpt_add(w, HS_SEC_META, cp->meta, cp->meta_len, err);
    if (rc == HS_OK)
        rc = hs_ckpt_add(w, HS_SEC_GRAPH, cp->graph, cp->graph_len, err);
    if (rc == HS_OK)
        rc = hs_ckpt_add(w, HS_SEC_DIGEST, cp->digest, sizeof(cp->digest), err);
    if (rc == HS_OK && cp->pidx)
        rc = hs_ckpt_add(w, HS_SEC_PIDX, cp->pidx, cp->pidx_len, err);
    if (rc == HS_OK)
        rc = hs_ckpt_add(w, HS_SEC_VECS, cp->vecs, cp->vecs_len, err);
    if (rc == HS_OK && c->quantized)
        rc = write_codes(c, w, cp->st.nslots, err);
    if (rc != HS_OK) {
        hs_ckpt_abort(w);
        return rc;
    }
    return hs_ckpt_commit(w, err);
}

/* After a new checkpoint is durable: older checkpoints and the log they needed go, except the
 * segments from `keep` on (kept for change readers; the floor says what is gone). */
static void drop_covered(hs_coll *c, uint64_t seq, uint64_t keep, uint64_t floor)
{
    for (uint64_t s = c->ckpt_seq; s < seq && s + 64 > seq; s++) {
        char path[HS_PATH_MAX];
        ckpt_path(c->e->dir, s, path, sizeof(path));
        c->db->io->unlink(c->db->io->ctx, path);
    }
    c->ckpt_seq = seq;
    __atomic_store_n(&c->log_floor, floor, __ATOMIC_RELEASE); /* before the records go */
    hs_wal_remove_before(c->wal, (hs_wal_pos){keep, 0}, NULL);
    gen_scan g = {c->db->io, c->e->dir, c->gen}; /* generations older than a rebuild */
    c->db->io->list(c->db->io->ctx, c->e->dir, drop_other_gens, &g);
}

/* Graph nodes added since the newest checkpoint that make a checkpoint worth its cost. */
#define GRAPH_SAVE_NODES 1024u

static int checkpoint_gated(hs_coll *c, int mode, hs_error *err)
{
    bool force = mode == HS_CKPT_FORCE;
    pthread_mutex_lock(&c->ckpt_mu);
    pthread_mutex_lock(&c->wlock);
    /* writes logged but waiting for their fsync: the checkpoint covers the log up to its
     * rotation, so they are applied (or refused) first */
    hs_coll_drain_locked(c);
    /* a short log is cheaper to replay than a checkpoint to write, unless the graph grew by
     * more than GRAPH_SAVE_NODES since the newest checkpoint: indexing is not in the log, and
     * a reopen would index those points again (scanning them meanwhile) */
    bool small = mode == HS_CKPT_AUTO &&
                 hs_wal_disk_bytes(c->wal) < c->db->opts.checkpoint_min_log_bytes &&
                 hs_hnsw_nodes(c->graph) < c->ckpt_nodes + GRAPH_SAVE_NODES;
    if ((!__atomic_load_n(&c->dirty, __ATOMIC_RELAXED) && !force) || c->read_only || small) {
        int rc = c->read_only ? hs_coll_read_only(c, err) : HS_OK;
        pthread_mutex_unlock(&c->wlock);
        pthread_mutex_unlock(&c->ckpt_mu);
        return rc;
    }
    hs_indexer_pause(c);
    /* the saved graph keeps every point reachable (the indexer repairs only now and then) */
    uint64_t left = 0;
    hs_hnsw_repair(c->graph, 4, &left);
    __atomic_store_n(&c->unreachable, (int64_t)left, __ATOMIC_RELAXED);
    capture cp = {0};
    hs_wal_pos from;
    int rc = hs_wal_rotate(c->wal, &from, err);
    if (rc != HS_OK)
        hs_coll_settle_locked(c); /* a failed log makes the collection read-only */
    if (rc == HS_OK)
        rc = hs_segset_sync(c->vecs, err);
    uint64_t nodes = hs_hnsw_nodes(c->graph); /* the indexer is paused */
    if (rc == HS_OK)
        rc = capture_state(c, from, &cp, err);
    if (rc == HS_OK) /* synced and summed (read whole): the codes serve traversal */
        hs_coll_vectors_cold(c);
    if (rc == HS_OK)
        __atomic_store_n(&c->dirty, false, __ATOMIC_RELAXED);
    hs_indexer_resume(c);
    pthread_mutex_unlock(&c->wlock);
    uint64_t seq = c->ckpt_seq + 1, keep = from.seg;
    if (rc == HS_OK) {
        /* the log kept for change readers, and the floor it leaves, recorded in the state */
        hs_coll_retention(c, from, cp.st.clock, &keep, &cp.st.floor);
        state_encode(&cp.st, cp.state);
        rc = write_file(c, seq, &cp, err);
    }
    if (rc == HS_OK) {
        /* the manifest names the new checkpoint before anything it replaces is deleted */
        pthread_mutex_lock(&c->man_mu);
        uint64_t old = c->man.ckpt_seq;
        c->man.ckpt_seq = seq;
        rc = manifest_write_locked(c, &c->man, err);
        if (rc == HS_OK)
            hs_manifest_prune(&c->man, from.seg);
        else
            c->man.ckpt_seq = old;
        pthread_mutex_unlock(&c->man_mu);
    }
    if (rc == HS_OK) {
        drop_covered(c, seq, keep, cp.st.floor);
        c->ckpt_nodes = nodes;
        __atomic_store_n(&c->last_ckpt_ns, hs_now_ns(), __ATOMIC_RELAXED);
    } else {
        pthread_mutex_lock(&c->wlock);
        __atomic_store_n(&c->dirty, true, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&c->wlock);
        hs_log(HS_LOG_ERROR, "collection '%s': checkpoint failed: %s", c->e->name,
               err ? err->message : hs_rc_message(rc));
    }
    __atomic_fetch_add(rc == HS_OK ? &c->db->counters.snapshots_ok
                                   : &c->db->counters.snapshots_failed, 1, __ATOMIC_RELAXED);
    capture_free(&cp);
    pthread_mutex_unlock(&c->ckpt_mu);
    return rc;
}

int hs_coll_checkpoint(hs_coll *c, int mode, hs_error *err)
{
    /* a snapshot being written copies the files a checkpoint deletes: automatic checkpoints
     * skip their turn (the log keeps everything), the others wait for the snapshot */
    if (!hs_snap_gate_enter(c->db, mode == HS_CKPT_AUTO))
        return HS_OK;
    int rc = checkpoint_gated(c, mode, err);
    hs_snap_gate_leave(c->db);
    return rc;
}

int hs_collection_checkpoint(hs_collection *h, hs_error *err)
{
    hs_coll *c;
    int rc = hs_coll_acquire(h, &c, err);
    if (rc != HS_OK)
        return rc;
    rc = hs_coll_checkpoint(c, HS_CKPT_DIRTY, err);
    if (rc == HS_OK)
        rc = hs_coll_wal_sync(c, err);
    return rc;
}
