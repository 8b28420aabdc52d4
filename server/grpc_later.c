/*
 * grpc_later.c: calls of the original protocol's later releases beyond GetPoints, Count and
 * HealthCheck (grpc_api.c): UpdatePayload, Scroll, SearchMultiCollection, FreezeCollection and
 * UnfreezeCollection, with the later releases' messages and numbers plus this project's fields
 * from 1001 (docs/api/grpc.md).  As in grpc_api.c, each call unpacks its request into the
 * operations layer's request (ops.h), calls the operation and packs the reply or the failure;
 * the rows of the RPC table are in grpc_api.c.
 */
#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperspace.pb-c.h"
#include "server/filters.h"
#include "server/grpc_int.h"
#include "server/ops.h"

static void oom(hs_gcall *c)
{
    hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
}

/* ---- UpdatePayload --------------------------------------------------------------------------- */

static void payload_reply(hs_gcall *c, const hs_op_payload_req *q, const hs_op_payload_out *out)
{
    char text[160], shown[80];
    if (q->single && q->sids) {
        hs_op_sid_echo(q->sids[0].str, q->sids[0].len, shown, sizeof(shown));
        snprintf(text, sizeof(text), "Payload for id='%s' updated.", shown);
    } else if (q->single)
        snprintf(text, sizeof(text), "Payload for id=%llu updated.",
                 (unsigned long long)q->ids[0]);
    else
        snprintf(text, sizeof(text), "Payload of %llu points updated.",
                 (unsigned long long)out->updated);
    uint32_t *nf = malloc((out->nmissing ? out->nmissing : 1) * sizeof(uint32_t));
    char **nfs = malloc((out->nmissing ? out->nmissing : 1) * sizeof(char *));
    if (!nf || !nfs) {
        free(nf);
        free(nfs);
        return oom(c);
    }
    for (size_t i = 0; i < out->nmissing; i++) {
        if (q->sids) /* the string ids as asked (NUL-terminated in the request) */
            nfs[i] = (char *)q->sids[out->missing_at[i]].str;
        else
            nf[i] = (uint32_t)out->missing[i];
    }
    Hyperspace__UpdatePayloadResponse resp = HYPERSPACE__UPDATE_PAYLOAD_RESPONSE__INIT;
    resp.status = text;
    resp.updated = out->updated;
    resp.n_not_found = q->sids ? 0 : out->nmissing;
    resp.not_found = nf;
    resp.n_not_found_string_ids = q->sids ? out->nmissing : 0;
    resp.not_found_string_ids = nfs;
    hs_grpc_reply(c, &resp.base);
    free(nf);
    free(nfs);
}

void hs_rpc_update_payload(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__UpdatePayloadRequest *r =
        hyperspace__update_payload_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_fail f = {0};
    hs_gmeta m = {0};
    bool ok;
    HS_GMETA_OF(&m, r, ok);
    hs_kv *keys = calloc(r->n_keys ? r->n_keys : 1, sizeof(hs_kv));
    uint64_t *ids = malloc((r->n_ids ? r->n_ids : 1) * sizeof(uint64_t));
    hs_sid *sids = malloc((r->n_string_ids ? r->n_string_ids : 1) * sizeof(hs_sid));
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_op_payload_out out = {0};
    bool by_sids = r->n_string_ids > 0, by_sid = *r->string_id != 0;
    bool by_ids = r->n_ids > 0 || by_sids, by_filter = r->n_filters > 0;
    uint64_t one = r->id;
    hs_sid sone = {r->string_id, strlen(r->string_id)};
    if (!ok || !keys || !ids || !sids) {
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
        goto done;
    }
    for (size_t i = 0; i < r->n_keys; i++)
        keys[i] = (hs_kv){r->keys[i], strlen(r->keys[i]), NULL, 0, NULL};
    for (size_t i = 0; i < r->n_ids; i++)
        ids[i] = r->ids[i];
    for (size_t i = 0; i < r->n_string_ids; i++)
        sids[i] = (hs_sid){r->string_ids[i], strlen(r->string_ids[i])};
    if (hs_op_check_name(r->collection, false, &f))
        goto done;
    /* id 0 and an absent id are the same bytes: id counts as given when nothing else is */
    if ((by_ids && by_filter) || ((by_ids || by_filter) && (r->id != 0 || by_sid))) {
        hs_fail_set(&f, HS_ERR_SELECTOR, "Provide exactly one of 'id', 'ids' or 'filters'");
        goto done;
    }
    if ((r->n_ids && by_sids) || (r->id && by_sid)) {
        hs_fail_set(&f, HS_ERR_SELECTOR, "Provide integer ids ('id', 'ids') or string ids "
                    "('string_id', 'string_ids'), not both");
        goto done;
    }
    int kind = hs_op_id_type(c->auth.tenant, r->collection);
    bool strings = by_sid || by_sids;
    if (kind >= 0 && !by_filter && (kind == HS_ID_STRING) != strings) {
        hs_fail_set(&f, HS_ERR_INVALID_ARGUMENT, kind == HS_ID_STRING
                    ? "Collection '%s' uses string ids: name the points by 'string_id' or "
                      "'string_ids'"
                    : "Collection '%s' uses integer ids: name the points by 'id' or 'ids'",
                    *r->collection ? r->collection : "default");
        goto done;
    }
    if (by_filter && hs_gfilters_add(&fs, NULL, 0, r->filters, r->n_filters, &f))
        goto done;
    hs_op_payload_req q = {0};
    q.mode = (hs_payload_mode)r->mode;
    q.meta = m.kv;
    q.nmeta = m.n;
    q.keys = keys;
    q.nkeys = r->n_keys;
    q.single = !by_ids && !by_filter;
    q.ids = by_filter || strings ? NULL : by_ids ? ids : &one;
    q.sids = by_filter || !strings ? NULL : by_sids ? sids : &sone;
    q.nids = by_sids ? r->n_string_ids : by_ids ? r->n_ids : 1;
    q.filter = by_filter ? &fs : NULL;
    q.durability = hs_grpc_durability(r->durability);
    if (!hs_op_update_payload(c->auth.tenant, r->collection, &q, false, &out, &f))
        payload_reply(c, &q, &out);
done:
    if (f.id)
        hs_gcall_fail(c, &f);
    free(out.missing);
    free(out.missing_at);
    hs_filter_free(&fs);
    free(ids);
    free(sids);
    free(keys);
    hs_gmeta_free(&m);
    hyperspace__update_payload_request__free_unpacked(r, NULL);
}

/* ---- Scroll ---------------------------------------------------------------------------------- */

void hs_rpc_scroll(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__ScrollRequest *r = hyperspace__scroll_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_fail f = {0};
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_collection *h = NULL;
    hs_gpoints o = {0};
    hs_op_scroll_req q = {0};
    q.has_limit = r->limit != 0; /* 0 and absent are the same bytes: the default */
    q.limit = r->limit;
    q.cursor = *r->cursor ? r->cursor : NULL;
    q.offset = r->offset;
    int kind = hs_op_id_type(c->auth.tenant, r->collection);
    q.id_type = kind == HS_ID_STRING ? HS_ID_STRING : HS_ID_INTEGER;
    q.with_vector = r->_with_vector_case != HYPERSPACE__SCROLL_REQUEST___WITH_VECTOR_WITH_VECTOR ||
                    r->with_vector;
    o.skip_meta =
        r->_with_metadata_case == HYPERSPACE__SCROLL_REQUEST___WITH_METADATA_WITH_METADATA &&
        !r->with_metadata;
    q.filter = &fs;
    hs_op_scroll_out so;
    int rc = hs_op_check_name(r->collection, false, &f) || hs_op_scroll_check(&q, &f) ||
             hs_gfilters_add(&fs, NULL, 0, r->filters, r->n_filters, &f) ||
             hs_ops_open(c->auth.tenant, r->collection, false, &h, &f) ||
             hs_op_scroll(h, &q, hs_gpoints_add, &o, &so, &f);
    if (o.oom) {
        oom(c);
    } else if (rc) {
        hs_gcall_fail(c, &f);
    } else {
        Hyperspace__ScrollResponse out = HYPERSPACE__SCROLL_RESPONSE__INIT;
        out.n_points = o.n;
        out.points = o.v;
        out.next_cursor = so.more ? so.next_cursor : "";
        hs_grpc_reply(c, &out.base);
    }
    hs_collection_close(h);
    hs_gpoints_free(&o);
    hs_filter_free(&fs);
    hyperspace__scroll_request__free_unpacked(r, NULL);
}

/* ---- SearchMultiCollection ------------------------------------------------------------------- */

/* What a search across collections collects: per collection its results, the merged ranking. */
typedef struct multi {
    size_t n, k;
    hs_gsearch *outs;
    hs_hit *hits;
    size_t *counts;
    hs_op_multi_hit *merged;
    size_t nmerged;
} multi;

static int multi_on_result(void *ctx, size_t coll, size_t i, const hs_point_view *p)
{
    multi *mu = ctx;
    return hs_gsearch_on_result(&mu->outs[coll], i, p);
}

static bool multi_alloc(multi *mu)
{
    mu->outs = calloc(mu->n, sizeof(hs_gsearch));
    mu->hits = malloc(mu->n * mu->k * sizeof(hs_hit));
    mu->counts = calloc(mu->n, sizeof(size_t));
    mu->merged = malloc(mu->k * sizeof(hs_op_multi_hit));
    bool ok = mu->outs && mu->hits && mu->counts && mu->merged;
    for (size_t c = 0; ok && c < mu->n; c++) {
        hs_gsearch *o = &mu->outs[c];
        o->meta = calloc(mu->k, sizeof(hs_gkv_list));
        o->typed = calloc(mu->k, sizeof(hs_gtyped));
        o->tents = calloc(mu->k, sizeof(hs_gtyped_entries));
        o->res = calloc(mu->k, sizeof(Hyperspace__SearchResult));
        o->sids = calloc(mu->k, sizeof(char *));
        ok = o->meta && o->typed && o->tents && o->res && o->sids;
    }
    return ok;
}

static void multi_free(multi *mu)
{
    for (size_t c = 0; mu->outs && c < mu->n; c++)
        hs_gsearch_free(&mu->outs[c], mu->k);
    free(mu->outs);
    free(mu->hits);
    free(mu->counts);
    free(mu->merged);
}

/* The hits into each collection's results; false when a result's metadata could not be kept. */
static bool multi_results(multi *mu)
{
    for (size_t c = 0; c < mu->n; c++) {
        hs_gsearch *o = &mu->outs[c];
        o->n = mu->counts[c];
        for (size_t i = 0; i < o->n; i++) {
            const hs_hit *h = &mu->hits[c * mu->k + i];
            Hyperspace__SearchResult init = HYPERSPACE__SEARCH_RESULT__INIT;
            o->res[i] = init;
            o->res[i].id = (uint32_t)h->id;
            o->res[i].distance = h->distance;
            if (o->meta[i].oom) /* (a string id is set by hs_gsearch_fill) */
                return false;
        }
    }
    return true;
}

/* Packs the reply: each collection's results in the map, the merged ones after them. */
static void multi_reply(hs_gcall *c, const hs_op_multi_req *q, multi *mu)
{
    size_t n = mu->n;
    Hyperspace__SearchResponse *srs = calloc(n, sizeof(*srs));
    Hyperspace__SearchMultiCollectionResponse__ResponsesEntry *ents = calloc(n, sizeof(*ents));
    Hyperspace__SearchMultiCollectionResponse__ResponsesEntry **eptr = calloc(n, sizeof(void *));
    Hyperspace__SearchResult ***ptrs = calloc(n, sizeof(void *));
    Hyperspace__SearchResult__MetadataEntry ****mps = calloc(n, sizeof(void *));
    Hyperspace__CollectionHit *hits = calloc(mu->nmerged ? mu->nmerged : 1, sizeof(*hits));
    Hyperspace__CollectionHit **hptr = calloc(mu->nmerged ? mu->nmerged : 1, sizeof(void *));
    bool ok = srs && ents && eptr && ptrs && mps && hits && hptr;
    for (size_t i = 0; ok && i < n; i++) {
        size_t m = mu->outs[i].n ? mu->outs[i].n : 1;
        ptrs[i] = malloc(m * sizeof(void *));
        mps[i] = calloc(m, sizeof(void *));
        if (!(ok = ptrs[i] && mps[i]))
            break;
        hyperspace__search_response__init(&srs[i]);
        hs_gsearch_fill(&srs[i], &mu->outs[i], ptrs[i], mps[i]);
        hyperspace__search_multi_collection_response__responses_entry__init(&ents[i]);
        ents[i].key = (char *)(*q->names[i] ? q->names[i] : "default");
        ents[i].value = &srs[i];
        eptr[i] = &ents[i];
    }
    for (size_t i = 0; ok && i < mu->nmerged; i++) {
        const hs_op_multi_hit *h = &mu->merged[i];
        hyperspace__collection_hit__init(&hits[i]);
        hits[i].collection = ents[h->coll].key;
        hits[i].result = &mu->outs[h->coll].res[h->rank];
        hptr[i] = &hits[i];
    }
    if (ok) {
        Hyperspace__SearchMultiCollectionResponse out =
            HYPERSPACE__SEARCH_MULTI_COLLECTION_RESPONSE__INIT;
        out.n_responses = n;
        out.responses = eptr;
        out.n_hits = mu->nmerged;
        out.hits = hptr;
        hs_grpc_reply(c, &out.base);
    } else {
        oom(c);
    }
    for (size_t i = 0; mps && ptrs && i < n; i++) {
        for (size_t j = 0; mps[i] && j < mu->outs[i].n; j++)
            free(mps[i][j]);
        free(mps[i]);
        free(ptrs[i]);
    }
    free(mps);
    free(ptrs);
    free(hptr);
    free(hits);
    free(eptr);
    free(ents);
    free(srs);
}

void hs_rpc_search_multi(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__SearchMultiCollectionRequest *r =
        hyperspace__search_multi_collection_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_fail f = {0};
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_op_multi_req q = {0};
    q.names = (const char *const *)r->collections;
    q.n = r->n_collections;
    q.search.vector = r->vector;
    q.search.dim = r->n_vector;
    q.search.top_k = r->top_k;
    q.search.oversampling = r->oversampling;
    q.search.filter = &fs;
    multi mu = {q.n, hs_op_search_k(&q.search), NULL, NULL, NULL, NULL, 0};
    q.on_result = multi_on_result;
    q.result_ctx = &mu;
    if (hs_op_multi_check(&q, &f) || hs_gfilters_add(&fs, NULL, 0, r->filters, r->n_filters, &f))
        goto done;
    if (!multi_alloc(&mu)) {
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
        goto done;
    }
    if (hs_op_search_multi(c->auth.tenant, &q, mu.hits, mu.counts, mu.merged, &mu.nmerged, &f))
        goto done;
    if (!multi_results(&mu))
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
    else
        multi_reply(c, &q, &mu);
done:
    if (f.id)
        hs_gcall_fail(c, &f);
    multi_free(&mu);
    hs_filter_free(&fs);
    hyperspace__search_multi_collection_request__free_unpacked(r, NULL);
}

/* ---- FreezeCollection, UnfreezeCollection ---------------------------------------------------- */

static void freeze(hs_gcall *c, const char *name, bool frozen)
{
    hs_fail f = {0};
    if (hs_op_freeze(c->auth.tenant, name, frozen, &f)) {
        hs_gcall_fail(c, &f);
        return;
    }
    char text[128];
    snprintf(text, sizeof(text), "Collection '%s' %s.", name, frozen ? "frozen" : "unfrozen");
    hs_grpc_status_reply(c, text);
}

void hs_rpc_freeze(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__FreezeCollectionRequest *r =
        hyperspace__freeze_collection_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    freeze(c, r->name, true);
    hyperspace__freeze_collection_request__free_unpacked(r, NULL);
}

void hs_rpc_unfreeze(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__UnfreezeCollectionRequest *r =
        hyperspace__unfreeze_collection_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    freeze(c, r->name, false);
    hyperspace__unfreeze_collection_request__free_unpacked(r, NULL);
}
