/* api_list.c - GET /v1/intent/audiences, every page: the first page tells
 * meta.total, the rest are fetched a few at a time in parallel; paging stops
 * at a short page, at a page with no new id, or once meta.total is reached.
 */
#include "api.h"
#include "api_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "log.h"

/* --- list ------------------------------------------------------------------- */

/* The audiences received so far, and their ids as keys of a string map. Each
 * key is the entry's own id, a separate allocation, so it stays where it is
 * when arr is reallocated (the value is the same pointer: never NULL). */
struct list_acc {
    struct lp_audience *arr;
    size_t n, cap;
    struct lp_map ids;
};

/* Moves the page's entries with new ids into acc (page entries are left empty).
 * Returns the number of new entries, or -1 on no memory. */
static long list_take_page(struct list_acc *acc, struct lp_audience *page, size_t count)
{
    long fresh = 0;
    for (size_t i = 0; i < count; i++) {
        if (!page[i].id || lp_smap_get(&acc->ids, page[i].id))
            continue; /* keep the first occurrence */
        if (acc->n == acc->cap) {
            size_t cap = acc->cap ? acc->cap * 2 : 128;
            struct lp_audience *arr = realloc(acc->arr, cap * sizeof *arr);
            if (!arr)
                return -1;
            acc->arr = arr;
            acc->cap = cap;
        }
        if (lp_smap_put(&acc->ids, page[i].id, page[i].id) != 0)
            return -1; /* the entry stays in the page, which frees it */
        acc->arr[acc->n] = page[i];
        memset(&page[i], 0, sizeof page[i]);
        acc->n++;
        fresh++;
    }
    return fresh;
}

/* One page at offset: *page malloc'd (lp_audience_array_free). Returns 0 or -errno. */
/* *count: audiences read; *listed: items the page held (paging goes by it). */
static int list_page(lp_api *api, size_t offset, struct lp_audience **page, size_t *count,
                     size_t *listed, long long *total, struct lp_api_error *err)
{
    char path[96], reason[256] = "";
    struct lp_http_response resp;

    snprintf(path, sizeof path, LP_API_BASE_PATH "?limit=%d&offset=%zu", LP_API_PAGE, offset);
    int rc = lp_api_call(api, "GET", path, NULL, &resp, err);
    if (rc != 0)
        return rc;
    if (lp_parse_list_page(resp.body, resp.body_len, page, count, listed, total, reason,
                           sizeof reason) != 0) {
        lp_api_error_bad_answer(err, resp.status, reason);
        lp_http_response_clear(&resp);
        lp_api_log_failure("GET", path, err);
        return -EIO;
    }
    if (*count < *listed)
        lp_log(LP_LOG_WARNING, "GET %s: %zu audience(s) left out: %s", path, *listed - *count,
               reason);
    lp_http_response_clear(&resp);
    return 0;
}

/* Pages fetched side by side once the first page's meta.total says how many
 * there are: a listing costs a few round trips of latency, not one per page. */
#define LP_API_LIST_PARALLEL 8

struct page_batch {
    lp_api *api;
    size_t first_offset; /* offset of page 0 of the batch */
    size_t npages;
    struct lp_audience **items; /* per page, NULL until fetched */
    size_t *counts;
    size_t *listed;
    size_t next; /* next page to fetch */
    int rc;      /* the first failure */
    struct lp_api_error err;
    pthread_mutex_t lock;
};

static void *page_worker(void *arg)
{
    struct page_batch *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->lock);
        size_t i = b->next++;
        bool done = b->rc != 0 || i >= b->npages;
        pthread_mutex_unlock(&b->lock);
        if (done)
            break;
        struct lp_api_error e;
        struct lp_audience *items = NULL;
        size_t count = 0, listed = 0;
        int rc =
            list_page(b->api, b->first_offset + i * LP_API_PAGE, &items, &count, &listed, NULL, &e);
        pthread_mutex_lock(&b->lock);
        if (rc != 0 && b->rc == 0) {
            b->rc = rc;
            b->err = e;
        }
        b->items[i] = items;
        b->counts[i] = count;
        b->listed[i] = listed;
        pthread_mutex_unlock(&b->lock);
    }
    lp_http_thread_cleanup();
    return NULL;
}

/* Fetches npages pages from offset with a few threads and merges them in order
 * into acc. *offset advances past what was merged; *last_count is the count of
 * the last page merged (a short one ends the listing). Returns 0 or -errno. */
static int list_batch(lp_api *api, struct list_acc *acc, size_t *offset, size_t npages,
                      size_t *last_count, bool *no_new, struct lp_api_error *err)
{
    struct page_batch b = {.api = api, .first_offset = *offset, .npages = npages};
    b.items = calloc(npages, sizeof *b.items);
    b.counts = calloc(npages, sizeof *b.counts);
    b.listed = calloc(npages, sizeof *b.listed);
    if (!b.items || !b.counts || !b.listed) {
        free(b.items);
        free(b.counts);
        free(b.listed);
        return -lp_api_error_local(err, ENOMEM, "out of memory while listing audiences");
    }
    pthread_mutex_init(&b.lock, NULL);
    pthread_t threads[LP_API_LIST_PARALLEL];
    size_t started = 0;
    for (size_t i = 0; i < LP_API_LIST_PARALLEL && i < npages; i++)
        if (pthread_create(&threads[started], NULL, page_worker, &b) == 0)
            started++;
    if (started == 0)
        page_worker(&b); /* no thread to be had: fetch them here */
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    int rc = b.rc;
    if (rc != 0)
        *err = b.err;
    for (size_t i = 0; i < npages; i++) {
        if (rc == 0 && !*no_new && *last_count == LP_API_PAGE) {
            long fresh = list_take_page(acc, b.items[i], b.counts[i]);
            if (fresh < 0)
                rc = -lp_api_error_local(err, ENOMEM, "out of memory while listing audiences");
            *no_new = fresh == 0 && b.listed[i] > 0;
            *offset += b.listed[i];
            *last_count = b.listed[i];
        }
        lp_audience_array_free(b.items[i], b.counts[i]);
    }
    pthread_mutex_destroy(&b.lock);
    free(b.items);
    free(b.counts);
    free(b.listed);
    return rc;
}

int lp_api_list(lp_api *api, struct lp_audience **out, size_t *n, struct lp_api_error *err)
{
    struct lp_api_error local;
    struct list_acc acc = {0};
    lp_map_init_str(&acc.ids);
    size_t offset = 0;
    int rc = 0;

    if (!err)
        err = &local;
    *out = NULL;
    *n = 0;
    for (int pages = 0;; pages++) {
        struct lp_audience *page = NULL;
        size_t count = 0;
        if (pages >= LP_API_MAX_PAGES) {
            char why[96];
            snprintf(why, sizeof why, "the API's listing did not end after %d pages",
                     LP_API_MAX_PAGES);
            rc = -lp_api_error_local(err, EIO, why);
            lp_api_log_failure("GET", LP_API_BASE_PATH, err);
            break;
        }
        long long total = -1;
        size_t listed = 0;
        rc = list_page(api, offset, &page, &count, &listed, &total, err);
        if (rc != 0)
            break;
        long fresh = list_take_page(&acc, page, count);
        lp_audience_array_free(page, count);
        if (fresh < 0) {
            rc = -lp_api_error_local(err, ENOMEM, "out of memory while listing audiences");
            break;
        }
        offset += listed;
        /* A short page ends the listing; so does an answer whose meta.total says
         * we have everything, which saves asking for an empty page. */
        if (listed < LP_API_PAGE || (fresh == 0 && count > 0) ||
            (total >= 0 && (long long)offset >= total))
            break;
        if (total < 0)
            continue; /* no total: one page after another until a short one */
        size_t left = (size_t)(total - (long long)offset);
        size_t npages = (left + LP_API_PAGE - 1) / LP_API_PAGE;
        if (npages > (size_t)(LP_API_MAX_PAGES - pages - 1))
            npages = (size_t)(LP_API_MAX_PAGES - pages - 1);
        bool no_new = false;
        size_t last = listed;
        rc = list_batch(api, &acc, &offset, npages, &last, &no_new, err);
        pages += (int)npages;
        /* Done unless the listing grew while it was read: then go on page by page. */
        if (rc != 0 || last < LP_API_PAGE || no_new || (long long)offset >= total)
            break;
    }
    lp_map_destroy(&acc.ids);
    if (rc == 0 && !acc.arr && !(acc.arr = calloc(1, sizeof *acc.arr)))
        rc = -lp_api_error_local(err, ENOMEM, "out of memory while listing audiences");
    if (rc != 0) {
        lp_audience_array_free(acc.arr, acc.n);
        return rc;
    }
    *out = acc.arr;
    *n = acc.n;
    return 0;
}
