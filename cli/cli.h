/* hyperspace-cli: a terminal monitor and scripting tool for a HyperspaceDB node over its HTTP
 * API (docs/api/http.md).  Shared declarations of the small modules in cli/. */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <stddef.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

/* Where the node is and who we are. */
typedef struct cli_conn {
    char host[256];
    int port;      /* gRPC port: shown, and probed for reachability */
    int http_port; /* the HTTP API this tool speaks */
    char api_key[512];
    char tenant[128];
    int timeout_ms;
} cli_conn;

/* One HTTP answer.  status 0 = no answer (err holds why: connection refused, timeout...). */
typedef struct cli_resp {
    int status;
    char *body; /* NUL-terminated, malloc'd (may be NULL) */
    size_t len;
    char err[256];
} cli_resp;

/* One request (HTTP/1.1, Connection: close).  body may be NULL.  Returns 0 when an answer came. */
int cli_http(const cli_conn *c, const char *method, const char *path, const char *body,
             cli_resp *r);
void cli_resp_free(cli_resp *r);
/* Whether a TCP connection to host:port opens within the timeout. */
bool cli_tcp_probe(const char *host, int port, int timeout_ms);

/* The error message of an answer: the envelope's message, a clear text for 401/403, or the
 * transport error.  Writes into buf and returns it. */
const char *cli_resp_error(const cli_conn *c, const cli_resp *r, char *buf, size_t cap);
/* The parsed JSON of a 2xx answer, else NULL. */
cJSON *cli_resp_json(const cli_resp *r);

/* Prometheus text: the sum of every sample of `name` whose labels contain all of `want`
 * (a string like `tenant="a",collection="b"`, or NULL for all).  Returns false when none. */
bool cli_prom_sum(const char *text, const char *name, const char *want, double *out);
/* Sum of a histogram's buckets for each `le` (up to cap bounds, ascending as in the text). */
int cli_prom_buckets(const char *text, const char *name, const char *want, double *le,
                     double *count, int cap);

/* The live monitor (ncurses).  Returns the process exit code. */
int cli_monitor(const cli_conn *c);

/* URL-escapes one path segment into buf. */
const char *cli_escape(const char *s, char *buf, size_t cap);

#endif
