/*
 * main.c: hyperspace-server start-up (B12.1), signals and graceful shutdown (B12.2).
 *
 * Every thread the server starts inherits a mask blocking SIGINT, SIGTERM and SIGHUP; the main
 * thread takes them with sigwait.  SIGHUP reloads the keys file; the first SIGINT/SIGTERM starts
 * a graceful shutdown, a second one exits at once (acknowledged writes are safe per their
 * durability level either way).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/failover.h"
#include "server/repl.h"
#include "server/repl_history.h"
#include "server/server.h"
#include "util/log.h"



static void *second_signal(void *arg)
{
    sigset_t *set = arg;
    int sig;
    while (sigwait(set, &sig) == 0) {
        if (sig == SIGHUP)
            continue;
        hs_log(HS_LOG_WARN, "second signal %d: exiting now", sig);
        fflush(stdout);
        _exit(0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    int rc = hs_settings_load(&g_srv.cfg, argc, argv);
    if (rc == 1)
        return 0;
    if (rc)
        return 2;
    hs_logring_init(g_srv.cfg.log_level);
    hs_metrics_init();
    g_srv.start_ns = hs_now_ns_srv();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    g_srv.start_unix = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
    hs_log(HS_LOG_INFO, "hyperspace-server starting (API %s)", HS_API_VERSION);
    hs_settings_log(&g_srv.cfg);
    if (hs_auth_init(&g_srv.cfg))
        return 2;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    hs_db_opts o;
    hs_db_opts_init(&o);
    o.durability = g_srv.cfg.wal_mode;
    o.batch_interval_ms = g_srv.cfg.wal_batch_ms;
    o.idle_timeout_sec = g_srv.cfg.idle_timeout_sec;
    o.max_loaded = g_srv.cfg.max_loaded;
    o.max_collections_per_tenant = g_srv.cfg.max_collections_per_tenant;
    o.checkpoint_min_log_bytes = g_srv.cfg.checkpoint_min_log_bytes;
    o.memory_limit = g_srv.cfg.memory_limit;
    o.no_narrow = !g_srv.cfg.narrow_copy;
    o.wal_retain_bytes = g_srv.cfg.wal_retain_bytes;
    o.indexer_threads = g_srv.cfg.indexer_threads;
    o.snapshot_interval_sec = g_srv.cfg.snapshot_interval_sec;
    o.snapshot_dir = g_srv.cfg.snapshot_dir;
    if (g_srv.cfg.m)
        o.default_m = g_srv.cfg.m;
    if (g_srv.cfg.ef_construction)
        o.default_ef_construction = g_srv.cfg.ef_construction;
    if (g_srv.cfg.ef_search)
        o.default_ef_search = g_srv.cfg.ef_search;
    if (mkdir(g_srv.cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        hs_log(HS_LOG_ERROR, "cannot create the data directory '%s': %s", g_srv.cfg.data_dir,
               strerror(errno));
        return 1;
    }
    hs_error err;
    if (hs_db_open(g_srv.cfg.data_dir, &o, &g_srv.db, &err) != HS_OK) {
        hs_log(HS_LOG_ERROR, "cannot open the data directory '%s': %s", g_srv.cfg.data_dir,
               err.message);
        return 1;
    }
    snprintf(g_srv.node_id, sizeof(g_srv.node_id), "%s", hs_db_node_id(g_srv.db));
    hs_events_observe(g_srv.db); /* change-stream readers wake on applied changes */
    if (hs_ops_role_init()) { /* B11.1, B11.7: logged */
        hs_db_close(g_srv.db, NULL);
        return 2;
    }
    /* a leader's writes go into an epoch of its own, begun after everything it holds */
    hs_history_load();
    if (!g_srv.follower && hs_history_begin(hs_db_held_clock(g_srv.db))) {
        hs_db_close(g_srv.db, NULL);
        return 2;
    }
    hs_log(HS_LOG_INFO, "node %s, logical clock %llu", g_srv.node_id,
           (unsigned long long)hs_db_clock(g_srv.db));

    __atomic_store_n(&g_srv.state, SRV_STARTING, __ATOMIC_RELEASE);
    hs_http *http = NULL;
    if (hs_http_start(g_srv.cfg.host, g_srv.cfg.http_port, &http) != 0) {
        hs_log(HS_LOG_ERROR, "cannot listen for HTTP on %s:%d", g_srv.cfg.host,
               g_srv.cfg.http_port);
        hs_db_close(g_srv.db, NULL);
        return 1;
    }
    if (!g_srv.follower)
        hs_ops_ensure_default();
    else if (g_srv.cfg.leader_target[0] && hs_repl_follower_start() != 0) {
        /* B12.1 step 4: the replication client (with failover on etcd and no --leader, the
         * failover thread starts it once it knows the leader) */
        hs_http_stop(http);
        hs_db_close(g_srv.db, NULL);
        return 1;
    }
    hs_grpc *grpc = NULL;
    if (hs_grpc_start(g_srv.cfg.host, g_srv.cfg.grpc_port, &grpc) != 0) {
        hs_repl_follower_stop();
        hs_http_stop(http);
        hs_db_close(g_srv.db, NULL);
        return 1;
    }
    if (hs_failover_start() != 0) { /* issue 15 item 4: failover on etcd, when configured */
        hs_grpc_stop(grpc, 0);
        hs_repl_follower_stop();
        hs_http_stop(http);
        hs_db_close(g_srv.db, NULL);
        return 1;
    }
    __atomic_store_n(&g_srv.state, SRV_READY, __ATOMIC_RELEASE);
    hs_log(HS_LOG_INFO, "HTTP listening on %s:%d", g_srv.cfg.host, g_srv.cfg.http_port);

    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            hs_log(HS_LOG_INFO, "SIGHUP: reloading the keys file");
            hs_auth_reload();
            continue;
        }
        break;
    }
    hs_log(HS_LOG_INFO, "signal %d: shutting down", sig);
    __atomic_store_n(&g_srv.state, SRV_STOPPING, __ATOMIC_RELEASE);
    pthread_t watcher;
    pthread_create(&watcher, NULL, second_signal, &set);
    pthread_detach(watcher);

    hs_failover_stop(); /* no role change from here on; the lease expires by itself */
    hs_repl_follower_stop(); /* nothing is applied after this: the final checkpoint covers all */
    hs_grpc_stop(grpc, 10000);
    hs_http_stop(http);
    size_t n = 0;
    if (hs_db_checkpoint(g_srv.db, &n, &err) != HS_OK)
        hs_log(HS_LOG_ERROR, "final snapshot failed: %s", err.message);
    else
        hs_log(HS_LOG_INFO, "final snapshot of %zu collections", n);
    if (hs_db_close(g_srv.db, &err) != HS_OK) {
        hs_log(HS_LOG_ERROR, "close failed: %s", err.message);
        return 1;
    }
    hs_log(HS_LOG_INFO, "stopped");
    return 0;
}
