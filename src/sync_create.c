/* sync_create.c - the POST of a pending audience (sync_create.h). The record
 * says where its POST stands: while it is on its way, a listing landing
 * before the answer leaves the new audience to that answer instead of showing
 * it beside the pending directory under an id-suffixed name; once its answer
 * is lost, the next listing that carries it makes it the directory's.
 */
#include "sync_create.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "isotime.h"
#include "log.h"

/* The API's clock may run behind ours: an audience created up to this many
 * seconds "before" the POST was sent may still be the one it made. */
#define CREATE_CLOCK_SLACK 60

static bool made_since(const struct lp_audience *item, time_t sent)
{
    struct timespec created = lp_iso_time(item->created_at);
    /* No creation time to go by: the name has to do. */
    return created.tv_sec == 0 || created.tv_sec >= sent - CREATE_CLOCK_SLACK;
}

struct lp_aud *lp_create_claimant(struct lp_records *r, const struct lp_audience *item)
{
    LP_ASSERT_LOCKED(r);
    if (r->creating == 0 || !item->name)
        return NULL;
    /* Pending records sit near the head of the live list (newest first): stop
     * once every record with a POST in flight has been seen. */
    size_t seen = 0;
    for (struct lp_aud *a = r->live; a && seen < r->creating; a = a->next) {
        if (a->create == LP_CREATE_NONE)
            continue;
        seen++;
        if (a->pending && a->rec.name && strcmp(a->rec.name, item->name) == 0 &&
            made_since(item, a->create_sent))
            return a;
    }
    return NULL;
}

int lp_create_adopt(struct lp_records *r, struct lp_aud *a, struct lp_audience *item)
{
    LP_ASSERT_LOCKED(r);
    LP_DEBUG_ASSERT(a->create == LP_CREATE_LOST && !item->config);
    if (lp_records_adopt_id(r, a, item->id) < 0)
        return -ENOMEM;
    item->id = NULL;
    lp_log(LP_LOG_INFO, "audience %s is the one the POST whose answer was lost made", a->rec.id);
    /* A listing carries no config: the one the POST carried is the API's. */
    item->config = a->create_config;
    a->create_config = NULL;
    lp_aud_set_create(r, a, LP_CREATE_NONE);
    lp_aud_set_error(a, NULL);
    lp_aud_apply(r, a, item);
    return 0;
}

int lp_create_post(struct lp_sync *s, struct lp_aud *a, const char *config, struct lp_audience *got,
                   struct lp_api_error *e)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    char *name = strdup(a->rec.name ? a->rec.name : "");
    char *status = strdup(a->rec.status ? a->rec.status : "draft");
    char *sent = strdup(config);
    bool lost_before = a->create == LP_CREATE_LOST;
    lp_aud_set_create(r, a, LP_CREATE_SENT);
    /* After a lost answer the window opens at the first POST: either may
     * have made the audience a listing shows. */
    if (!lost_before)
        a->create_sent = time(NULL);
    lp_records_unlock(r);

    int rc = name && status && sent ? lp_api_create(s->api, name, status, config, got, e) : -ENOMEM;
    free(name);
    free(status);

    lp_records_lock(r);
    if (rc == 0 || !(e->answer_lost || lost_before)) {
        lp_aud_set_create(r, a, LP_CREATE_NONE);
    } else {
        lp_aud_set_create(r, a, LP_CREATE_LOST);
        if (e->answer_lost) {
            free(a->create_config);
            a->create_config = sent;
            sent = NULL;
        }
    }
    free(sent);
    return rc;
}
