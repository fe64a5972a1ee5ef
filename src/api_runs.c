/* api_runs.c - an audience's runs (SPEC "Runs and results"): the list, queueing
 * a manual run under an Idempotency-Key (so its POST is retried like a GET),
 * cancelling one, a completed run's stats, and its export.csv streamed to a
 * sink, never held in memory.
 */
#include "api.h"
#include "api_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define LP_API_RUNS_LIMIT 100 /* the most the API lists */
#define LP_API_IDEMPOTENCY_KEY_MAX 120

/* LP_API_BASE_PATH/{aud}/runs[/{run}][tail], ids percent-encoded: *path
 * malloc'd (caller frees). 0 or -errno (err filled). */
static int runs_path(const char *aud_id, const char *run_id, const char *tail, char **path,
                     struct lp_api_error *err)
{
    *path = NULL;
    if (!aud_id || !*aud_id)
        return -lp_api_error_local(err, ENOENT, "no audience id");
    if (run_id && !*run_id)
        return -lp_api_error_local(err, ENOENT, "no run id");
    size_t ids = strlen(aud_id) + (run_id ? strlen(run_id) : 0);
    char *p = malloc(sizeof(LP_API_BASE_PATH "//runs/") + 3 * ids + strlen(tail));
    if (!p)
        return -lp_api_error_local(err, ENOMEM, "out of memory");
    char *o = p + sizeof(LP_API_BASE_PATH "/") - 1;
    memcpy(p, LP_API_BASE_PATH "/", sizeof(LP_API_BASE_PATH "/") - 1);
    o = lp_api_put_segment(o, aud_id);
    o = stpcpy(o, "/runs");
    if (run_id) {
        *o++ = '/';
        o = lp_api_put_segment(o, run_id);
    }
    strcpy(o, tail);
    *path = p;
    return 0;
}

/* An answer the parsers refused: err filled, logged; -EIO. */
static int bad_answer(const char *method, const char *path, long status, const char *reason,
                      struct lp_api_error *err)
{
    lp_api_error_bad_answer(err, status, reason);
    lp_api_log_failure(method, path, err);
    return -EIO;
}

/* A 202: the run has not completed yet. */
static int not_yet(struct lp_api_error *err)
{
    lp_api_error_local(err, EAGAIN, "the run has not completed yet");
    err->http_status = 202;
    return -EAGAIN;
}

int lp_api_runs(lp_api *api, const char *aud_id, struct lp_run **out, size_t *n,
                struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char tail[32], reason[256] = "", *path;

    if (!err)
        err = &local;
    *out = NULL;
    *n = 0;
    snprintf(tail, sizeof tail, "?limit=%d", LP_API_RUNS_LIMIT);
    int rc = runs_path(aud_id, NULL, tail, &path, err);
    if (rc == 0)
        rc = lp_api_call(api, "GET", path, NULL, &resp, err);
    if (rc != 0) {
        free(path);
        return rc;
    }
    if (lp_parse_runs_response(resp.body, resp.body_len, out, n, reason, sizeof reason) != 0)
        rc = bad_answer("GET", path, resp.status, reason, err);
    else if (reason[0])
        lp_log(LP_LOG_WARNING, "GET %s: run(s) left out: %s", path, reason);
    lp_http_response_clear(&resp);
    free(path);
    return rc;
}

/* Whether key can go in the Idempotency-Key header: 1 to 120 visible ASCII
 * characters (spaces inside allowed). */
static bool key_ok(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > LP_API_IDEMPOTENCY_KEY_MAX || key[0] == ' ' || key[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
            return false;
    return true;
}

/* A 2xx answer carrying one run -> out (when not NULL); resp cleared. */
static int take_run(const char *method, const char *path, struct lp_http_response *resp,
                    struct lp_run *out, struct lp_api_error *err)
{
    char reason[256] = "";
    int rc = 0;

    if (out && lp_parse_run_response(resp->body, resp->body_len, out, reason, sizeof reason) != 0)
        rc = bad_answer(method, path, resp->status, reason, err);
    lp_http_response_clear(resp);
    return rc;
}

int lp_api_run_queue(lp_api *api, const char *aud_id, const char *idempotency_key,
                     struct lp_run *out, struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char header[sizeof "Idempotency-Key: " + LP_API_IDEMPOTENCY_KEY_MAX], *path;

    if (!err)
        err = &local;
    memset(out, 0, sizeof *out);
    if (!key_ok(idempotency_key))
        return -lp_api_error_local(err, EINVAL,
                                   "an Idempotency-Key is 1 to 120 visible ASCII characters");
    int rc = runs_path(aud_id, NULL, "", &path, err);
    if (rc != 0)
        return rc;
    snprintf(header, sizeof header, "Idempotency-Key: %s", idempotency_key);
    struct lp_api_req req = {
        .method = "POST",
        .path = path,
        .body = "{\"runType\":\"manual\"}",
        .header = header,
        .idempotent = true, /* the same key every try: the API queues one run */
    };
    rc = lp_api_send(api, &req, &resp, err);
    if (rc == 0)
        rc = take_run("POST", path, &resp, out, err);
    free(path);
    return rc;
}

int lp_api_run_cancel(lp_api *api, const char *aud_id, const char *run_id, struct lp_run *out,
                      struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char *path;

    if (!err)
        err = &local;
    if (out)
        memset(out, 0, sizeof *out);
    int rc = runs_path(aud_id, run_id, "", &path, err);
    if (rc != 0)
        return rc;
    rc = lp_api_call(api, "DELETE", path, NULL, &resp, err);
    if (rc == 0 && resp.status == 404) /* an earlier try went through; no run to show */
        lp_http_response_clear(&resp);
    else if (rc == 0)
        rc = take_run("DELETE", path, &resp, out, err);
    free(path);
    return rc;
}

int lp_api_run_stats(lp_api *api, const char *aud_id, const char *run_id, char **text, size_t *len,
                     struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char reason[256] = "", *path;

    if (!err)
        err = &local;
    *text = NULL;
    *len = 0;
    int rc = runs_path(aud_id, run_id, "/stats", &path, err);
    if (rc != 0)
        return rc;
    rc = lp_api_call(api, "GET", path, NULL, &resp, err);
    if (rc == 0 && resp.status == 202)
        rc = not_yet(err);
    else if (rc == 0 &&
             lp_parse_run_stats(resp.body, resp.body_len, text, len, reason, sizeof reason) != 0)
        rc = bad_answer("GET", path, resp.status, reason, err);
    lp_http_response_clear(&resp); /* also after a failed call: it left resp cleared */
    free(path);
    return rc;
}

int lp_api_run_export(lp_api *api, const char *aud_id, const char *run_id,
                      const struct lp_api_sink *sink, uint64_t *len, struct lp_api_error *err)
{
    struct lp_api_error local;
    struct lp_http_response resp;
    char *path;

    if (!err)
        err = &local;
    *len = 0;
    if (!sink || !sink->write)
        return -lp_api_error_local(err, EINVAL, "no place for the download");
    int rc = runs_path(aud_id, run_id, "/export.csv", &path, err);
    if (rc != 0)
        return rc;
    struct lp_api_req req = {.method = "GET", .path = path, .sink = sink};
    rc = lp_api_send(api, &req, &resp, err);
    if (rc == 0) {
        if (resp.status == 202)
            rc = not_yet(err);
        else if (resp.status != 200)
            rc = bad_answer("GET", path, resp.status, "the export came without a body", err);
        else
            *len = req.received;
        lp_http_response_clear(&resp);
    }
    free(path);
    return rc;
}
