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
#include "accesslog.h"
#include "api_int.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#define LP_API_MAX_BACKOFF_MS 60000L

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
        .ca_file = o.ca_file,
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

int lp_api_parallelism(lp_api *api)
{
    return lp_http_parallelism(api->http);
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

/* The wait before a retry; a download told to stop ends it early (a
 * Retry-After may ask for as long as the timeout). */
static void retry_sleep(const struct lp_api_req *req, long ms)
{
    const struct lp_api_sink *sink = req->sink;
    for (; ms > 0; ms -= 100) {
        if (sink && sink->stop && sink->stop(sink->ctx))
            return;
        sleep_ms(ms < 100 ? ms : 100);
    }
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
 * server certainly did not carry it out, else it could create two audiences;
 * unless the request is idempotent (an Idempotency-Key makes a repeat harmless). */
static bool retriable(const struct lp_api_req *req, const struct lp_http_response *resp)
{
    bool once_only = is_post(req->method) && !req->idempotent;
    if (resp->cert != LP_CERT_NONE) /* the same certificate would be refused again */
        return false;
    if (resp->transport_error)
        return !once_only || !resp->maybe_sent;
    if (resp->status == 429)
        return true;
    return resp->status >= 500 && resp->status <= 599 && !once_only;
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
        err->answer_lost = resp->maybe_sent;
        err->cert = resp->cert;
        if (resp->cert != LP_CERT_NONE) /* the handshake failed: no request byte went out */
            snprintf(err->message, sizeof err->message,
                     "TLS certificate problem with %s: %s (%s); nothing was sent", api->base_url,
                     lp_http_cert_words(resp->cert), resp->error);
        else
            snprintf(err->message, sizeof err->message, "%s %s: %s",
                     resp->maybe_sent ? "no answer from" : "cannot reach", api->base_url,
                     resp->error);
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
int lp_api_error_bad_answer(struct lp_api_error *err, long status, const char *reason)
{
    error_reset(err);
    err->http_status = status;
    err->err = EIO;
    err->answer_lost = status >= 200 && status <= 299; /* carried out, answer unreadable */
    /* The model's reasons read as sentences ("the API's answer is not valid JSON"). */
    snprintf(err->message, sizeof err->message, "%s",
             reason && *reason ? reason : "the API answered something this program cannot use");
    return EIO;
}

int lp_api_error_local(struct lp_api_error *err, int e, const char *message)
{
    error_reset(err);
    err->err = e;
    snprintf(err->message, sizeof err->message, "%s", message);
    return e;
}

void lp_api_log_failure(const char *method, const char *path, const struct lp_api_error *err)
{
    if (err->http_status)
        lp_log(LP_LOG_WARNING, "%s %s: HTTP %ld%s%s: %s", method, path, err->http_status,
               err->code[0] ? " " : "", err->code, err->message);
    else
        lp_log(LP_LOG_WARNING, "%s %s: %s", method, path, err->message);
}

/* --- one call with retries ------------------------------------------------ */

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every exchange is counted (stats) and logged (the access log);
 * bytes: the body received, streamed to a sink or not. */
static void count_exchange(const char *method, const char *path,
                           const struct lp_http_response *resp, uint64_t bytes, double seconds)
{
    long status = resp->transport_error ? 0 : resp->status;
    lp_metrics_request(method, status);
    lp_metrics_received((size_t)bytes);
    lp_accesslog_api(method, path, status, seconds, (size_t)bytes);
}

/* One exchange of req: a streamed GET when it has a sink. */
static void exchange(lp_api *api, struct lp_api_req *req, struct lp_http_response *resp)
{
    struct lp_http_stream st = {0};

    atomic_fetch_add(&api->requests, 1);
    double t0 = mono_seconds();
    if (req->sink) {
        st.write = req->sink->write;
        st.announce = req->sink->announce;
        st.stop = req->sink->stop;
        st.ctx = req->sink->ctx;
        lp_http_get_stream(api->http, req->path, &st, resp);
    } else {
        lp_http_request_hdr(api->http, req->method, req->path, req->body, req->header, resp);
    }
    req->received = st.received;
    req->write_error = st.write_error;
    count_exchange(req->method, req->path, resp, resp->body_len + st.received, mono_seconds() - t0);
}

int lp_api_call(lp_api *api, const char *method, const char *path, const char *body,
                struct lp_http_response *resp, struct lp_api_error *err)
{
    struct lp_api_req req = {.method = method, .path = path, .body = body};
    return lp_api_send(api, &req, resp, err);
}

/* Ends a call on a local failure rc (-errno) with why; the answer is dropped. */
static int local_stop(const char *method, const char *path, struct lp_http_response *resp,
                      struct lp_api_error *err, int rc, const char *why)
{
    int e = rc < 0 ? -rc : EIO;
    lp_http_response_clear(resp);
    lp_api_error_local(err, e, why);
    lp_api_log_failure(method, path, err);
    return -e;
}

/* See api_int.h. */
int lp_api_send(lp_api *api, struct lp_api_req *req, struct lp_http_response *resp,
                struct lp_api_error *err)
{
    const char *method = req->method, *path = req->path;
    bool is_delete = strcmp(method, "DELETE") == 0;
    bool earlier_maybe_done = false;

    for (int try = 1;; try++) {
        if (try > 1 && req->sink && req->sink->reset) {
            int rc = req->sink->reset(req->sink->ctx);
            if (rc != 0)
                return local_stop(method, path, resp, err, rc, "cannot start the download over");
        }
        exchange(api, req, resp);
        if (req->write_error)
            return local_stop(method, path, resp, err, req->write_error,
                              req->write_error == -ECANCELED ? "the download was stopped"
                                                             : "cannot store the download");
        if (!resp->transport_error && resp->status >= 200 && resp->status <= 299)
            return 0;
        if (is_delete && !resp->transport_error && resp->status == 404 && earlier_maybe_done)
            return 0;
        if (try >= api->max_tries || !retriable(req, resp))
            break;
        earlier_maybe_done = earlier_maybe_done || maybe_carried_out(resp);
        lp_metrics_retry();
        long wait = retry_delay_ms(api, try, resp);
        if (resp->transport_error)
            lp_log(LP_LOG_DEBUG, "%s %s: %s; try %d again in %ld ms", method, path, resp->error,
                   try + 1, wait);
        else
            lp_log(LP_LOG_DEBUG, "%s %s: HTTP %ld; try %d again in %ld ms", method, path,
                   resp->status, try + 1, wait);
        lp_http_response_clear(resp);
        retry_sleep(req, wait);
    }
    int e = error_from_response(api, resp, err);
    lp_http_response_clear(resp);
    lp_api_log_failure(method, path, err);
    return -e;
}

/* See api_int.h. */
char *lp_api_put_segment(char *o, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
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
    return o;
}

/* Returns "/v1/intent/audiences/" + id, the id percent-encoded. Malloc'd;
 * caller frees. NULL on no memory. */
static char *audience_path(const char *id)
{
    size_t base = strlen(LP_API_BASE_PATH "/");
    char *path = malloc(base + 3 * strlen(id) + 1);
    if (!path)
        return NULL;
    memcpy(path, LP_API_BASE_PATH "/", base);
    lp_api_put_segment(path + base, id);
    return path;
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
        lp_api_error_bad_answer(err, resp->status, reason);
        lp_api_log_failure(method, path, err);
    }
    lp_http_response_clear(resp);
    return rc != 0 ? -EIO : 0;
}

/* The path of one audience: *path malloc'd (caller frees). 0 or -errno. */
static int id_path(const char *id, char **path, struct lp_api_error *err)
{
    if (!id || !*id)
        return -lp_api_error_local(err, ENOENT, "no audience id");
    *path = audience_path(id);
    return *path ? 0 : -lp_api_error_local(err, ENOMEM, "out of memory");
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
    int rc = lp_api_call(api, "GET", path, NULL, &resp, err);
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
        return -lp_api_error_local(err, ENOMEM, "cannot build the request body");
    int rc = lp_api_call(api, method, path, body, &resp, err);
    free(body);
    if (rc == 0)
        rc = take_audience(method, path, &resp, out, err);
    if (rc == 0 &&
        (fill_missing(&out->id, id) != 0 || fill_missing(&out->name, name) != 0 ||
         fill_missing(&out->status, status) != 0 || fill_missing(&out->config, config) != 0)) {
        lp_audience_clear(out);
        rc = -lp_api_error_local(err, ENOMEM, "out of memory");
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
        return -lp_api_error_local(err, EINVAL, "an audience needs a name and a config");
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
    int rc = lp_api_call(api, "DELETE", path, NULL, &resp, err);
    if (rc == 0) {
        /* 404 here: an earlier try went through, the audience is gone. */
        if (resp.status != 404 &&
            lp_parse_delete_response(resp.body, resp.body_len, reason, sizeof reason) != 0) {
            lp_api_error_bad_answer(err, resp.status, reason);
            lp_api_log_failure("DELETE", path, err);
            rc = -EIO;
        }
        lp_http_response_clear(&resp);
    }
    free(path);
    return rc;
}
