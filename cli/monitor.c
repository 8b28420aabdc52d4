/* The live monitor: one screen refreshed every second from the node's HTTP API.
 *   /api/status, /api/cluster/status   role, node id, version, uptime, logical clock
 *   /api/collections                   per collection: count, indexing queue, deleted, loaded
 *   /metrics (global admin key)        searches and writes per second, search latency (mean
 *                                      and p99 from the histogram), memory, per-collection
 *                                      counters (the "last use" column is the last refresh at
 *                                      which a collection's searches/upserts/deletes moved)
 * Keys: Up/Down (j/k) select, Enter details, Esc back, s sort, r reverse, / filter, S snapshot,
 * V vacuum, R rebuild (each confirmed with y), q quit. */
#include "cli.h"

#include <ctype.h>
#include <curses.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BUCKETS 32

typedef struct coll {
    char name[80];
    char metric[16];
    double count, queue, deleted, dim, memory;
    bool loaded;
    double activity; /* searches + upserts + deletes, from /metrics */
    double searches, upserts, deletes, search_sum, search_count;
    bool have_activity;
    double last_use; /* monotonic seconds, 0 = none seen */
} coll;

enum { SORT_NAME, SORT_COUNT, SORT_QUEUE, SORT_MEMORY, SORT_LAST_USE, SORT_N };
static const char *sort_names[SORT_N] = {"name", "count", "queue", "memory", "last use"};

enum { ASK_NONE, ASK_SNAPSHOT, ASK_VACUUM, ASK_REBUILD };

typedef struct state {
    const cli_conn *c;
    coll *cols;
    int ncols;
    char role[32], node_id[64], version[32];
    double uptime, clock_value, ram_mb;
    bool have_node;
    /* rates */
    double prev_t, prev_searches, prev_writes, prev_sum, prev_cnt;
    double prev_le[MAX_BUCKETS], prev_bc[MAX_BUCKETS];
    int prev_nb;
    bool have_prev;
    double sps, wps, mean_ms, p99_ms;
    bool have_rates;
    bool metrics_ok;
    char metrics_note[160];
    char err[320];
    bool grpc_up;
    long refreshes;
    /* ui */
    int sel, sort;
    bool reverse;
    char filter[64];
    bool editing_filter;
    bool details;
    char detail_name[80];
    cJSON *detail;
    char detail_err[320];
    int ask;
    char message[320];
} state;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double jnum(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *jstr(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static coll *find_coll(coll *cols, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    return NULL;
}

/* Fetches path; on failure records the error in s->err and returns NULL. */
static cJSON *fetch(state *s, const char *path, int *status)
{
    cli_resp r;
    cli_http(s->c, "GET", path, NULL, &r);
    if (status)
        *status = r.status;
    cJSON *j = cli_resp_json(&r);
    if (!j && !s->err[0])
        cli_resp_error(s->c, &r, s->err, sizeof s->err);
    cli_resp_free(&r);
    return j;
}

static void refresh_metrics(state *s, double t)
{
    cli_resp r;
    cli_http(s->c, "GET", "/metrics", NULL, &r);
    if (r.status != 200 || !r.body) {
        s->metrics_ok = false;
        if (r.status == 401 || r.status == 403)
            snprintf(s->metrics_note, sizeof s->metrics_note,
                     "rates, latency and memory need a global admin key (/metrics: HTTP %d)",
                     r.status);
        else
            cli_resp_error(s->c, &r, s->metrics_note, sizeof s->metrics_note);
        cli_resp_free(&r);
        return;
    }
    s->metrics_ok = true;
    s->metrics_note[0] = 0;
    const char *text = r.body;
    const char *tenant = s->c->tenant[0] ? s->c->tenant : "default_admin";
    double v, searches = 0, ups = 0, dels = 0, sum = 0, cnt = 0;
    cli_prom_sum(text, "hyperspace_collection_searches_total", NULL, &searches);
    cli_prom_sum(text, "hyperspace_collection_upserts_total", NULL, &ups);
    cli_prom_sum(text, "hyperspace_collection_deletes_total", NULL, &dels);
    cli_prom_sum(text, "hyperspace_collection_search_duration_seconds_sum", NULL, &sum);
    cli_prom_sum(text, "hyperspace_collection_search_duration_seconds_count", NULL, &cnt);
    if (cli_prom_sum(text, "hyperspace_ram_usage_mb", NULL, &v))
        s->ram_mb = v;
    double le[MAX_BUCKETS], bc[MAX_BUCKETS];
    int nb = cli_prom_buckets(text, "hyperspace_collection_search_duration_seconds", NULL, le,
                              bc, MAX_BUCKETS);
    if (s->have_prev && t > s->prev_t) {
        double dt = t - s->prev_t;
        s->sps = (searches - s->prev_searches) / dt;
        s->wps = (ups + dels - s->prev_writes) / dt;
        double dc = cnt - s->prev_cnt;
        s->mean_ms = dc > 0 ? (sum - s->prev_sum) / dc * 1e3 : 0;
        s->p99_ms = 0;
        if (dc > 0 && nb == s->prev_nb) {
            for (int i = 0; i < nb; i++)
                if (bc[i] - s->prev_bc[i] >= 0.99 * dc) {
                    s->p99_ms = le[i] * 1e3;
                    break;
                }
        }
        s->have_rates = true;
    }
    s->prev_t = t;
    s->prev_searches = searches;
    s->prev_writes = ups + dels;
    s->prev_sum = sum;
    s->prev_cnt = cnt;
    memcpy(s->prev_le, le, sizeof le);
    memcpy(s->prev_bc, bc, sizeof bc);
    s->prev_nb = nb;
    s->have_prev = true;

    for (int i = 0; i < s->ncols; i++) {
        coll *k = &s->cols[i];
        char want[256];
        snprintf(want, sizeof want, "tenant=\"%s\",collection=\"%s\"", tenant, k->name);
        double a = 0, b = 0, d = 0;
        cli_prom_sum(text, "hyperspace_collection_searches_total", want, &a);
        cli_prom_sum(text, "hyperspace_collection_upserts_total", want, &b);
        cli_prom_sum(text, "hyperspace_collection_deletes_total", want, &d);
        cli_prom_sum(text, "hyperspace_collection_memory_bytes", want, &k->memory);
        cli_prom_sum(text, "hyperspace_collection_search_duration_seconds_sum", want,
                     &k->search_sum);
        cli_prom_sum(text, "hyperspace_collection_search_duration_seconds_count", want,
                     &k->search_count);
        k->searches = a;
        k->upserts = b;
        k->deletes = d;
        double act = a + b + d;
        if (k->have_activity && act != k->activity)
            k->last_use = t;
        k->activity = act;
        k->have_activity = true;
    }
    cli_resp_free(&r);
}

static void poll_node(state *s)
{
    double t = now_mono();
    s->err[0] = 0;
    s->refreshes++;
    s->grpc_up = cli_tcp_probe(s->c->host, s->c->port, 500);
    cJSON *st = fetch(s, "/api/status", NULL);
    if (st) {
        snprintf(s->role, sizeof s->role, "%s", jstr(st, "role"));
        snprintf(s->node_id, sizeof s->node_id, "%s", jstr(st, "node_id"));
        snprintf(s->version, sizeof s->version, "%s", jstr(st, "version"));
        s->uptime = jnum(st, "uptime_seconds");
        s->have_node = true;
        cJSON_Delete(st);
    }
    if (s->err[0])
        return; /* unreachable or unauthorized: keep the last figures, show the error */
    cJSON *cl = fetch(s, "/api/cluster/status", NULL);
    if (cl) {
        s->clock_value = jnum(cl, "logical_clock");
        cJSON_Delete(cl);
    }
    cJSON *list = fetch(s, "/api/collections", NULL);
    if (list) {
        int n = cJSON_GetArraySize(list);
        coll *cols = calloc((size_t)(n ? n : 1), sizeof *cols);
        int i = 0;
        cJSON *it;
        cJSON_ArrayForEach(it, list) {
            coll *k = &cols[i++];
            snprintf(k->name, sizeof k->name, "%s", jstr(it, "name"));
            coll *old = find_coll(s->cols, s->ncols, k->name);
            if (old)
                *k = *old;
            snprintf(k->metric, sizeof k->metric, "%s", jstr(it, "metric"));
            k->count = jnum(it, "count");
            k->queue = jnum(it, "indexing_queue");
            k->deleted = jnum(it, "deleted_count");
            k->dim = jnum(it, "dimension");
            k->loaded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "loaded"));
        }
        free(s->cols);
        s->cols = cols;
        s->ncols = n;
        cJSON_Delete(list);
    }
    refresh_metrics(s, t);
    if (s->details) {
        char path[400], esc[300];
        snprintf(path, sizeof path, "/api/collections/%s",
                 cli_escape(s->detail_name, esc, sizeof esc));
        cli_resp r;
        cli_http(s->c, "GET", path, NULL, &r);
        cJSON_Delete(s->detail);
        s->detail = cli_resp_json(&r);
        s->detail_err[0] = 0;
        if (!s->detail)
            cli_resp_error(s->c, &r, s->detail_err, sizeof s->detail_err);
        cli_resp_free(&r);
    }
}

/* ---- view ------------------------------------------------------------------------------ */

static state *sort_state;

static int cmp_coll(const void *a, const void *b)
{
    const coll *x = *(const coll *const *)a, *y = *(const coll *const *)b;
    double dx = 0, dy = 0;
    int r = 0;
    switch (sort_state->sort) {
    case SORT_COUNT: dx = x->count; dy = y->count; break;
    case SORT_QUEUE: dx = x->queue; dy = y->queue; break;
    case SORT_MEMORY: dx = x->memory; dy = y->memory; break;
    case SORT_LAST_USE: dx = x->last_use; dy = y->last_use; break;
    default: break;
    }
    if (sort_state->sort != SORT_NAME)
        r = dx < dy ? 1 : dx > dy ? -1 : 0; /* figures: largest (most recent) first */
    if (r == 0)
        r = strcmp(x->name, y->name);
    return sort_state->reverse ? -r : r;
}

/* The visible rows (filtered, sorted) into rows[]; returns their number. */
static int visible(state *s, coll **rows)
{
    int n = 0;
    for (int i = 0; i < s->ncols; i++)
        if (!s->filter[0] || strstr(s->cols[i].name, s->filter))
            rows[n++] = &s->cols[i];
    sort_state = s;
    qsort(rows, (size_t)n, sizeof *rows, cmp_coll);
    return n;
}

static void fmt_bytes(double b, char *out, size_t cap)
{
    const char *u[] = {"B", "K", "M", "G", "T"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(out, cap, i ? "%.1f%s" : "%.0f%s", b, u[i]);
}

static void fmt_ago(double t, double last, char *out, size_t cap)
{
    if (last <= 0) {
        snprintf(out, cap, "-");
        return;
    }
    double a = t - last;
    if (a < 1)
        snprintf(out, cap, "now");
    else if (a < 120)
        snprintf(out, cap, "%.0fs ago", a);
    else if (a < 7200)
        snprintf(out, cap, "%.0fm ago", a / 60);
    else
        snprintf(out, cap, "%.0fh ago", a / 3600);
}

static void fmt_uptime(double s, char *out, size_t cap)
{
    long u = (long)s;
    if (u >= 86400)
        snprintf(out, cap, "%ldd %ldh %ldm", u / 86400, u % 86400 / 3600, u % 3600 / 60);
    else if (u >= 3600)
        snprintf(out, cap, "%ldh %ldm %lds", u / 3600, u % 3600 / 60, u % 60);
    else
        snprintf(out, cap, "%ldm %lds", u / 60, u % 60);
}

static void draw_details(state *s, int row, int cols)
{
    attron(A_BOLD);
    mvprintw(row++, 0, "Collection %s", s->detail_name);
    attroff(A_BOLD);
    row++;
    if (!s->detail) {
        mvprintw(row, 0, "%s", s->detail_err[0] ? s->detail_err : "loading...");
        return;
    }
    cJSON *m;
    cJSON_ArrayForEach(m, s->detail) {
        if (row >= LINES - 3)
            break;
        if (strcmp(m->string, "buckets") == 0)
            continue;
        char val[128];
        if (cJSON_IsString(m))
            snprintf(val, sizeof val, "%s", m->valuestring);
        else if (cJSON_IsBool(m))
            snprintf(val, sizeof val, "%s", cJSON_IsTrue(m) ? "true" : "false");
        else if (cJSON_IsNumber(m))
            snprintf(val, sizeof val, "%.17g", m->valuedouble);
        else
            snprintf(val, sizeof val, "null");
        mvprintw(row++, 2, "%-18s %.*s", m->string, cols - 22, val);
    }
    coll *k = find_coll(s->cols, s->ncols, s->detail_name);
    if (k && s->metrics_ok && row < LINES - 4) {
        row++;
        mvprintw(row++, 2, "%-18s %.0f", "searches", k->searches);
        mvprintw(row++, 2, "%-18s %.0f", "upserts", k->upserts);
        mvprintw(row++, 2, "%-18s %.0f", "deletes", k->deletes);
        if (k->search_count > 0 && row < LINES - 3)
            mvprintw(row++, 2, "%-18s %.3f ms", "mean search", k->search_sum / k->search_count * 1e3);
    }
}

static void draw(state *s)
{
    erase();
    int cols = COLS;
    double t = now_mono();
    char up[64], tbuf[16];
    time_t wall = time(NULL);
    strftime(tbuf, sizeof tbuf, "%H:%M:%S", localtime(&wall));
    fmt_uptime(s->uptime, up, sizeof up);
    attron(A_BOLD);
    mvprintw(0, 0, "HyperspaceDB %s  %s:%d", s->version, s->c->host, s->c->http_port);
    attroff(A_BOLD);
    printw("  role %s  node %.8s  up %s  clock %.0f  gRPC :%d %s", s->have_node ? s->role : "?",
           s->node_id, up, s->clock_value, s->c->port, s->grpc_up ? "up" : "DOWN");
    mvprintw(0, cols - 9 > 0 ? cols - 9 : 0, "%s", tbuf);

    double total = 0;
    int loaded = 0;
    for (int i = 0; i < s->ncols; i++) {
        total += s->cols[i].count;
        loaded += s->cols[i].loaded;
    }
    if (s->metrics_ok && s->have_rates)
        mvprintw(1, 0, "searches/s %.1f  writes/s %.1f  search mean %.3f ms  p99 <= %g ms  "
                       "RAM %.0f MB",
                 s->sps, s->wps, s->mean_ms, s->p99_ms, s->ram_mb);
    else if (s->metrics_ok)
        mvprintw(1, 0, "searches/s -  writes/s -  (rates after the second refresh)  RAM %.0f MB",
                 s->ram_mb);
    else
        mvprintw(1, 0, "%s", s->metrics_note);
    mvprintw(2, 0, "collections %d (%d loaded)  vectors %.0f  refresh #%ld", s->ncols, loaded,
             total, s->refreshes);
    if (s->err[0]) {
        if (has_colors())
            attron(COLOR_PAIR(1));
        attron(A_BOLD);
        mvprintw(3, 0, "%.*s", cols, s->err);
        attroff(A_BOLD);
        if (has_colors())
            attroff(COLOR_PAIR(1));
    } else if (s->message[0]) {
        mvprintw(3, 0, "%.*s", cols, s->message);
    }

    if (s->details) {
        draw_details(s, 5, cols);
    } else {
        coll *rows[s->ncols ? s->ncols : 1];
        int n = visible(s, rows);
        if (s->sel >= n)
            s->sel = n ? n - 1 : 0;
        attron(A_REVERSE);
        mvprintw(5, 0, "%-24s %12s %8s %8s %5s %-8s %-6s %9s %-9s", "NAME", "COUNT", "QUEUE",
                 "DELETED", "DIM", "METRIC", "LOADED", "MEMORY", "LAST USE");
        attroff(A_REVERSE);
        int first = s->sel > LINES - 10 ? s->sel - (LINES - 10) : 0;
        for (int i = first, row = 6; i < n && row < LINES - 2; i++, row++) {
            coll *k = rows[i];
            char mem[16], ago[16];
            fmt_bytes(k->memory, mem, sizeof mem);
            fmt_ago(t, k->last_use, ago, sizeof ago);
            if (i == s->sel)
                attron(A_BOLD | A_STANDOUT);
            mvprintw(row, 0, "%c%-23.23s %12.0f %8.0f %8.0f %5.0f %-8s %-6s %9s %-9s",
                     i == s->sel ? '>' : ' ', k->name, k->count, k->queue, k->deleted, k->dim,
                     k->metric, k->loaded ? "yes" : "no", s->metrics_ok ? mem : "-", ago);
            if (i == s->sel)
                attroff(A_BOLD | A_STANDOUT);
        }
        if (n == 0)
            mvprintw(6, 1, s->filter[0] ? "(no collection matches the filter)" : "(no collections)");
    }

    /* bottom lines: prompt or key help */
    int y = LINES - 1;
    if (s->ask != ASK_NONE) {
        attron(A_BOLD);
        if (s->ask == ASK_SNAPSHOT)
            mvprintw(y, 0, "Snapshot every changed collection now? [y/N]");
        else if (s->ask == ASK_VACUUM)
            mvprintw(y, 0, "Vacuum (compact deleted entries of every loaded collection)? [y/N]");
        else
            mvprintw(y, 0, "Rebuild the index of '%s'? [y/N]", s->detail_name);
        attroff(A_BOLD);
    } else if (s->editing_filter) {
        mvprintw(y, 0, "filter: %s_  (Enter apply, Esc clear)", s->filter);
    } else if (s->details) {
        mvprintw(y, 0, "Esc/Enter back  R rebuild  S snapshot  V vacuum  q quit");
    } else {
        mvprintw(y, 0, "q quit  Up/Down select  Enter details  s sort:%s%s  r reverse  / filter%s%s  "
                       "S snapshot  V vacuum  R rebuild",
                 sort_names[s->sort], s->reverse ? " (rev)" : "", s->filter[0] ? ":" : "",
                 s->filter);
    }
    refresh();
}

static void run_action(state *s)
{
    cli_resp r;
    char path[400], esc[300], err[320];
    const char *what;
    if (s->ask == ASK_SNAPSHOT) {
        what = "Snapshot";
        cli_http(s->c, "POST", "/api/admin/snapshot", "{}", &r);
    } else if (s->ask == ASK_VACUUM) {
        what = "Vacuum";
        cli_http(s->c, "POST", "/api/admin/vacuum", "{}", &r);
    } else {
        what = "Rebuild";
        snprintf(path, sizeof path, "/api/collections/%s/rebuild",
                 cli_escape(s->detail_name, esc, sizeof esc));
        cli_http(s->c, "POST", path, "{}", &r);
    }
    cJSON *j = cli_resp_json(&r);
    if (j) {
        const char *msg = jstr(j, "message");
        snprintf(s->message, sizeof s->message, "%s: %s", what, *msg ? msg : jstr(j, "status"));
        cJSON_Delete(j);
    } else {
        snprintf(s->message, sizeof s->message, "%s failed: %s", what,
                 cli_resp_error(s->c, &r, err, sizeof err));
    }
    cli_resp_free(&r);
}

static void select_name(state *s)
{
    coll *rows[s->ncols ? s->ncols : 1];
    int n = visible(s, rows);
    if (n == 0) {
        s->detail_name[0] = 0;
        return;
    }
    if (s->sel >= n)
        s->sel = n - 1;
    snprintf(s->detail_name, sizeof s->detail_name, "%s", rows[s->sel]->name);
}

/* Handles one key; returns false to quit. */
static bool key(state *s, int ch)
{
    if (s->ask != ASK_NONE) {
        if (ch == 'y' || ch == 'Y')
            run_action(s);
        else
            snprintf(s->message, sizeof s->message, "cancelled");
        s->ask = ASK_NONE;
        return true;
    }
    if (s->editing_filter) {
        size_t n = strlen(s->filter);
        if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
            s->editing_filter = false;
        } else if (ch == 27) {
            s->filter[0] = 0;
            s->editing_filter = false;
        } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
            if (n)
                s->filter[n - 1] = 0;
        } else if (isprint(ch) && n + 1 < sizeof s->filter) {
            s->filter[n] = (char)ch;
            s->filter[n + 1] = 0;
        }
        s->sel = 0;
        return true;
    }
    switch (ch) {
    case 'q':
    case 'Q':
        if (s->details && ch == 'q') {
            s->details = false;
            return true;
        }
        return false;
    case KEY_UP:
    case 'k':
        if (s->sel > 0)
            s->sel--;
        break;
    case KEY_DOWN:
    case 'j':
        if (s->sel + 1 < s->ncols)
            s->sel++;
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (s->details) {
            s->details = false;
        } else {
            select_name(s);
            if (s->detail_name[0]) {
                s->details = true;
                cJSON_Delete(s->detail);
                s->detail = NULL;
                poll_node(s);
            }
        }
        break;
    case 27:
    case KEY_LEFT:
        s->details = false;
        break;
    case 's':
        s->sort = (s->sort + 1) % SORT_N;
        break;
    case 'r':
        s->reverse = !s->reverse;
        break;
    case '/':
        s->editing_filter = true;
        break;
    case 'S':
        s->ask = ASK_SNAPSHOT;
        break;
    case 'V':
        s->ask = ASK_VACUUM;
        break;
    case 'R':
        if (!s->details)
            select_name(s);
        if (s->detail_name[0])
            s->ask = ASK_REBUILD;
        break;
    default:
        break;
    }
    return true;
}

int cli_monitor(const cli_conn *c)
{
    state s = {.c = c};
    setlocale(LC_ALL, "");
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_RED, -1);
    }
    timeout(100);
    poll_node(&s);
    draw(&s);
    double next = now_mono() + 1.0;
    for (;;) {
        int ch = getch();
        if (ch != ERR) {
            if (!key(&s, ch))
                break;
            draw(&s);
        }
        if (now_mono() >= next) {
            poll_node(&s);
            draw(&s);
            next += 1.0;
            if (next < now_mono())
                next = now_mono() + 1.0;
        }
    }
    endwin();
    cJSON_Delete(s.detail);
    free(s.cols);
    return 0;
}
