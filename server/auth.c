/*
 * auth.c: API keys, roles and tenants (spec behaviour.md B9 and B1.1).
 *
 * Keys: HYPERSPACE_API_KEY (admin, not bound to a tenant) and HYPERSPACE_API_KEYS_FILE lines
 * "role sha256hex [tenant]".  Only SHA-256 digests are held.  A presented key is hashed and
 * compared with every configured digest in constant time (CRYPTO_memcmp, and no early exit over
 * the list).  SIGHUP reloads the file; an invalid file leaves the previous keys in place.
 * Locking: a read-write lock around the key table (written only by a reload).
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/log.h"

typedef struct key_entry {
    unsigned char digest[32];
    hs_role role;
    char tenant[HS_NAME_MAX + 1]; /* "" = global */
} key_entry;

static pthread_rwlock_t keys_lock = PTHREAD_RWLOCK_INITIALIZER;
static key_entry *keys;
static size_t nkeys;
static char keys_path[1024];
static unsigned char admin_digest[32];
static bool have_admin;

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Parses the keys file; returns 0 and the table, or prints "<file>:<line>: <problem>". */
static int load_keys_file(const char *path, key_entry **out, size_t *count)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        hs_log(HS_LOG_ERROR, "cannot read the keys file %s", path);
        fprintf(stderr, "hyperspace-server: cannot read the keys file %s\n", path);
        return -1;
    }
    key_entry *t = NULL;
    size_t n = 0;
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char role[32] = "", hex[128] = "", tenant[128] = "", extra[8] = "";
        int fields = sscanf(p, "%31s %127s %127s %7s", role, hex, tenant, extra);
        key_entry e = {0};
        const char *problem = NULL;
        if (fields < 2 || fields > 3)
            problem = "expected: role sha256hex [tenant]";
        else if (!strcmp(role, "admin"))
            e.role = HS_ROLE_ADMIN;
        else if (!strcmp(role, "writer"))
            e.role = HS_ROLE_WRITER;
        else if (!strcmp(role, "reader"))
            e.role = HS_ROLE_READER;
        else
            problem = "role must be admin, writer or reader";
        if (!problem && strlen(hex) != 64)
            problem = "the key digest must be 64 hex digits";
        for (int i = 0; !problem && i < 32; i++) {
            int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
            if (hi < 0 || lo < 0)
                problem = "the key digest must be 64 hex digits";
            else
                e.digest[i] = (unsigned char)(hi << 4 | lo);
        }
        if (!problem && fields == 3) {
            if (hs_name_check(HS_FIELD_TENANT, tenant, NULL) != HS_OK)
                problem = "invalid or reserved tenant name";
            else
                memcpy(e.tenant, tenant, strlen(tenant) + 1); /* valid names fit */
        }
        if (problem) {
            fprintf(stderr, "hyperspace-server: %s:%d: %s\n", path, lineno, problem);
            hs_log(HS_LOG_ERROR, "%s:%d: %s", path, lineno, problem);
            rc = -1;
            break;
        }
        key_entry *nt = realloc(t, (n + 1) * sizeof(*nt));
        if (!nt) {
            rc = -1;
            break;
        }
        t = nt;
        t[n++] = e;
    }
    fclose(f);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    *count = n;
    return 0;
}

int hs_auth_init(const hs_settings *s)
{
    if (s->api_key_set) {
        sha256(s->api_key, strlen(s->api_key), admin_digest);
        have_admin = true;
    }
    if (s->keys_file[0]) {
        snprintf(keys_path, sizeof(keys_path), "%s", s->keys_file);
        if (load_keys_file(keys_path, &keys, &nkeys))
            return -1;
    }
    return 0;
}

void hs_auth_reload(void)
{
    if (!keys_path[0])
        return;
    key_entry *t;
    size_t n;
    if (load_keys_file(keys_path, &t, &n)) {
        hs_log(HS_LOG_ERROR, "keys file %s rejected on reload; the previous keys stay active",
               keys_path);
        return;
    }
    pthread_rwlock_wrlock(&keys_lock);
    free(keys);
    keys = t;
    nkeys = n;
    pthread_rwlock_unlock(&keys_lock);
    hs_log(HS_LOG_INFO, "keys file %s reloaded: %zu keys", keys_path, n);
}

bool hs_auth_enabled(void) { return have_admin || keys_path[0]; }

/* Finds the key in constant time with respect to where (or whether) it matches. */
static bool match_key(const char *key, size_t len, hs_principal *who)
{
    unsigned char d[32];
    sha256(key, len, d);
    bool found = false;
    if (have_admin && CRYPTO_memcmp(d, admin_digest, 32) == 0) {
        found = true;
        *who = (hs_principal){HS_ROLE_ADMIN, true, ""};
    }
    pthread_rwlock_rdlock(&keys_lock);
    for (size_t i = 0; i < nkeys; i++) {
        bool eq = CRYPTO_memcmp(d, keys[i].digest, 32) == 0;
        if (eq && !found) {
            found = true;
            who->role = keys[i].role;
            who->global = keys[i].tenant[0] == 0;
            snprintf(who->tenant, sizeof(who->tenant), "%s", keys[i].tenant);
        }
    }
    pthread_rwlock_unlock(&keys_lock);
    return found;
}

/* The presented tenant for a message: bytes outside printable ASCII (a NUL among them) as \xNN,
 * cut to what fits. */
static void echo_tenant(const char *t, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02X", ch);
    }
    out[o] = 0;
}

void hs_authenticate(const char *key, size_t key_len, const char *tenant_header,
                     size_t tenant_len, hs_authn *out)
{
    memset(out, 0, sizeof(*out));
    if (!hs_auth_enabled()) {
        out->who = (hs_principal){HS_ROLE_ADMIN, true, ""};
    } else if (!key) {
        out->err = HS_ERR_AUTH_MISSING;
        return;
    } else if (!match_key(key, key_len, &out->who)) {
        out->err = HS_ERR_AUTH_INVALID;
        return;
    }
    bool header = tenant_header && tenant_len > 0;
    char t[HS_NAME_MAX + 1] = "";
    if (header) {
        echo_tenant(tenant_header, tenant_len, out->bad_tenant, sizeof(out->bad_tenant));
        if (tenant_len > HS_NAME_MAX || memchr(tenant_header, 0, tenant_len)) {
            out->err = HS_ERR_TENANT_INVALID;
            return;
        }
        memcpy(t, tenant_header, tenant_len);
        t[tenant_len] = 0;
        if (hs_name_check(HS_FIELD_TENANT, t, NULL) != HS_OK) {
            out->err = HS_ERR_TENANT_INVALID;
            return;
        }
    }
    if (!out->who.global) {
        if (header && strcmp(t, out->who.tenant)) {
            snprintf(out->bad_tenant, sizeof(out->bad_tenant), "%s", out->who.tenant);
            out->err = HS_ERR_TENANT_FORBIDDEN;
            return;
        }
        snprintf(out->tenant, sizeof(out->tenant), "%s", out->who.tenant);
    } else {
        snprintf(out->tenant, sizeof(out->tenant), "%s", header ? t : HS_DEFAULT_TENANT);
    }
}
