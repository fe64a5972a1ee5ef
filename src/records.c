/* records.c - the record store: audiences by id, the live list, references
 * and pins, merging the API's answers, and the one cache lock.
 */
#include "records.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

double lp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void lp_records_init(struct lp_records *r, double cache_timeout, double fail_hold)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    lp_map_init_str(&r->by_id);
    r->cache_timeout = cache_timeout < 0 ? 0 : cache_timeout;
    r->fail_hold = fail_hold;
}

static void tell(struct lp_records *r, struct lp_aud *a, enum lp_rec_event ev)
{
    if (r->listener.event)
        r->listener.event(r->listener.ctx, a, ev);
}

static void aud_free(struct lp_aud *a)
{
    lp_runs_free(a->runs);
    free(a->create_config);
    lp_audience_clear(&a->rec);
    free(a->config_text);
    free(a->last_error);
    free(a);
}

void lp_records_destroy(struct lp_records *r)
{
    lp_records_forget_buried(r, UINT64_MAX);
    while (r->live) {
        struct lp_aud *a = r->live;
        r->live = a->next;
        tell(r, a, LP_REC_FREED);
        aud_free(a);
    }
    lp_map_destroy(&r->by_id);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
}

void lp_records_set_listener(struct lp_records *r, const struct lp_records_listener *l)
{
    r->listener = *l;
}

void lp_records_lock(struct lp_records *r)
{
    pthread_mutex_lock(&r->lock);
    r->owner = pthread_self();
    r->owned = true;
}

void lp_records_unlock(struct lp_records *r)
{
    LP_ASSERT_LOCKED(r);
    r->owned = false;
    pthread_mutex_unlock(&r->lock);
}

void lp_records_wait(struct lp_records *r)
{
    LP_ASSERT_LOCKED(r);
    r->owned = false;
    pthread_cond_wait(&r->cond, &r->lock);
    r->owner = pthread_self();
    r->owned = true;
}

void lp_records_wake(struct lp_records *r)
{
    pthread_cond_broadcast(&r->cond);
}

struct lp_aud *lp_records_add(struct lp_records *r, struct lp_audience *rec, bool pending)
{
    LP_ASSERT_LOCKED(r);
    struct lp_aud *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->rec = *rec;
    a->pending = pending;
    if (a->rec.id && lp_smap_put(&r->by_id, a->rec.id, a) < 0) {
        *rec = a->rec; /* the caller still owns its fields */
        free(a);
        return NULL;
    }
    memset(rec, 0, sizeof(*rec));
    a->next = r->live;
    if (r->live)
        r->live->prev = a;
    r->live = a;
    r->nlive++;
    if (pending)
        lp_aud_touch(r, a);
    tell(r, a, LP_REC_ADDED);
    return a;
}

static void maybe_free(struct lp_records *r, struct lp_aud *a)
{
    if (a->gone && a->view_refs == 0 && a->pins == 0) {
        tell(r, a, LP_REC_FREED);
        aud_free(a);
    }
}

void lp_records_remove(struct lp_records *r, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(r);
    if (a->gone)
        return;
    a->gone = true;
    if (a->prev)
        a->prev->next = a->next;
    else
        r->live = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
    r->nlive--;
    lp_aud_set_create(r, a, LP_CREATE_NONE);
    if (a->rec.id && lp_smap_get(&r->by_id, a->rec.id) == a)
        lp_smap_del(&r->by_id, a->rec.id);
    a->pins++; /* the listener releases the view's nodes: keep a until it returns */
    tell(r, a, LP_REC_REMOVED);
    lp_aud_unpin(r, a);
}

void lp_records_bury(struct lp_records *r, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(r);
    lp_aud_touch(r, a);
    struct lp_tomb *t = a->rec.id ? calloc(1, sizeof(*t)) : NULL;
    if (t && (t->id = strdup(a->rec.id))) {
        t->seq = a->changed_seq;
        t->next = r->tombs;
        r->tombs = t;
    } else if (a->rec.id) {
        free(t);
        lp_log(LP_LOG_ERR, "out of memory: a listing in flight may show %s again", a->rec.id);
    }
    lp_records_remove(r, a);
}

bool lp_records_buried(const struct lp_records *r, const char *id, uint64_t since)
{
    for (const struct lp_tomb *t = r->tombs; t; t = t->next)
        if (t->seq > since && strcmp(t->id, id) == 0)
            return true;
    return false;
}

void lp_records_forget_buried(struct lp_records *r, uint64_t upto)
{
    for (struct lp_tomb **p = &r->tombs; *p;) {
        struct lp_tomb *t = *p;
        if (t->seq <= upto) {
            *p = t->next;
            free(t->id);
            free(t);
        } else {
            p = &t->next;
        }
    }
}

void lp_aud_set_create(struct lp_records *r, struct lp_aud *a, enum lp_create state)
{
    if (a->create == LP_CREATE_NONE && state != LP_CREATE_NONE)
        r->creating++;
    else if (a->create != LP_CREATE_NONE && state == LP_CREATE_NONE)
        r->creating--;
    a->create = state;
    if (state == LP_CREATE_NONE) {
        free(a->create_config);
        a->create_config = NULL;
    }
}

int lp_records_adopt_id(struct lp_records *r, struct lp_aud *a, char *id)
{
    LP_ASSERT_LOCKED(r);
    LP_DEBUG_ASSERT(a->pending && !a->rec.id);
    if (lp_smap_put(&r->by_id, id, a) < 0)
        return -1;
    a->rec.id = id;
    a->pending = false;
    return 0;
}

struct lp_aud *lp_records_by_id(struct lp_records *r, const char *id)
{
    LP_ASSERT_LOCKED(r);
    return lp_smap_get(&r->by_id, id);
}

struct lp_aud *lp_records_oldest(struct lp_records *r)
{
    struct lp_aud *a = r->live;
    while (a && a->next)
        a = a->next;
    return a;
}

void lp_aud_hold(struct lp_records *r, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(r);
    a->view_refs++;
}

void lp_aud_drop(struct lp_records *r, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(r);
    LP_DEBUG_ASSERT(a->view_refs > 0);
    a->view_refs--;
    maybe_free(r, a);
}

void lp_aud_pin(struct lp_records *r, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(r);
    a->pins++;
}

void lp_aud_unpin(struct lp_records *r, struct lp_aud *a)
{
    LP_ASSERT_LOCKED(r);
    LP_DEBUG_ASSERT(a->pins > 0);
    a->pins--;
    maybe_free(r, a);
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

bool lp_aud_apply(struct lp_records *r, struct lp_aud *a, struct lp_audience *got)
{
    LP_ASSERT_LOCKED(r);
    struct lp_audience *rec = &a->rec;
    bool name_changed = got->name && take(&rec->name, &got->name);
    bool changed = name_changed;
    changed |= got->status && take(&rec->status, &got->status);
    changed |= take(&rec->access_type, &got->access_type);
    changed |= take(&rec->created_at, &got->created_at);
    bool updated = take(&rec->updated_at, &got->updated_at);
    changed |= updated;
    changed |= take(&rec->last_refreshed_at, &got->last_refreshed_at);
    if (rec->daily_refresh != got->daily_refresh || rec->audience_size != got->audience_size) {
        rec->daily_refresh = got->daily_refresh;
        rec->audience_size = got->audience_size;
        changed = true;
    }
    if (got->config) {
        if (take(&rec->config, &got->config)) {
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
        tell(r, a, LP_REC_CHANGED);
    return name_changed;
}

void lp_aud_changed(struct lp_records *r, struct lp_aud *a)
{
    tell(r, a, LP_REC_CHANGED);
}

void lp_aud_runs_changed(struct lp_records *r, struct lp_aud *a)
{
    tell(r, a, LP_REC_RUNS);
}

void lp_records_names_changed(struct lp_records *r)
{
    tell(r, NULL, LP_REC_NAMES);
}

void lp_aud_touch(struct lp_records *r, struct lp_aud *a)
{
    a->changed_seq = ++r->seq;
}

bool lp_aud_config_fresh(const struct lp_records *r, const struct lp_aud *a)
{
    return a->pending || (a->rec.config && lp_now() - a->config_time < r->cache_timeout);
}

const char *lp_aud_config_text(struct lp_aud *a)
{
    if (!a->config_text) {
        /* Only an audience made by mkdir shows the template before it has one. */
        const char *cfg = a->rec.config ? a->rec.config : a->pending ? lp_config_template() : "{}";
        a->config_text = lp_config_pretty(cfg);
    }
    return a->config_text ? a->config_text : "";
}

void lp_aud_set_error(struct lp_aud *a, const char *message)
{
    free(a->last_error);
    a->last_error = message && *message ? strdup(message) : NULL;
}

void lp_records_failed(struct lp_records *r, const char *message, int err)
{
    double now = lp_now();
    if (now >= r->api_hold)
        lp_log(LP_LOG_WARNING, "the API did not answer (%s): serving cached data", message);
    double hold = r->fail_hold > r->cache_timeout ? r->fail_hold : r->cache_timeout;
    r->api_hold = now + hold;
    /* Only "slow down" and "out of reach" stand for every read: an answer
     * that refused one request says nothing about the others. */
    r->hold_err = err == EAGAIN ? EAGAIN : EIO;
}

bool lp_records_holding(const struct lp_records *r)
{
    return lp_now() < r->api_hold;
}

int lp_records_hold_errno(const struct lp_records *r)
{
    return r->hold_err ? r->hold_err : EIO;
}
