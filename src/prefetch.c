/* prefetch.c - fetches configs in parallel when someone sweeps through them.
 *
 * `cat M/X/config.json` over a glob of every X, or a grep across them, reads one config after
 * another; each costs one GET, and paying their latency one after another is
 * what makes REST filesystems slow. When two configs are fetched within a
 * second of each other, a sweeper fetches every config not yet cached with a
 * few requests in flight at once, so the reader finds them waiting. A single
 * `cat` never triggers it: no request storm for one file.
 */
#include "tree_int.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"

#define SWEEP_WORKERS 8
#define SWEEP_TRIGGER_GAP 1.0 /* seconds between two misses that look like a sweep */

static bool needs_fetch(const struct lp_tree *t, const struct lp_aud *a)
{
    return !a->pending && !a->gone && !a->fetching && lp_now() >= t->api_hold &&
           (!a->rec.config || lp_now() - a->config_time >= t->opts.cache_timeout);
}

static void *worker(void *arg)
{
    struct lp_tree *t = arg;
    struct lp_sweep *s = &t->sweep;
    pthread_mutex_lock(&t->lock);
    while (!s->stop && s->next < s->n) {
        struct lp_aud *a = lp_smap_get(&t->by_id, s->ids[s->next++]);
        if (a && needs_fetch(t, a))
            lp_sync_config(t, a); /* drops the lock while the API answers */
    }
    pthread_mutex_unlock(&t->lock);
    lp_http_thread_cleanup();
    return NULL;
}

static void *sweeper(void *arg)
{
    struct lp_tree *t = arg;
    struct lp_sweep *s = &t->sweep;
    pthread_t threads[SWEEP_WORKERS];
    int started = 0;
    for (int i = 0; i < SWEEP_WORKERS && (size_t)i < s->n; i++)
        if (pthread_create(&threads[started], NULL, worker, t) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
    s->ids = NULL;
    s->n = s->next = 0;
    s->running = false;
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

void lp_prefetch_note_miss(struct lp_tree *t)
{
    struct lp_sweep *s = &t->sweep;
    double now = lp_now();
    bool sweep_like = now - s->last_miss < SWEEP_TRIGGER_GAP;
    s->last_miss = now;
    if (!sweep_like || s->running || s->stop)
        return;
    if (s->started) {
        pthread_join(s->thread, NULL); /* the last sweep has ended (running is false) */
        s->started = false;
    }
    s->ids = calloc(t->nlive ? t->nlive : 1, sizeof(*s->ids));
    if (!s->ids)
        return;
    /* Oldest first, the order the API lists and most tools read in. */
    struct lp_aud *last = t->live;
    while (last && last->next)
        last = last->next;
    for (struct lp_aud *a = last; a; a = a->prev)
        if (a->rec.id && needs_fetch(t, a) && (s->ids[s->n] = strdup(a->rec.id)))
            s->n++;
    if (s->n == 0 || pthread_create(&s->thread, NULL, sweeper, t) != 0) {
        free(s->ids);
        s->ids = NULL;
        s->n = 0;
        return;
    }
    lp_log(LP_LOG_DEBUG, "prefetching %zu configs", s->n);
    s->started = s->running = true;
}

void lp_prefetch_stop(struct lp_tree *t)
{
    struct lp_sweep *s = &t->sweep;
    pthread_mutex_lock(&t->lock);
    s->stop = true;
    bool started = s->started;
    s->started = false;
    pthread_mutex_unlock(&t->lock);
    if (started)
        pthread_join(s->thread, NULL);
}
