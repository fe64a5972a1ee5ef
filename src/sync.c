/* sync.c - keeps the inode cache and the API in step: the listing refresh
 * (one request at a time, however many callers ask), config fetches, and the
 * write-through of status, config, name and deletion. Called with the tree lock
 * held; the lock is dropped while the API answers, and an audience is pinned
 * across that window so it cannot be freed under us.
 */
#include "tree_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void pin(struct lp_aud *a)
{
    a->nodes++;
}

static bool streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Moves *src into *dst when they differ; returns true when *dst changed. */
static bool take(char **dst, char **src)
{
    if (streq(*dst, *src))
        return false;
    free(*dst);
    *dst = *src;
    *src = NULL;
    return true;
}

bool lp_sync_apply(struct lp_tree *t, struct lp_aud *a, struct lp_audience *got)
{
    struct lp_audience *r = &a->rec;
    bool name_changed = got->name && take(&r->name, &got->name);
    bool changed = name_changed;
    changed |= got->status && take(&r->status, &got->status);
    changed |= take(&r->access_type, &got->access_type);
    changed |= take(&r->created_at, &got->created_at);
    bool updated = take(&r->updated_at, &got->updated_at);
    changed |= updated;
    changed |= take(&r->last_refreshed_at, &got->last_refreshed_at);
    if (r->daily_refresh != got->daily_refresh || r->audience_size != got->audience_size) {
        r->daily_refresh = got->daily_refresh;
        r->audience_size = got->audience_size;
        changed = true;
    }
    if (got->config) {
        if (take(&r->config, &got->config)) {
            free(a->config_text);
            a->config_text = NULL;
            changed = true;
        }
        a->config_time = lp_now();
    } else if (updated) {
        /* Changed elsewhere since we fetched it: the config may be new too. */
        a->config_time = 0;
    }
    if (changed)
        lp_notify_aud(t, a);
    return name_changed;
}

/* The API did not answer a refresh: serve the cache for a while (logged once
 * per outage), instead of making every later step of every reader wait. */
static void api_failed(struct lp_tree *t, const char *message)
{
    double now = lp_now();
    if (now >= t->api_hold)
        lp_log(LP_LOG_WARNING, "the API did not answer (%s): serving cached data", message);
    t->api_hold = now + lp_fail_hold(t);
}

static void apply_listing(struct lp_tree *t, struct lp_audience *items, size_t n,
                          uint64_t start_seq)
{
    uint64_t gen = ++t->gen;
    bool names_changed = false;
    for (size_t i = 0; i < n; i++) {
        struct lp_aud *a = lp_smap_get(&t->by_id, items[i].id);
        if (!a) {
            a = lp_aud_new(t, &items[i]);
            if (!a) {
                lp_log(LP_LOG_ERR, "out of memory while listing audiences");
                continue;
            }
            names_changed = true;
        } else if (a->changed_seq <= start_seq) {
            names_changed |= lp_sync_apply(t, a, &items[i]);
        }
        a->seen_gen = gen;
    }
    struct lp_aud *next;
    for (struct lp_aud *a = t->live; a; a = next) {
        next = a->next;
        if (a->pending || a->seen_gen == gen || a->changed_seq > start_seq)
            continue;
        lp_log(LP_LOG_INFO, "audience %s was deleted elsewhere", a->rec.id);
        lp_aud_remove(t, a);
        names_changed = true;
    }
    if (names_changed) {
        lp_assign_names(t);
        lp_notify_node(t, &t->root);
    }
}

int lp_sync_listing(struct lp_tree *t, bool force, struct lp_api_error *err)
{
    if (t->listing) {
        while (t->listing)
            pthread_cond_wait(&t->cond, &t->lock);
        return t->loaded ? 0 : -EIO;
    }
    double now = lp_now();
    if (!force && t->loaded && (now - t->list_time < t->opts.cache_timeout || now < t->api_hold))
        return 0;
    t->listing = true;
    uint64_t start_seq = t->seq;
    pthread_mutex_unlock(&t->lock);

    struct lp_audience *items = NULL;
    size_t n = 0;
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = lp_api_list(t->opts.api, &items, &n, &e);

    pthread_mutex_lock(&t->lock);
    t->listing = false;
    t->list_time = lp_now();
    pthread_cond_broadcast(&t->cond);
    if (rc < 0) {
        if (err)
            *err = e;
        if (!t->loaded)
            return rc;
        api_failed(t, e.message);
        return 0;
    }
    apply_listing(t, items, n, start_seq);
    lp_audience_array_free(items, n);
    malloc_trim(0); /* the pages the parsed listing used go back to the system */
    t->loaded = true;
    return 0;
}

int lp_sync_config(struct lp_tree *t, struct lp_aud *a)
{
    if (a->pending)
        return 0;
    pin(a);
    while (a->fetching && !a->gone)
        pthread_cond_wait(&t->cond, &t->lock);
    int rc = 0;
    double now = lp_now();
    bool stale = !a->rec.config || now - a->config_time >= t->opts.cache_timeout;
    if (a->gone) {
        rc = -ENOENT;
    } else if (stale && now < t->api_hold) {
        /* The API failed a moment ago: serve what we have, don't wait on it again. */
        rc = a->rec.config ? 0 : a->config_err ? -a->config_err : -EIO;
    } else if (stale) {
        a->fetching = true;
        lp_prefetch_note_miss(t);
        uint64_t start_seq = t->seq;
        char *id = strdup(a->rec.id);
        pthread_mutex_unlock(&t->lock);

        struct lp_audience got;
        struct lp_api_error e;
        memset(&got, 0, sizeof(got));
        memset(&e, 0, sizeof(e));
        rc = id ? lp_api_get(t->opts.api, id, &got, &e) : -ENOMEM;
        if (rc == 0 && !got.config) {
            /* Never invent a config: an answer without one is unusable. */
            rc = -EIO;
            e.err = EIO;
            snprintf(e.message, sizeof(e.message), "the API's answer for %s carried no config", id);
        }

        pthread_mutex_lock(&t->lock);
        a->fetching = false;
        pthread_cond_broadcast(&t->cond);
        if (a->gone) {
            rc = -ENOENT;
        } else if (rc == -ENOENT) {
            lp_set_error(a, e.message);
            lp_aud_remove(t, a);
        } else if (rc < 0) {
            lp_set_error(a, e.message);
            api_failed(t, e.message);
            a->config_err = -rc;
            if (a->rec.config)
                rc = 0;
        } else if (a->changed_seq <= start_seq) {
            if (lp_sync_apply(t, a, &got))
                lp_assign_names(t);
        }
        lp_audience_clear(&got);
        free(id);
    }
    lp_aud_unpin(t, a);
    return rc;
}

/* Write-throughs of one audience are serialised, so two saves reach the API in order. */
static int begin_write(struct lp_tree *t, struct lp_aud *a)
{
    while (a->busy && !a->gone)
        pthread_cond_wait(&t->cond, &t->lock);
    if (a->gone)
        return -ENOENT;
    a->busy = true;
    return 0;
}

static void end_write(struct lp_tree *t, struct lp_aud *a)
{
    a->busy = false;
    pthread_cond_broadcast(&t->cond);
}

/* Takes in the API's answer to a write (or its refusal). */
static int finish_write(struct lp_tree *t, struct lp_aud *a, int rc, struct lp_audience *got,
                        const struct lp_api_error *e)
{
    if (a->gone)
        return -ENOENT;
    if (rc < 0) {
        lp_set_error(a, e->message);
        if (rc == -ENOENT)
            lp_aud_remove(t, a);
        return rc;
    }
    a->changed_seq = ++t->seq;
    lp_set_error(a, NULL);
    if (got->id && !a->rec.id) {
        a->rec.id = got->id;
        got->id = NULL;
        a->pending = false;
        lp_smap_put(&t->by_id, a->rec.id, a);
    }
    if (lp_sync_apply(t, a, got))
        lp_assign_names(t);
    return 0;
}

enum write_kind { WRITE_STATUS, WRITE_CONFIG, WRITE_NAME };

/* One write-through: the pending case stays local except a config, which creates. */
static int write_through(struct lp_tree *t, struct lp_aud *a, enum write_kind kind,
                         const char *value)
{
    pin(a);
    int rc = begin_write(t, a);
    if (rc < 0) {
        lp_aud_unpin(t, a);
        return rc;
    }
    char **local = kind == WRITE_STATUS ? &a->rec.status : &a->rec.name;
    if (a->pending && kind != WRITE_CONFIG) {
        char *copy = strdup(value);
        if (!copy) {
            rc = -ENOMEM;
        } else {
            free(*local);
            *local = copy;
            a->changed_seq = ++t->seq;
            if (kind == WRITE_NAME)
                lp_assign_names(t);
            lp_notify_aud(t, a);
        }
    } else {
        char *id = a->rec.id ? strdup(a->rec.id) : NULL;
        char *name = strdup(a->rec.name ? a->rec.name : "");
        char *status = strdup(a->rec.status ? a->rec.status : "draft");
        bool create = a->pending;
        pthread_mutex_unlock(&t->lock);

        struct lp_audience got;
        struct lp_api_error e;
        memset(&got, 0, sizeof(got));
        memset(&e, 0, sizeof(e));
        if (!name || !status || (!create && !id))
            rc = -ENOMEM;
        else if (create)
            rc = lp_api_create(t->opts.api, name, status, value, &got, &e);
        else
            rc = lp_api_update(t->opts.api, id, kind == WRITE_NAME ? value : NULL,
                               kind == WRITE_STATUS ? value : NULL,
                               kind == WRITE_CONFIG ? value : NULL, &got, &e);
        free(id);
        free(name);
        free(status);

        pthread_mutex_lock(&t->lock);
        rc = finish_write(t, a, rc, &got, &e);
        lp_audience_clear(&got);
    }
    end_write(t, a);
    lp_aud_unpin(t, a);
    return rc;
}

int lp_sync_status(struct lp_tree *t, struct lp_aud *a, const char *word)
{
    return write_through(t, a, WRITE_STATUS, word);
}

int lp_sync_config_write(struct lp_tree *t, struct lp_aud *a, const char *compact)
{
    return write_through(t, a, WRITE_CONFIG, compact);
}

int lp_sync_rename(struct lp_tree *t, struct lp_aud *a, const char *newname)
{
    return write_through(t, a, WRITE_NAME, newname);
}

int lp_sync_delete(struct lp_tree *t, struct lp_aud *a)
{
    pin(a);
    int rc = begin_write(t, a);
    if (rc == 0 && !a->pending) {
        char *id = strdup(a->rec.id);
        pthread_mutex_unlock(&t->lock);
        struct lp_api_error e;
        memset(&e, 0, sizeof(e));
        rc = id ? lp_api_delete(t->opts.api, id, &e) : -ENOMEM;
        free(id);
        pthread_mutex_lock(&t->lock);
        if (rc < 0 && !a->gone)
            lp_set_error(a, e.message);
        if (rc == -ENOENT)
            lp_aud_remove(t, a);
    }
    if (rc == 0) {
        a->changed_seq = ++t->seq;
        lp_aud_remove(t, a);
        lp_assign_names(t);
    }
    end_write(t, a);
    lp_aud_unpin(t, a);
    return rc;
}
