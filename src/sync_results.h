/* sync_results.h - a completed run's results.csv against the API (part of
 * the sync layer: called with the records lock held; see sync.h). The
 * export is downloaded once per run into the results cache (rcache.h) by a
 * thread of its own, so a lookup returns as soon as the answer announces its
 * length and a reader reads the part while it is being written. */
#ifndef LEADPIPEFS_SYNC_RESULTS_H
#define LEADPIPEFS_SYNC_RESULTS_H

#include <stdint.h>

#include "rcache.h"
#include "sync_types.h"

/* r's results.csv size: the cached file's, else the length the download
 * (started now unless one runs) announced. A download whose answer has no
 * Content-Length is waited for whole. A download that fails: its errno. */
int lp_sync_run_results(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *r, uint64_t *size);
/* Opens r's results.csv for reading (downloading it again if it was dropped
 * from the cache meanwhile): *fd, pinned until lp_sync_run_results_close.
 * While it is still being downloaded *live is a reference (else NULL): each
 * read waits with lp_rcache_live_wait, and lp_rcache_live_put gives it back.
 * *size: the length as known now (0: not yet). */
int lp_sync_run_results_open(struct lp_sync *s, struct lp_aud *a, struct lp_run_rec *r, int *fd,
                             uint64_t *size, lp_rcache_live **live);
void lp_sync_run_results_close(struct lp_sync *s, struct lp_run_rec *r);
/* Ends every download at once (unmount) and waits for their threads; the
 * parts are discarded. Records lock NOT held. */
void lp_sync_results_stop(struct lp_sync *s);

#endif
