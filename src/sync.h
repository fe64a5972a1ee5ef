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

#include "sync_answers.h"
#include "sync_results.h"
#include "sync_runs.h"
#include "sync_types.h"

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

#endif
