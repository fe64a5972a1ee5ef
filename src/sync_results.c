/* sync_results.c - results.csv (sync_results.h): one download per run at a
 * time, each on a thread of its own, streamed into the results cache and
 * never into memory. The lookup that starts it waits only for the answer's
 * Content-Length (SPEC: stat's size is the bytes cat returns), readers read
 * the part as it grows (rcache_live.h), and the fsync before the part
 * becomes a cached file delays neither. Unmounting stops every download.
 *
 * Every run field here is the records lock's; the download thread takes it
 * for its own updates and never holds it across a request.
 */
#include "sync_results.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/* One download in flight. */
struct lp_download {
    struct lp_sync *s;
    struct lp_aud *a;       /* pinned until the download ends */
    struct lp_run_rec *run; /* lives as long as a */
    char *aid, *rid;
    lp_rcache_part *part;
    atomic_bool stop;         /* unmounting: the transfer ends at once */
    struct lp_download *next; /* s->downloads */
};

/* What stat shows from now on. Readers are let through to the end only
 * after this, so a kernel that looks again finds the length they were
 * given. The kernel is told when a retried answer announced a greater length
 * than the try before; a smaller one it learns from the short read at the
 * end (see tell_size in fs_file.c: an invalidation racing that read would
 * show zeros), so until a reader gets there stat may show the greater one.
 * wake: tell the lookups waiting for it. */
static void set_size(struct lp_download *d, uint64_t size, bool wake)
{
    struct lp_records *r = d->s->r;
    lp_records_lock(r);
    bool grew = d->run->csv_known && size > d->run->csv_size;
    d->run->csv_size = size;
    d->run->csv_known = true;
    if (grew && !d->a->gone)
        lp_aud_runs_changed(r, d->a);
    if (wake)
        lp_records_wake(r);
    lp_records_unlock(r);
}

static void wake_lookups(struct lp_sync *s)
{
    lp_records_lock(s->r);
    lp_records_wake(s->r);
    lp_records_unlock(s->r);
}

static bool stopped(const struct lp_download *d)
{
    return atomic_load_explicit(&d->stop, memory_order_relaxed);
}

/* The export's sink: the part, and the length each try announces. */
static int sink_write(void *ctx, const char *buf, size_t n)
{
    struct lp_download *d = ctx;
    return stopped(d) ? -ECANCELED : lp_rcache_write(d->part, buf, n);
}

static int sink_reset(void *ctx)
{
    struct lp_download *d = ctx;
    return stopped(d) ? -ECANCELED : lp_rcache_reset(d->part);
}

static void sink_announce(void *ctx, int64_t length)
{
    struct lp_download *d = ctx;
    lp_rcache_announce(d->part, length);
    if (length >= 0)
        set_size(d, (uint64_t)length, true);
}

static bool sink_stop(void *ctx)
{
    return stopped(ctx);
}

/* The download's end, under the lock: the run's state, the error the user
 * finds in lastError, the thread's place in s->downloads; frees d. */
static void end_download(struct lp_download *d, int rc, struct lp_api_error *e)
{
    struct lp_sync *s = d->s;
    struct lp_records *r = s->r;
    if (rc < 0 && !e->message[0])
        snprintf(e->message, sizeof(e->message), "results of run %s could not be cached: %s",
                 d->rid, rc == -ENOSPC ? "no space left" : "I/O error");
    lp_records_lock(r);
    d->run->csv_fetching = false;
    d->run->csv_err = rc < 0 ? -rc : 0;
    if (rc < 0 && rc != -ECANCELED && !d->a->gone)
        lp_aud_set_error(d->a, e->message);
    struct lp_download **p = &s->downloads;
    while (*p != d)
        p = &(*p)->next;
    *p = d->next;
    lp_records_wake(r);
    lp_aud_unpin(r, d->a);
    lp_records_unlock(r);
    free(d->aid);
    free(d->rid);
    free(d);
}

static void *download_main(void *arg)
{
    struct lp_download *d = arg;
    struct lp_sync *s = d->s;
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = 0;
    d->part = lp_rcache_begin(s->rcache, d->rid, &rc);
    if (d->part) {
        wake_lookups(s); /* an open may read the part from now on */
        struct lp_api_sink sink = {.write = sink_write,
                                   .reset = sink_reset,
                                   .announce = sink_announce,
                                   .stop = sink_stop,
                                   .ctx = d};
        uint64_t len = 0;
        rc = lp_api_run_export(s->api, d->aid, d->rid, &sink, &len, &e);
        if (rc == 0) {
            set_size(d, len, false);
            rc = lp_rcache_finish(d->part, len);
            wake_lookups(s); /* one without a Content-Length has its size */
        }
        if (rc == 0)
            rc = lp_rcache_commit(d->part, len); /* the fsync: no reader waits for it */
        else
            lp_rcache_abort(d->part);
    }
    lp_api_thread_cleanup();
    end_download(d, rc, &e);
    return NULL;
}

/* Starts run's download on a thread of its own (lock held). */
static int start_download(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *run)
{
    if (s->downloads_stopped)
        return -EIO;
    struct lp_download *d = calloc(1, sizeof(*d));
    if (!d || !(d->aid = strdup(a->rec.id)) || !(d->rid = strdup(run->run.id))) {
        if (d)
            free(d->aid);
        free(d);
        return -ENOMEM;
    }
    d->s = s;
    d->a = a;
    d->run = run;
    atomic_init(&d->stop, false);
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    lp_aud_pin(s->r, a);
    int rc = pthread_create(&thread, &attr, download_main, d);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        char e[128]; /* strerror's buffer may be shared between threads; this one is not */
        lp_log(LP_LOG_ERR, "results.csv of run %s: cannot start its download: %s", run->run.id,
               strerror_r(rc, e, sizeof e));
        lp_aud_unpin(s->r, a);
        free(d->aid);
        free(d->rid);
        free(d);
        return -EIO;
    }
    d->next = s->downloads; /* the thread needs the lock to leave the list */
    s->downloads = d;
    run->csv_fetching = true;
    run->csv_err = 0;
    lp_metrics_cache(LP_CACHE_RESULTS, 0);
    return 0;
}

/* Where the results stand: cached or being downloaded (0: *size, and with fd
 * a descriptor and *live), else downloaded now. */
static int ensure(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *run, int *fd,
                  uint64_t *size, lp_rcache_live **live)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    if (!s->rcache) {
        lp_log(LP_LOG_ERR, "results.csv of run %s: no results cache (see the log at start-up)",
               run->run.id);
        return -EIO;
    }
    bool waited = false;
    int started = 0;
    for (;;) {
        int rc = fd ? lp_rcache_open_file(s->rcache, run->run.id, size, live)
                    : lp_rcache_size(s->rcache, run->run.id, size);
        if (rc >= 0) {
            if (fd)
                *fd = rc;
            if (!(live && *live)) {
                run->csv_size = *size;
                run->csv_known = true;
            } else if (*size == 0 && run->csv_known) {
                *size = run->csv_size; /* between two tries: what the kernel was told */
            }
            if (!started)
                lp_metrics_cache(LP_CACHE_RESULTS, 1);
            return 0;
        }
        if (rc != -ENOENT && rc != -EINPROGRESS)
            return rc;
        if (run->csv_fetching) { /* until its length is known, or its end */
            waited = true;
            lp_records_wait(r);
            if (a->gone)
                return -ENOENT;
            continue;
        }
        if (waited && run->csv_err)
            return -run->csv_err; /* the download waited for failed */
        if (started == 2)
            return -EIO; /* dropped again at once: the bound is smaller than the file */
        rc = start_download(s, a, run);
        if (rc < 0)
            return rc;
        started++;
    }
}

int lp_sync_run_results(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *run, uint64_t *size)
{
    return ensure(s, a, run, NULL, size, NULL);
}

int lp_sync_run_results_open(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *run, int *fd,
                             uint64_t *size, lp_rcache_live **live)
{
    return ensure(s, a, run, fd, size, live);
}

void lp_sync_run_results_close(struct lp_sync *s, struct lp_run_rec *run)
{
    if (s->rcache)
        lp_rcache_unpin(s->rcache, run->run.id);
}

void lp_sync_results_stop(struct lp_sync *s)
{
    struct lp_records *r = s->r;
    lp_records_lock(r);
    s->downloads_stopped = true;
    for (struct lp_download *d = s->downloads; d; d = d->next)
        atomic_store(&d->stop, true);
    while (s->downloads)
        lp_records_wait(r);
    lp_records_unlock(r);
}
