/* hyperspace-cli: the live monitor of a HyperspaceDB node (no subcommand, on a terminal) and
 * subcommands for scripts.  Exit codes: 0 done, 1 the server refused, 2 usage, 3 unreachable,
 * 4 unauthorized (401/403). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: hyperspace-cli [options] [command]\n"
            "\n"
            "Without a command: the live monitor (refreshed every second).\n"
            "  keys: Up/Down select, Enter details, s sort, r reverse, / filter,\n"
            "        S snapshot, V vacuum, R rebuild the selected collection (each asks y/n), q quit\n"
            "\n"
            "Commands (add --json for the server's JSON):\n"
            "  status                       node role, version, uptime, clock\n"
            "  health                       exit 0 when /healthz answers 200 (no key needed)\n"
            "  collections list             every collection with its figures\n"
            "  collections stats NAME       one collection's statistics and configuration\n"
            "  collections create NAME DIM METRIC\n"
            "  collections delete NAME --yes\n"
            "  snapshot                     checkpoint every changed collection (admin)\n"
            "  vacuum                       compact deleted entries (admin)\n"
            "  rebuild NAME                 rebuild one collection's index (admin)\n"
            "  metrics                      the Prometheus text of /metrics (admin)\n"
            "\n"
            "Options (environment in brackets):\n"
            "  --host HOST        node address (HYPERSPACE_HOST, default 127.0.0.1)\n"
            "  --port N           gRPC port, probed and shown (HYPERSPACE_PORT, default 50051)\n"
            "  --http-port N      HTTP API port (HYPERSPACE_HTTP_PORT, default 50050)\n"
            "  --api-key KEY      API key (HYPERSPACE_API_KEY)\n"
            "  --tenant NAME      tenant, sent as x-hyperspace-user-id (HYPERSPACE_USER_ID)\n"
            "  --timeout MS       per request (default 5000)\n"
            "  --json             print JSON\n"
            "  -h, --help         this text\n"
            "\n"
            "Exit codes: 0 ok, 1 refused by the server, 2 usage, 3 unreachable, 4 unauthorized.\n");
}

static int exit_for(const cli_resp *r)
{
    if (r->status == 0)
        return 3;
    if (r->status == 401 || r->status == 403)
        return 4;
    return r->status >= 200 && r->status < 300 ? 0 : 1;
}

/* Runs one request; prints the error and returns its exit code, or 0 with r filled. */
static int call(const cli_conn *c, const char *method, const char *path, const char *body,
                cli_resp *r)
{
    cli_http(c, method, path, body, r);
    int code = exit_for(r);
    if (code) {
        char buf[512];
        fprintf(stderr, "hyperspace-cli: %s\n", cli_resp_error(c, r, buf, sizeof buf));
        cli_resp_free(r);
    }
    return code;
}

static int print_json_or(const cli_resp *r, bool json, void (*plain)(cJSON *))
{
    if (json) {
        fwrite(r->body, 1, r->len, stdout);
        if (r->len && r->body[r->len - 1] != '\n')
            putchar('\n');
        return 0;
    }
    cJSON *j = cJSON_Parse(r->body);
    if (!j) {
        fprintf(stderr, "hyperspace-cli: the server's answer is not JSON\n");
        return 1;
    }
    plain(j);
    cJSON_Delete(j);
    return 0;
}

static double num(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void plain_list(cJSON *arr)
{
    printf("%-24s %12s %8s %8s %6s %-9s %-6s\n", "NAME", "COUNT", "QUEUE", "DELETED", "DIM",
           "METRIC", "LOADED");
    cJSON *c;
    cJSON_ArrayForEach(c, arr) {
        printf("%-24s %12.0f %8.0f %8.0f %6.0f %-9s %-6s\n", str(c, "name"), num(c, "count"),
               num(c, "indexing_queue"), num(c, "deleted_count"), num(c, "dimension"),
               str(c, "metric"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "loaded")) ? "yes" : "no");
    }
}

static void plain_object(cJSON *o)
{
    cJSON *m;
    cJSON_ArrayForEach(m, o) {
        if (cJSON_IsArray(m) || cJSON_IsObject(m)) {
            if (strcmp(m->string, "buckets") == 0)
                continue;
            char *t = cJSON_PrintUnformatted(m);
            printf("%-18s %s\n", m->string, t);
            free(t);
        } else if (cJSON_IsString(m)) {
            printf("%-18s %s\n", m->string, m->valuestring);
        } else if (cJSON_IsBool(m)) {
            printf("%-18s %s\n", m->string, cJSON_IsTrue(m) ? "true" : "false");
        } else if (cJSON_IsNumber(m)) {
            char *t = cJSON_PrintUnformatted(m);
            printf("%-18s %s\n", m->string, t);
            free(t);
        } else {
            printf("%-18s null\n", m->string);
        }
    }
}

static void plain_status(cJSON *o)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    printf("%s\n", cJSON_IsString(m) ? m->valuestring : str(o, "status"));
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

int main(int argc, char **argv)
{
    cli_conn c = {.port = env_int("HYPERSPACE_PORT", 50051),
                  .http_port = env_int("HYPERSPACE_HTTP_PORT", 50050),
                  .timeout_ms = 5000};
    const char *h = getenv("HYPERSPACE_HOST");
    snprintf(c.host, sizeof c.host, "%s", h && *h ? h : "127.0.0.1");
    const char *k = getenv("HYPERSPACE_API_KEY");
    snprintf(c.api_key, sizeof c.api_key, "%s", k ? k : "");
    const char *t = getenv("HYPERSPACE_USER_ID");
    snprintf(c.tenant, sizeof c.tenant, "%s", t ? t : "");
    bool json = false, yes = false;

    static const struct option opts[] = {
        {"host", required_argument, 0, 'H'},    {"port", required_argument, 0, 'p'},
        {"http-port", required_argument, 0, 'P'}, {"api-key", required_argument, 0, 'k'},
        {"tenant", required_argument, 0, 't'},  {"timeout", required_argument, 0, 'T'},
        {"json", no_argument, 0, 'j'},          {"yes", no_argument, 0, 'y'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int o; /* GNU getopt permutes: options may come before or after the command words */
    while ((o = getopt_long(argc, argv, "hH:p:P:k:t:T:jy", opts, NULL)) != -1) {
        switch (o) {
        case 'H': snprintf(c.host, sizeof c.host, "%s", optarg); break;
        case 'p': c.port = atoi(optarg); break;
        case 'P': c.http_port = atoi(optarg); break;
        case 'k': snprintf(c.api_key, sizeof c.api_key, "%s", optarg); break;
        case 't': snprintf(c.tenant, sizeof c.tenant, "%s", optarg); break;
        case 'T': c.timeout_ms = atoi(optarg); break;
        case 'j': json = true; break;
        case 'y': yes = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char **words = argv + optind;
    int nw = argc - optind;
    if (c.http_port <= 0 || c.http_port > 65535 || c.port <= 0 || c.port > 65535 ||
        c.timeout_ms <= 0) {
        fprintf(stderr, "hyperspace-cli: ports must be 1..65535 and the timeout positive\n");
        return 2;
    }

    if (nw == 0) {
        if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
            fprintf(stderr, "hyperspace-cli: the monitor needs a terminal; see --help for "
                            "commands\n");
            return 2;
        }
        return cli_monitor(&c);
    }

    cli_resp r;
    char path[512], esc[300];
    int rc;
    const char *w0 = words[0];
    if (strcmp(w0, "health") == 0 && nw == 1) {
        if ((rc = call(&c, "GET", "/healthz", NULL, &r)))
            return rc;
        if (!json)
            printf("ok\n");
        else
            fwrite(r.body, 1, r.len, stdout);
        rc = 0;
    } else if (strcmp(w0, "status") == 0 && nw == 1) {
        if ((rc = call(&c, "GET", "/api/status", NULL, &r)))
            return rc;
        rc = print_json_or(&r, json, plain_object);
    } else if (strcmp(w0, "collections") == 0 && nw >= 2) {
        const char *w1 = words[1];
        if ((strcmp(w1, "list") == 0 || strcmp(w1, "ls") == 0) && nw == 2) {
            if ((rc = call(&c, "GET", "/api/collections", NULL, &r)))
                return rc;
            rc = print_json_or(&r, json, plain_list);
        } else if (strcmp(w1, "stats") == 0 && nw == 3) {
            snprintf(path, sizeof path, "/api/collections/%s/stats",
                     cli_escape(words[2], esc, sizeof esc));
            if ((rc = call(&c, "GET", path, NULL, &r)))
                return rc;
            rc = print_json_or(&r, json, plain_object);
        } else if (strcmp(w1, "create") == 0 && nw == 5) {
            char body[512];
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "name", words[2]);
            cJSON_AddNumberToObject(b, "dimension", atof(words[3]));
            cJSON_AddStringToObject(b, "metric", words[4]);
            cJSON_PrintPreallocated(b, body, sizeof body, 0);
            cJSON_Delete(b);
            if ((rc = call(&c, "POST", "/api/collections", body, &r)))
                return rc;
            rc = print_json_or(&r, json, plain_object);
        } else if (strcmp(w1, "delete") == 0 && nw == 3) {
            if (!yes) {
                fprintf(stderr, "hyperspace-cli: deleting '%s' drops its data; add --yes\n",
                        words[2]);
                return 2;
            }
            snprintf(path, sizeof path, "/api/collections/%s", cli_escape(words[2], esc, sizeof esc));
            if ((rc = call(&c, "DELETE", path, NULL, &r)))
                return rc;
            if (!json)
                printf("Collection '%s' deleted.\n", words[2]);
            rc = 0;
        } else {
            usage(stderr);
            return 2;
        }
    } else if (strcmp(w0, "snapshot") == 0 && nw == 1) {
        if ((rc = call(&c, "POST", "/api/admin/snapshot", "{}", &r)))
            return rc;
        rc = print_json_or(&r, json, plain_status);
    } else if (strcmp(w0, "vacuum") == 0 && nw == 1) {
        if ((rc = call(&c, "POST", "/api/admin/vacuum", "{}", &r)))
            return rc;
        rc = print_json_or(&r, json, plain_status);
    } else if (strcmp(w0, "rebuild") == 0 && nw == 2) {
        snprintf(path, sizeof path, "/api/collections/%s/rebuild",
                 cli_escape(words[1], esc, sizeof esc));
        if ((rc = call(&c, "POST", path, "{}", &r)))
            return rc;
        rc = print_json_or(&r, json, plain_status);
    } else if (strcmp(w0, "metrics") == 0 && nw == 1) {
        if ((rc = call(&c, "GET", "/metrics", NULL, &r)))
            return rc;
        fwrite(r.body, 1, r.len, stdout);
        rc = 0;
    } else {
        fprintf(stderr, "hyperspace-cli: unknown command '%s'\n", w0);
        usage(stderr);
        return 2;
    }
    cli_resp_free(&r);
    return rc;
}
