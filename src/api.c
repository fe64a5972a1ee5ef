/* api.c - the Leadpipe Intent audiences API as typed calls over http.c.
 *
 * Owns the paths, the retry policy (backoff with jitter, Retry-After, POST
 * only when it cannot have been carried out) and the answer -> errno mapping.
 */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "defaults.h"
#include "hashmap.h"
#include "http.h"
#include "log.h"

#define LP_API_BASE_PATH "/v1/intent/audiences"
#define LP_API_PAGE 100
/* 10,000 pages of 100 is ten times the largest account we expect; a server
 * that keeps inventing ids beyond that is broken, not big. */
#define LP_API_MAX_PAGES 10000
#define LP_API_MAX_BACKOFF_MS 60000L

struct lp_api {
    lp_http *http;
    char *base_url;
    int max_tries;
    long backoff_ms;
    long max_retry_after_ms;
    atomic_ulong requests;
};

lp_api *lp_api_new(const struct lp_api_options *opts)
{
    struct lp_api_options o = opts ? *opts : (struct lp_api_options){0};
    long timeout = o.timeout_ms > 0 ? o.timeout_ms : LP_DEFAULT_TIMEOUT_S * 1000L;
    long connect = o.connect_timeout_ms > 0 ? o.connect_timeout_ms : timeout;

    if (!o.api_key) {
        errno = EINVAL;
        return NULL;
    }
    if (connect > LP_DEFAULT_CONNECT_MS && o.connect_timeout_ms <= 0)
        connect = LP_DEFAULT_CONNECT_MS;
    lp_api *api = calloc(1, sizeof *api);
    if (!api)
        return NULL;
    api->base_url = strdup(o.base_url ? o.base_url : LP_DEFAULT_BASE_URL);
    api->max_tries = o.max_tries > 0 ? o.max_tries : LP_DEFAULT_TRIES;
    api->backoff_ms = o.backoff_ms > 0 ? o.backoff_ms : 250;
    api->max_retry_after_ms = o.max_retry_after_ms > 0 ? o.max_retry_after_ms : timeout;
    atomic_init(&api->requests, 0);
    struct lp_http_options ho = {
        .base_url = api->base_url,
        .api_key = o.api_key,
        .connect_timeout_ms = connect,
        .timeout_ms = timeout,
    };
    if (api->base_url)
        api->http = lp_http_new(&ho);
    if (!api->http) {
        int saved = errno ? errno : ENOMEM;
        free(api->base_url);
        free(api);
        errno = saved;
        return NULL;
    }
    return api;
}

void lp_api_free(lp_api *api)
{
    if (!api)
        return;
    lp_http_free(api->http);
    free(api->base_url);
    free(api);
}

void lp_api_thread_cleanup(void)
{
    lp_http_thread_cleanup();
}

unsigned long lp_api_request_count(lp_api *api)
{
    return api ? atomic_load(&api->requests) : 0;
}

/* --- retry policy ------------------------------------------------------------ */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A per-thread generator is enough for jitter and needs no lock. */
static unsigned long jitter_random(void)
{
    static __thread uint64_t state;
    if (state == 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        state = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)now.tv_sec ^
                (uint64_t)(uintptr_t)pthread_self() ^ 0x9e3779b97f4a7c15ULL;
    }
    state ^= state << 13; /* xorshift64 */
    state ^= state >> 7;
    state ^= state << 17;
    return (unsigned long)(state >> 11);
}

/* How long to wait after failed try number `try` (1-based). */
static long retry_delay_ms(const lp_api *api, int try, const struct lp_http_response *resp)
{
    if (!resp->transport_error && resp->retry_after_s >= 0) {
        long long ms = (long long)resp->retry_after_s * 1000;
        return ms > api->max_retry_after_ms ? api->max_retry_after_ms : (long)ms;
    }
    long backoff = api->backoff_ms;
    for (int i = 1; i < try && backoff < LP_API_MAX_BACKOFF_MS; i++)
        backoff *= 2;
    if (backoff > LP_API_MAX_BACKOFF_MS)
        backoff = LP_API_MAX_BACKOFF_MS;
    long low = backoff / 2;
    return low + (long)(jitter_random() % (unsigned long)(backoff - low + 1));
}

static bool is_post(const char *method)
{
    return strcmp(method, "POST") == 0;
}

/* Whether another try may follow this answer. A POST is repeated only when the
 * server certainly did not carry it out, else it could create two audiences. */
static bool retriable(const char *method, const struct lp_http_response *resp)
{
    if (resp->transport_error)
        return !is_post(method) || !resp->maybe_sent;
    if (resp->status == 429)
        return true;
    return resp->status >= 500 && resp->status <= 599 && !is_post(method);
}

/* Whether the server may have carried out the request despite this answer. */
static bool maybe_carried_out(const struct lp_http_response *resp)
{
    if (resp->transport_error)
        return resp->maybe_sent;
    return resp->status >= 500;
}

/* --- errors ------------------------------------------------------------------- */

static void error_reset(struct lp_api_error *err)
{
    memset(err, 0, sizeof *err);
}

/* The final failed answer -> *err; returns the positive errno. */
static int error_from_response(const lp_api *api, const struct lp_http_response *resp,
                               struct lp_api_error *err)
{
    error_reset(err);
    if (resp->transport_error) {
        err->err = EIO;
        snprintf(err->message, sizeof err->message, "%s %s: %s",
                 resp->maybe_sent ? "no answer from" : "cannot reach", api->base_url, resp->error);
        return err->err;
    }
    err->http_status = resp->status;
    lp_parse_error_body(resp->body ? resp->body : "", resp->body_len, err->code, sizeof err->code,
                        err->message, sizeof err->message);
    err->err = lp_errno_for_status(resp->status, err->code);
    if (err->err == 0) /* a status the caller could not use, e.g. 3xx */
        err->err = EIO;
    if (!err->message[0])
        snprintf(err->message, sizeof err->message, "the API answered HTTP %ld", resp->status);
    return err->err;
}

/* A 2xx answer we cannot use; returns EIO. */
static int error_bad_answer(struct lp_api_error *err, long status, const char *reason)
{
    error_reset(err);
    err->http_status = status;
    err->err = EIO;
    /* model.c's reasons read as sentences ("the API's answer is not valid JSON"). */
    snprintf(err->message, sizeof err->message, "%s",
             reason && *reason ? reason : "the API answered something this program cannot use");
    return EIO;
}

static int error_local(struct lp_api_error *err, int e, const char *message)
{
    error_reset(err);
    err->err = e;
    snprintf(err->message, sizeof err->message, "%s", message);
    return e;
}

static void log_failure(const char *method, const char *path, const struct lp_api_error *err)
{
    if (err->http_status)
        lp_log(LP_LOG_WARNING, "%s %s: HTTP %ld%s%s: %s", method, path, err->http_status,
               err->code[0] ? " " : "", err->code, err->message);
    else
        lp_log(LP_LOG_WARNING, "%s %s: %s", method, path, err->message);
}

/* --- one call with retries ------------------------------------------------ */

/* Runs method on path until a 2xx answer, a final answer or max_tries.
 * Returns 0 with the 2xx answer in *resp (caller clears it), or -errno with
 * *err filled and *resp cleared. For DELETE, a 404 after a try that may have
 * gone through is returned as 0 with resp->status 404. */
static int call(lp_api *api, const char *method, const char *path, const char *body,
                struct lp_http_response *resp, struct lp_api_error *err)
{
    bool is_delete = strcmp(method, "DELETE") == 0;
    bool earlier_maybe_done = false;

    for (int try = 1;; try++) {
        atomic_fetch_add(&api->requests, 1);
        lp_http_request(api->http, method, path, body, resp);
        if (!resp->transport_error && resp->status >= 200 && resp->status <= 299)
            return 0;
        if (is_delete && !resp->transport_error && resp->status == 404 && earlier_maybe_done)
            return 0;
        if (try >= api->max_tries || !retriable(method, resp))
            break;
        earlier_maybe_done = earlier_maybe_done || maybe_carried_out(resp);
        long wait = retry_delay_ms(api, try, resp);
        if (resp->transport_error)
            lp_log(LP_LOG_DEBUG, "%s %s: %s; try %d again in %ld ms", method, path, resp->error,
                   try + 1, wait);
        else
            lp_log(LP_LOG_DEBUG, "%s %s: HTTP %ld; try %d again in %ld ms", method, path,
                   resp->status, try + 1, wait);
        lp_http_response_clear(resp);
        sleep_ms(wait);
    }
    int e = error_from_response(api, resp, err);
    lp_http_response_clear(resp);
    log_failure(method, path, err);
    return -e;
}

/* Returns "/v1/intent/audiences/" + id with every byte but unreserved ones
 * percent-encoded (also ".", so an id can never become a "../" segment).
 * Malloc'd; caller frees. NULL on no memory. */
static char *audience_path(const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t base = strlen(LP_API_BASE_PATH "/");
    char *path = malloc(base + 3 * strlen(id) + 1), *o;
    if (!path)
        return NULL;
    memcpy(path, LP_API_BASE_PATH "/", base);
    o = path + base;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return path;
}

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
    int rc = call(api, "GET", path, NULL, &resp, err);
    if (rc != 0)
        return rc;
    if (lp_parse_list_page(resp.body, resp.body_len, page, count, listed, total, reason,
                           sizeof reason) != 0) {
        error_bad_answer(err, resp.status, reason);
        lp_http_response_clear(&resp);
        log_failure("GET", path, err);
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
        return -error_local(err, ENOMEM, "out of memory while listing audiences");
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
                rc = -error_local(err, ENOMEM, "out of memory while listing audiences");
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
            rc = -error_local(err, EIO, why);
            log_failure("GET", LP_API_BASE_PATH, err);
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
            rc = -error_local(err, ENOMEM, "out of memory while listing audiences");
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
        rc = -error_local(err, ENOMEM, "out of memory while listing audiences");
    if (rc != 0) {
        lp_audience_array_free(acc.arr, acc.n);
        return rc;
    }
    *out = acc.arr;
    *n = acc.n;
    return 0;
}

/* --- one audience -------------------------------------------------------------- */

/* Parses a {"data":{...}} answer into out; returns 0 or -EIO (err filled, logged). */
static int take_audience(const char *method, const char *path, struct lp_http_response *resp,
                         struct lp_audience *out, struct lp_api_error *err)
{
    char reason[256] = "";
    int rc = lp_parse_audience_response(resp->body, resp->body_len, out, reason, sizeof reason);
    if (rc != 0) {
        lp_audience_clear(out);
        error_bad_answer(err, resp->status, reason);
        log_failure(method, path, err);
    }
    lp_http_response_clear(resp);
    return rc != 0 ? -EIO : 0;
}

/* The path of one audience: *path malloc'd (caller frees). 0 or -errno. */
static int id_path(const char *id, char **path, struct lp_api_error *err)
{
    if (!id || !*id)
        return -error_local(err, ENOENT, "no audience id");
    *path = audience_path(id);
    return *path ? 0 : -error_local(err, ENOMEM, "out of memory");
}

int lp_api_get(lp_api *api, const char *id, struct lp_audience *out, struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;

    if (!err)
        err = &local;
    char *path = NULL;
    int prc = id_path(id, &path, err);
    if (prc != 0)
        return prc;
    int rc = call(api, "GET", path, NULL, &resp, err);
    if (rc == 0)
        rc = take_audience("GET", path, &resp, out, err);
    free(path);
    return rc;
}

/* Sets *field to a copy of value when the answer left it out; 0 or -1. */
static int fill_missing(char **field, const char *value)
{
    if (*field || !value)
        return 0;
    *field = strdup(value);
    return *field ? 0 : -1;
}

/* Sends name/status/config with method to path and takes the answer into out,
 * completing what the answer left out from what was sent. */
static int send_audience(lp_api *api, const char *method, const char *path, const char *id,
                         const char *name, const char *status, const char *config,
                         struct lp_audience *out, struct lp_api_error *err)
{
    struct lp_http_response resp;
    char *body = lp_build_body(name, status, config);
    if (!body)
        return -error_local(err, ENOMEM, "cannot build the request body");
    int rc = call(api, method, path, body, &resp, err);
    free(body);
    if (rc == 0)
        rc = take_audience(method, path, &resp, out, err);
    if (rc == 0 &&
        (fill_missing(&out->id, id) != 0 || fill_missing(&out->name, name) != 0 ||
         fill_missing(&out->status, status) != 0 || fill_missing(&out->config, config) != 0)) {
        lp_audience_clear(out);
        rc = -error_local(err, ENOMEM, "out of memory");
    }
    return rc;
}

int lp_api_create(lp_api *api, const char *name, const char *status, const char *config,
                  struct lp_audience *out, struct lp_api_error *err)
{
    struct lp_api_error local;

    if (!err)
        err = &local;
    if (!name || !config)
        return -error_local(err, EINVAL, "an audience needs a name and a config");
    return send_audience(api, "POST", LP_API_BASE_PATH, NULL, name, status, config, out, err);
}

int lp_api_update(lp_api *api, const char *id, const char *name, const char *status,
                  const char *config, struct lp_audience *out, struct lp_api_error *err)
{
    struct lp_api_error local;

    if (!err)
        err = &local;
    char *path = NULL;
    int prc = id_path(id, &path, err);
    if (prc != 0)
        return prc;
    int rc = send_audience(api, "PATCH", path, id, name, status, config, out, err);
    free(path);
    return rc;
}

int lp_api_delete(lp_api *api, const char *id, struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char reason[256] = "";

    if (!err)
        err = &local;
    char *path = NULL;
    int prc = id_path(id, &path, err);
    if (prc != 0)
        return prc;
    int rc = call(api, "DELETE", path, NULL, &resp, err);
    if (rc == 0) {
        /* 404 here: an earlier try went through, the audience is gone. */
        if (resp.status != 404 &&
            lp_parse_delete_response(resp.body, resp.body_len, reason, sizeof reason) != 0) {
            error_bad_answer(err, resp.status, reason);
            log_failure("DELETE", path, err);
            rc = -EIO;
        }
        lp_http_response_clear(&resp);
    }
    free(path);
    return rc;
}
