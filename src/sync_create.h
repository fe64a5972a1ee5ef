/* sync_create.h - the POST that turns a pending audience (mkdir) into one the
 * API knows, and the listing's side of it (part of the sync layer; see
 * sync.h): a listing that lands while the POST's answer is on its way may
 * already carry the new audience, which must then not show twice. */
#ifndef LEADPIPEFS_SYNC_CREATE_H
#define LEADPIPEFS_SYNC_CREATE_H

#include "sync_types.h"

/* The pending record whose POST may have made item (an audience the records
 * do not know yet): same name, created since the POST was sent. NULL if none.
 * The records lock is held. */
struct lp_aud *lp_create_claimant(struct lp_records *r, const struct lp_audience *item);

/* Sends a's POST with config (a's name and status go with it). The records
 * lock is held on entry and exit, dropped while the API answers; a is pinned
 * and busy. On success got holds the new audience (its id set); on failure e
 * says why. Returns 0 or -errno. */
int lp_create_post(struct lp_sync *s, struct lp_aud *a, const char *config, struct lp_audience *got,
                   struct lp_api_error *e);

#endif
