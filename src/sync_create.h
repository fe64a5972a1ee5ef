/* sync_create.h - the POST that turns a pending audience (mkdir) into one the
 * API knows, and the listing's side of it (part of the sync layer; see
 * sync.h): a listing that lands while the POST's answer is on its way may
 * already carry the new audience, which must then not show twice; and after
 * an answer that was lost, the audience the API lists under the pending
 * directory's name is that directory's, not one to POST a second time. */
#ifndef LEADPIPEFS_SYNC_CREATE_H
#define LEADPIPEFS_SYNC_CREATE_H

#include "sync_types.h"

/* The pending record whose POST may have made item (an audience the records
 * do not know yet): same name, created since the POST was sent. NULL if none.
 * The records lock is held. */
struct lp_aud *lp_create_claimant(struct lp_records *r, const struct lp_audience *item);

/* a (LP_CREATE_LOST) is the listed item: a takes its id and fields (item's
 * are taken) and the config its POST carried; a is pending no more. Returns
 * 0 or -ENOMEM (a unchanged). */
int lp_create_adopt(struct lp_records *r, struct lp_aud *a, struct lp_audience *item);

/* Sends a's POST with config (a's name and status go with it). The records
 * lock is held on entry and exit, dropped while the API answers; a is pinned
 * and busy. On success got holds the new audience (its id set); on failure e
 * says why, and when the answer was lost (e->answer_lost) a is left
 * LP_CREATE_LOST, for a listing to adopt what the API made. Returns 0 or
 * -errno. */
int lp_create_post(struct lp_sync *s, struct lp_aud *a, const char *config, struct lp_audience *got,
                   struct lp_api_error *e);

#endif
