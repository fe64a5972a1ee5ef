/* sync_runs.h - an audience's runs and their results against the API (part
 * of the sync layer: called with the records lock held, which each request
 * drops; see sync.h). */
#ifndef LEADPIPEFS_SYNC_RUNS_H
#define LEADPIPEFS_SYNC_RUNS_H

#include <stdint.h>

#include "sync_types.h"

void lp_sync_runs_init(struct lp_sync *s);
/* How many workers a sweep of s has (sync.c): ctx is the struct lp_sync. */
int lp_sync_sweep_workers(void *ctx);
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
/* results.csv: sync_results.h. */

#endif
