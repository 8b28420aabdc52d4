/*
 * http_node.c: the node routes: cluster role and promotion, status, API metrics, the Prometheus
 * text, the log ring, and the health and readiness probes.
 */
#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_route.h"
#include "server/failover.h"
#include "server/repl.h"
#include "server/repl_history.h"
#include "util/log.h"
#include "util/numfmt.h"
#include "util/utf8.h"

static const char *role_text(void)
{
    return __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE) ? "Follower" : "Leader";
}

/* A follower's "replication" member (B11.3, read from the replication client). */
static void follower_replication(sb *b)
{
    char leader_id[64], last_error[512];
    hs_repl_follower_leader_id(leader_id, sizeof(leader_id));
    hs_repl_follower_last_error(last_error, sizeof(last_error));
    hs_sb_printf(b, "{\"connected\":%s,\"leader_node_id\":",
                 hs_repl_follower_connected() ? "true" : "false");
    if (leader_id[0])
        hs_sb_cstr(b, leader_id);
    else
        hs_sb_puts(b, "null");
    hs_sb_printf(b, ",\"watermark\":%llu,\"reconnects\":%llu,\"last_error\":",
                 (unsigned long long)hs_repl_follower_watermark(),
                 (unsigned long long)hs_repl_follower_reconnects());
    if (last_error[0])
        hs_sb_cstr(b, last_error);
    else
        hs_sb_puts(b, "null");
    char check[200];
    uint64_t check_ms;
    hs_repl_follower_last_check(&check_ms, check, sizeof(check));
    hs_sb_printf(b, ",\"leader_changes_continued\":%llu,\"full_resyncs\":%llu",
                 (unsigned long long)hs_repl_follower_continued(),
                 (unsigned long long)hs_repl_follower_resyncs());
    hs_sb_printf(b, ",\"digest_checks\":%llu,\"digest_mismatches\":%llu,\"last_digest_check_ms\":",
                 (unsigned long long)hs_repl_follower_digest_checks(),
                 (unsigned long long)hs_repl_follower_digest_mismatches());
    if (check_ms)
        hs_sb_printf(b, "%llu,\"last_digest_check\":", (unsigned long long)check_ms);
    else
        hs_sb_puts(b, "null,\"last_digest_check\":");
    if (check[0])
        hs_sb_cstr(b, check);
    else
        hs_sb_puts(b, "null");
    hs_sb_put(b, "}", 1);
}

/* A leader's "followers": every follower it heard from (acknowledgements, streams). */
static void leader_followers(sb *b, const hs_repl_leader_status *st)
{
    hs_sb_puts(b, ",\"followers\":[");
    for (size_t i = 0; i < st->nfollowers; i++) {
        const hs_repl_follower_info *f = &st->followers[i];
        hs_sb_puts(b, i ? ",{\"node_id\":" : "{\"node_id\":");
        hs_sb_cstr(b, f->node_id);
        hs_sb_puts(b, ",\"address\":");
        hs_sb_cstr(b, f->address);
        hs_sb_printf(b, ",\"watermark\":%llu,\"lag_records\":%llu,\"lag_seconds\":",
                     (unsigned long long)f->watermark, (unsigned long long)f->lag_records);
        hs_sb_double(b, f->lag_seconds);
        hs_sb_printf(b, ",\"connected\":%s,\"in_sync\":%s,\"last_ack_ms\":",
                     f->connected ? "true" : "false", f->in_sync ? "true" : "false");
        if (f->last_ack_ms)
            hs_sb_u64(b, f->last_ack_ms);
        else
            hs_sb_puts(b, "null");
        hs_sb_put(b, "}", 1);
    }
    hs_sb_put(b, "]", 1);
}

void hs_route_cluster(hctx *c)
{
    sb *b = &c->out;
    bool follower = __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE);
    hs_repl_leader_status *st = follower ? NULL : calloc(1, sizeof(*st));
    if (!follower && !st) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        return;
    }
    if (st)
        hs_repl_leader_status_get(st);
    hs_sb_puts(b, "{\"node_id\":");
    hs_sb_cstr(b, g_srv.node_id);
    hs_sb_puts(b, ",\"role\":");
    hs_sb_cstr(b, follower ? "Follower" : "Leader");
    hs_sb_puts(b, ",\"upstream_peer\":");
    if (follower && g_srv.cfg.leader[0])
        hs_sb_cstr(b, g_srv.cfg.leader);
    else
        hs_sb_puts(b, "null");
    hs_sb_puts(b, ",\"downstream_peers\":[");
    for (size_t i = 0; st && i < st->npeers; i++) {
        if (i)
            hs_sb_put(b, ",", 1);
        hs_sb_cstr(b, st->peers[i]);
    }
    hs_sb_printf(b, "],\"logical_clock\":%llu,\"replication\":",
                 (unsigned long long)hs_db_clock(g_srv.db));
    if (follower) {
        follower_replication(b);
    } else {
        hs_sb_puts(b, "null");
        leader_followers(b, st);
    }
    uint64_t epoch_id, epoch_start; /* after the spec's members: the history's latest epoch */
    hs_history_current(&epoch_id, &epoch_start);
    if (epoch_id)
        hs_sb_printf(b, ",\"epoch\":{\"id\":\"%016llx\",\"start\":%llu}",
                     (unsigned long long)epoch_id, (unsigned long long)epoch_start);
    else
        hs_sb_puts(b, ",\"epoch\":null");
    if (hs_failover_enabled()) /* the etcd epoch and the write gate */
        hs_sb_printf(b, ",\"failover\":{\"epoch\":%lld,\"writable\":%s}",
                     (long long)hs_failover_epoch(),
                     !follower && hs_failover_write_ok() ? "true" : "false");
    hs_sb_put(b, "}", 1);
    free(st);
}

/* B11.7: a follower stops its replication client (joined: nothing is applied after the answer),
 * records its new role before answering, so it stays a leader after a restart without --role,
 * and takes writes from then on.  0, or -1 (still a follower, following again).  Used by the
 * promote route and by failover (failover.c). */
int hs_node_promote(void)
{
    static pthread_mutex_t promoting = PTHREAD_MUTEX_INITIALIZER; /* one promotion at a time */
    int rc = 0;
    pthread_mutex_lock(&promoting);
    if (__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE)) {
        hs_repl_follower_stop();
        /* nothing is applied any more: the epoch begins after everything held */
        if (hs_history_begin(hs_db_held_clock(g_srv.db)) || hs_ops_role_persist(false)) {
            if (hs_repl_follower_start()) /* still a follower: following again */
                hs_log(HS_LOG_ERROR, "the replication client did not start again");
            rc = -1;
        } else {
            __atomic_store_n(&g_srv.follower, false, __ATOMIC_RELEASE);
            hs_log(HS_LOG_INFO, "promoted to leader");
        }
    }
    pthread_mutex_unlock(&promoting);
    return rc;
}

void hs_route_promote(hctx *c)
{
    const char *prev = role_text();
    if (hs_node_promote()) {
        hs_http_fail(c, HS_ERR_INTERNAL, "Internal error: cannot record the new role and its "
                     "epoch in %s (.role, .history; the log says which)", g_srv.cfg.data_dir);
        return;
    }
    hs_sb_puts(&c->out, "{\"role\":\"Leader\",\"previous_role\":");
    hs_sb_cstr(&c->out, prev);
    hs_sb_puts(&c->out, ",\"node_id\":");
    hs_sb_cstr(&c->out, g_srv.node_id);
    hs_sb_printf(&c->out, ",\"logical_clock\":%llu}", (unsigned long long)hs_db_clock(g_srv.db));
}

void hs_route_status(hctx *c)
{
    uint64_t up = (hs_now_ns_srv() - g_srv.start_ns) / 1000000000ull;
    char uptime[48];
    if (up < 60)
        snprintf(uptime, sizeof(uptime), "%llus", (unsigned long long)up);
    else if (up < 3600)
        snprintf(uptime, sizeof(uptime), "%llum %llus", (unsigned long long)(up / 60),
                 (unsigned long long)(up % 60));
    else
        snprintf(uptime, sizeof(uptime), "%lluh %llum", (unsigned long long)(up / 3600),
                 (unsigned long long)(up % 3600 / 60));
    sb *b = &c->out;
    hs_sb_printf(b, "{\"status\":\"ONLINE\",\"version\":\"%s\",\"uptime\":\"%s\",\"uptime_seconds\":%llu",
                 HS_API_VERSION, uptime, (unsigned long long)up);
    hs_sb_printf(b, ",\"config\":{\"dimension\":%u,\"metric\":\"%s\",\"quantization\":\"%s\"}",
                 g_srv.cfg.dimension, hs_metric_name(g_srv.cfg.metric),
              hs_quant_name(g_srv.cfg.quantization));
    hs_sb_puts(b, ",\"embedding\":null,\"role\":");
    hs_sb_cstr(b, role_text());
    hs_sb_puts(b, ",\"node_id\":");
    hs_sb_cstr(b, g_srv.node_id);
    hs_sb_put(b, "}", 1);
}

void hs_route_api_metrics(hctx *c)
{
    uint64_t cols, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    uint64_t up = (hs_now_ns_srv() - g_srv.start_ns) / 1000000000ull;
    sb *b = &c->out;
    hs_sb_printf(b, "{\"total_vectors\":%llu,\"active_collections\":%llu,\"idle_collections\":%llu,"
                 "\"total_collections\":%llu,\"ram_usage_mb\":%llu,\"cpu_usage_percent\":%llu,"
                 "\"disk_usage_mb\":%llu,\"qps\":",
              (unsigned long long)pts, (unsigned long long)loaded,
              (unsigned long long)(cols - loaded), (unsigned long long)cols,
              (unsigned long long)llround((double)hs_process_rss() / 1048576.0),
              (unsigned long long)llround(hs_process_cpu_percent()),
              (unsigned long long)llround((double)hs_data_dir_bytes() / 1048576.0));
    hs_sb_double(b, hs_ops_qps());
    hs_sb_printf(b, ",\"uptime_seconds\":%llu}", (unsigned long long)up);
}

void hs_route_prometheus(hctx *c)
{
    size_t len = 0;
    char *text = hs_metrics_text(&len);
    if (!text) {
        hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        return;
    }
    free(c->out.p);
    c->out.p = text;
    c->out.n = len;
    c->out.cap = len + 1;
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void hs_route_logs(hctx *c)
{
    char buf[32];
    uint64_t limit = 100;
    const char *l = hs_http_query_arg(c, "limit", buf, sizeof(buf));
    if (l) {
        if (!hs_http_parse_u64(l, strlen(l), UINT64_MAX, &limit)) {
            hs_http_fail(c, HS_ERR_FIELD, "Field 'limit' must be an integer between 1 and 1000");
            return;
        }
        limit = limit < 1 ? 1 : limit > 1000 ? 1000 : limit;
    }
    char **lines = NULL;
    size_t n = hs_logring_tail(&lines, (size_t)limit);
    hs_sb_put(&c->out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            hs_sb_put(&c->out, ",", 1);
        hs_sb_cstr(&c->out, lines[i]);
    }
    hs_sb_put(&c->out, "]", 1);
    hs_logring_free(lines, n);
}

void hs_route_healthz(hctx *c) { hs_sb_puts(&c->out, "{\"status\":\"ok\"}"); }

void hs_route_readyz(hctx *c)
{
    int state = __atomic_load_n(&g_srv.state, __ATOMIC_ACQUIRE);
    if (state != SRV_READY) {
        hs_sb_puts(&c->out, state == SRV_STARTING ? "{\"status\":\"starting\"}"
                                               : "{\"status\":\"shutting_down\"}");
        c->resp->status = 503;
        return;
    }
    uint64_t cols, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    hs_sb_puts(&c->out, "{\"status\":\"ready\",\"role\":");
    hs_sb_cstr(&c->out, role_text());
    hs_sb_printf(&c->out, ",\"quarantined_collections\":%llu}", (unsigned long long)failed);
}
