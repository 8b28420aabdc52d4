/*
 * grpc_meta.c: typed metadata and conditions between protobuf-c messages and the engine.
 *
 *   requests   a point's `metadata` (strings) and `typed_metadata` (MetadataValue) maps become
 *              one hs_kv array; a key in both keeps its typed value.  The values are checked
 *              by the engine (types, lists, limits), so both transports refuse the same things
 *              with the same messages;
 *   replies    a point holding a non-string value gets `typed_metadata` with every entry, typed
 *              (the string map keeps carrying every entry as text, for v2.0.0 clients);
 *   filters    the `filter` map and the Filter list of Search and Count: Match on a string or a
 *              typed scalar, Range with integer and float bounds.
 * The view a reply is built from dies with the engine's callback, so replies copy what they
 * keep.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/grpc_int.h"

/* ---- requests ---------------------------------------------------------------------------- */

static size_t item_count(const Hyperspace__MetadataValue *v)
{
    return v && v->kind_case == HYPERSPACE__METADATA_VALUE__KIND_LIST_VALUE && v->list_value
               ? v->list_value->n_values
               : 0;
}

/* One MetadataValue as an hs_value; a list's elements go to items.  A value with no kind set,
 * or a list inside a list, gets a type the engine refuses (HS_REASON_TYPE). */
static void value_of(const Hyperspace__MetadataValue *v, hs_value *out, hs_value *items,
                     bool in_list)
{
    memset(out, 0, sizeof(*out));
    out->type = (hs_value_type)-1;
    if (!v)
        return;
    switch (v->kind_case) {
    case HYPERSPACE__METADATA_VALUE__KIND_STRING_VALUE:
        out->type = HS_VALUE_STRING;
        out->str = v->string_value;
        out->len = strlen(v->string_value);
        break;
    case HYPERSPACE__METADATA_VALUE__KIND_INT_VALUE:
        out->type = HS_VALUE_INT;
        out->i = v->int_value;
        break;
    case HYPERSPACE__METADATA_VALUE__KIND_DOUBLE_VALUE:
        out->type = HS_VALUE_FLOAT;
        out->f = v->double_value;
        break;
    case HYPERSPACE__METADATA_VALUE__KIND_BOOL_VALUE:
        out->type = HS_VALUE_BOOL;
        out->i = v->bool_value != 0;
        break;
    case HYPERSPACE__METADATA_VALUE__KIND_LIST_VALUE:
        out->type = HS_VALUE_LIST;
        if (in_list)
            break;
        out->items = items;
        out->count = item_count(v);
        for (size_t i = 0; i < out->count; i++)
            value_of(v->list_value->values[i], &items[i], NULL, true);
        break;
    default:
        break;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hs_gmeta_build(hs_gmeta *m, const char *const *keys, const char *const *values, size_t n,
                   const char *const *tkeys, const Hyperspace__MetadataValue *const *tvalues,
                   size_t nt)
{
    memset(m, 0, sizeof(*m));
    size_t nitems = 0;
    for (size_t i = 0; i < nt; i++)
        nitems += item_count(tvalues[i]);
    m->kv = calloc(n + nt ? n + nt : 1, sizeof(hs_kv));
    m->vals = calloc(nt ? nt : 1, sizeof(hs_value));
    m->items = calloc(nitems ? nitems : 1, sizeof(hs_value));
    const char **sorted = malloc((nt ? nt : 1) * sizeof(char *));
    if (!m->kv || !m->vals || !m->items || !sorted) {
        free(sorted);
        hs_gmeta_free(m);
        return -1;
    }
    memcpy(sorted, tkeys, nt * sizeof(char *));
    qsort(sorted, nt, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) /* a key in both maps keeps its typed value */
        if (!nt || !bsearch(&keys[i], sorted, nt, sizeof(char *), cmp_str))
            m->kv[m->n++] = (hs_kv){keys[i], strlen(keys[i]), values[i], strlen(values[i]), NULL};
    free(sorted);
    hs_value *items = m->items;
    for (size_t i = 0; i < nt; i++) {
        value_of(tvalues[i], &m->vals[i], items, false);
        items += item_count(tvalues[i]);
        m->kv[m->n++] = (hs_kv){tkeys[i], strlen(tkeys[i]), NULL, 0, &m->vals[i]};
    }
    return 0;
}

void hs_gmeta_free(hs_gmeta *m)
{
    free(m->kv);
    free(m->vals);
    free(m->items);
    memset(m, 0, sizeof(*m));
}

/* ---- replies ------------------------------------------------------------------------------ */

void hs_gmv_free(Hyperspace__MetadataValue *v)
{
    if (!v)
        return;
    if (v->kind_case == HYPERSPACE__METADATA_VALUE__KIND_STRING_VALUE)
        free(v->string_value);
    if (v->kind_case == HYPERSPACE__METADATA_VALUE__KIND_LIST_VALUE && v->list_value) {
        for (size_t i = 0; i < v->list_value->n_values; i++)
            hs_gmv_free(v->list_value->values[i]);
        free(v->list_value->values);
        free(v->list_value);
    }
    free(v);
}

/* A MetadataValue copied from an engine value (NULL: out of memory). */
static Hyperspace__MetadataValue *mv_of(const hs_value *v)
{
    Hyperspace__MetadataValue *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    hyperspace__metadata_value__init(m);
    switch (v->type) {
    case HS_VALUE_STRING:
        m->kind_case = HYPERSPACE__METADATA_VALUE__KIND_STRING_VALUE;
        if (!(m->string_value = strndup(v->str ? v->str : "", v->len)))
            goto oom;
        return m;
    case HS_VALUE_INT:
        m->kind_case = HYPERSPACE__METADATA_VALUE__KIND_INT_VALUE;
        m->int_value = v->i;
        return m;
    case HS_VALUE_FLOAT:
        m->kind_case = HYPERSPACE__METADATA_VALUE__KIND_DOUBLE_VALUE;
        m->double_value = v->f;
        return m;
    case HS_VALUE_BOOL:
        m->kind_case = HYPERSPACE__METADATA_VALUE__KIND_BOOL_VALUE;
        m->bool_value = v->i != 0;
        return m;
    default: {
        m->kind_case = HYPERSPACE__METADATA_VALUE__KIND_LIST_VALUE;
        Hyperspace__MetadataList *l = malloc(sizeof(*l));
        if (!(m->list_value = l))
            goto oom;
        hyperspace__metadata_list__init(l);
        l->values = calloc(v->count ? v->count : 1, sizeof(*l->values));
        if (!l->values)
            goto oom;
        for (size_t i = 0; i < v->count; i++) {
            if (!(l->values[i] = mv_of(&v->items[i])))
                goto oom;
            l->n_values++;
        }
        return m;
    }
    }
oom:
    hs_gmv_free(m);
    return NULL;
}

static int collect_typed(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    hs_gtyped *t = ctx;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **nk = realloc(t->keys, cap * sizeof(*nk));
        if (nk)
            t->keys = nk;
        Hyperspace__MetadataValue **nv = realloc(t->vals, cap * sizeof(*nv));
        if (nv)
            t->vals = nv;
        if (!nk || !nv)
            goto oom;
        t->cap = cap;
    }
    char *key = strndup(k, kl);
    Hyperspace__MetadataValue *mv = mv_of(v);
    if (!key || !mv) {
        free(key);
        hs_gmv_free(mv);
        goto oom;
    }
    t->keys[t->n] = key;
    t->vals[t->n++] = mv;
    return 0;
oom:
    t->oom = true;
    return 1;
}

int hs_gtyped_collect(hs_gtyped *t, const hs_point_view *p)
{
    if (!hs_meta_has_typed(p))
        return 0;
    if (hs_meta_each_typed(p, collect_typed, t) < 0)
        t->oom = true;
    return t->oom ? -1 : 0;
}

/* The key and value strings of a map entry message, by its descriptor's field offsets. */
static char **entry_field(const hs_gstrmap *m, void *entry, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->desc, name);
    return (char **)((char *)entry + f->offset);
}

static int collect_str(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    hs_gstrmap *m = ctx;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        void **np = realloc(m->ptrs, cap * sizeof(*np));
        if (!np)
            goto oom;
        m->ptrs = np;
        m->cap = cap;
    }
    void *e = calloc(1, m->desc->sizeof_message);
    if (!e)
        goto oom;
    protobuf_c_message_init(m->desc, e);
    m->ptrs[m->n++] = e;
    char **key = entry_field(m, e, "key"), **value = entry_field(m, e, "value");
    *key = strndup(k, kl);
    *value = strndup(v, vl);
    if (*key && *value)
        return 0;
oom:
    m->oom = true;
    return 1;
}

int hs_gstrmap_collect(hs_gstrmap *m, const ProtobufCMessageDescriptor *desc,
                       const hs_point_view *p)
{
    memset(m, 0, sizeof(*m));
    m->desc = desc;
    if (hs_meta_each(p, collect_str, m) < 0)
        m->oom = true;
    return m->oom ? -1 : 0;
}

void hs_gstrmap_free(hs_gstrmap *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(*entry_field(m, m->ptrs[i], "key"));
        free(*entry_field(m, m->ptrs[i], "value"));
        free(m->ptrs[i]);
    }
    free(m->ptrs);
    memset(m, 0, sizeof(*m));
}

void hs_gtyped_free(hs_gtyped *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->keys[i]);
        hs_gmv_free(t->vals[i]);
    }
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof(*t));
}

/* ---- filters ------------------------------------------------------------------------------ */

/* A Match condition from its message (typed_value wins; refused with a non-empty value too). */
static int match_cond(const Hyperspace__Match *m, const char *where, hs_value *tv, hs_cond *c,
                      hs_fail *f)
{
    *c = (hs_cond){.kind = HS_COND_MATCH, .key = m->key, .key_len = strlen(m->key),
                   .value = m->value, .value_len = strlen(m->value)};
    if (!m->typed_value)
        return 0;
    if (m->value[0])
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s.match sets both value and "
                           "typed_value", where);
    value_of(m->typed_value, tv, NULL, true);
    if (tv->type == HS_VALUE_LIST || (int)tv->type < 0)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s.match.typed_value must be a "
                           "string, number or boolean", where);
    if (tv->type == HS_VALUE_FLOAT && !isfinite(tv->f))
        return hs_fail_set(f, HS_ERR_FIELD, "Field '%s.match.typed_value' must be a finite "
                           "number", where);
    c->typed = tv;
    c->value = NULL;
    c->value_len = 0;
    return 0;
}

/* A Range condition from its message: integer bounds gte, lte, gt, lt and float bounds
 * gte_f64, lte_f64, gt_f64, lt_f64, all ANDed. */
static int range_cond(const Hyperspace__Range *g, const char *where, hs_cond *c, hs_fail *f)
{
    *c = (hs_cond){.kind = HS_COND_RANGE, .key = g->key, .key_len = strlen(g->key)};
    c->has_gte = g->_gte_case == HYPERSPACE__RANGE___GTE_GTE;
    c->gte = g->gte;
    c->has_lte = g->_lte_case == HYPERSPACE__RANGE___LTE_LTE;
    c->lte = g->lte;
    c->has_gt = g->_gt_case == HYPERSPACE__RANGE___GT_GT;
    c->gt = g->gt;
    c->has_lt = g->_lt_case == HYPERSPACE__RANGE___LT_LT;
    c->lt = g->lt;
    struct {
        bool set;
        double v;
        unsigned bit;
        double *dst;
        const char *name;
    } fb[] = {
        {g->_gte_f64_case == HYPERSPACE__RANGE___GTE_F64_GTE_F64, g->gte_f64, HS_FBOUND_GTE,
         &c->fgte, "gte_f64"},
        {g->_lte_f64_case == HYPERSPACE__RANGE___LTE_F64_LTE_F64, g->lte_f64, HS_FBOUND_LTE,
         &c->flte, "lte_f64"},
        {g->_gt_f64_case == HYPERSPACE__RANGE___GT_F64_GT_F64, g->gt_f64, HS_FBOUND_GT, &c->fgt,
         "gt_f64"},
        {g->_lt_f64_case == HYPERSPACE__RANGE___LT_F64_LT_F64, g->lt_f64, HS_FBOUND_LT, &c->flt,
         "lt_f64"},
    };
    for (size_t i = 0; i < sizeof(fb) / sizeof(fb[0]); i++) {
        if (!fb[i].set)
            continue;
        if (fb[i].v != fb[i].v) /* NaN; infinities are valid bounds */
            return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s.range.%s must be a number",
                               where, fb[i].name);
        c->fbounds |= fb[i].bit;
        *fb[i].dst = fb[i].v;
    }
    return 0;
}

/* One Filter (at path, nesting level depth) into *out, its sub-conditions and typed values in
 * memory the set owns; *count counts the conditions written.  Returns 0 or the failure id. */
static int filter_node(hs_filter_set *fs, const Hyperspace__Filter *fc, const char *path,
                       int depth, hs_cond *out, size_t *count, hs_fail *f)
{
    if (depth > HS_COND_MAX_DEPTH)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s is nested deeper than %d levels",
                           path, HS_COND_MAX_DEPTH);
    if (++*count > HS_FILTER_MAX_CONDITIONS)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    switch (fc->condition_case) {
    case HYPERSPACE__FILTER__CONDITION_MATCH: {
        hs_value *tv = hs_filter_own(fs, sizeof(*tv));
        if (!tv)
            return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
        return match_cond(fc->match, path, tv, out, f);
    }
    case HYPERSPACE__FILTER__CONDITION_RANGE:
        return range_cond(fc->range, path, out, f);
    case HYPERSPACE__FILTER__CONDITION_PREFIX:
        *out = (hs_cond){.kind = HS_COND_PREFIX, .key = fc->prefix->key,
                         .key_len = strlen(fc->prefix->key), .value = fc->prefix->prefix,
                         .value_len = strlen(fc->prefix->prefix)};
        return 0;
    case HYPERSPACE__FILTER__CONDITION_ALL:
    case HYPERSPACE__FILTER__CONDITION_ANY:
    case HYPERSPACE__FILTER__CONDITION_NONE: {
        const Hyperspace__FilterList *l = fc->condition_case == HYPERSPACE__FILTER__CONDITION_ALL
                                              ? fc->all
                                          : fc->condition_case == HYPERSPACE__FILTER__CONDITION_ANY
                                              ? fc->any
                                              : fc->none;
        const char *name = fc->condition_case == HYPERSPACE__FILTER__CONDITION_ALL   ? "all"
                           : fc->condition_case == HYPERSPACE__FILTER__CONDITION_ANY ? "any"
                                                                                      : "none";
        if (l->n_filters == 0)
            return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s.%s must hold at least one "
                               "condition", path, name);
        hs_cond *sub = hs_filter_own(fs, (l->n_filters + 1) * sizeof(*sub));
        if (!sub)
            return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
        for (size_t i = 0; i < l->n_filters; i++) {
            char p2[200];
            snprintf(p2, sizeof(p2), "%s.%s.filters[%zu]", path, name, i);
            if (filter_node(fs, l->filters[i], p2, depth + 1, &sub[i], count, f))
                return f->id;
        }
        if (fc->condition_case == HYPERSPACE__FILTER__CONDITION_NONE) {
            /* none of them: NOT of their OR (of the one alone) */
            hs_cond *inner = &sub[l->n_filters];
            *inner = l->n_filters == 1 ? sub[0]
                                       : (hs_cond){.kind = HS_COND_OR, .sub = sub,
                                                   .nsub = l->n_filters};
            *out = (hs_cond){.kind = HS_COND_NOT, .sub = inner, .nsub = 1};
        } else {
            *out = (hs_cond){.kind = name[1] == 'l' ? HS_COND_AND : HS_COND_OR, .sub = sub,
                             .nsub = l->n_filters};
        }
        return 0;
    }
    default:
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s has no condition", path);
    }
}

int hs_gfilters_add(hs_filter_set *fs, Hyperspace__SearchRequest__FilterEntry **map, size_t n_map,
                    Hyperspace__Filter **filters, size_t n_filters, hs_fail *f)
{
    if (n_map + n_filters > HS_FILTER_MAX_CONDITIONS)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    for (size_t i = 0; i < n_map; i++) {
        const Hyperspace__SearchRequest__FilterEntry *e = map[i];
        if (hs_filter_add_match(fs, HS_GROUP_MUST, e->key, strlen(e->key), e->value,
                                strlen(e->value), "filter", f))
            return f->id;
    }
    for (size_t i = 0; i < n_filters; i++) {
        char where[32];
        snprintf(where, sizeof(where), "filters[%zu]", i);
        hs_cond c;
        size_t count = fs->n;
        if (filter_node(fs, filters[i], where, 1, &c, &count, f) ||
            hs_filter_add_counted(fs, HS_GROUP_MUST, &c, count - fs->n, where, f))
            return f->id;
    }
    return 0;
}
