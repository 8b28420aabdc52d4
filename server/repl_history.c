/*
 * repl_history.c: the node's epochs (the rules are in repl_history.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/repl_history.h"
#include "server/server.h"
#include "util/log.h"

#define HISTORY_FILE ".history"

typedef struct epoch {
    uint64_t id, start;
} epoch;

typedef struct history {
    size_t n;
    epoch e[HS_HISTORY_MAX];
} history;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static history H; /* (mu) */

static int file_path(char *buf, size_t cap, const char *suffix)
{
    int n = snprintf(buf, cap, "%s/%s%s", g_srv.cfg.data_dir, HISTORY_FILE, suffix);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Appends an epoch, keeping the latest HS_HISTORY_MAX. */
static void push(history *h, epoch e)
{
    if (h->n == HS_HISTORY_MAX) {
        memmove(h->e, h->e + 1, (HS_HISTORY_MAX - 1) * sizeof(epoch));
        h->n--;
    }
    h->e[h->n++] = e;
}

/* Parses "<hex> <sep> <decimal>" items separated by `between` into *h; false when anything
 * does not check out (ids non-zero, starts positive and increasing). */
static bool parse(const char *s, char sep, char between, history *h)
{
    h->n = 0;
    while (*s) {
        char *end;
        errno = 0;
        uint64_t id = strtoull(s, &end, 16);
        if (end == s || end - s > 16 || *end != sep || errno || !id)
            return false;
        s = end + 1;
        uint64_t start = strtoull(s, &end, 10);
        if (end == s || *s == '-' || *s == '+' || errno || !start ||
            (h->n && start < h->e[h->n - 1].start))
            return false;
        push(h, (epoch){id, start});
        s = end;
        if (*s == between)
            s++;
        else if (*s)
            return false;
    }
    return true;
}

void hs_history_load(void)
{
    char path[1200];
    if (file_path(path, sizeof(path), ""))
        return;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT)
            hs_log(HS_LOG_WARN, "history: cannot read %s: %s; no epochs known", path,
                   strerror(errno));
        return;
    }
    char text[HS_HISTORY_MAX * 40 + 2];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    text[n] = 0;
    history h;
    pthread_mutex_lock(&mu);
    if (!more && parse(text, ' ', '\n', &h)) {
        H = h;
    } else {
        H.n = 0;
        hs_log(HS_LOG_WARN, "history: %s is not valid; no epochs known (a new leader resyncs "
               "this node fully)", path);
    }
    pthread_mutex_unlock(&mu);
}

/* Writes h (temporary file, fsync, rename, directory fsync).  0 or -1 (logged). */
static int write_file(const history *h)
{
    char path[1200], tmp[1210], text[HS_HISTORY_MAX * 40 + 2];
    if (file_path(path, sizeof(path), "") || file_path(tmp, sizeof(tmp), ".tmp"))
        return -1;
    size_t len = 0;
    for (size_t i = 0; i < h->n; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%016" PRIx64 " %" PRIu64 "\n",
                                h->e[i].id, h->e[i].start);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    int rc = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc || rename(tmp, path) != 0)
        goto fail;
    int dfd = open(g_srv.cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        if (dfd >= 0)
            close(dfd);
        goto fail;
    }
    close(dfd);
    return 0;
fail:
    hs_log(HS_LOG_ERROR, "history: cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

static uint64_t random_id(void)
{
    uint64_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
            id = 0;
        close(fd);
    }
    if (!id)
        id = hs_now_ns_srv() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    return id ? id : 1;
}

int hs_history_begin(uint64_t held)
{
    pthread_mutex_lock(&mu);
    history h = H;
    epoch e = {random_id(), held + 1};
    if (h.n && h.e[h.n - 1].start > e.start) /* not possible with a true `held`: stay ordered */
        e.start = h.e[h.n - 1].start;
    push(&h, e);
    int rc = write_file(&h);
    if (rc == 0)
        H = h;
    pthread_mutex_unlock(&mu);
    if (rc == 0)
        hs_log(HS_LOG_INFO, "history: epoch %016" PRIx64 " begins at clock %" PRIu64, e.id,
               e.start);
    return rc;
}

static void wire_locked(char *buf, size_t cap)
{
    size_t from = H.n > HS_HISTORY_WIRE ? H.n - HS_HISTORY_WIRE : 0, len = 0;
    buf[0] = 0;
    for (size_t i = from; i < H.n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%016" PRIx64 ":%" PRIu64,
                                i > from ? "," : "", H.e[i].id, H.e[i].start);
    if (len >= cap) /* never with HS_HISTORY_WIRE_CAP: rather nothing than a cut list */
        buf[0] = 0;
}

void hs_history_wire(char *buf, size_t cap)
{
    pthread_mutex_lock(&mu);
    wire_locked(buf, cap);
    pthread_mutex_unlock(&mu);
}

int hs_history_prefix(const char *wire, uint64_t held, uint64_t *parts_at)
{
    history l;
    *parts_at = 0;
    if (!parse(wire, ':', ',', &l))
        return -1;
    uint64_t at = 1; /* no epoch in common */
    pthread_mutex_lock(&mu);
    for (size_t a = H.n; a-- > 0 && at == 1;) {
        for (size_t b = l.n; b-- > 0;) {
            if (l.e[b].id != H.e[a].id || l.e[b].start != H.e[a].start)
                continue;
            at = UINT64_MAX;
            if (a + 1 < H.n)
                at = H.e[a + 1].start;
            if (b + 1 < l.n && l.e[b + 1].start < at)
                at = l.e[b + 1].start;
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    *parts_at = at;
    return held < at ? 1 : 0;
}

int hs_history_adopt(const char *wire)
{
    history l;
    if (!parse(wire, ':', ',', &l)) {
        hs_log(HS_LOG_ERROR, "history: the leader's epochs do not parse: %.200s", wire);
        return -1;
    }
    pthread_mutex_lock(&mu);
    bool same = l.n == H.n && !memcmp(l.e, H.e, l.n * sizeof(epoch));
    int rc = same ? 0 : write_file(&l);
    if (rc == 0)
        H = l;
    pthread_mutex_unlock(&mu);
    return rc;
}

void hs_history_current(uint64_t *id, uint64_t *start)
{
    pthread_mutex_lock(&mu);
    *id = H.n ? H.e[H.n - 1].id : 0;
    *start = H.n ? H.e[H.n - 1].start : 0;
    pthread_mutex_unlock(&mu);
}
