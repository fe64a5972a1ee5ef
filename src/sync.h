/* sync.h - keeps the records and the API in step: the listing refresh (one
 * request at a time, however many callers ask), config fetches (in parallel
 * when a sweep through them is seen), and the write-through of status,
 * config, name and deletion.
 *
 * The only layer that waits on the API: every function here is called with
 * the records lock held, drops it while the API answers, and pins the record
 * across that window so it cannot be freed under the caller. After any call
 * the caller must look its nodes up again. All return 0 or a negative errno.
 */
#ifndef LEADPIPEFS_SYNC_H
#define LEADPIPEFS_SYNC_H

#include "api.h"
#include "records.h"
#include "sweep.h"

/* A cached answer that is not a record: the account, the filter and topic
 * catalogs (.leadpipe/). Protected by the records lock. */
struct lp_answer {
    char *text; /* the last good answer, NULL until one came */
    size_t len;
    double fetched; /* monotonic time text came; 0: stale */
    double ttl;     /* seconds it is trusted */
    bool fetching;  /* a request is in flight */
    int metric;     /* enum lp_metric_cache */
    int (*fetch)(lp_api *api, char **text, size_t *len, struct lp_api_error *err);
};

struct lp_sync {
    struct lp_records *r;
    lp_api *api;
    struct lp_answer account, filters, topics;
    /* Protected by r->lock: */
    bool listing;               /* a list request is in flight */
    bool loaded;                /* a listing has ever succeeded */
    double list_time;           /* monotonic time of the last list attempt */
    double last_miss;           /* when a config fetch last missed the cache */
    double refreshed;           /* when .leadpipe/refresh was last written */
    struct lp_sweep sweep;      /* configs; its own lock */
    struct lp_sweep runs_sweep; /* runs lists; its own lock */
    double last_runs_miss;      /* when a runs list last missed the cache */
    struct lp_rcache *rcache;   /* results.csv files; NULL: none could be opened */
};

void lp_sync_init(struct lp_sync *s, struct lp_records *r, lp_api *api);
/* Stops background fetches (records lock NOT held). */
void lp_sync_stop(struct lp_sync *s);

/* Refreshes the listing when stale (or always with force). Once a listing has
 * succeeded, a failure serves the cache (returns 0). err: what the API said. */
int lp_sync_listing(struct lp_sync *s, bool force, struct lp_api_error *err);
/* Fetches a's config unless lp_aud_config_fresh. -ENOENT: a is gone. */
int lp_sync_config(struct lp_sync *s, struct lp_aud *a);
/* Write-through; a pending audience keeps status and name locally and sends
 * the POST with its first config. On success the record holds the answer. */
int lp_sync_status(struct lp_sync *s, struct lp_aud *a, const char *word);
int lp_sync_config_write(struct lp_sync *s, struct lp_aud *a, const char *compact);
int lp_sync_rename(struct lp_sync *s, struct lp_aud *a, const char *newname);
int lp_sync_delete(struct lp_sync *s, struct lp_aud *a);

/* sync_runs.c: an audience's runs (runs.h) and their results. */
void lp_sync_runs_init(struct lp_sync *s);
/* The runs list, fetched when older than cache_timeout (fetch false: -EAGAIN
 * instead). Several lists missed within a second are fetched in parallel. */
int lp_sync_runs(struct lp_sync *s, struct lp_aud *a, bool fetch);
/* Queues a manual run (one POST; its retries carry the same Idempotency-Key);
 * *out: the new run, shown at once. */
int lp_sync_run_queue(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec **out);
/* Cancels a queued run; one that cannot be cancelled: -EBUSY, nothing changed. */
int lp_sync_run_cancel(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *r);
/* Fetches r's stats once (r->stats). */
int lp_sync_run_stats(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *r);
/* Makes sure r's results.csv is in the results cache (downloading it once)
 * and gives its size. */
int lp_sync_run_results(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *r, uint64_t *size);
/* Opens r's cached results.csv for reading (downloaded again if it was
 * dropped from the cache meanwhile): *fd, pinned until lp_sync_run_results_close. */
int lp_sync_run_results_open(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *r, int *fd,
                             uint64_t *size);
void lp_sync_run_results_close(struct lp_sync *s, struct lp_run_rec *r);

/* sync_answers.c: set up by lp_sync_init, freed by lp_sync_stop. */
void lp_sync_answers_init(struct lp_sync *s);
void lp_sync_answers_free(struct lp_sync *s);
/* A cached answer as of now (fetched when stale; while the
 * API is unreachable the last good copy is served). *text malloc'd. */
int lp_sync_answer(struct lp_sync *s, struct lp_answer *a, char **text, size_t *len);
/* True when the answer can be given without a request. */
bool lp_sync_answer_fresh(const struct lp_sync *s, const struct lp_answer *a);
/* Length of the answer as it would be given now (0 if none yet). */
size_t lp_sync_answer_len(const struct lp_answer *a);
/* Everything is stale now: the next access re-lists and re-fetches (configs,
 * answers); a failure remembered is forgotten. Refreshes within a second of
 * the last one count as that one: returns false for them. */
bool lp_sync_refresh(struct lp_sync *s);

#endif
