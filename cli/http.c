/* A small HTTP/1.1 client for hyperspace-cli: one request per connection (Connection: close),
 * Content-Length or chunked bodies, connect and read timeouts.  Plain HTTP only. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_to(const char *host, int port, int timeout_ms, char *err, size_t cap)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, cap, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            fcntl(fd, F_SETFL, fl);
            break;
        }
        if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, timeout_ms);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                fcntl(fd, F_SETFL, fl);
                break;
            }
            last = n == 0 ? ETIMEDOUT : soerr ? soerr : errno;
        } else {
            last = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, cap, "%s", strerror(last ? last : ECONNREFUSED));
    return fd;
}

bool cli_tcp_probe(const char *host, int port, int timeout_ms)
{
    char err[128];
    int fd = connect_to(host, port, timeout_ms, err, sizeof err);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Decodes a chunked body in place; returns its length. */
static size_t dechunk(char *b, size_t n)
{
    size_t in = 0, out = 0;
    while (in < n) {
        char *end;
        unsigned long sz = strtoul(b + in, &end, 16);
        char *nl = memchr(end, '\n', (size_t)(b + n - end));
        if (!nl || sz == 0)
            break;
        in = (size_t)(nl + 1 - b);
        if (in + sz > n)
            sz = n - in;
        memmove(b + out, b + in, sz);
        out += sz;
        in += sz + 2; /* CRLF after the data */
    }
    b[out] = 0;
    return out;
}

int cli_http(const cli_conn *c, const char *method, const char *path, const char *body,
             cli_resp *r)
{
    memset(r, 0, sizeof *r);
    int fd = connect_to(c->host, c->http_port, c->timeout_ms, r->err, sizeof r->err);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    size_t blen = body ? strlen(body) : 0;
    char head[2048];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: hyperspace-cli\r\n"
                      "Accept: application/json\r\nConnection: close\r\n",
                      method, path, c->host, c->http_port);
    if (c->api_key[0])
        hn += snprintf(head + hn, sizeof head - (size_t)hn, "x-api-key: %s\r\n", c->api_key);
    if (c->tenant[0])
        hn += snprintf(head + hn, sizeof head - (size_t)hn, "x-hyperspace-user-id: %s\r\n",
                       c->tenant);
    if (body)
        hn += snprintf(head + hn, sizeof head - (size_t)hn,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    hn += snprintf(head + hn, sizeof head - (size_t)hn, "\r\n");
    if (hn >= (int)sizeof head || send_all(fd, head, (size_t)hn) || (body && send_all(fd, body, blen))) {
        snprintf(r->err, sizeof r->err, "sending the request failed: %s", strerror(errno));
        close(fd);
        return -1;
    }

    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t got = recv(fd, buf + n, cap - n - 1, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(r->err, sizeof r->err, "%s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within the timeout"
                                                             : strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    buf[n] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !sep) {
        snprintf(r->err, sizeof r->err, "not an HTTP answer (is %d the HTTP port?)", c->http_port);
        free(buf);
        return -1;
    }
    r->status = atoi(buf + 9);
    *sep = 0;
    bool chunked = false;
    for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0 && strstr(line + 20, "chunked"))
            chunked = true;
    size_t off = (size_t)(sep + 4 - buf);
    r->len = n - off;
    memmove(buf, buf + off, r->len + 1);
    if (chunked)
        r->len = dechunk(buf, r->len);
    r->body = buf;
    return 0;
}

void cli_resp_free(cli_resp *r)
{
    free(r->body);
    r->body = NULL;
}

cJSON *cli_resp_json(const cli_resp *r)
{
    if (r->status < 200 || r->status >= 300 || !r->body)
        return NULL;
    return cJSON_Parse(r->body);
}

const char *cli_resp_error(const cli_conn *c, const cli_resp *r, char *buf, size_t cap)
{
    if (r->status == 0) {
        snprintf(buf, cap, "Cannot reach HyperspaceDB at %s:%d (%s)", c->host, c->http_port,
                 r->err);
        return buf;
    }
    const char *msg = NULL;
    cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;
    cJSON *e = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    cJSON *m = e ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
    if (cJSON_IsString(m))
        msg = m->valuestring;
    if (r->status == 401)
        snprintf(buf, cap, "Unauthorized: %s (give --api-key or HYPERSPACE_API_KEY)",
                 c->api_key[0] ? "the API key was refused" : "this node needs an API key");
    else if (r->status == 403)
        snprintf(buf, cap, "Forbidden: %s", msg ? msg : "the key's role does not allow this");
    else
        snprintf(buf, cap, "HTTP %d: %s", r->status, msg ? msg : (r->body ? r->body : ""));
    cJSON_Delete(j);
    return buf;
}

const char *cli_escape(const char *s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            buf[o++] = (char)ch;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    buf[o] = 0;
    return buf;
}

/* ---- Prometheus text ------------------------------------------------------------------ */

/* Whether every `k="v"` pair of want appears in the label block [l, e). */
static bool labels_match(const char *l, const char *e, const char *want)
{
    if (!want || !*want)
        return true;
    const char *w = want;
    while (*w) {
        const char *comma = strchr(w, ',');
        size_t len = comma ? (size_t)(comma - w) : strlen(w);
        bool found = false;
        for (const char *p = l; p + len <= e; p++)
            if ((p == l || p[-1] == '{' || p[-1] == ',') && strncmp(p, w, len) == 0 &&
                (p[len] == ',' || p[len] == '}')) {
                found = true;
                break;
            }
        if (!found)
            return false;
        w += len + (comma ? 1 : 0);
    }
    return true;
}

static const char *sample(const char *line, const char *name, const char *want, double *v,
                          const char **labels, const char **labels_end)
{
    size_t nl = strlen(name);
    if (strncmp(line, name, nl) != 0 || (line[nl] != '{' && line[nl] != ' '))
        return NULL;
    const char *p = line + nl, *l = p, *e = p;
    if (*p == '{') {
        e = strchr(p, '}');
        if (!e)
            return NULL;
        if (!labels_match(l, e + 1, want))
            return NULL;
        p = e + 1;
    } else if (want && *want) {
        return NULL;
    }
    *v = strtod(p, NULL);
    if (labels) {
        *labels = l;
        *labels_end = e;
    }
    return p;
}

bool cli_prom_sum(const char *text, const char *name, const char *want, double *out)
{
    bool any = false;
    double sum = 0, v;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (*line == '#')
            continue;
        if (sample(line, name, want, &v, NULL, NULL)) {
            sum += v;
            any = true;
        }
    }
    *out = sum;
    return any;
}

int cli_prom_buckets(const char *text, const char *name, const char *want, double *le,
                     double *count, int cap)
{
    char bname[256];
    snprintf(bname, sizeof bname, "%s_bucket", name);
    int n = 0;
    double v;
    const char *l, *e;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (*line == '#' || !sample(line, bname, want, &v, &l, &e))
            continue;
        const char *q = strstr(l, "le=\"");
        if (!q || q > e)
            continue;
        double bound = strncmp(q + 4, "+Inf", 4) == 0 ? 1e300 : strtod(q + 4, NULL);
        int i = 0;
        while (i < n && le[i] != bound)
            i++;
        if (i == n) {
            if (n == cap)
                continue;
            le[n] = bound;
            count[n++] = 0;
        }
        count[i] += v;
    }
    return n;
}
