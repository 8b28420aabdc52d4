/*
 * fuzz_http_request.c: the HTTP request path: request line, headers (authentication, tenant,
 * content type, length, CORS) and JSON body, through routing, the checks of B9.3, JSON parsing
 * and every route, against a real database.  The input is an HTTP/1.1 request as text:
 *
 *   METHOD SP PATH[?QUERY] CRLF (NAME ":" SP VALUE CRLF)* CRLF BODY
 */
#include "fuzz_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_seeds(const char *dir)
{
    static const char *seeds[] = {
        "POST /api/collections HTTP/1.1\r\nx-api-key: fuzz-key\r\nContent-Type: application/json"
        "\r\n\r\n{\"name\":\"docs\",\"dimension\":3,\"metric\":\"l2\",\"m\":8}",
        "POST /api/collections/f3/insert HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"id\":7,\"vector\":[0.1,0.2,0.3],\"metadata\":{\"price\":100,\"tag\":\"a\"},"
        "\"durability\":\"strict\"}",
        "POST /api/collections/f3/insert/batch HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"vectors\":[{\"id\":1,\"vector\":[1,2,3]},{\"id\":2,\"vector\":[1e400,0,0]}]}",
        "POST /api/collections/p3/search HTTP/1.1\r\nAuthorization: Bearer fuzz-key\r\n\r\n"
        "{\"vector\":[0.1,0.2,0.3],\"top_k\":5,\"filter\":{\"tag\":\"a\"},\"filters\":[{\"type\":"
        "\"range\",\"key\":\"price\",\"gte\":80,\"lte\":150},{\"match\":{\"key\":\"k\",\"value\":"
        "true}}]}",
        "POST /api/collections/f3/search/batch HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"searches\":[{\"vector\":[0.1,0.2,0.3],\"top_k\":2},{\"vector\":[1,1,1]}]}",
        "GET /api/collections/f3/points?ids=1,7,7,9&with_vector=false HTTP/1.1\r\n"
        "x-api-key: fuzz-key\r\n\r\n",
        "GET /api/collections/f3/points/7 HTTP/1.1\r\nx-api-key: fuzz-key\r\n"
        "x-hyperspace-user-id: acme\r\n\r\n",
        "DELETE /api/collections/f3/points/7?durability=batch HTTP/1.1\r\nx-api-key: fuzz-key\r\n"
        "\r\n",
        "POST /api/collections/f3/points/delete HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"filter\":{\"tag\":\"a\"}}",
        "POST /api/collections/f3/scroll HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"limit\":2,\"cursor\":\"1\",\"with_vector\":true}",
        "POST /api/collections/f3/count HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n{}",
        "GET /api/collections/f3/peek?limit=2&cursor=1 HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "GET /api/collections/f3/events?after=0&limit=3&types=upsert,drop&wait_ms=5 HTTP/1.1\r\n"
        "x-api-key: fuzz-key\r\n\r\n",
        "PATCH /api/collections/f3/config HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"ef_search\":200}",
        "GET /api/collections/f3 HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "GET /api/collections/a%2Fb/stats HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "OPTIONS /api/collections HTTP/1.1\r\nOrigin: http://x\r\n"
        "Access-Control-Request-Method: POST\r\n\r\n",
        "GET /api/admin/usage HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "POST /api/collections/f3/rebuild HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "GET /api/logs?limit=5 HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "POST /api/collections/f3/search HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"vector\":[0.1,0.2,0.3],\"top_k\":3,\"hybrid_query\":\"Red apple, 15\","
        "\"hybrid_alpha\":0.3,\"must\":[{\"type\":\"range\",\"key\":\"price\",\"lte\":"
        "9007199254740993}],\"should\":[{\"type\":\"match\",\"key\":\"tag\",\"value\":\"a\"}],"
        "\"must_not\":[{\"match\":{\"key\":\"tag\",\"value\":\"b\"}}]}",
        "POST /api/collections/f3/insert HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"id\":8,\"vector\":[0.3,0.2,0.1],\"metadata\":{\"price\":-9223372036854775808,"
        "\"title\":\"na\u00efve caf\u00e9 apple\"}}",
        "POST /api/collections/f3/count HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"should\":[{\"type\":\"range\",\"key\":\"price\",\"gte\":\"50\"}],"
        "\"must_not\":[{\"type\":\"match\",\"key\":\"tag\",\"value\":1}]}",
        "POST /api/collections/f3/points/delete HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"must\":[{\"type\":\"match\",\"key\":\"title\",\"value\":\"x\"}]}",
        /* NUL escapes in a member name and in values (refused naming the field) */
        "POST /api/collections/f3/insert/batch HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"vectors\":[{\"id\":1,\"vector\":[1,2,3],\"metadata\":{\"a\\u0000b\":\"1\","
        "\"c\":\"\\\\u0000\"}},{\"id\":2,\"vector\":[1,2,3],\"metadata\":{\"k\":\"x\\u0000\"}}]}",
        "POST /api/collections/f3/search HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"vector\":[0.1,0.2,0.3],\"hybrid_query\":\"a\\u0000\",\"filters\":[{\"match\":"
        "{\"key\":\"k\\u0000\",\"value\":\"v\"}}]}",
        /* payload updates, offset scrolls, searches across collections, freezing */
        "POST /api/collections/f3/payload HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"ids\":[7,8,99],\"metadata\":{\"tag\":\"b\"},\"typed_metadata\":{\"n\":[1,2.5]}}",
        "PATCH /api/collections/f3/payload HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"filter\":{\"tag\":\"a\"},\"mode\":\"delete\",\"keys\":[\"price\"]}",
        "POST /api/collections/f3/scroll HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"limit\":2,\"offset\":1,\"with_metadata\":false}",
        "POST /api/search/multi HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"collections\":[\"f3\",\"docs\"],\"vector\":[0.1,0.2,0.3],\"top_k\":4}",
        "POST /api/collections/f3/freeze HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        /* string ids (collection s3): writes, reads by path and by ?ids=, deletes, payload,
         * scroll by a string cursor, a create of a string-id collection */
        "POST /api/collections/s3/insert/batch HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"vectors\":[{\"id\":\"7b1e2c4d-0000-4000-8000-000000000001\",\"vector\":[1,2,3],"
        "\"metadata\":{\"tag\":\"a\"}},{\"id\":\"docs/caf\u00e9.md\",\"vector\":[3,2,1]}]}",
        "POST /api/collections/s3/insert HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"id\":\"\",\"vector\":[1,2,3]}",
        "GET /api/collections/s3/points/docs%2Fcaf%C3%A9.md?with_vector=false HTTP/1.1\r\n"
        "x-api-key: fuzz-key\r\n\r\n",
        "GET /api/collections/s3/points?ids=%5B%22a%22%2C%22docs%2Fcaf%C3%A9.md%22%5D HTTP/1.1\r\n"
        "x-api-key: fuzz-key\r\n\r\n",
        "DELETE /api/collections/s3/points/7b1e2c4d-0000-4000-8000-000000000001 HTTP/1.1\r\n"
        "x-api-key: fuzz-key\r\n\r\n",
        "POST /api/collections/s3/payload HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"ids\":[\"docs/caf\u00e9.md\",\"x\"],\"metadata\":{\"tag\":\"b\"}}",
        "POST /api/collections/s3/scroll HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"limit\":1,\"cursor\":\"a\",\"with_vector\":true}",
        "POST /api/collections/s3/points/delete HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"ids\":[\"a\",\"b\"]}",
        "POST /api/collections HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"name\":\"ids\",\"dimension\":3,\"metric\":\"l2\",\"id_type\":\"string\"}",
        /* snapshot archives: create, read, restore, remove, upload, names */
        "POST /api/snapshots HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"collection\":\"f3\",\"snapshot\":\"f3.hsnap\"}",
        "POST /api/snapshots/f3.hsnap/restore HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n"
        "{\"collection\":\"f3\",\"target\":\"f3copy\",\"target_tenant\":\"acme\"}",
        "GET /api/snapshots/f3.hsnap/manifest HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "GET /api/snapshots/..%2Ff3.hsnap HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "DELETE /api/snapshots/f3.hsnap HTTP/1.1\r\nx-api-key: fuzz-key\r\n\r\n",
        "PUT /api/snapshots/up.hsnap HTTP/1.1\r\nx-api-key: fuzz-key\r\n"
        "Content-Type: application/octet-stream\r\n\r\nHSARCH01\x01",
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "seed%02zu", i);
        fz_write_seed(dir, name, seeds[i], strlen(seeds[i]));
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_setup();
    const char *seeds = getenv("HS_FUZZ_SEEDS");
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

/* The next CRLF-terminated line of [*p, end) as a NUL-terminated copy in buf. */
static bool next_line(const char **p, const char *end, char *buf, size_t cap)
{
    const char *s = *p;
    const char *e = s;
    while (e + 1 < end && !(e[0] == '\r' && e[1] == '\n'))
        e++;
    if (e + 1 >= end)
        return false;
    size_t n = (size_t)(e - s);
    if (n >= cap || memchr(s, 0, n))
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    *p = e + 2;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    static char lines[48][2048];
    int nl = 0;
    while (nl < 48 && next_line(&p, end, lines[nl], sizeof(lines[0]))) {
        if (!lines[nl][0])
            break;
        nl++;
    }
    if (nl == 0)
        return 0;
    /* request line */
    char *method = lines[0];
    char *sp = strchr(method, ' ');
    if (!sp)
        return 0;
    *sp = 0;
    char *path = sp + 1;
    sp = strchr(path, ' ');
    if (sp)
        *sp = 0;
    fz_req fr;
    memset(&fr, 0, sizeof(fr));
    char *q = strchr(path, '?');
    if (q) {
        *q++ = 0;
        for (char *tok = strtok(q, "&"); tok && fr.nargs < 16; tok = strtok(NULL, "&")) {
            char *eq = strchr(tok, '=');
            fr.args[fr.nargs].name = tok;
            fr.args[fr.nargs].value = eq ? (*eq = 0, eq + 1) : tok + strlen(tok);
            fr.nargs++;
        }
    }
    for (int i = 1; i < nl && fr.nheaders < 32; i++) {
        char *colon = strchr(lines[i], ':');
        if (!colon)
            continue;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        fr.headers[fr.nheaders].name = lines[i];
        fr.headers[fr.nheaders].value = v;
        fr.nheaders++;
    }
    fz_run(method, path, &fr, p, (size_t)(end - p));
    return 0;
}
