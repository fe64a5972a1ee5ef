/* sync_answers.h - the API's answers that are not audiences (account, filter
 * and topic catalogs), and refresh (part of the sync layer; see sync.h). */
#ifndef LEADPIPEFS_SYNC_ANSWERS_H
#define LEADPIPEFS_SYNC_ANSWERS_H

#include "sync_types.h"

/* Set up by lp_sync_init, freed by lp_sync_stop. */
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
