/* api_int.h - what the files of the API client share: the client, its
 * paths, and one call with retries. Not for other layers. */
#ifndef LEADPIPEFS_API_INT_H
#define LEADPIPEFS_API_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api_types.h"
#include "http.h"

#define LP_API_BASE_PATH "/v1/intent/audiences"
#define LP_API_PAGE 100
/* 10,000 pages of 100 is ten times the largest account we expect; a server
 * that keeps inventing ids beyond that is broken, not big. */
#define LP_API_MAX_PAGES 10000

struct lp_api {
    lp_http *http;
    char *base_url;
    int max_tries;
    long backoff_ms;
    long max_retry_after_ms;
    atomic_ulong requests;
};

/* Runs method on path until a 2xx answer, a final answer or max_tries.
 * Returns 0 with the 2xx answer in *resp (caller clears it), or -errno with
 * *err filled and *resp cleared. For DELETE, a 404 after a try that may have
 * gone through is returned as 0 with resp->status 404. */
int lp_api_call(lp_api *api, const char *method, const char *path, const char *body,
                struct lp_http_response *resp, struct lp_api_error *err);

/* A call with more to it than lp_api_call's. */
struct lp_api_req {
    const char *method, *path, *body;
    const char *header; /* one more request header line ("Name: value"), or NULL */
    bool idempotent;    /* a repeat is harmless: a POST is retried like a GET */
    /* A streamed GET: a 200's body goes to sink->write (lp_http_get_stream),
     * sink->reset comes before every retry; a failed write or reset ends the
     * call with its errno. */
    const struct lp_api_sink *sink;
    uint64_t received; /* out: the body bytes the last try handed to the sink */
    int write_error;   /* out: the sink's -errno that ended the last try, or 0 */
};
/* lp_api_call for req; every try is counted as lp_api_call's are (the bytes
 * streamed to a sink as the bytes received). */
int lp_api_send(lp_api *api, struct lp_api_req *req, struct lp_http_response *resp,
                struct lp_api_error *err);

/* Writes id percent-encoded at o (room for 3 * strlen(id) + 1 bytes): every
 * byte but unreserved ones, "." too, so an id never becomes a "../" segment.
 * Returns the end (the NUL written). */
char *lp_api_put_segment(char *o, const char *id);
/* Fill *err for an answer that could not be read / a local failure; return the errno. */
int lp_api_error_bad_answer(struct lp_api_error *err, long status, const char *reason);
int lp_api_error_local(struct lp_api_error *err, int e, const char *message);
void lp_api_log_failure(const char *method, const char *path, const struct lp_api_error *err);

#endif
