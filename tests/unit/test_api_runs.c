/* test_api_runs.c - the runs calls (api_runs.c over http.c) against the
 * emulator: what went over the wire (the request log: methods, queries,
 * Idempotency-Key headers, body bytes) and what came back, also under
 * faults on export.csv (stall, cut, wrong Content-Length, 503) and for a
 * 50 MB export that must not grow the process.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "api.h"
#include "http.h"
#include "json_print.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"

#define KEY "sk_test_emulator"

static struct lp_emu emu;
static char *aud; /* the audience of every case, made by reset_runs */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static lp_api *client(long timeout_ms, int max_tries)
{
    struct lp_api_options o = {.base_url = emu.base_url,
                               .api_key = KEY,
                               .timeout_ms = timeout_ms,
                               .max_tries = max_tries,
                               .backoff_ms = 10};
    lp_api *api = lp_api_new(&o);
    CHECK(api != NULL);
    return api;
}

/* A control request that must succeed; its parsed answer (caller deletes). */
static cJSON *ctl(const char *method, const char *path, const char *json)
{
    char *body = NULL;
    long st = lp_emu_control(&emu, method, path, json, &body);
    if (st < 200 || st > 299)
        fprintf(stderr, "control %s %s %s -> %ld %s\n", method, path, json ? json : "", st,
                body ? body : "");
    CHECK(st >= 200 && st <= 299);
    cJSON *root = cJSON_Parse(body ? body : "");
    free(body);
    return root;
}

static void ctl_ok(const char *method, const char *path, const char *json)
{
    cJSON_Delete(ctl(method, path, json));
}

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Empty emulator, runs that move only when told, one audience (aud). */
static void reset_runs(void)
{
    ctl_ok("POST", "/_emu/reset", "{}");
    ctl_ok("POST", "/_emu/settings", "{\"run_queue_s\":null,\"run_duration_s\":null}");
    cJSON *a = ctl("POST", "/_emu/audiences", "{\"name\":\"Runs\",\"status\":\"active\"}");
    free(aud);
    aud = strdup(str_of(cJSON_GetObjectItemCaseSensitive(a, "data"), "id"));
    cJSON_Delete(a);
}

/* A run made elsewhere (json: fields and knobs); its id, malloc'd. */
static char *make_run(const char *json)
{
    char path[128];
    snprintf(path, sizeof path, "/_emu/audiences/%s/runs", aud);
    cJSON *r = ctl("POST", path, json);
    char *id = strdup(str_of(cJSON_GetObjectItemCaseSensitive(r, "data"), "id"));
    cJSON_Delete(r);
    return id;
}

/* The emulator's runs of aud, oldest first (caller deletes the root). */
static cJSON *emu_runs(cJSON **root)
{
    char path[128];
    snprintf(path, sizeof path, "/_emu/runs?audienceId=%s", aud);
    *root = ctl("GET", path, NULL);
    return cJSON_GetObjectItemCaseSensitive(*root, "runs");
}

/* The API log's requests whose path ends in suffix (caller deletes root). */
static int logged(cJSON **root, const char *method, const char *suffix, const cJSON **last)
{
    int n = 0;
    const cJSON *req;
    *root = ctl("GET", "/_emu/log", NULL);
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(*root, "requests"))
    {
        const char *m = str_of(req, "method"), *p = str_of(req, "path");
        size_t pl = p ? strlen(p) : 0, sl = strlen(suffix);
        if (m && !strcmp(m, method) && pl >= sl && !strcmp(p + pl - sl, suffix)) {
            n++;
            if (last)
                *last = req;
        }
    }
    return n;
}

static int count_logged(const char *method, const char *suffix)
{
    cJSON *root;
    int n = logged(&root, method, suffix, NULL);
    cJSON_Delete(root);
    return n;
}

/* --- list, queue, cancel, stats --------------------------------------------- */

static void test_list(void)
{
    struct lp_run *arr = NULL;
    size_t n = 0;
    struct lp_api_error err;
    reset_runs();
    char *old = make_run("{\"createdAt\":\"2026-11-23T04:00:00.000Z\",\"status\":\"completed\"}");
    char *mid = make_run("{\"createdAt\":\"2026-11-24T04:00:00.000Z\",\"status\":\"failed\"}");
    char *new = make_run("{\"createdAt\":\"2026-11-25T04:00:00.000Z\",\"runType\":\"manual\"}");
    lp_api *api = client(0, 0);

    CHECK_INT(lp_api_runs(api, aud, &arr, &n, &err), 0);
    CHECK_INT(n, 3);
    if (n == 3) { /* newest first */
        CHECK_STR(arr[0].id, new);
        CHECK_STR(arr[1].id, mid);
        CHECK_STR(arr[2].id, old);
        CHECK_STR(arr[0].status, "queued");
        CHECK_STR(arr[0].run_type, "manual");
        CHECK_STR(arr[1].status, "failed");
        CHECK_STR(arr[2].created_at, "2026-11-23T04:00:00.000Z");
    }
    lp_run_array_free(arr, n);
    cJSON *log;
    const cJSON *req = NULL;
    CHECK_INT(logged(&log, "GET", "/runs", &req), 1);
    CHECK_STR(str_of(cJSON_GetObjectItemCaseSensitive(req, "query"), "limit"), "100");
    cJSON_Delete(log);

    CHECK_INT(lp_api_runs(api, "no-such-audience", &arr, &n, &err), -ENOENT);
    CHECK(arr == NULL && n == 0);
    lp_api_free(api);
    free(old);
    free(mid);
    free(new);
}

/* The one run the emulator holds for aud: its id, or NULL when not exactly one. */
static char *only_run(void)
{
    cJSON *root;
    const cJSON *runs = emu_runs(&root);
    char *id =
        cJSON_GetArraySize(runs) == 1 ? strdup(str_of(cJSON_GetArrayItem(runs, 0), "id")) : NULL;
    if (!id)
        fprintf(stderr, "the emulator holds %d runs\n", cJSON_GetArraySize(runs));
    cJSON_Delete(root);
    return id;
}

static void test_queue(void)
{
    struct lp_run run;
    struct lp_api_error err;
    reset_runs();
    lp_api *api = client(0, 3);

    CHECK_INT(lp_api_run_queue(api, aud, "key-1", &run, &err), 0);
    CHECK_STR(run.status, "queued");
    CHECK_STR(run.run_type, "manual");
    cJSON *log;
    const cJSON *req = NULL;
    CHECK_INT(logged(&log, "POST", "/runs", &req), 1);
    CHECK_STR(str_of(req, "idempotencyKey"), "key-1");
    CHECK_STR(str_of(cJSON_GetObjectItemCaseSensitive(req, "body"), "runType"), "manual");
    cJSON_Delete(log);
    char *id = only_run();
    CHECK_STR(run.id, id);
    lp_run_clear(&run);

    /* The same key again: the same run, still one. */
    CHECK_INT(lp_api_run_queue(api, aud, "key-1", &run, &err), 0);
    CHECK_STR(run.id, id);
    lp_run_clear(&run);
    free(id);

    /* Keys that cannot be sent: nothing goes out. */
    char long_key[122];
    memset(long_key, 'k', 121);
    long_key[121] = '\0';
    static const char *bad[] = {"", "a\r\nX-Evil: 1", "caf\xc3\xa9", NULL};
    bad[3] = long_key;
    for (int i = 0; i < 4; i++)
        CHECK_INT(lp_api_run_queue(api, aud, bad[i], &run, &err), -EINVAL);
    CHECK_INT(count_logged("POST", "/runs"), 2);
    memset(long_key + 120, 0, 1); /* 120 characters is fine */
    CHECK_INT(lp_api_run_queue(api, aud, long_key, &run, &err), 0);
    lp_run_clear(&run);
    lp_api_free(api);
}

/* A POST to .../runs whose first answer is lost (after the run was made, or
 * before) or is a 503: the retry carries the same key, one run is queued. */
static void test_queue_retried(void)
{
    static const char *const faults[] = {"\"kind\":\"drop\",\"process\":true", "\"kind\":\"drop\"",
                                         "\"kind\":\"status\",\"status\":503"};
    for (int i = 0; i < 3; i++) {
        struct lp_run run;
        struct lp_api_error err;
        char f[256];
        reset_runs();
        snprintf(f, sizeof f, "{\"method\":\"POST\",\"suffix\":\"/runs\",%s}", faults[i]);
        ctl_ok("POST", "/_emu/faults", f);
        lp_api *api = client(0, 3);
        CHECK_INT(lp_api_run_queue(api, aud, "retry-key-7", &run, &err), 0);
        cJSON *log;
        const cJSON *req;
        int n = 0, same = 0;
        log = ctl("GET", "/_emu/log", NULL);
        cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(log, "requests"))
        {
            n++;
            same += str_of(req, "idempotencyKey") &&
                    !strcmp(str_of(req, "idempotencyKey"), "retry-key-7");
        }
        cJSON_Delete(log);
        CHECK_INT(n, 2);
        CHECK_INT(same, 2);
        char *id = only_run();
        CHECK(id != NULL);
        CHECK_STR(run.id, id);
        free(id);
        lp_run_clear(&run);
        lp_api_free(api);
    }
}

static void emu_status_is(const char *id, const char *status)
{
    cJSON *root;
    const cJSON *r, *runs = emu_runs(&root);
    const char *got = NULL;
    cJSON_ArrayForEach(r, runs)
    {
        if (!strcmp(str_of(r, "id"), id))
            got = str_of(r, "status");
    }
    CHECK_STR(got, status);
    cJSON_Delete(root);
}

static void test_cancel(void)
{
    struct lp_run run;
    struct lp_api_error err;
    reset_runs();
    char *queued = make_run("{\"status\":\"queued\"}");
    char *running = make_run("{\"status\":\"running\"}");
    char *done = make_run("{\"status\":\"completed\",\"rows\":3}");
    lp_api *api = client(0, 3);

    CHECK_INT(lp_api_run_cancel(api, aud, queued, &run, &err), 0);
    CHECK_STR(run.id, queued);
    CHECK_STR(run.status, "cancelled");
    lp_run_clear(&run);
    emu_status_is(queued, "cancelled");
    CHECK_INT(lp_api_run_cancel(api, aud, running, NULL, &err), -EEXIST);
    CHECK_INT(err.http_status, 409);
    CHECK_STR(err.code, "RUN_NOT_CANCELLABLE");
    emu_status_is(running, "running");
    CHECK_INT(lp_api_run_cancel(api, aud, done, &run, &err), -EEXIST);
    CHECK(run.id == NULL);
    emu_status_is(done, "completed");
    CHECK_INT(count_logged("DELETE", ""), 3);
    lp_api_free(api);
    free(queued);
    free(running);
    free(done);
}

static void test_stats(void)
{
    struct lp_api_error err;
    char *text = NULL;
    size_t len = 0;
    reset_runs();
    char *running = make_run("{\"status\":\"running\"}");
    char *failed = make_run("{\"status\":\"failed\"}");
    char *done = make_run("{\"status\":\"completed\",\"rows\":250}");
    lp_api *api = client(0, 3);

    CHECK_INT(lp_api_run_stats(api, aud, running, &text, &len, &err), -EAGAIN);
    CHECK(text == NULL && len == 0);
    CHECK_INT(err.http_status, 202);
    CHECK_INT(lp_api_run_stats(api, aud, failed, &text, &len, &err), -EEXIST);
    CHECK_INT(err.http_status, 409);

    CHECK_INT(lp_api_run_stats(api, aud, done, &text, &len, &err), 0);
    /* The emulator's own data.stats, pretty, byte for byte. */
    struct lp_http_options ho = {.base_url = emu.base_url, .api_key = KEY};
    lp_http *h = lp_http_new(&ho);
    struct lp_http_response r;
    char path[256];
    snprintf(path, sizeof path, "/v1/intent/audiences/%s/runs/%s/stats", aud, done);
    CHECK_INT(lp_http_request(h, "GET", path, NULL, &r), 0);
    cJSON *root = cJSON_Parse(r.body ? r.body : "");
    const cJSON *stats =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "data"), "stats");
    char *expect = stats ? lp_json_pretty(stats, SIZE_MAX) : NULL;
    CHECK(expect != NULL && strstr(expect, "\"fillRates\"") != NULL);
    CHECK_STR(text, expect);
    CHECK_INT(len, expect ? strlen(expect) : 0);
    cJSON *again = cJSON_Parse(text ? text : "");
    CHECK(again && cJSON_Compare(again, stats, 1));
    cJSON_Delete(again);
    free(expect);
    cJSON_Delete(root);
    lp_http_response_clear(&r);
    lp_http_free(h);
    free(text);
    lp_api_free(api);
    free(running);
    free(failed);
    free(done);
}

/* --- export.csv ----------------------------------------------------------------- */

/* A sink into memory (tests only), or counting only (keep false). */
struct mem_sink {
    char *buf;
    size_t len, cap;
    bool keep;
    int resets, writes;
    int fail_after;     /* > 0: the write after this many fails with -ENOSPC */
    int announces;      /* lengths announced */
    int64_t announced;  /* the last one */
    bool late_announce; /* a write came before its try's announcement */
    size_t stop_at;     /* > 0: stop asked once this many bytes came */
    double stop_time;   /* > 0: stop asked from this time (now_s) on */
};

static int mem_write(void *ctx, const char *p, size_t n)
{
    struct mem_sink *m = ctx;
    if (m->announces == 0 || (m->len == 0 && m->announced == INT64_MIN))
        m->late_announce = true;
    if (m->fail_after > 0 && m->writes >= m->fail_after)
        return -ENOSPC;
    m->writes++;
    if (m->keep) {
        if (m->len + n > m->cap) {
            m->cap = (m->len + n) * 2;
            m->buf = realloc(m->buf, m->cap);
        }
        memcpy(m->buf + m->len, p, n);
    }
    m->len += n;
    return 0;
}

static int mem_reset(void *ctx)
{
    struct mem_sink *m = ctx;
    m->len = 0;
    m->resets++;
    m->announced = INT64_MIN; /* the next try announces again */
    return 0;
}

static void mem_announce(void *ctx, int64_t length)
{
    struct mem_sink *m = ctx;
    m->announces++;
    m->announced = length;
}

static bool mem_stop(void *ctx)
{
    struct mem_sink *m = ctx;
    return (m->stop_at > 0 && m->len >= m->stop_at) ||
           (m->stop_time > 0 && now_s() >= m->stop_time);
}

/* The export's exact size per the emulator. */
static long long export_bytes(const char *run_id)
{
    cJSON *root;
    const cJSON *r, *runs = emu_runs(&root);
    long long bytes = -1;
    cJSON_ArrayForEach(r, runs)
    {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "_emu");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(e, "exportBytes");
        if (!strcmp(str_of(r, "id"), run_id) && cJSON_IsNumber(b))
            bytes = (long long)b->valuedouble;
    }
    cJSON_Delete(root);
    return bytes;
}

/* The export fetched directly (one plain GET); caller clears. */
static void direct_export(const char *run_id, struct lp_http_response *r)
{
    struct lp_http_options ho = {.base_url = emu.base_url, .api_key = KEY};
    lp_http *h = lp_http_new(&ho);
    char path[256];
    snprintf(path, sizeof path, "/v1/intent/audiences/%s/runs/%s/export.csv", aud, run_id);
    CHECK_INT(lp_http_request(h, "GET", path, NULL, r), 0);
    CHECK_INT(r->status, 200);
    lp_http_free(h);
}

static unsigned long long received_metric(void)
{
    size_t len;
    char *text = lp_metrics_render(&(struct lp_metrics_gauges){0}, &len);
    const char *p = text ? strstr(text, "\nleadpipefs_api_received_bytes_total ") : NULL;
    unsigned long long v = p ? strtoull(p + 37, NULL, 10) : 0;
    free(text);
    return v;
}

/* Exports run_id into m with api; checks the bytes against want (a direct GET). */
static int export_into(lp_api *api, const char *run_id, struct mem_sink *m, uint64_t *len,
                       struct lp_api_error *err)
{
    struct lp_api_sink sink = {.write = mem_write,
                               .reset = mem_reset,
                               .announce = mem_announce,
                               .stop = mem_stop,
                               .ctx = m};
    m->len = 0;
    m->resets = 0;
    m->writes = 0;
    m->announces = 0;
    m->announced = INT64_MIN;
    m->late_announce = false;
    return lp_api_run_export(api, aud, run_id, &sink, len, err);
}

static void check_same(const struct mem_sink *m, const struct lp_http_response *want)
{
    CHECK_INT(m->len, want->body_len);
    CHECK(m->len == want->body_len && memcmp(m->buf, want->body, m->len) == 0);
}

static void test_export(void)
{
    struct lp_api_error err;
    struct mem_sink m = {.keep = true};
    uint64_t len = 7;
    reset_runs();
    char *running = make_run("{\"status\":\"running\"}");
    char *cancelled = make_run("{\"status\":\"cancelled\"}");
    char *done = make_run("{\"status\":\"completed\",\"rows\":3000}");
    lp_api *api = client(0, 3);
    struct lp_http_response want;
    direct_export(done, &want);
    long long bytes = export_bytes(done);
    CHECK(bytes > 100000);
    CHECK_INT(want.body_len, bytes);

    lp_metrics_reset();
    ctl_ok("POST", "/_emu/log/clear", "{}");
    CHECK_INT(export_into(api, done, &m, &len, &err), 0);
    CHECK_INT(len, bytes);
    check_same(&m, &want);
    CHECK_INT(m.resets, 0);
    /* The length is announced once, before the first byte. */
    CHECK_INT(m.announces, 1);
    CHECK_INT(m.announced, bytes);
    CHECK(!m.late_announce);
    cJSON *log;
    const cJSON *req = NULL;
    CHECK_INT(logged(&log, "GET", "/export.csv", &req), 1);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(req, "bytes");
    CHECK_INT(cJSON_IsNumber(b) ? (long long)b->valuedouble : -1, bytes);
    cJSON_Delete(log);
    /* The exchange is counted, its body bytes as the bytes received. */
    CHECK_INT(received_metric(), bytes);

    len = 7;
    CHECK_INT(export_into(api, running, &m, &len, &err), -EAGAIN);
    CHECK_INT(err.http_status, 202);
    CHECK_INT(len, 0);
    CHECK_INT(m.len, 0);
    CHECK_INT(m.announces, 0); /* not the 200 of an export */
    CHECK_INT(export_into(api, cancelled, &m, &len, &err), -EEXIST);
    CHECK_INT(m.len, 0);

    /* A sink that fails ends the call at once with its errno: no retry. */
    ctl_ok("POST", "/_emu/log/clear", "{}");
    m.fail_after = 2;
    CHECK_INT(export_into(api, done, &m, &len, &err), -ENOSPC);
    CHECK_INT(count_logged("GET", "/export.csv"), 1);
    m.fail_after = 0;

    /* Told to stop: -ECANCELED at once, no retry. */
    ctl_ok("POST", "/_emu/log/clear", "{}");
    m.stop_at = 1;
    CHECK_INT(export_into(api, done, &m, &len, &err), -ECANCELED);
    CHECK_INT(count_logged("GET", "/export.csv"), 1);
    CHECK(m.len < want.body_len);
    m.stop_at = 0;

    /* Other requests on this thread's handle still have their total timeout. */
    lp_api *quick = client(1000, 1);
    CHECK_INT(export_into(quick, done, &m, &len, &err), 0);
    ctl_ok("POST", "/_emu/faults", "{\"method\":\"GET\",\"kind\":\"delay\",\"seconds\":3}");
    struct lp_run *arr = NULL;
    size_t n = 0;
    double t0 = now_s();
    CHECK_INT(lp_api_runs(quick, aud, &arr, &n, &err), -EIO);
    CHECK(now_s() - t0 < 2.5);
    lp_api_free(quick);

    lp_http_response_clear(&want);
    free(m.buf);
    lp_api_free(api);
    free(running);
    free(cancelled);
    free(done);
}

/* Faults on export.csv; want: the export's bytes. */
static void test_export_faults(void)
{
    struct lp_api_error err;
    struct mem_sink m = {.keep = true};
    uint64_t len = 0;
    reset_runs();
    char *done = make_run("{\"status\":\"completed\",\"rows\":3000}");
    struct lp_http_response want;
    direct_export(done, &want);
    lp_api *api = client(1000, 3);

    /* A stall longer than the timeout on every try: EIO, soon. */
    ctl_ok("POST", "/_emu/log/clear", "{}");
    ctl_ok("POST", "/_emu/faults",
           "{\"kind\":\"stall\",\"after_bytes\":20000,\"seconds\":3,"
           "\"count\":3,\"suffix\":\"/export.csv\"}");
    double t0 = now_s();
    CHECK_INT(export_into(api, done, &m, &len, &err), -EIO);
    double took = now_s() - t0;
    fprintf(stderr, "stalled export failed after %.2f s\n", took);
    CHECK(took >= 2.8 && took < 4.5); /* 3 tries of about 1 s each, not 3 x 3 s */
    CHECK_INT(count_logged("GET", "/export.csv"), 3);
    CHECK_INT(m.resets, 2);
    CHECK(strstr(err.message, "stalled") != NULL);

    /* Slow but never silent for the timeout: a 1.2 s wait before the answer
     * (latency) and a 1.2 s pause within it, 2.4 s in all with a 1.5 s timeout. */
    lp_api *patient = client(1500, 1);
    ctl_ok("POST", "/_emu/settings", "{\"latency_ms\":1200}");
    ctl_ok("POST", "/_emu/faults",
           "{\"kind\":\"stall\",\"after_bytes\":20000,\"seconds\":1.2,"
           "\"suffix\":\"/export.csv\"}");
    t0 = now_s();
    CHECK_INT(export_into(patient, done, &m, &len, &err), 0);
    took = now_s() - t0;
    fprintf(stderr, "slow export completed after %.2f s\n", took);
    ctl_ok("POST", "/_emu/settings", "{\"latency_ms\":0}");
    CHECK(took > 2.3);
    check_same(&m, &want);

    /* Told to stop while the answer stalls: ends within about a second,
     * not after the stall or the timeout. */
    ctl_ok("POST", "/_emu/faults",
           "{\"kind\":\"stall\",\"after_bytes\":20000,\"seconds\":3,"
           "\"suffix\":\"/export.csv\"}");
    lp_api *slow = client(10000, 3);
    t0 = now_s();
    m.stop_time = t0 + 0.5; /* while it stalls */
    CHECK_INT(export_into(slow, done, &m, &len, &err), -ECANCELED);
    took = now_s() - t0;
    m.stop_time = 0;
    fprintf(stderr, "stopped stalled export after %.2f s\n", took);
    CHECK_INT(m.len, 20000);
    CHECK(took > 0.4 && took < 2.0);
    lp_api_free(slow);
    lp_api_free(patient);

    /* A cut, a 5xx, a Content-Length too long or too short, a dropped
     * connection: on the first try only, the retry starts over (the sink
     * reset) and gets it all; on every try, EIO after three. */
    static const char *const kinds[] = {
        "\"kind\":\"cut\",\"after_bytes\":65536",
        "\"kind\":\"cut\",\"after_bytes\":100",
        "\"kind\":\"status\",\"status\":503",
        "\"kind\":\"length\",\"delta\":1000",
        "\"kind\":\"length\",\"delta\":-1000",
        "\"kind\":\"length\",\"delta\":-1",
        "\"kind\":\"drop\"",
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        for (int count = 1; count <= 3; count += 2) {
            char f[160];
            snprintf(f, sizeof f, "{%s,\"count\":%d,\"suffix\":\"/export.csv\"}", kinds[i], count);
            ctl_ok("POST", "/_emu/faults/clear", "{}");
            ctl_ok("POST", "/_emu/log/clear", "{}");
            ctl_ok("POST", "/_emu/faults", f);
            len = 7;
            int rc = export_into(api, done, &m, &len, &err);
            if (count == 1) {
                CHECK_INT(rc, 0);
                CHECK_INT(len, want.body_len);
                check_same(&m, &want);
                CHECK_INT(m.resets, 1);
                /* Each try announced its own length before its bytes. */
                CHECK_INT(m.announced, want.body_len);
                CHECK(!m.late_announce);
            } else {
                CHECK_INT(rc, -EIO);
                CHECK_INT(len, 0);
                CHECK_INT(m.resets, 2);
            }
            CHECK_INT(count_logged("GET", "/export.csv"), count + 1 < 3 ? count + 1 : 3);
            if (lp_test_failures)
                fprintf(stderr, "after fault %s\n", f);
        }
    }
    lp_http_response_clear(&want);
    free(m.buf);
    lp_api_free(api);
    free(done);
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* A ~50 MB export streams through without the process growing with it. */
static void test_export_memory(void)
{
    struct lp_api_error err;
    struct mem_sink m = {.keep = false};
    uint64_t len = 0;
    reset_runs();
    char *big = make_run("{\"status\":\"completed\",\"targetBytes\":50000000}");
    long long bytes = export_bytes(big);
    CHECK(bytes >= 50000000);
    lp_api *api = client(0, 3);

    long before = max_rss_kib();
    double t0 = now_s();
    CHECK_INT(export_into(api, big, &m, &len, &err), 0);
    long growth = max_rss_kib() - before;
    fprintf(stderr, "%llu bytes in %.2f s, max RSS %ld KiB -> +%ld KiB\n", (unsigned long long)len,
            now_s() - t0, before, growth);
    CHECK_INT(len, bytes);
    CHECK_INT(m.len, bytes);
    CHECK(growth < 16 * 1024);
    lp_api_free(api);
    free(big);
}

int main(void)
{
    lp_log_init("leadpipefs", false, false);
    if (lp_emu_start(&emu, (const char *const[]){"--empty", NULL}) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    test_export_memory(); /* first: the peak RSS is still low */
    test_list();
    test_queue();
    test_queue_retried();
    test_cancel();
    test_stats();
    test_export();
    test_export_faults();
    lp_emu_stop(&emu);
    free(aud);
    return lp_test_summary();
}
