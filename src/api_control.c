/* api_control.c - the answers behind the control directory's files:
 * GET /v1/data/account, GET /v1/intent/audiences/filters (each its "data" as
 * pretty JSON) and GET /v1/intent/topics (every topic as TSV, following meta
 * paging when the first answer has it: SPEC says the paging is not documented).
 */
#include "api.h"
#include "api_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "control_text.h"
#include "log.h"
#include "sbuf.h"

#define LP_API_ACCOUNT_PATH "/v1/data/account"
#define LP_API_FILTERS_PATH LP_API_BASE_PATH "/filters"
#define LP_API_TOPICS_PATH "/v1/intent/topics"
/* 20,000 topics come in one answer today; a server that pages them into more
 * than 1000 pages is not paging them in any way worth following. */
#define LP_API_TOPICS_MAX_PAGES 1000

/* GET path; *text gets its "data" as pretty JSON. 0 or -errno (err filled). */
static int get_pretty(lp_api *api, const char *path, char **text, size_t *len,
                      struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char reason[256] = "";

    if (!err)
        err = &local;
    *text = NULL;
    *len = 0;
    int rc = lp_api_call(api, "GET", path, NULL, &resp, err);
    if (rc != 0)
        return rc;
    if (lp_parse_data_pretty(resp.body, resp.body_len, text, len, reason, sizeof reason) != 0) {
        rc = -lp_api_error_bad_answer(err, resp.status, reason);
        lp_api_log_failure("GET", path, err);
    }
    lp_http_response_clear(&resp);
    return rc;
}

int lp_api_account(lp_api *api, char **text, size_t *len, struct lp_api_error *err)
{
    return get_pretty(api, LP_API_ACCOUNT_PATH, text, len, err);
}

int lp_api_filters(lp_api *api, char **text, size_t *len, struct lp_api_error *err)
{
    return get_pretty(api, LP_API_FILTERS_PATH, text, len, err);
}

/* One page of topics at path, appended to tsv; *items: the page's elements,
 * *total: its meta.total or -1. 0 or -errno (err filled). */
static int topics_page(lp_api *api, const char *path, struct lp_sbuf *tsv, size_t *items,
                       long long *total, struct lp_api_error *err)
{
    struct lp_http_response resp;
    char reason[256] = "";

    *items = 0;
    *total = -1;
    int rc = lp_api_call(api, "GET", path, NULL, &resp, err);
    if (rc != 0)
        return rc;
    if (lp_parse_topics_page(resp.body, resp.body_len, tsv, items, total, reason, sizeof reason) !=
        0) {
        rc = -lp_api_error_bad_answer(err, resp.status, reason);
        lp_api_log_failure("GET", path, err);
    } else if (reason[0]) {
        lp_log(LP_LOG_WARNING, "GET %s: topic(s) left out: %s", path, reason);
    }
    lp_http_response_clear(&resp);
    return rc;
}

int lp_api_topics(lp_api *api, char **tsv, size_t *len, struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_sbuf b = {0};
    size_t got = 0;
    long long total = -1;

    if (!err)
        err = &local;
    *tsv = NULL;
    *len = 0;
    lp_sb_adds(&b, lp_topics_tsv_header());
    int rc = topics_page(api, LP_API_TOPICS_PATH, &b, &got, &total, err);
    /* Without meta the first answer is all. With it, the rest comes in pages
     * of the size the server chose for the first one; an empty first page
     * (or any short page) ends the list. */
    size_t limit = got > 0 ? got : 1, offset = got;
    bool more = got > 0 && total >= 0 && (long long)got < total;
    int pages = 1;
    for (; rc == 0 && more && pages < LP_API_TOPICS_MAX_PAGES; pages++) {
        char path[96];
        long long page_total;
        size_t n;
        snprintf(path, sizeof path, LP_API_TOPICS_PATH "?limit=%zu&offset=%zu", limit, offset);
        rc = topics_page(api, path, &b, &n, &page_total, err);
        offset += n;
        more = n >= limit && (long long)offset < total;
    }
    if (rc == 0 && more)
        lp_log(LP_LOG_WARNING, "GET %s: stopped after %d pages, at %zu of %lld topics",
               LP_API_TOPICS_PATH, pages, offset, total);
    if (rc != 0) {
        free(b.p);
        return rc;
    }
    *len = b.len;
    *tsv = lp_sb_finish(&b);
    if (!*tsv) {
        *len = 0;
        return -lp_api_error_local(err, ENOMEM, "out of memory while reading the topics");
    }
    return 0;
}
