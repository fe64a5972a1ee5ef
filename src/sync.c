/* sync.c - the listing refresh, config fetches and write-throughs of sync.h.
 * Each request is made with the records lock dropped and the record pinned;
 * a change made here after a listing was requested is never undone by that
 * listing (changed_seq against the sequence number it started at): nor is a
 * deletion (the store's tombs), nor a POST whose answer is still on its way
 * (sync_create.c). A POST whose answer was lost is resolved by a listing: the
 * audience it made, if the API lists it, becomes the pending directory's.
 */
#include "sync.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "sync_create.h"

#define SWEEP_TRIGGER_GAP 1.0 /* seconds between two misses that look like a sweep */
/* A listing is trusted this long even when cache_timeout is shorter (0): one
 * command sends the kernel's requests in a burst (`ls` asks the root's
 * attributes three or four times around its readdir) and they share one
 * listing; the next command, a moment later, gets a new one. */
#define LISTING_BURST 0.5

static void prefetch_one(void *ctx, const char *id);

/* A sweep has as many workers as requests worth having in flight. */
int lp_sync_sweep_workers(void *ctx)
{
    struct lp_sync *s = ctx;
    return lp_api_parallelism(s->api);
}

void lp_sync_init(struct lp_sync *s, struct lp_records *r, lp_api *api)
{
    memset(s, 0, sizeof(*s));
    s->r = r;
    s->api = api;
    struct lp_sweep_ops ops = {
        .work = prefetch_one,
        .thread_exit = lp_api_thread_cleanup,
        .workers = lp_sync_sweep_workers,
        .ctx = s};
    lp_sweep_init(&s->sweep, &ops);
    lp_sync_runs_init(s);
    lp_sync_answers_init(s);
}

void lp_sync_stop(struct lp_sync *s)
{
    lp_sweep_stop(&s->sweep);
    lp_sweep_stop(&s->runs_sweep);
    lp_sync_results_stop(s);
    lp_sync_answers_free(s);
}

/* ---- the listing ---- */

static void apply_listing(struct lp_sync *s, struct lp_audience *items, size_t n,
                          uint64_t start_seq)
{
    struct lp_records *r = s->r;
    uint64_t gen = ++r->gen;
    bool names_changed = false;
    for (size_t i = 0; i < n; i++) {
        struct lp_aud *a = lp_records_by_id(r, items[i].id);
        if (!a) {
            /* Deleted here since this listing was asked for. */
            if (lp_records_buried(r, items[i].id, start_seq))
                continue;
            /* Made by a pending directory's POST: one still waiting for its
             * answer takes it in from there; one whose answer was lost, here. */
            struct lp_aud *mine = lp_create_claimant(r, &items[i]);
            if (mine && (mine->create == LP_CREATE_SENT || lp_create_adopt(r, mine, &items[i]) < 0))
                continue;
            a = mine ? mine : lp_records_add(r, &items[i], false);
            if (!a) {
                lp_log(LP_LOG_ERR, "out of memory while listing audiences");
                continue;
            }
            names_changed = true;
        } else if (a->changed_seq <= start_seq) {
            names_changed |= lp_aud_apply(r, a, &items[i]);
        }
        a->seen_gen = gen;
    }
    struct lp_aud *next;
    for (struct lp_aud *a = r->live; a; a = next) {
        next = a->next;
        if (a->pending || a->seen_gen == gen || a->changed_seq > start_seq)
            continue;
        lp_log(LP_LOG_INFO, "audience %s was deleted elsewhere", a->rec.id);
        lp_records_remove(r, a);
        names_changed = true;
    }
    lp_records_forget_buried(r, start_seq);
    if (names_changed)
        lp_records_names_changed(r);
}

int lp_sync_listing(struct lp_sync *s, bool force, struct lp_api_error *err)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    if (s->listing) {
        while (s->listing)
            lp_records_wait(r);
        /* force: the caller needs a listing asked for after now, not one
         * that was on its way already. */
        if (!force)
            return s->loaded ? 0 : -EIO;
    }
    double now = lp_now();
    double trusted = r->cache_timeout > LISTING_BURST ? r->cache_timeout : LISTING_BURST;
    if (!force && s->loaded && (now - s->list_time < trusted || lp_records_holding(r))) {
        lp_metrics_cache(LP_CACHE_LISTING, 1);
        return 0;
    }
    lp_metrics_cache(LP_CACHE_LISTING, 0);
    s->listing = true;
    uint64_t start_seq = r->seq;
    lp_records_unlock(r);

    struct lp_audience *items = NULL;
    size_t n = 0;
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = lp_api_list(s->api, &items, &n, &e);

    lp_records_lock(r);
    s->listing = false;
    s->list_time = lp_now();
    lp_records_wake(r);
    if (rc < 0) {
        if (err)
            *err = e;
        if (!s->loaded)
            return rc;
        lp_records_failed(r, e.message, -rc);
        return 0;
    }
    apply_listing(s, items, n, start_seq);
    lp_audience_array_free(items, n);
    malloc_trim(0); /* the pages the parsed listing used go back to the system */
    s->loaded = true;
    return 0;
}

/* ---- config fetches ---- */

/* A config fetch missed the cache; two misses within a second look like a
 * sweep (a glob, grep -r): fetch every config not yet cached in parallel. A
 * single `cat` never triggers it: no request storm for one file. */
static void note_miss(struct lp_sync *s)
{
    struct lp_records *r = s->r;
    double now = lp_now();
    bool sweep_like = now - s->last_miss < SWEEP_TRIGGER_GAP;
    s->last_miss = now;
    if (!sweep_like || lp_sweep_running(&s->sweep))
        return;
    char **ids = calloc(r->nlive ? r->nlive : 1, sizeof(*ids));
    size_t n = 0;
    if (!ids)
        return;
    /* Oldest first, the order the API lists and most tools read in. */
    for (struct lp_aud *a = lp_records_oldest(r); a; a = a->prev)
        if (a->rec.id && !a->fetching && !lp_aud_config_fresh(r, a) && (ids[n] = strdup(a->rec.id)))
            n++;
    if (lp_sweep_start(&s->sweep, ids, n))
        lp_log(LP_LOG_DEBUG, "prefetching %zu configs", n);
}

static void prefetch_one(void *ctx, const char *id)
{
    struct lp_sync *s = ctx;
    lp_records_lock(s->r);
    struct lp_aud *a = lp_records_by_id(s->r, id);
    if (a && !a->fetching && !lp_records_holding(s->r) && !lp_aud_config_fresh(s->r, a))
        lp_sync_config(s, a); /* drops the lock while the API answers */
    lp_records_unlock(s->r);
}

/* The GET itself, lock dropped; got must carry a config. */
static int fetch_config(struct lp_sync *s, struct lp_aud *a, struct lp_audience *got,
                        struct lp_api_error *e)
{
    char *id = strdup(a->rec.id);
    lp_records_unlock(s->r);
    int rc = id ? lp_api_get(s->api, id, got, e) : -ENOMEM;
    if (rc == 0 && !got->config) {
        /* Never invent a config: an answer without one is unusable. */
        rc = -EIO;
        e->err = EIO;
        snprintf(e->message, sizeof(e->message), "the API's answer for %s carried no config", id);
    }
    free(id);
    lp_records_lock(s->r);
    return rc;
}

int lp_sync_config(struct lp_sync *s, struct lp_aud *a)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    if (a->pending)
        return 0;
    lp_aud_pin(r, a);
    while (a->fetching && !a->gone)
        lp_records_wait(r);
    int rc = 0;
    bool stale = !lp_aud_config_fresh(r, a);
    if (!a->gone)
        lp_metrics_cache(LP_CACHE_CONFIG, !stale);
    if (a->gone) {
        rc = -ENOENT;
    } else if (stale && lp_records_holding(r)) {
        /* The API failed a moment ago: serve what we have, don't wait on it
         * again; without a config, fail as that failure did (429: EAGAIN). */
        rc = a->rec.config ? 0 : -lp_records_hold_errno(r);
    } else if (stale) {
        a->fetching = true;
        note_miss(s);
        uint64_t start_seq = r->seq;
        struct lp_audience got;
        struct lp_api_error e;
        memset(&got, 0, sizeof(got));
        memset(&e, 0, sizeof(e));
        rc = fetch_config(s, a, &got, &e);
        a->fetching = false;
        lp_records_wake(r);
        if (a->gone) {
            rc = -ENOENT;
        } else if (rc == -ENOENT) {
            lp_aud_set_error(a, e.message);
            lp_records_bury(r, a);
            lp_records_names_changed(r);
        } else if (rc < 0) {
            lp_aud_set_error(a, e.message);
            lp_records_failed(r, e.message, -rc);
            if (a->rec.config)
                rc = 0;
        } else if (a->changed_seq <= start_seq && lp_aud_apply(r, a, &got)) {
            lp_records_names_changed(r);
        }
        lp_audience_clear(&got);
    }
    lp_aud_unpin(r, a);
    return rc;
}

/* ---- write-through ---- */

/* Write-throughs of one audience are serialised, so two saves reach the API in order. */
static int begin_write(struct lp_records *r, struct lp_aud *a)
{
    while (a->busy && !a->gone)
        lp_records_wait(r);
    if (a->gone)
        return -ENOENT;
    a->busy = true;
    return 0;
}

static void end_write(struct lp_records *r, struct lp_aud *a)
{
    a->busy = false;
    lp_records_wake(r);
}

/* Takes in the API's answer to a write (or its refusal). */
static int finish_write(struct lp_records *r, struct lp_aud *a, int rc, struct lp_audience *got,
                        const struct lp_api_error *e)
{
    if (a->gone)
        return -ENOENT;
    if (rc < 0) {
        lp_aud_set_error(a, e->message);
        if (rc == -ENOENT) {
            lp_records_bury(r, a);
            lp_records_names_changed(r);
        }
        return rc;
    }
    lp_aud_touch(r, a);
    lp_aud_set_error(a, NULL);
    bool names = false;
    if (got->id && !a->rec.id) {
        /* A listing that landed first and did not see it as this POST's (a
         * name the API changed) shows it already: one directory, the one
         * the user made. */
        struct lp_aud *twin = lp_records_by_id(r, got->id);
        if (twin)
            lp_records_remove(r, twin);
        if (lp_records_adopt_id(r, a, got->id) < 0) {
            /* Created, but it cannot be indexed here: drop the local copy so
             * the next listing shows it, rather than POST it twice. */
            lp_log(LP_LOG_ERR, "out of memory while recording audience %s", got->id);
            lp_records_remove(r, a);
            lp_records_names_changed(r);
            return 0;
        }
        got->id = NULL;
        names = true; /* the shown name of a new audience may carry its id */
    }
    if (lp_aud_apply(r, a, got) || names)
        lp_records_names_changed(r);
    return 0;
}

enum write_kind { WRITE_STATUS, WRITE_CONFIG, WRITE_NAME };

/* A pending audience keeps its status and name here until its config creates it. */
static int write_local(struct lp_records *r, struct lp_aud *a, enum write_kind kind,
                       const char *value)
{
    char **local = kind == WRITE_STATUS ? &a->rec.status : &a->rec.name;
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(*local);
    *local = copy;
    lp_aud_touch(r, a);
    if (kind == WRITE_NAME)
        lp_records_names_changed(r);
    lp_aud_changed(r, a);
    return 0;
}

/* The PATCH of one field, lock dropped while the API answers. */
static int send_update(struct lp_sync *s, struct lp_aud *a, enum write_kind kind, const char *value,
                       struct lp_audience *got, struct lp_api_error *e)
{
    char *id = strdup(a->rec.id);
    lp_records_unlock(s->r);
    int rc = id ? lp_api_update(s->api, id, kind == WRITE_NAME ? value : NULL,
                                kind == WRITE_STATUS ? value : NULL,
                                kind == WRITE_CONFIG ? value : NULL, got, e)
                : -ENOMEM;
    free(id);
    lp_records_lock(s->r);
    return rc;
}

/* a's POST lost its answer (LP_CREATE_LOST): a listing asked for now shows
 * whether the API made the audience, and apply_listing gives it to a.
 * Returns 1 when a was adopted, 0 when the API does not list it (a stays
 * pending), -ENOENT when a went meanwhile, or the listing's error: without
 * one, nobody can tell whether a POST would make a second audience. a is
 * pinned. */
static int resolve_lost(struct lp_sync *s, struct lp_aud *a)
{
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = lp_sync_listing(s, true, &e);
    if (a->gone)
        return -ENOENT;
    if (rc < 0 || e.err) {
        lp_aud_set_error(a, e.message);
        return rc < 0 ? rc : -e.err;
    }
    return a->pending ? 0 : 1;
}

static int write_remote(struct lp_sync *s, struct lp_aud *a, enum write_kind kind,
                        const char *value)
{
    struct lp_audience got;
    struct lp_api_error e;
    memset(&got, 0, sizeof(got));
    memset(&e, 0, sizeof(e));
    int rc = a->pending ? lp_create_post(s, a, value, &got, &e)
                        : send_update(s, a, kind, value, &got, &e);
    if (rc < 0 && e.answer_lost && a->create == LP_CREATE_LOST && !a->gone) {
        int found = resolve_lost(s, a);
        if (found == 1) {
            lp_aud_touch(s->r, a);
            lp_audience_clear(&got);
            return 0; /* made by this POST: it carried what was written */
        }
        size_t len = strlen(e.message);
        snprintf(e.message + len, sizeof(e.message) - len,
                 "; the API does not list it (yet): the next write here looks again before "
                 "it sends a POST");
    }
    rc = finish_write(s->r, a, rc, &got, &e);
    lp_audience_clear(&got);
    return rc;
}

static int write_through(struct lp_sync *s, struct lp_aud *a, enum write_kind kind,
                         const char *value)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    lp_aud_pin(r, a);
    int rc = begin_write(r, a);
    if (rc == 0) {
        /* Whatever is written to a directory whose POST may have made the
         * audience goes to that audience, if the API lists it now. */
        int adopted = a->pending && a->create == LP_CREATE_LOST ? resolve_lost(s, a) : 0;
        if (adopted < 0)
            rc = adopted;
        else if (adopted && kind == WRITE_CONFIG && a->rec.config && !strcmp(a->rec.config, value))
            rc = 0; /* the config its POST carried: nothing is left to send */
        else if (a->pending && kind != WRITE_CONFIG)
            rc = write_local(r, a, kind, value);
        else
            rc = write_remote(s, a, kind, value);
        end_write(r, a);
    }
    lp_aud_unpin(r, a);
    return rc;
}

int lp_sync_status(struct lp_sync *s, struct lp_aud *a, const char *word)
{
    return write_through(s, a, WRITE_STATUS, word);
}

int lp_sync_config_write(struct lp_sync *s, struct lp_aud *a, const char *compact)
{
    return write_through(s, a, WRITE_CONFIG, compact);
}

int lp_sync_rename(struct lp_sync *s, struct lp_aud *a, const char *newname)
{
    return write_through(s, a, WRITE_NAME, newname);
}

int lp_sync_delete(struct lp_sync *s, struct lp_aud *a)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    lp_aud_pin(r, a);
    int rc = begin_write(r, a);
    bool began = rc == 0;
    /* Its POST may have made the audience: rmdir deletes that too. */
    if (rc == 0 && a->pending && a->create == LP_CREATE_LOST) {
        rc = resolve_lost(s, a);
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0 && !a->pending) {
        char *id = strdup(a->rec.id);
        lp_records_unlock(r);
        struct lp_api_error e;
        memset(&e, 0, sizeof(e));
        rc = id ? lp_api_delete(s->api, id, &e) : -ENOMEM;
        free(id);
        lp_records_lock(r);
        if (rc < 0 && !a->gone)
            lp_aud_set_error(a, e.message);
    }
    if (began && (rc == 0 || rc == -ENOENT)) {
        lp_records_bury(r, a);
        lp_records_names_changed(r);
    }
    if (began)
        end_write(r, a);
    lp_aud_unpin(r, a);
    return rc;
}
