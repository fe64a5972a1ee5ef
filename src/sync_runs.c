/* sync_runs.c - an audience's runs and their results against the API: the
 * runs list (per cache_timeout, in parallel when many are missed at once),
 * queueing a run (one POST, whose retries reuse its Idempotency-Key),
 * cancelling one, and a run's stats (once: a completed run never changes);
 * results.csv is sync_results.c's. Called with the records lock held; each
 * request drops it.
 */
#include "sync_runs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "metrics.h"

#define RUNS_SWEEP_GAP 1.0 /* seconds between two list misses that look like a sweep */

static bool runs_fresh(const struct lp_sync *s, const struct lp_runs *runs)
{
    return runs && runs->fetched > 0 && lp_now() - runs->fetched < s->r->cache_timeout;
}

/* The GET of the list, lock dropped; the answer merged. */
static int fetch_runs(struct lp_sync *s, struct lp_aud *a, struct lp_runs *runs)
{
    struct lp_records *r = s->r;
    char *id = strdup(a->rec.id);
    uint64_t start_seq = r->seq;
    runs->fetching = true;
    lp_aud_pin(r, a);
    lp_records_unlock(r);
    struct lp_run *arr = NULL;
    size_t n = 0;
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = id ? lp_api_runs(s->api, id, &arr, &n, &e) : -ENOMEM;
    free(id);
    lp_records_lock(r);
    runs->fetching = false;
    lp_records_wake(r);
    if (rc == 0) {
        runs->fetched = lp_now();
        if (lp_runs_merge(runs, arr, n, start_seq) && !a->gone)
            lp_aud_runs_changed(r, a);
    } else {
        if (!a->gone)
            lp_aud_set_error(a, e.message);
        if (rc == -EIO || rc == -EAGAIN)
            lp_records_failed(r, e.message, -rc);
    }
    lp_aud_unpin(r, a);
    return rc;
}

static void prefetch_runs_one(void *ctx, const char *id)
{
    struct lp_sync *s = ctx;
    lp_records_lock(s->r);
    struct lp_aud *a = lp_records_by_id(s->r, id);
    if (a && !a->pending && !lp_records_holding(s->r) && !runs_fresh(s, a->runs) &&
        !(a->runs && a->runs->fetching))
        lp_sync_runs(s, a, true);
    lp_records_unlock(s->r);
}

/* Two lists missed within a second look like a glob over audiences
 * (cat M/STAR/runs/latest/status, STAR a glob): fetch the lists not fresh
 * in parallel. */
static void note_runs_miss(struct lp_sync *s)
{
    struct lp_records *r = s->r;
    double now = lp_now();
    bool sweep_like = now - s->last_runs_miss < RUNS_SWEEP_GAP;
    s->last_runs_miss = now;
    if (!sweep_like || lp_sweep_running(&s->runs_sweep))
        return;
    char **ids = calloc(r->nlive ? r->nlive : 1, sizeof(*ids));
    size_t n = 0;
    for (struct lp_aud *a = lp_records_oldest(r); ids && a; a = a->prev)
        if (!a->pending && a->rec.id && !runs_fresh(s, a->runs) &&
            !(a->runs && a->runs->fetching) && (ids[n] = strdup(a->rec.id)))
            n++;
    if (ids && lp_sweep_start(&s->runs_sweep, ids, n))
        lp_log(LP_LOG_DEBUG, "prefetching %zu runs lists", n);
}

void lp_sync_runs_init(struct lp_sync *s)
{
    struct lp_sweep_ops ops = {
        .work = prefetch_runs_one,
        .thread_exit = lp_api_thread_cleanup,
        .workers = lp_sync_sweep_workers,
        .ctx = s};
    lp_sweep_init(&s->runs_sweep, &ops);
}

int lp_sync_runs(struct lp_sync *s, struct lp_aud *a, bool fetch)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    if (a->pending || a->gone)
        return -ENOENT; /* a pending audience has no runs */
    struct lp_runs *runs = lp_runs_of(&a->runs);
    if (!runs)
        return -ENOMEM;
    while (runs->fetching)
        lp_records_wait(r);
    bool fresh = runs_fresh(s, runs);
    lp_metrics_cache(LP_CACHE_RUNS, fresh);
    if (fresh || (runs->fetched > 0 && lp_records_holding(r)))
        return 0;
    if (!fetch)
        return -EAGAIN;
    if (lp_records_holding(r))
        return -lp_records_hold_errno(r);
    note_runs_miss(s);
    int rc = fetch_runs(s, a, runs);
    /* Unreachable: a list fetched before still stands. */
    if (rc < 0 && runs->fetched > 0 && (rc == -EIO || rc == -EAGAIN))
        rc = 0;
    return a->gone ? -ENOENT : rc;
}

/* A fresh Idempotency-Key: 128 random bits. */
static int new_key(char *out, size_t outlen)
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -EIO;
    for (size_t i = 0; i < sizeof(raw) && 2 * i + 2 < outlen; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int lp_sync_run_queue(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec **out)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    if (a->pending || a->gone)
        return -ENOENT;
    struct lp_runs *runs = lp_runs_of(&a->runs);
    char key[40] = "lpfs-";
    if (!runs)
        return -ENOMEM;
    if (new_key(key + 5, sizeof(key) - 5) < 0)
        return -EIO;
    char *id = strdup(a->rec.id);
    lp_aud_pin(r, a);
    lp_records_unlock(r);
    struct lp_run run;
    struct lp_api_error e;
    memset(&run, 0, sizeof(run));
    memset(&e, 0, sizeof(e));
    int rc = id ? lp_api_run_queue(s->api, id, key, &run, &e) : -ENOMEM;
    free(id);
    lp_records_lock(r);
    if (rc == 0 && !a->gone) {
        lp_aud_touch(r, a);
        *out = lp_runs_put(runs, &run, r->seq);
        rc = *out ? 0 : -ENOMEM;
        lp_aud_runs_changed(r, a);
    } else if (rc < 0 && !a->gone) {
        lp_aud_set_error(a, e.message);
    }
    lp_run_clear(&run);
    lp_aud_unpin(r, a);
    return a->gone && rc == 0 ? -ENOENT : rc;
}

int lp_sync_run_cancel(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *run)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    char *aid = strdup(a->rec.id), *rid = strdup(run->run.id);
    lp_aud_pin(r, a);
    lp_records_unlock(r);
    struct lp_run got;
    struct lp_api_error e;
    memset(&got, 0, sizeof(got));
    memset(&e, 0, sizeof(e));
    int rc = aid && rid ? lp_api_run_cancel(s->api, aid, rid, &got, &e) : -ENOMEM;
    free(aid);
    free(rid);
    lp_records_lock(r);
    if (rc == 0) {
        if (got.id) {
            lp_runs_put(a->runs, &got, 0);
        } else {
            char *word = strdup("cancelled");
            if (word) {
                free(run->run.status);
                run->run.status = word;
            }
        }
        lp_aud_runs_changed(r, a);
    } else {
        lp_aud_set_error(a, e.message);
        if (rc == -EEXIST)
            rc = -EBUSY; /* SPEC: running, completed... cannot be cancelled */
    }
    lp_run_clear(&got);
    lp_aud_unpin(r, a);
    return rc;
}

int lp_sync_run_stats(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *run)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    while (run->stats_fetching)
        lp_records_wait(r);
    if (run->stats)
        return 0;
    char *aid = strdup(a->rec.id), *rid = strdup(run->run.id);
    run->stats_fetching = true;
    lp_aud_pin(r, a);
    lp_records_unlock(r);
    char *text = NULL;
    size_t len = 0;
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = aid && rid ? lp_api_run_stats(s->api, aid, rid, &text, &len, &e) : -ENOMEM;
    free(aid);
    free(rid);
    lp_records_lock(r);
    run->stats_fetching = false;
    lp_records_wake(r);
    if (rc == 0) {
        run->stats = text;
        run->stats_len = len;
    } else {
        lp_aud_set_error(a, e.message);
    }
    lp_aud_unpin(r, a);
    return rc;
}
