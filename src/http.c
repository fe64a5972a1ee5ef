/* http.c - libcurl plumbing: one HTTP exchange, its request set up and its
 * answer read.
 *
 * An exchange runs on a pooled easy handle that http_loop.c's event thread
 * drives, so requests from every thread share its connections. A streamed
 * GET (http_stream.c) runs in its caller's thread, on an easy handle that
 * thread owns, over a connection of its own. All handles of a client share
 * the DNS cache and TLS sessions through a CURLSH. Retries live in api.c.
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "defaults.h"
#include "http_int.h"
#include "log.h"
#include "lp_config.h"
#include "scrub.h"

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned live_clients; /* guarded by global_lock; curl_global_* follow it */

/* --- the share object ---------------------------------------------------- */

static void share_lock(CURL *easy, curl_lock_data data, curl_lock_access access, void *userptr)
{
    lp_http *h = userptr;
    (void)easy;
    (void)access;
    if ((int)data >= 0 && (int)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *easy, curl_lock_data data, void *userptr)
{
    lp_http *h = userptr;
    (void)easy;
    if ((int)data >= 0 && (int)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&h->share_locks[data]);
}

static int setup_share(lp_http *h)
{
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_locks[i], NULL);
    h->share = curl_share_init();
    if (!h->share)
        return -1;
    if (curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        return -1;
    return 0;
}

/* --- client life ---------------------------------------------------------- */

/* Frees a header list after wiping every line: curl_slist_append made its own
 * copy of the "x-api-key: ..." line, which must not linger in freed memory. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *l = list; l; l = l->next)
        if (l->data)
            explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(list);
}

/* Returns a list with one header appended, or NULL (the old list is freed then). */
static struct curl_slist *append_header(struct curl_slist *list, const char *line)
{
    struct curl_slist *next = curl_slist_append(list, line);
    if (!next)
        free_headers(list);
    return next;
}

/* Builds the header lists; our own copy of the key line is wiped afterwards
 * (the lists' copies are wiped by free_headers). */
static int setup_headers(lp_http *h)
{
    static const char *const accept[] = {"accept: application/json", "accept: application/json",
                                         "accept: text/csv, application/json;q=0.9"};
    struct curl_slist **lists[] = {&h->headers_plain, &h->headers_body, &h->headers_stream};
    char *key_line = NULL;
    if (asprintf(&key_line, "x-api-key: %s", h->api_key) < 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        struct curl_slist *l = append_header(NULL, key_line);
        if (l)
            l = append_header(l, accept[i]);
        if (l && lists[i] == &h->headers_body)
            l = append_header(l, "content-type: application/json");
        if (l) /* curl would otherwise wait a second for 100-continue on big bodies */
            l = append_header(l, "Expect:");
        *lists[i] = l;
    }
    explicit_bzero(key_line, strlen(key_line));
    free(key_line);
    return h->headers_plain && h->headers_body && h->headers_stream ? 0 : -1;
}

static int global_acquire(void)
{
    int rc = 0;
    pthread_mutex_lock(&global_lock);
    if (live_clients == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = -1;
    else
        live_clients++;
    pthread_mutex_unlock(&global_lock);
    return rc;
}

static void global_release(void)
{
    pthread_mutex_lock(&global_lock);
    /* The last client takes curl's global state (TLS library) with it, so a
     * process that frees everything leaves nothing behind for LeakSanitizer. */
    if (live_clients > 0 && --live_clients == 0)
        curl_global_cleanup();
    pthread_mutex_unlock(&global_lock);
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Frees everything lp_http_new made, except the curl global reference. */
static void destroy_client(lp_http *h)
{
    if (h->loop_made) /* its easy handles use the share: first */
        lp_http_loop_stop(h);
    if (h->share)
        curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_locks[i]);
    free_headers(h->headers_plain);
    free_headers(h->headers_body);
    free_headers(h->headers_stream);
    free(h->base_url);
    free(h->ca_file);
    free_secret(h->api_key);
    free(h);
}

lp_http *lp_http_new(const struct lp_http_options *opts)
{
    if (!opts || !opts->base_url || !opts->api_key) {
        errno = EINVAL;
        return NULL;
    }
    if (global_acquire() != 0) {
        errno = ENOMEM;
        return NULL;
    }
    lp_http *h = calloc(1, sizeof *h);
    if (!h)
        goto out_global;
    h->base_url = strdup(opts->base_url);
    h->api_key = strdup(opts->api_key);
    h->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : LP_DEFAULT_CONNECT_MS;
    h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : LP_DEFAULT_TIMEOUT_S * 1000L;
    if (!h->base_url || !h->api_key)
        goto out_client;
    if (opts->ca_file && !(h->ca_file = strdup(opts->ca_file)))
        goto out_client;
    for (size_t n = strlen(h->base_url); n > 0 && h->base_url[n - 1] == '/'; n--)
        h->base_url[n - 1] = '\0';
    h->https = strncasecmp(h->base_url, "https:", 6) == 0;
    if (setup_headers(h) != 0 || setup_share(h) != 0)
        goto out_client;
    h->loop_made = true;
    if (lp_http_loop_start(h) != 0)
        goto out_client;
    return h;

out_client:
    destroy_client(h);
out_global:
    global_release();
    errno = ENOMEM;
    return NULL;
}

void lp_http_free(lp_http *h)
{
    if (!h)
        return;
    lp_http_thread_handles_release(h);
    destroy_client(h);
    global_release();
}

/* --- one exchange ------------------------------------------------------------ */

/* Sets what differs between requests: URL, method, body, headers. extra, when
 * its data is set, is one more header line put in front of the usual list. */
static int set_request(lp_http *h, CURL *c, const char *method, const char *url, const char *body,
                       struct curl_slist *extra, struct lp_http_body *buf)
{
    bool post_like = body || strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0;
    struct curl_slist *list = post_like && body ? h->headers_body : h->headers_plain;

    if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK)
        return -1;
    curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
    /* On a reused connection that dies before answering, curl resends the
     * request by itself, POST included. A POST therefore always opens a fresh
     * connection, so that a create is never sent twice behind our back. */
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, strcmp(method, "POST") == 0 ? 1L : 0L);
    if (post_like) {
        const char *data = body ? body : "";
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(data));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    } else {
        /* HTTPGET also undoes a POST left from this handle's previous request. */
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") ? method : NULL);
    }
    /* curl only reads the list, so the extra line can sit in front of a shared one. */
    if (extra->data) {
        extra->next = list;
        list = extra;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    return 0;
}

/* Retry-After: delta-seconds or an HTTP-date; -1 when absent or unreadable. */
static long parse_retry_after(CURL *c)
{
    struct curl_header *hdr = NULL;
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK || !hdr ||
        !hdr->value)
        return -1;
    const char *v = hdr->value;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v >= '0' && *v <= '9') {
        char *end;
        errno = 0;
        long long s = strtoll(v, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (*end != '\0')
            return -1;
        if (errno == ERANGE || s > 86400L * 365)
            s = 86400L * 365;
        return (long)s;
    }
    time_t when = curl_getdate(v, NULL);
    if (when == (time_t)-1)
        return -1;
    double delta = difftime(when, time(NULL));
    return delta > 0 ? (long)delta : 0;
}

/* Whether a failed transfer may have delivered the request to the server. */
static bool may_have_sent(CURL *c, CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    /* TLS refused before any request byte: the handshake or the certificate. */
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return false;
    case CURLE_OPERATION_TIMEDOUT: {
        double connect = 0, pretransfer = 0;
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &connect);
        curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME, &pretransfer);
        /* Timed out before the connection was up: nothing was written. */
        return !(connect == 0.0 && pretransfer == 0.0);
    }
    default:
        return true;
    }
}

static void fill_transport_error(lp_http *h, CURL *c, const char *errbuf, CURLcode rc,
                                 const struct lp_http_body *buf, struct lp_http_response *resp)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

    if (buf->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        why = "response too large (over 64 MiB)";
    else if (buf->no_memory)
        why = "out of memory while receiving the response";
    resp->status = 0;
    resp->transport_error = true;
    resp->maybe_sent = may_have_sent(c, rc);
    resp->cert = lp_http_cert_problem(rc, errbuf);
    lp_scrub(resp->error, sizeof resp->error, why, h->api_key);
}

static void local_failure(struct lp_http_response *resp, const char *why)
{
    resp->transport_error = true;
    resp->maybe_sent = false;
    snprintf(resp->error, sizeof resp->error, "%s", why);
}

/* The easy handle an exchange runs on: pooled (run by the event thread) or,
 * for a streamed GET, the calling thread's own. */
struct exchange_handle {
    CURL *easy;
    char *errbuf;
    struct lp_http_easy *pooled;
};

static int take_handle(lp_http *h, bool stream, struct exchange_handle *x)
{
    if (stream) {
        struct lp_http_handle *e = lp_http_thread_handle(h);
        *x = (struct exchange_handle){.easy = e ? e->easy : NULL, .errbuf = e ? e->errbuf : NULL};
    } else {
        struct lp_http_easy *e = lp_http_easy_take(h);
        *x = (struct exchange_handle){
            .easy = e ? e->easy : NULL, .errbuf = e ? e->errbuf : NULL, .pooled = e};
    }
    return x->easy ? 0 : -1;
}

static void give_handle(lp_http *h, struct exchange_handle *x)
{
    if (x->pooled)
        lp_http_easy_give(h, x->pooled);
}

/* One exchange on x; with st, a streamed GET (stream.c's part of this file). */
static int exchange_on(lp_http *h, struct exchange_handle *x, const char *method, const char *path,
                       const char *body, const char *header, struct lp_http_xfer *st,
                       struct lp_http_response *resp)
{
    struct lp_http_body buf = {0};
    struct curl_slist extra = {.data = (char *)header};
    struct timespec start;
    char *url = NULL;

    if (asprintf(&url, "%s%s", h->base_url, path ? path : "") < 0) {
        local_failure(resp, "out of memory");
        return -1;
    }
    if (set_request(h, x->easy, method, url, body, &extra, &buf) != 0) {
        free(url);
        local_failure(resp, "cannot set up the request");
        return -1;
    }
    if (st)
        lp_http_stream_begin(h, x->easy, st, &buf);
    x->errbuf[0] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &start);
    CURLcode rc = x->pooled ? lp_http_loop_perform(h, x->pooled) : curl_easy_perform(x->easy);
    double ms = lp_http_elapsed_ms(&start);
    free(url);
    if (st)
        rc = lp_http_stream_end(h, x->easy, st, rc);

    /* An empty answer still gets a body string, so callers never see NULL. */
    if (rc == CURLE_OK && !buf.data) {
        buf.data = calloc(1, 1);
        if (!buf.data) {
            buf.no_memory = true;
            rc = CURLE_OUT_OF_MEMORY;
        }
    }
    if (rc != CURLE_OK) {
        free(buf.data);
        fill_transport_error(h, x->easy, x->errbuf, rc, &buf, resp);
        if (st && st->why[0])
            snprintf(resp->error, sizeof resp->error, "%s", st->why);
        lp_log(LP_LOG_DEBUG, "%s %s failed after %.1fms: %s", method, path, ms, resp->error);
        return -1;
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->body = buf.data;
    resp->body_len = buf.len;
    resp->retry_after_s = parse_retry_after(x->easy);
    lp_log(LP_LOG_DEBUG, "%s %s %ld %.1fms", method, path, resp->status, ms);
    return 0;
}

static int exchange(lp_http *h, const char *method, const char *path, const char *body,
                    const char *header, struct lp_http_xfer *st, struct lp_http_response *resp)
{
    struct exchange_handle x;

    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    if (take_handle(h, st != NULL, &x) != 0) {
        local_failure(resp, "out of memory");
        return -1;
    }
    int rc = exchange_on(h, &x, method, path, body, header, st, resp);
    give_handle(h, &x);
    return rc;
}

int lp_http_request(lp_http *h, const char *method, const char *path, const char *body,
                    struct lp_http_response *resp)
{
    return exchange(h, method, path, body, NULL, NULL, resp);
}

int lp_http_request_hdr(lp_http *h, const char *method, const char *path, const char *body,
                        const char *header, struct lp_http_response *resp)
{
    if (header && strpbrk(header, "\r\n")) {
        memset(resp, 0, sizeof *resp);
        resp->retry_after_s = -1;
        local_failure(resp, "a request header may not hold a line break");
        return -1;
    }
    return exchange(h, method, path, body, header, NULL, resp);
}

int lp_http_get_stream(lp_http *h, const char *path, struct lp_http_stream *s,
                       struct lp_http_response *resp)
{
    struct lp_http_xfer st = {.s = s};
    s->received = 0;
    s->write_error = 0;
    return exchange(h, "GET", path, NULL, NULL, &st, resp);
}

void lp_http_response_clear(struct lp_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

int lp_http_parallelism(lp_http *h)
{
    return __atomic_load_n(&h->loop.multiplexed, __ATOMIC_RELAXED) ? LP_HTTP_STREAMS
                                                                   : LP_HTTP_HOST_CONNS;
}
