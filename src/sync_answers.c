/* sync_answers.c - the API's answers that are not audiences (account, filter
 * and topic catalogs), cached for their ttl, and the refresh that makes
 * everything stale at once (.leadpipe/refresh).
 */
#include "sync_answers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

#define CATALOG_TTL (24 * 3600.0) /* SPEC: filters and topics are trusted a day */
#define REFRESH_COALESCE 1.0      /* seconds in which refreshes count as one */

static void answer_init(struct lp_answer *a, double ttl, enum lp_metric_cache metric,
                        int (*fetch)(lp_api *, char **, size_t *, struct lp_api_error *))
{
    memset(a, 0, sizeof(*a));
    a->ttl = ttl;
    a->metric = metric;
    a->fetch = fetch;
}

void lp_sync_answers_init(struct lp_sync *s)
{
    answer_init(&s->account, s->r->cache_timeout, LP_CACHE_ACCOUNT, lp_api_account);
    answer_init(&s->filters, CATALOG_TTL, LP_CACHE_FILTERS, lp_api_filters);
    answer_init(&s->topics, CATALOG_TTL, LP_CACHE_TOPICS, lp_api_topics);
}

void lp_sync_answers_free(struct lp_sync *s)
{
    free(s->account.text);
    free(s->filters.text);
    free(s->topics.text);
}

bool lp_sync_answer_fresh(const struct lp_sync *s, const struct lp_answer *a)
{
    (void)s;
    return a->text && a->fetched > 0 && lp_now() - a->fetched < a->ttl;
}

size_t lp_sync_answer_len(const struct lp_answer *a)
{
    return a->text ? a->len : 0;
}

static int copy_out(const struct lp_answer *a, char **text, size_t *len)
{
    *text = malloc(a->len + 1);
    if (!*text)
        return -ENOMEM;
    memcpy(*text, a->text, a->len + 1);
    *len = a->len;
    return 0;
}

/* Whether a failure means the API is out of reach (then the last good copy
 * stands in) rather than an answer that refuses us. */
static bool unreachable(int rc)
{
    return rc == -EIO || rc == -EAGAIN;
}

int lp_sync_answer(struct lp_sync *s, struct lp_answer *a, char **text, size_t *len)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    while (a->fetching)
        lp_records_wait(r);
    bool fresh = lp_sync_answer_fresh(s, a);
    lp_metrics_cache(a->metric, fresh);
    if (fresh || (a->text && lp_records_holding(r)))
        return copy_out(a, text, len);
    a->fetching = true;
    lp_records_unlock(r);
    char *got = NULL;
    size_t got_len = 0;
    struct lp_api_error e;
    memset(&e, 0, sizeof(e));
    int rc = a->fetch(s->api, &got, &got_len, &e);
    lp_records_lock(r);
    a->fetching = false;
    lp_records_wake(r);
    if (rc == 0) {
        free(a->text);
        a->text = got;
        a->len = got_len;
        a->fetched = lp_now();
        return copy_out(a, text, len);
    }
    if (unreachable(rc)) {
        lp_records_failed(r, e.message, -rc);
        if (a->text)
            return copy_out(a, text, len);
    }
    return rc;
}

bool lp_sync_refresh(struct lp_sync *s)
{
    struct lp_records *r = s->r;
    LP_ASSERT_LOCKED(r);
    /* `echo > refresh; echo > refresh` (or a script that refreshes before
     * each step) costs one listing: the path lookup between two writes would
     * otherwise make one listing each. */
    double now = lp_now();
    if (s->refreshed > 0 && now - s->refreshed < REFRESH_COALESCE)
        return false;
    s->refreshed = now;
    s->list_time = 0;
    r->api_hold = 0;
    for (struct lp_aud *a = r->live; a; a = a->next) {
        a->config_time = 0;
        if (a->runs)
            a->runs->fetched = 0;
    }
    s->account.fetched = s->filters.fetched = s->topics.fetched = 0;
    lp_log(LP_LOG_INFO, "refresh: every cached answer is stale now");
    return true;
}
