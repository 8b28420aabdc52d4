/* meta.c: the metadata codec (see meta.h). */
#include "util/meta.h"

#include <string.h>

#include "util/bytes.h"

bool hs_meta_next(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  const char **v, uint32_t *vl)
{
    hs_reader r = {*p, end};
    const uint8_t *kp, *vp;
    if (!hs_read_le32(&r, kl) || !hs_read_span(&r, *kl, &kp) || !hs_read_le32(&r, vl) ||
        !hs_read_span(&r, *vl, &vp))
        return false;
    *k = (const char *)kp;
    *v = (const char *)vp;
    *p = r.p;
    return true;
}

size_t hs_meta_size(const hs_point *pt)
{
    size_t n = 4;
    for (size_t i = 0; i < pt->nmeta; i++)
        n += 8 + pt->meta[i].key_len + pt->meta[i].value_len;
    return n;
}

size_t hs_meta_encode(const hs_point *pt, uint8_t *out)
{
    uint8_t *o = out + 4;
    uint32_t count = 0;
    for (size_t i = 0; i < pt->nmeta; i++) {
        const hs_kv *kv = &pt->meta[i];
        bool later = false; /* a later entry with the same key wins (protobuf map rule) */
        for (size_t j = i + 1; j < pt->nmeta && !later; j++)
            later = pt->meta[j].key_len == kv->key_len &&
                    !memcmp(pt->meta[j].key, kv->key, kv->key_len);
        if (later)
            continue;
        hs_put_le32(o, (uint32_t)kv->key_len);
        memcpy(o + 4, kv->key, kv->key_len);
        o += 4 + kv->key_len;
        hs_put_le32(o, (uint32_t)kv->value_len);
        if (kv->value_len)
            memcpy(o + 4, kv->value, kv->value_len);
        o += 4 + kv->value_len;
        count++;
    }
    hs_put_le32(out, count);
    return (size_t)(o - out);
}

bool hs_meta_blob_ok(const uint8_t *b, size_t len)
{
    if (len < 4)
        return false;
    uint32_t n = hs_get_le32(b);
    const uint8_t *p = b + 4, *end = b + len;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *v;
        uint32_t kl, vl;
        if (!hs_meta_next(&p, end, &k, &kl, &v, &vl))
            return false;
    }
    return p == end;
}

int hs_meta_each_stored(const uint8_t *blob, hs_meta_fn fn, void *ctx)
{
    if (!blob)
        return 0;
    uint32_t len = hs_get_le32(blob), count = hs_get_le32(blob + 4);
    const uint8_t *q = blob + 8, *end = blob + 4 + len;
    const char *k, *v;
    uint32_t kl, vl;
    int rc = 0;
    for (uint32_t i = 0; i < count && rc == 0 && hs_meta_next(&q, end, &k, &kl, &v, &vl); i++)
        rc = fn(ctx, k, kl, v, vl);
    return rc;
}
