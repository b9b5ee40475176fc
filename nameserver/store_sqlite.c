/* The SQLite store: one row per registration, URIs and tags joined by
 * '\n' (neither may contain one: the registry checks). WAL mode with
 * synchronous=FULL, so a change is on disk when put/del return. */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"

typedef struct sq_store {
    ns_store base;
    sqlite3 *db;
    sqlite3_stmt *put;
    sqlite3_stmt *del;
} sq_store;

static int sq_fail(sq_store *s, roc_error *err, const char *what)
{
    return roc_error_set(err, ROC_EINTERNAL, "%s: %s: %s", s->base.where, what,
                         sqlite3_errmsg(s->db));
}

/* Joins v with '\n' into a malloc'd string. */
static char *join(char *const *v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = '\n';
        size_t k = strlen(v[i]);
        memcpy(p, v[i], k + 1);
        p += k;
    }
    return s;
}

/* Splits text at '\n' into a malloc'd array of malloc'd strings. */
static int split(const char *text, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!text || !*text)
        return 0;
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == '\n';
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return ROC_ENOMEM;
    size_t k = 0;
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!(v[k] = strndup(p, len))) {
            for (size_t i = 0; i < k; i++)
                free(v[i]);
            free(v);
            return ROC_ENOMEM;
        }
        k++;
        if (!nl)
            break;
        p = nl + 1;
    }
    *out = v;
    *n = k;
    return 0;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int sq_load(ns_store *base, int (*fn)(void *, const ns_entry *),
                   void *arg, roc_error *err)
{
    sq_store *s = (sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name, uris, meta FROM names ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return sq_fail(s, err, "load");
    int rc = 0, r;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) {
        ns_entry e = {0};
        e.name = (char *)sqlite3_column_text(st, 0);
        if (!e.name)
            continue;
        if (split((const char *)sqlite3_column_text(st, 1), &e.uris,
                  &e.n_uris) != 0 ||
            split((const char *)sqlite3_column_text(st, 2), &e.meta,
                  &e.n_meta) != 0)
            rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
        else
            rc = fn(arg, &e);
        free_strv(e.uris, e.n_uris);
        free_strv(e.meta, e.n_meta);
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = sq_fail(s, err, "load");
    sqlite3_finalize(st);
    return rc;
}

static int sq_put(ns_store *base, ns_entry *e, uint64_t expect, ns_entry **cur,
                  roc_error *err)
{
    sq_store *s = (sq_store *)base;
    (void)expect, (void)cur; /* one writer: the registry's view is current */
    char *uris = join(e->uris, e->n_uris);
    char *meta = join(e->meta, e->n_meta);
    int rc = 0;
    if (!uris || !meta) {
        rc = roc_error_set(err, ROC_ENOMEM, "out of memory");
    } else {
        sqlite3_reset(s->put);
        sqlite3_bind_text(s->put, 1, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->put, 2, uris, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->put, 3, meta, -1, SQLITE_STATIC);
        if (sqlite3_step(s->put) != SQLITE_DONE)
            rc = sq_fail(s, err, "write");
        sqlite3_reset(s->put);
        sqlite3_clear_bindings(s->put);
    }
    free(uris);
    free(meta);
    return rc;
}

static int sq_del(ns_store *base, char *const *names, size_t n, uint64_t *rev,
                  roc_error *err)
{
    sq_store *s = (sq_store *)base;
    (void)rev;
    if (n == 0)
        return 0;
    bool tx = n > 1;
    if (tx &&
        sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(s, err, "begin");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_reset(s->del);
        sqlite3_bind_text(s->del, 1, names[i], -1, SQLITE_STATIC);
        if (sqlite3_step(s->del) != SQLITE_DONE)
            rc = sq_fail(s, err, "delete");
        sqlite3_reset(s->del);
        sqlite3_clear_bindings(s->del);
    }
    if (tx) {
        if (rc == 0 &&
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            rc = sq_fail(s, err, "commit");
        if (rc)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

static void sq_close(ns_store *base)
{
    sq_store *s = (sq_store *)base;
    if (!s)
        return;
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->del);
    sqlite3_close(s->db);
    free(s->base.where);
    free(s);
}

static const ns_store_ops sq_ops = {.kind = "sqlite",
                                    .load = sq_load,
                                    .put = sq_put,
                                    .del = sq_del,
                                    .close = sq_close};

int ns_store_sqlite_open(ns_store **out, const char *path, roc_error *err)
{
    sq_store *s = calloc(1, sizeof *s);
    if (!s || !(s->base.where = strdup(path))) {
        free(s);
        return roc_error_set(err, ROC_ENOMEM, "out of memory");
    }
    s->base.ops = &sq_ops;
    int rc = 0;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = roc_error_set(err, ROC_EUNAVAIL, "cannot open %s: %s", path,
                           s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(&s->base);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL;"
                     "PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS names ("
                     " name TEXT PRIMARY KEY NOT NULL,"
                     " uris TEXT NOT NULL,"
                     " meta TEXT NOT NULL);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        rc = roc_error_set(err, ROC_EUNAVAIL, "%s: %s", path,
                           msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        sq_close(&s->base);
        return rc;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO names (name, uris, meta)"
                           " VALUES (?1, ?2, ?3)",
                           -1, &s->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM names WHERE name = ?1", -1,
                           &s->del, NULL) != SQLITE_OK) {
        rc = sq_fail(s, err, "prepare");
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
