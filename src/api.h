/* api.h - the Leadpipe Intent audiences API as typed calls.
 *
 * Knows HTTP paths, retries and the error -> errno map; knows nothing of FUSE.
 * Retries: 429, 5xx and transport errors, with exponential backoff and jitter,
 * honouring Retry-After (capped), at most max_tries tries. A POST is retried
 * only when it cannot have reached the server (connect failure) or on 429.
 * Every call is thread-safe and returns 0 or a negative errno; on failure
 * *err (when not NULL) says what the API answered.
 */
#ifndef LEADPIPEFS_API_H
#define LEADPIPEFS_API_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "run.h"

#include "api_types.h"

/* Returns a new client or NULL. Caller frees with lp_api_free. */
lp_api *lp_api_new(const struct lp_api_options *opts);
void lp_api_free(lp_api *api);

/* GET /v1/intent/audiences?limit=100&offset=K for every page; stops at a short
 * page or a page with no new id. *out is a malloc'd array (lp_audience_array_free);
 * list entries carry no config. */
int lp_api_list(lp_api *api, struct lp_audience **out, size_t *n, struct lp_api_error *err);
/* GET /v1/intent/audiences/{id}: one audience with its config. out must be empty. */
int lp_api_get(lp_api *api, const char *id, struct lp_audience *out, struct lp_api_error *err);
/* POST; name and config required, status NULL for the API's default.
 * out receives the API's answer; if the answer carries no config, out->config
 * is set to the config that was sent. */
int lp_api_create(lp_api *api, const char *name, const char *status, const char *config,
                  struct lp_audience *out, struct lp_api_error *err);
/* PATCH with any of name/status/config (NULL: left out). out as for create
 * (fields missing from the answer are filled from what was sent). */
int lp_api_update(lp_api *api, const char *id, const char *name, const char *status,
                  const char *config, struct lp_audience *out, struct lp_api_error *err);
/* DELETE; a 404 on a retry (the first try went through) counts as success. */
int lp_api_delete(lp_api *api, const char *id, struct lp_api_error *err);

/* The control directory's files (SPEC "The control directory"). Each returns
 * 0 with *text (or *tsv) malloc'd, NUL-terminated and *len bytes long (the
 * caller frees it), or -errno with *text NULL, *len 0 and *err filled; an
 * answer that cannot be read is EIO (logged). */

/* GET /v1/data/account: its "data" (organization, plan, credits, slots) as
 * pretty JSON ending in "\n", as account.json shows it. */
int lp_api_account(lp_api *api, char **text, size_t *len, struct lp_api_error *err);
/* GET /v1/intent/audiences/filters: its "data" (the filter catalog) as pretty
 * JSON ending in "\n", as filters.json shows it. */
int lp_api_filters(lp_api *api, char **text, size_t *len, struct lp_api_error *err);
/* GET /v1/intent/topics: topics.tsv, the header line then one line per topic
 * (control_text.h says how fields are written). When the first answer's
 * meta.total is more than the topics it held, the rest is fetched with
 * ?limit=L&offset=K, L the first page's size, until a short or empty page,
 * meta.total, or 1000 pages; a failed page fails the whole call. */
int lp_api_topics(lp_api *api, char **tsv, size_t *len, struct lp_api_error *err);

/* ---- runs (api_runs.c) ---- */

/* GET /v1/intent/audiences/{id}/runs?limit=100: the newest runs. */
int lp_api_runs(lp_api *api, const char *aud_id, struct lp_run **out, size_t *n,
                struct lp_api_error *err);
/* POST .../runs {"runType":"manual"} with the header Idempotency-Key: key
 * (<= 120 characters). Because the key makes a repeat harmless, this POST is
 * retried like a GET (after a timeout or a dropped connection too), always
 * with the same key. out receives the run. */
int lp_api_run_queue(lp_api *api, const char *aud_id, const char *idempotency_key,
                     struct lp_run *out, struct lp_api_error *err);
/* DELETE .../runs/{runId}: cancels a queued run; out (may be NULL) receives
 * the run when the answer carries it. A run that cannot be cancelled: the
 * API's 409, i.e. -EEXIST (the caller says EBUSY). */
int lp_api_run_cancel(lp_api *api, const char *aud_id, const char *run_id, struct lp_run *out,
                      struct lp_api_error *err);
/* GET .../runs/{runId}/stats -> data.stats pretty (lp_parse_run_stats).
 * 202 (not completed yet) is -EAGAIN; 409 -EEXIST. */
int lp_api_run_stats(lp_api *api, const char *aud_id, const char *run_id, char **text, size_t *len,
                     struct lp_api_error *err);

/* GET .../runs/{runId}/export.csv streamed into sink, never held in memory.
 * Cut off only when no byte arrives for the client's timeout (a long
 * download on a slow link completes). A body that ends before, or runs past,
 * its Content-Length, a dropped connection or a 5xx is retried from the
 * start (sink reset) up to max_tries; then -EIO. 202: -EAGAIN; 409: -EEXIST.
 * *len: the bytes of the complete body, equal to Content-Length when the
 * answer had one. */
int lp_api_run_export(lp_api *api, const char *aud_id, const char *run_id,
                      const struct lp_api_sink *sink, uint64_t *len, struct lp_api_error *err);

/* How many requests are worth sending at once: 8 over HTTP/1.x, 64 once the
 * API answered over HTTP/2 (one connection carries them all). A hint for
 * callers that fan out, e.g. a sweep. */
int lp_api_parallelism(lp_api *api);

/* Frees the calling thread's connection handle (call before a worker thread
 * that made requests exits). */
void lp_api_thread_cleanup(void);

/* Number of HTTP exchanges this client has attempted (tests; main logs it with -d). */
unsigned long lp_api_request_count(lp_api *api);

#endif
