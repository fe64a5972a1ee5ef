/* test_api.c - the API client (api.c over http.c, log.c) against the emulator.
 *
 * Each case resets the emulator and reads its request log, so the checks are
 * about what went over the wire: how many requests, which answers, which errno.
 * A few cases use a tiny in-process HTTP server to see the raw request headers.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "json_print.h"
#include "log.h"
#include "lp_config.h"
#include "sbuf.h"
#include "testutil.h"

#define KEY "sk_test_emulator"
#define AUD_PATH "/v1/intent/audiences"
#define CONFIG_A                                                                                   \
    "{\"topicIds\":[117805,117890],\"minScore\":70,\"maxScore\":99,\"minTopicOverlap\":1,"         \
    "\"filters\":{}}"

static struct lp_emu emu;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A client for url (the emulator when NULL) with fast backoff. Caller frees. */
static lp_api *client(const char *url, const char *key, long timeout_ms, int max_tries)
{
    struct lp_api_options o = {
        .base_url = url ? url : emu.base_url,
        .api_key = key ? key : KEY,
        .timeout_ms = timeout_ms,
        .max_tries = max_tries,
        .backoff_ms = 10,
    };
    lp_api *api = lp_api_new(&o);
    CHECK(api != NULL);
    return api;
}

static void control_ok(const char *method, const char *path, const char *json)
{
    long st = lp_emu_control(&emu, method, path, json, NULL);
    if (st < 200 || st > 299)
        fprintf(stderr, "control %s %s %s -> %ld\n", method, path, json ? json : "", st);
    CHECK(st >= 200 && st <= 299);
}

static void reset(const char *json)
{
    control_ok("POST", "/_emu/reset", json);
    control_ok("POST", "/_emu/faults/clear", "{}");
}

static void fault(const char *json)
{
    control_ok("POST", "/_emu/faults", json);
}

/* Returns the parsed answer of a control GET (caller: cJSON_Delete). */
static cJSON *control_json(const char *path)
{
    char *body = NULL;
    cJSON *root = NULL;
    if (lp_emu_control(&emu, "GET", path, NULL, &body) == 200)
        root = cJSON_Parse(body);
    free(body);
    CHECK(root != NULL);
    return root;
}

/* The emulator's record of audience id (borrowed from state), NULL when absent. */
static cJSON *state_find(cJSON *state, const char *id)
{
    cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(state, "audiences"))
    {
        const cJSON *aid = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (cJSON_IsString(aid) && strcmp(aid->valuestring, id) == 0)
            return a;
    }
    return NULL;
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Creates an audience "elsewhere"; returns its id (malloc'd, caller frees). */
static char *emu_create(const char *json)
{
    char *body = NULL, *id = NULL;
    lp_emu_control(&emu, "POST", "/_emu/audiences", json, &body);
    cJSON *root = cJSON_Parse(body ? body : "");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const char *s = json_str(data ? data : root, "id");
    if (s)
        id = strdup(s);
    cJSON_Delete(root);
    free(body);
    CHECK(id != NULL);
    return id;
}

/* Whether two JSON texts hold the same value. */
static int same_json(const char *a, const char *b)
{
    cJSON *ja = cJSON_Parse(a ? a : ""), *jb = cJSON_Parse(b ? b : "");
    int same = ja && jb && cJSON_Compare(ja, jb, 1);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    return same;
}

static int same_json_item(const char *a, const cJSON *b)
{
    char *text = b ? cJSON_PrintUnformatted(b) : NULL;
    int same = text && same_json(a, text);
    free(text);
    return same;
}

/* --- stderr capture (to see what the log says) ------------------------------ */

struct capture {
    int saved_fd;
    FILE *file;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    c->saved_fd = dup(2);
    dup2(fileno(c->file), 2);
}

/* Returns what was written to stderr since capture_start; malloc'd, caller frees. */
static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    long len = ftell(c->file);
    char *text = calloc(1, (size_t)(len > 0 ? len : 0) + 1);
    rewind(c->file);
    if (len > 0 && fread(text, 1, (size_t)len, c->file) != (size_t)len)
        text[0] = '\0';
    fclose(c->file);
    return text;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int count_substr(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* --- cases ----------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_list_pages(void)
{
    struct lp_audience *arr = NULL;
    struct lp_api_error err;
    size_t n = 0;
    reset("{\"seed\":250}");
    lp_api *api = client(NULL, NULL, 0, 0);

    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 250);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 3);
    CHECK_INT(lp_emu_count_requests(&emu, NULL, NULL), 3);
    CHECK_INT(lp_api_request_count(api), 3);

    /* The pages asked for: offset 0 first, then 100 and 200 in either order
     * (once meta.total is known the rest are fetched in parallel), each with
     * limit 100. */
    cJSON *log = control_json("/_emu/log");
    const cJSON *req;
    int i = 0, seen = 0;
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(log, "requests"))
    {
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(req, "query");
        const char *offset = json_str(q, "offset");
        int page =
            offset && (!strcmp(offset, "0") || !strcmp(offset, "100") || !strcmp(offset, "200"))
                ? atoi(offset) / 100
                : -1;
        CHECK(page >= 0);
        if (i++ == 0)
            CHECK_INT(page, 0);
        if (page >= 0)
            seen |= 1 << page;
        CHECK_STR(json_str(q, "limit"), "100");
    }
    CHECK_INT(seen, 7);
    cJSON_Delete(log);

    /* 250 different ids, each matching the emulator's record. */
    char **ids = calloc(n ? n : 1, sizeof *ids);
    cJSON *state = control_json("/_emu/state");
    int matched = 0;
    for (size_t k = 0; k < n; k++) {
        const cJSON *s = arr[k].id ? state_find(state, arr[k].id) : NULL;
        ids[k] = arr[k].id;
        if (s && arr[k].name && arr[k].status && !strcmp(json_str(s, "name"), arr[k].name) &&
            !strcmp(json_str(s, "status"), arr[k].status) &&
            cJSON_GetObjectItemCaseSensitive(s, "audienceSize")->valuedouble ==
                (double)arr[k].audience_size &&
            arr[k].created_at && !strcmp(json_str(s, "createdAt"), arr[k].created_at) &&
            arr[k].config == NULL)
            matched++;
    }
    CHECK_INT(matched, 250);
    qsort(ids, n, sizeof *ids, cmp_str);
    int dups = 0;
    for (size_t k = 1; k < n; k++)
        dups += ids[k] && ids[k - 1] && strcmp(ids[k], ids[k - 1]) == 0;
    CHECK_INT(dups, 0);
    free(ids);
    cJSON_Delete(state);
    lp_audience_array_free(arr, n);

    /* An exact multiple of the page size: meta.total saves the empty page... */
    reset("{\"seed\":200}");
    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 200);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 2);
    lp_audience_array_free(arr, n);

    /* ...and without meta one more (empty) page is needed to know the end. */
    reset("{\"seed\":200}");
    CHECK_INT(lp_emu_control(&emu, "POST", "/_emu/settings", "{\"list_meta\":false}", NULL), 200);
    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 200);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 3);
    lp_audience_array_free(arr, n);
    CHECK_INT(lp_emu_control(&emu, "POST", "/_emu/settings", "{\"list_meta\":true}", NULL), 200);

    reset("{}");
    arr = NULL;
    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 0);
    CHECK(arr != NULL);
    lp_audience_array_free(arr, n);
    lp_api_free(api);
}

/* The fault body: a full page of 100 audiences whose ids start at first. */
static char *fixed_page_fault(int first, int count)
{
    cJSON *f = cJSON_CreateObject(), *body = cJSON_CreateObject();
    cJSON *data = cJSON_AddArrayToObject(body, "data");
    for (int i = 0; i < 100; i++) {
        char id[40], name[40];
        snprintf(id, sizeof id, "fixed-%04d", first + i);
        snprintf(name, sizeof name, "Fixed %d", first + i);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "id", id);
        cJSON_AddStringToObject(a, "name", name);
        cJSON_AddStringToObject(a, "status", "draft");
        cJSON_AddNumberToObject(a, "audienceSize", i);
        cJSON_AddItemToArray(data, a);
    }
    cJSON_AddStringToObject(f, "method", "GET");
    cJSON_AddStringToObject(f, "path", AUD_PATH);
    cJSON_AddStringToObject(f, "kind", "wrong_shape");
    cJSON_AddNumberToObject(f, "count", count);
    cJSON_AddItemToObject(f, "body", body);
    char *text = cJSON_PrintUnformatted(f);
    cJSON_Delete(f);
    return text;
}

/* A server that answers the same full page at every offset must not make the
 * listing loop forever; overlapping pages keep the first copy of each id. */
static void test_list_dedupe(void)
{
    struct lp_audience *arr = NULL;
    struct lp_api_error err;
    size_t n = 0;
    reset("{}");
    lp_api *api = client(NULL, NULL, 0, 0);

    char *f = fixed_page_fault(0, 50);
    fault(f);
    free(f);
    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 100);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 2);
    lp_audience_array_free(arr, n);

    /* Pages 0-99, 50-149, then the (empty) real list: 150 unique. */
    reset("{}");
    f = fixed_page_fault(0, 1);
    fault(f);
    free(f);
    f = fixed_page_fault(50, 1);
    fault(f);
    free(f);
    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 150);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 3);
    if (n == 150) {
        CHECK_STR(arr[0].id, "fixed-0000");
        CHECK_STR(arr[50].id, "fixed-0050");
        CHECK_INT(arr[50].audience_size, 50); /* the first copy, not the second (0) */
        CHECK_STR(arr[149].id, "fixed-0149");
    }
    lp_audience_array_free(arr, n);
    lp_api_free(api);
}

static void test_get(void)
{
    struct lp_audience a = {0};
    struct lp_api_error err;
    reset("{}");
    char *id = emu_create("{\"name\":\"Got me\",\"status\":\"paused\",\"audienceSize\":42,"
                          "\"config\":" CONFIG_A "}");
    lp_api *api = client(NULL, NULL, 0, 0);

    CHECK_INT(lp_api_get(api, id, &a, &err), 0);
    CHECK_STR(a.id, id);
    CHECK_STR(a.name, "Got me");
    CHECK_STR(a.status, "paused");
    CHECK_INT(a.audience_size, 42);
    CHECK(same_json(a.config, CONFIG_A));
    lp_audience_clear(&a);

    /* An id is escaped in the path, so it cannot reach another resource. */
    CHECK_INT(lp_api_get(api, "../audiences?x=1", &a, &err), -ENOENT);
    CHECK_INT(err.http_status, 404);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH "/%2E%2E%2Faudiences%3Fx%3D1"), 1);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH "/"), 2);
    lp_audience_clear(&a);

    CHECK_INT(lp_api_get(api, "00000000-0000-4000-8000-000000000000", &a, &err), -ENOENT);
    CHECK_INT(err.http_status, 404);
    CHECK_INT(err.err, ENOENT);
    CHECK_STR(err.code, "NOT_FOUND");
    CHECK(err.message[0] != '\0');
    CHECK(a.id == NULL);
    free(id);
    lp_api_free(api);
}

static void test_create_update_delete(void)
{
    struct lp_audience a = {0}, b = {0};
    struct lp_api_error err;
    reset("{}");
    lp_api *api = client(NULL, NULL, 0, 0);

    CHECK_INT(lp_api_create(api, "Brand new", NULL, CONFIG_A, &a, &err), 0);
    CHECK(a.id != NULL);
    CHECK_STR(a.name, "Brand new");
    CHECK_STR(a.status, "draft");
    CHECK(same_json(a.config, CONFIG_A));
    CHECK_INT(lp_emu_count_requests(&emu, "POST", AUD_PATH), 1);

    cJSON *state = control_json("/_emu/state");
    cJSON *s = a.id ? state_find(state, a.id) : NULL;
    CHECK(s != NULL);
    CHECK_STR(json_str(s, "name"), "Brand new");
    CHECK(same_json_item(CONFIG_A, cJSON_GetObjectItemCaseSensitive(s, "config")));
    cJSON_Delete(state);

    /* PATCH sends only what changes. */
    CHECK_INT(lp_api_update(api, a.id, NULL, "paused", NULL, &b, &err), 0);
    CHECK_STR(b.status, "paused");
    CHECK_STR(b.name, "Brand new");
    cJSON *log = control_json("/_emu/log");
    const cJSON *last = NULL, *req;
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(log, "requests")) last = req;
    CHECK_STR(json_str(last, "method"), "PATCH");
    CHECK(
        same_json_item("{\"status\":\"paused\"}", cJSON_GetObjectItemCaseSensitive(last, "body")));
    cJSON_Delete(log);
    lp_audience_clear(&b);

    const char *config_b = "{\"topicIds\":[1,2,3],\"minScore\":null,\"maxScore\":80,"
                           "\"minTopicOverlap\":2,\"filters\":{\"x\":{\"values\":[\"y\"]}}}";
    CHECK_INT(lp_api_update(api, a.id, "Renamed / really", NULL, config_b, &b, &err), 0);
    CHECK_STR(b.name, "Renamed / really");
    CHECK(same_json(b.config, config_b));
    state = control_json("/_emu/state");
    s = a.id ? state_find(state, a.id) : NULL;
    CHECK_STR(json_str(s, "name"), "Renamed / really");
    CHECK_STR(json_str(s, "status"), "paused");
    CHECK(same_json_item(config_b, cJSON_GetObjectItemCaseSensitive(s, "config")));
    cJSON_Delete(state);
    lp_audience_clear(&b);

    CHECK_INT(lp_api_delete(api, a.id, &err), 0);
    state = control_json("/_emu/state");
    CHECK(a.id && state_find(state, a.id) == NULL);
    cJSON_Delete(state);
    CHECK_INT(lp_api_delete(api, a.id, &err), -ENOENT);
    CHECK_STR(err.code, "NOT_FOUND");
    CHECK_INT(lp_api_update(api, a.id, NULL, "active", NULL, &b, &err), -ENOENT);
    CHECK(b.id == NULL);
    lp_audience_clear(&a);
    lp_api_free(api);
}

static void test_api_errors(void)
{
    struct lp_audience a = {0};
    struct lp_api_error err;
    reset("{\"slots\":1}");
    lp_api *api = client(NULL, NULL, 0, 0);

    CHECK_INT(lp_api_create(api, "Empty topics", NULL, "{\"topicIds\":[]}", &a, &err), -EINVAL);
    CHECK_INT(err.http_status, 400);
    CHECK_INT(err.err, EINVAL);
    CHECK_STR(err.code, "VALIDATION_ERROR");
    CHECK(strstr(err.message, "topicIds") != NULL);
    CHECK(a.id == NULL);
    CHECK_INT(lp_emu_count_requests(&emu, "POST", AUD_PATH), 1);

    CHECK_INT(lp_api_create(api, "First active", "active", CONFIG_A, &a, &err), 0);
    lp_audience_clear(&a);
    CHECK_INT(lp_api_create(api, "Second", NULL, CONFIG_A, &a, &err), 0);
    struct lp_audience b = {0};
    CHECK_INT(lp_api_update(api, a.id, NULL, "active", NULL, &b, &err), -EDQUOT);
    CHECK(b.id == NULL);
    CHECK_INT(err.http_status, 403);
    CHECK_STR(err.code, "SLOTS_FULL");
    CHECK(err.message[0] != '\0');
    lp_audience_clear(&a);

    lp_api *bad = client(NULL, "sk_wrong_key_1234", 0, 0);
    struct lp_audience *arr = NULL;
    size_t n = 0;
    CHECK_INT(lp_api_list(bad, &arr, &n, &err), -EACCES);
    CHECK_INT(err.http_status, 401);
    CHECK_STR(err.code, "UNAUTHORIZED");
    CHECK_INT(lp_api_request_count(bad), 1); /* a 401 is final */
    CHECK(strstr(err.message, "sk_wrong_key_1234") == NULL);
    lp_api_free(bad);
    lp_api_free(api);
}

static void test_retry_5xx(void)
{
    struct lp_audience *arr = NULL;
    struct lp_api_error err;
    size_t n = 0;
    reset("{\"seed\":5}");
    lp_api *api = client(NULL, NULL, 0, 3);

    fault("{\"method\":\"GET\",\"kind\":\"status\",\"status\":500,\"count\":2}");
    CHECK_INT(lp_api_list(api, &arr, &n, &err), 0);
    CHECK_INT(n, 5);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 3);
    lp_audience_array_free(arr, n);

    reset("{\"seed\":5}");
    fault("{\"method\":\"GET\",\"kind\":\"status\",\"status\":503,\"count\":3}");
    CHECK_INT(lp_api_list(api, &arr, &n, &err), -EIO);
    CHECK_INT(err.http_status, 503);
    CHECK_INT(err.err, EIO);
    CHECK_STR(err.code, "INTERNAL_ERROR");
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH), 3);

    /* A 4xx is an answer, not a hiccup: no retry. */
    reset("{}");
    struct lp_audience a = {0};
    CHECK_INT(lp_api_get(api, "nope", &a, &err), -ENOENT);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH "/nope"), 1);
    lp_api_free(api);
}

static void test_retry_after(void)
{
    struct lp_audience a = {0};
    struct lp_api_error err;
    reset("{}");
    char *id = emu_create("{\"name\":\"Limited\"}");
    lp_api *api = client(NULL, NULL, 5000, 3);

    fault("{\"kind\":\"retry_after\",\"seconds\":1,\"count\":1}");
    double t0 = now_s();
    CHECK_INT(lp_api_get(api, id, &a, &err), 0);
    double took = now_s() - t0;
    CHECK(took >= 1.0);
    CHECK(took < 3.0);
    CHECK_STR(a.name, "Limited");
    CHECK_INT(lp_emu_count_requests(&emu, "GET", NULL), 2);
    lp_audience_clear(&a);

    /* Still limited after every try: EAGAIN, after two waits of 1 s (none
     * after the third and last try). */
    control_ok("POST", "/_emu/log/clear", "{}");
    fault("{\"kind\":\"retry_after\",\"seconds\":1,\"count\":10}");
    t0 = now_s();
    CHECK_INT(lp_api_get(api, id, &a, &err), -EAGAIN);
    took = now_s() - t0;
    CHECK(took >= 2.0);
    CHECK(took < 2.9);
    CHECK_INT(err.http_status, 429);
    CHECK_INT(err.err, EAGAIN);
    CHECK_STR(err.code, "RATE_LIMITED");
    CHECK_INT(lp_emu_count_requests(&emu, "GET", NULL), 3);
    control_ok("POST", "/_emu/faults/clear", "{}");

    /* A huge Retry-After (here as an HTTP-date an hour ahead) is capped. */
    struct lp_api_options o = {.base_url = emu.base_url,
                               .api_key = KEY,
                               .max_tries = 2,
                               .backoff_ms = 10,
                               .max_retry_after_ms = 300};
    lp_api *capped = lp_api_new(&o);
    char date[64], f[256];
    time_t later = time(NULL) + 3600;
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&later, &tm));
    snprintf(f, sizeof f,
             "{\"kind\":\"status\",\"status\":503,\"headers\":{\"Retry-After\":\"%s\"}}", date);
    fault(f);
    t0 = now_s();
    CHECK_INT(lp_api_get(capped, id, &a, &err), 0);
    took = now_s() - t0;
    CHECK(took >= 0.29);
    CHECK(took < 2.0);
    lp_audience_clear(&a);
    lp_api_free(capped);
    free(id);
    lp_api_free(api);
}

static void test_bad_answers(void)
{
    struct lp_audience a = {0}, *arr = NULL;
    struct lp_api_error err;
    size_t n = 0;
    reset("{\"seed\":3}");
    lp_api *api = client(NULL, NULL, 0, 3);

    fault("{\"kind\":\"garbage\"}");
    CHECK_INT(lp_api_list(api, &arr, &n, &err), -EIO);
    CHECK_INT(err.err, EIO);
    CHECK_INT(err.http_status, 200);
    CHECK(err.answer_lost); /* a 200 was carried out, whatever it said */
    CHECK(err.message[0] != '\0');
    CHECK(arr == NULL);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", NULL), 1); /* a 200 is not retried */

    fault("{\"kind\":\"wrong_shape\"}");
    CHECK_INT(lp_api_list(api, &arr, &n, &err), -EIO);
    CHECK(err.message[0] != '\0');

    char *id = emu_create("{\"name\":\"Shape\"}");
    fault("{\"kind\":\"wrong_shape\"}");
    CHECK_INT(lp_api_get(api, id, &a, &err), -EIO);
    CHECK(a.id == NULL);
    fault("{\"kind\":\"garbage\",\"status\":502}");
    fault("{\"kind\":\"garbage\",\"status\":502}");
    fault("{\"kind\":\"garbage\",\"status\":502}");
    CHECK_INT(lp_api_get(api, id, &a, &err), -EIO);
    CHECK_INT(err.http_status, 502);
    CHECK(strstr(err.message, "Bad Gateway") != NULL); /* the raw text, trimmed */
    free(id);
    lp_api_free(api);
}

static void test_transport(void)
{
    struct lp_audience a = {0};
    struct lp_api_error err;
    reset("{}");
    char *id = emu_create("{\"name\":\"Dropped\"}");
    lp_api *api = client(NULL, NULL, 0, 3);

    /* Warm the connection first, so the drop hits a reused one too. */
    CHECK_INT(lp_api_get(api, id, &a, &err), 0);
    lp_audience_clear(&a);
    fault("{\"method\":\"GET\",\"kind\":\"drop\",\"count\":2}");
    CHECK_INT(lp_api_get(api, id, &a, &err), 0);
    CHECK_STR(a.name, "Dropped");
    /* curl itself resends once when a reused connection dies unanswered, so
     * the two drops take one or two of our tries; either way both were seen. */
    CHECK(lp_emu_count_requests(&emu, "GET", NULL) >= 4);
    CHECK(lp_api_request_count(api) >= 3);
    lp_audience_clear(&a);

    /* A POST whose answer is lost may have created the audience: not repeated. */
    reset("{}");
    fault("{\"method\":\"POST\",\"kind\":\"status\",\"status\":500}");
    CHECK_INT(lp_api_create(api, "Once", NULL, CONFIG_A, &a, &err), -EIO);
    CHECK_INT(err.http_status, 500);
    CHECK(!err.answer_lost); /* the API answered: it failed */
    CHECK_INT(lp_emu_count_requests(&emu, "POST", NULL), 1);
    fault("{\"method\":\"POST\",\"kind\":\"drop\",\"process\":true}");
    CHECK_INT(lp_api_create(api, "Once", NULL, CONFIG_A, &a, &err), -EIO);
    CHECK_INT(err.http_status, 0);
    CHECK(err.answer_lost); /* sent, never answered: the caller may look for it */
    CHECK_INT(lp_emu_count_requests(&emu, "POST", NULL), 2);
    cJSON *state = control_json("/_emu/state");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(state, "audiences")), 1);
    cJSON_Delete(state);
    /* A 429 means "not done": a POST may repeat it. */
    fault("{\"method\":\"POST\",\"kind\":\"retry_after\",\"seconds\":0}");
    CHECK_INT(lp_api_create(api, "After 429", NULL, CONFIG_A, &a, &err), 0);
    CHECK_INT(lp_emu_count_requests(&emu, "POST", NULL), 4);
    lp_audience_clear(&a);

    /* A DELETE that went through but whose answer was a 500: the retry's 404
     * means the audience is gone, which is what was asked. */
    reset("{}");
    free(id);
    id = emu_create("{\"name\":\"Gone twice\"}");
    fault("{\"method\":\"DELETE\",\"kind\":\"status\",\"status\":500,\"process\":true}");
    CHECK_INT(lp_api_delete(api, id, &err), 0);
    CHECK_INT(lp_emu_count_requests(&emu, "DELETE", NULL), 2);
    /* ...but a 404 on the first try is a real ENOENT. */
    CHECK_INT(lp_api_delete(api, id, &err), -ENOENT);
    /* and after a 429 (certainly not done) too. */
    fault("{\"method\":\"DELETE\",\"kind\":\"retry_after\",\"seconds\":0}");
    CHECK_INT(lp_api_delete(api, id, &err), -ENOENT);
    free(id);
    lp_api_free(api);
}

struct worker {
    lp_api *api;
    const char *id;
    int ok;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 50; i++) {
        struct lp_audience a = {0};
        struct lp_api_error err;
        if (lp_api_get(w->api, w->id, &a, &err) == 0 && a.name && !strcmp(a.name, "Shared"))
            w->ok++;
        lp_audience_clear(&a);
    }
    lp_http_thread_cleanup();
    return NULL;
}

static void test_threads(void)
{
    struct worker w[8];
    pthread_t t[8];
    reset("{}");
    char *id = emu_create("{\"name\":\"Shared\"}");
    lp_api *api = client(NULL, NULL, 0, 0);

    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){api, id, 0};
        CHECK_INT(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    CHECK_INT(ok, 400);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", AUD_PATH "/"), 400);
    CHECK_INT(lp_api_request_count(api), 400);
    free(id);
    lp_api_free(api);
}

/* Issue 15: 16 threads asking at once share at most 8 connections (curl's
 * per-host limit in http_loop.c; the rest wait their turn), never one per
 * request, and over HTTP/1.1 the client says 8 are worth sending at once. */
static void test_shared_connections(void)
{
    struct worker w[16];
    pthread_t t[16];
    reset("{\"latency_ms\":20}");
    char *id = emu_create("{\"name\":\"Shared\"}");
    lp_api *api = client(NULL, NULL, 0, 0);
    control_ok("POST", "/_emu/conns/clear", "{}");

    for (int i = 0; i < 16; i++) {
        w[i] = (struct worker){api, id, 0};
        CHECK_INT(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    CHECK_INT(ok, 800);
    cJSON *conns = control_json("/_emu/conns");
    double opened = cJSON_GetNumberValue(cJSON_GetObjectItem(conns, "connections"));
    double most = cJSON_GetNumberValue(cJSON_GetObjectItem(conns, "max_in_flight"));
    CHECK(opened >= 1 && opened <= 8);
    CHECK(most >= 2 && most <= 8);
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(conns, "requests")), 800);
    CHECK_INT(lp_api_parallelism(api), 8);
    cJSON_Delete(conns);
    reset("{\"latency_ms\":0}");
    free(id);
    lp_api_free(api);
}

static void test_hung_server(void)
{
    struct lp_audience *arr = NULL;
    struct lp_api_error err;
    size_t n = 0;
    reset("{}");
    lp_api *api = client(NULL, NULL, 1000, 2);

    fault("{\"kind\":\"delay\",\"seconds\":10,\"count\":2}");
    double t0 = now_s();
    CHECK_INT(lp_api_list(api, &arr, &n, &err), -EIO);
    double took = now_s() - t0;
    CHECK(took < 4.0);
    CHECK(took >= 1.9);
    CHECK_INT(err.http_status, 0);
    CHECK(strstr(err.message, emu.base_url) != NULL);
    CHECK_INT(lp_api_request_count(api), 2);
    lp_api_free(api);
}

/* A timeout after the request went out means it may have been carried out,
 * also on a reused connection (where curl reports no connect time). */
static void test_timeout_after_sending(void)
{
    struct lp_audience a = {0};
    struct lp_api_error err;
    reset("{}");
    char *id = emu_create("{\"name\":\"Slow delete\"}");
    lp_api *api = client(NULL, NULL, 1000, 3);

    CHECK_INT(lp_api_get(api, id, &a, &err), 0); /* opens the connection to reuse */
    lp_audience_clear(&a);
    /* Try 1 is carried out at 1.1 s, after we gave up at 1 s; try 2 is
     * answered at about 1.8 s: 404, which means the first one went through. */
    fault("{\"method\":\"DELETE\",\"kind\":\"delay\",\"seconds\":1.1}");
    fault("{\"method\":\"DELETE\",\"kind\":\"delay\",\"seconds\":0.8}");
    CHECK_INT(lp_api_delete(api, id, &err), 0);
    CHECK_INT(lp_emu_count_requests(&emu, "DELETE", NULL), 2);

    /* A POST that timed out after sending is not sent again. */
    fault("{\"method\":\"POST\",\"kind\":\"delay\",\"seconds\":1.5}");
    CHECK_INT(lp_api_create(api, "Slow create", NULL, CONFIG_A, &a, &err), -EIO);
    CHECK(strstr(err.message, "no answer from") != NULL);
    CHECK(err.answer_lost);
    CHECK_INT(lp_emu_count_requests(&emu, "POST", NULL), 1);
    free(id);
    lp_api_free(api);
}

/* A port on 127.0.0.1 that nothing listens on (bound once, then closed). */
static int dead_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void test_unreachable(void)
{
    struct lp_audience *arr = NULL, a = {0};
    struct lp_api_error err;
    size_t n = 0;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", dead_port());
    lp_api *api = client(url, NULL, 0, 3);

    double t0 = now_s();
    CHECK_INT(lp_api_list(api, &arr, &n, &err), -EIO);
    CHECK(now_s() - t0 < 2.0);
    CHECK_INT(err.http_status, 0);
    CHECK_INT(err.err, EIO);
    CHECK(strstr(err.message, "cannot reach") != NULL);
    CHECK(strstr(err.message, url) != NULL);
    CHECK_INT(lp_api_request_count(api), 3);
    /* Refused before anything was sent: even a POST may try again. */
    CHECK_INT(lp_api_create(api, "x", NULL, CONFIG_A, &a, &err), -EIO);
    CHECK(!err.answer_lost);
    CHECK_INT(lp_api_request_count(api), 6);
    lp_api_free(api);
}

/* --- a one-shot HTTP server that records the raw request ----------------- */

struct mini {
    int fd;
    int port;
    pthread_t thread;
    char request[8192]; /* everything received, headers and body */
};

static const char mini_body[] = "{\"data\":{\"id\":\"m1\",\"name\":\"Mini\",\"status\":\"draft\","
                                "\"config\":{\"topicIds\":[1]}}}";

/* Reads one request (headers, then Content-Length bytes), answers, closes. */
static void *mini_run(void *arg)
{
    struct mini *m = arg;
    struct pollfd p = {m->fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1)
        return NULL;
    int c = accept(m->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    size_t len = 0;
    for (;;) {
        struct pollfd q = {c, POLLIN, 0};
        if (poll(&q, 1, 5000) != 1 || len + 1 >= sizeof m->request)
            break;
        ssize_t r = read(c, m->request + len, sizeof m->request - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        m->request[len] = '\0';
        char *end = strstr(m->request, "\r\n\r\n");
        char *cl = strcasestr(m->request, "\r\ncontent-length:");
        if (end &&
            (!cl || cl > end || len >= (size_t)(end + 4 - m->request) + strtoul(cl + 17, NULL, 10)))
            break;
    }
    char answer[512];
    int n = snprintf(answer, sizeof answer,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(mini_body), mini_body);
    if (write(c, answer, (size_t)n) < 0)
        perror("mini write");
    close(c);
    return NULL;
}

static int mini_start(struct mini *m)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    memset(m, 0, sizeof *m);
    m->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(m->fd, 4) != 0 ||
        getsockname(m->fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    m->port = ntohs(sa.sin_port);
    return pthread_create(&m->thread, NULL, mini_run, m) == 0 ? 0 : -1;
}

static void mini_stop(struct mini *m)
{
    pthread_join(m->thread, NULL);
    close(m->fd);
}

static void test_headers(void)
{
    struct mini m;
    struct lp_audience a = {0};
    struct lp_api_error err;
    char url[64];

    CHECK_INT(mini_start(&m), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", m.port);
    lp_api *api = client(url, "sk_mini_key", 0, 1);
    CHECK_INT(lp_api_create(api, "Mini", NULL, "{\"topicIds\":[1]}", &a, &err), 0);
    mini_stop(&m);
    CHECK(starts_with(m.request, "POST /v1/intent/audiences HTTP/1.1\r\n"));
    CHECK(strcasestr(m.request, "\r\nx-api-key: sk_mini_key\r\n") != NULL);
    CHECK(strcasestr(m.request, "\r\naccept: application/json\r\n") != NULL);
    CHECK(strcasestr(m.request, "\r\ncontent-type: application/json\r\n") != NULL);
    CHECK(strcasestr(m.request, "\r\nuser-agent: leadpipefs/" LP_VERSION "\r\n") != NULL);
    CHECK(strcasestr(m.request, "\r\nexpect:") == NULL);
    CHECK(same_json(strstr(m.request, "\r\n\r\n") + 4,
                    "{\"name\":\"Mini\",\"config\":{\"topicIds\":[1]}}"));
    CHECK_STR(a.id, "m1");
    lp_audience_clear(&a);

    CHECK_INT(mini_start(&m), 0);
    lp_api_free(api);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", m.port); /* trailing slash */
    api = client(url, "sk_mini_key", 0, 1);
    CHECK_INT(lp_api_get(api, "a b/c", &a, &err), 0);
    mini_stop(&m);
    CHECK(starts_with(m.request, "GET /v1/intent/audiences/a%20b%2Fc HTTP/1.1\r\n"));
    CHECK(strcasestr(m.request, "\r\ncontent-type:") == NULL);
    CHECK(strcasestr(m.request, "\r\nx-api-key: sk_mini_key\r\n") != NULL);
    lp_audience_clear(&a);
    lp_api_free(api);
}

/* The key never reaches the log; -d shows one line per exchange. */
static void test_log(void)
{
    struct capture cap;
    struct lp_audience a = {0};
    struct lp_api_error err;
    const char *key = "sk_secret_in_the_log";

    lp_log_set_secret(key);
    capture_start(&cap);
    lp_log(LP_LOG_WARNING, "key=%s and again %s.", key, key);
    lp_log(LP_LOG_DEBUG, "hidden without -d");
    char *text = capture_end(&cap);
    CHECK_STR(text, "leadpipefs: key=[REDACTED] and again [REDACTED].\n");
    free(text);

    reset("{}");
    char *id = emu_create("{\"name\":\"Logged\"}");
    lp_api *api = client(NULL, key, 0, 1); /* a wrong key: 401, logged */
    lp_log_init("leadpipefs", false, true);
    capture_start(&cap);
    CHECK_INT(lp_api_get(api, id, &a, &err), -EACCES);
    text = capture_end(&cap);
    lp_log_init("leadpipefs", false, false);
    CHECK(strstr(text, key) == NULL);
    CHECK(strstr(text, "UNAUTHORIZED") != NULL);
    char want[128];
    snprintf(want, sizeof want, "leadpipefs: GET " AUD_PATH "/%s 401 ", id);
    CHECK(strstr(text, want) != NULL);
    CHECK_INT(count_substr(text, "ms\n"), 1);
    free(text);
    lp_log_set_secret(NULL);
    free(id);
    lp_api_free(api);
}

/* --- the control directory's answers: account, filters, topics ------------- */

#define ACCOUNT_PATH "/v1/data/account"
#define FILTERS_PATH AUD_PATH "/filters"
#define TOPICS_PATH "/v1/intent/topics"

/* The emulator's raw answer to GET path with the key (malloc'd, caller frees). */
static char *emu_api_get(const char *path)
{
    struct lp_http_options o = {.base_url = emu.base_url, .api_key = KEY};
    struct lp_http_response r = {0};
    char *body = NULL;
    lp_http *h = lp_http_new(&o);

    if (h && lp_http_request(h, "GET", path, NULL, &r) == 0 && r.status == 200 && r.body)
        body = strdup(r.body);
    lp_http_response_clear(&r);
    lp_http_free(h);
    CHECK(body != NULL);
    return body;
}

/* The answer's "data" as the control files must show it: json_print's pretty
 * form (malloc'd; NULL when the answer has no data). */
static char *pretty_data_of(const char *answer)
{
    cJSON *root = cJSON_Parse(answer ? answer : "");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    char *text = data ? lp_json_pretty(data, SIZE_MAX) : NULL;
    cJSON_Delete(root);
    return text;
}

/* Checks that call(GET path) gives the pretty "data" of the emulator's answer,
 * in one request; then a 500 is retried, a 401 is EACCES, a body that cannot
 * be read is EIO without a retry. Returns the text of the first call
 * (malloc'd, caller frees). */
static char *check_pretty_call(int (*call)(lp_api *, char **, size_t *, struct lp_api_error *),
                               const char *path)
{
    struct lp_api_error err;
    char *first = NULL, *text = NULL, f[256];
    size_t len = 0;
    lp_api *api = client(NULL, NULL, 0, 3);

    control_ok("POST", "/_emu/log/clear", "{}");
    CHECK_INT(call(api, &first, &len, &err), 0);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", path), 1);
    CHECK_INT(lp_emu_count_requests(&emu, NULL, NULL), 1);
    char *answer = emu_api_get(path);
    char *want = pretty_data_of(answer);
    CHECK(want != NULL);
    CHECK_STR(first, want);
    CHECK_INT(len, first ? strlen(first) : 0);
    cJSON *root = cJSON_Parse(answer ? answer : "");
    CHECK(same_json_item(first, cJSON_GetObjectItemCaseSensitive(root, "data")));
    cJSON_Delete(root);
    free(want);
    free(answer);

    /* A 500, then the answer. */
    control_ok("POST", "/_emu/log/clear", "{}");
    snprintf(f, sizeof f, "{\"method\":\"GET\",\"path\":\"%s\",\"kind\":\"status\",\"status\":500}",
             path);
    fault(f);
    CHECK_INT(call(api, &text, &len, &err), 0);
    CHECK(text && text[0] && text[len - 1] == '\n');
    CHECK_INT(lp_emu_count_requests(&emu, "GET", path), 2);
    free(text);

    /* A body that is not JSON, or has no "data": EIO, not retried. */
    control_ok("POST", "/_emu/log/clear", "{}");
    snprintf(f, sizeof f, "{\"path\":\"%s\",\"kind\":\"garbage\"}", path);
    fault(f);
    text = (char *)"unset";
    CHECK_INT(call(api, &text, &len, &err), -EIO);
    CHECK(text == NULL);
    CHECK_INT(len, 0);
    CHECK_INT(err.http_status, 200);
    CHECK(strstr(err.message, "not valid JSON") != NULL);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", path), 1);
    snprintf(f, sizeof f, "{\"path\":\"%s\",\"kind\":\"wrong_shape\",\"body\":{\"x\":{}}}", path);
    fault(f);
    CHECK_INT(call(api, &text, &len, &err), -EIO);
    CHECK(strstr(err.message, "\"data\"") != NULL);
    lp_api_free(api);

    /* A wrong key: 401, final. */
    lp_api *bad = client(NULL, "sk_wrong_key_1234", 0, 3);
    text = (char *)"unset";
    CHECK_INT(call(bad, &text, &len, &err), -EACCES);
    CHECK(text == NULL);
    CHECK_INT(err.http_status, 401);
    CHECK_STR(err.code, "UNAUTHORIZED");
    CHECK_INT(lp_api_request_count(bad), 1);
    lp_api_free(bad);
    return first;
}

static void test_account(void)
{
    reset("{\"slots\":3}");
    /* Numbers at the edge of what a double holds exactly, and a fraction. */
    control_ok("PATCH", "/_emu/account",
               "{\"plan\":\"scale\",\"credits\":{\"total\":9007199254740991,\"used\":0.25,"
               "\"available\":-1}}");
    char *text = check_pretty_call(lp_api_account, ACCOUNT_PATH);
    CHECK(text && strstr(text, "\n  \"credits\": {\n    \"total\": 9007199254740991,\n") != NULL);
    CHECK(text && strstr(text, "\n    \"used\": 0.25,\n") != NULL);
    cJSON *acct = cJSON_Parse(text ? text : "");
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(acct, "slots");
    CHECK(cJSON_GetObjectItemCaseSensitive(slots, "total") &&
          cJSON_GetObjectItemCaseSensitive(slots, "total")->valuedouble == 3);
    cJSON_Delete(acct);
    free(text);
}

static void test_filters(void)
{
    reset("{}");
    char *text = check_pretty_call(lp_api_filters, FILTERS_PATH);
    cJSON *cat = cJSON_Parse(text ? text : "");
    CHECK(cJSON_IsArray(cat));
    CHECK_INT(cJSON_GetArraySize(cat), 12);
    CHECK_STR(json_str(cJSON_GetArrayItem(cat, 0), "key"), "role.seniority");
    CHECK(text && starts_with(text, "[\n  {\n    \"key\": \"role.seniority\",\n"));
    cJSON_Delete(cat);
    free(text);
}

/* topics.tsv as it must be for a topics answer, built here from the JSON. */
static char *expected_tsv(const char *answer)
{
    static const char *const keys[] = {"topicId", "topicName", "type", "industry", "category"};
    struct lp_sbuf b = {0};
    cJSON *root = cJSON_Parse(answer ? answer : "");
    const cJSON *t;

    lp_sb_adds(&b, "topicId\ttopicName\ttype\tindustry\tcategory\n");
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "data"))
    {
        for (int k = 0; k < 5; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, keys[k]);
            char num[32];
            if (k > 0)
                lp_sb_addc(&b, '\t');
            if (cJSON_IsNumber(v)) {
                snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
                lp_sb_adds(&b, num);
            } else if (cJSON_IsString(v)) {
                for (const char *p = v->valuestring; *p; p++)
                    lp_sb_addc(&b, *p == '\t' || *p == '\r' || *p == '\n' ? ' ' : *p);
            }
        }
        lp_sb_addc(&b, '\n');
    }
    cJSON_Delete(root);
    return lp_sb_finish(&b);
}

/* A wrong_shape fault for the next GET of the topics: the emulator's own page
 * at limit/offset 0, with meta.total set to total (-1: as the emulator says).
 * Clears the request log (fetching the page is a request too). */
static void fault_first_topics_page(int limit, long long total)
{
    char path[96], *page = NULL;
    snprintf(path, sizeof path, TOPICS_PATH "?limit=%d&offset=0", limit);
    CHECK_INT(lp_emu_control(&emu, "GET", path, NULL, &page), 200);
    cJSON *body = cJSON_Parse(page ? page : "");
    free(page);
    control_ok("POST", "/_emu/log/clear", "{}");
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(body, "meta");
    if (total >= 0)
        cJSON_ReplaceItemInObjectCaseSensitive(meta, "total", cJSON_CreateNumber((double)total));
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "method", "GET");
    cJSON_AddStringToObject(f, "path", TOPICS_PATH);
    cJSON_AddStringToObject(f, "kind", "wrong_shape");
    cJSON_AddItemToObject(f, "body", body);
    char *text = cJSON_PrintUnformatted(f);
    fault(text);
    free(text);
    cJSON_Delete(f);
}

/* The query of the API request number i (0-based) in the emulator's log, as
 * "limit=L&offset=O" ("" without a query); malloc'd. */
static char *logged_query(int i)
{
    cJSON *log = control_json("/_emu/log");
    const cJSON *req = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(log, "requests"), i);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(req, "query");
    char text[128] = "?";
    if (q && !q->child)
        text[0] = '\0';
    else if (json_str(q, "limit") && json_str(q, "offset"))
        snprintf(text, sizeof text, "limit=%s&offset=%s", json_str(q, "limit"),
                 json_str(q, "offset"));
    cJSON_Delete(log);
    return strdup(text);
}

static void check_query(int i, const char *want)
{
    char *q = logged_query(i);
    CHECK_STR(q, want);
    free(q);
}

static int count_char(const char *s, char c)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == c;
    return n;
}

static void test_topics(void)
{
    struct lp_api_error err;
    char *tsv = NULL, *answer = NULL;
    size_t len = 0;
    reset("{}");
    lp_api *api = client(NULL, NULL, 0, 3);

    CHECK_INT(lp_emu_control(&emu, "GET", TOPICS_PATH, NULL, &answer), 200);
    char *want = expected_tsv(answer);
    free(answer);
    CHECK_INT(count_char(want, '\n'), 20001);

    /* Today's API: everything in one answer, no meta, no paging. */
    control_ok("POST", "/_emu/log/clear", "{}");
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), 0);
    CHECK_STR(tsv, want);
    CHECK_INT(len, tsv ? strlen(tsv) : 0);
    CHECK_INT(count_char(tsv, '\n'), 20001);
    CHECK_INT(count_char(tsv, '\t'), 4 * 20001);
    CHECK(tsv && starts_with(tsv, "topicId\ttopicName\ttype\tindustry\tcategory\n100001\t"));
    CHECK(tsv && strstr(tsv, "\n100007\tSales Enablement Platforms\t") != NULL);
    CHECK(tsv && strstr(tsv, "\n100042\tERP  Migration Services\t") != NULL);
    CHECK(tsv && strstr(tsv, "\n100099\tRemote Work Tools\t") != NULL);
    CHECK(tsv && strstr(tsv, "\n120000\t") != NULL);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", TOPICS_PATH), 1);
    CHECK_INT(lp_api_request_count(api), 1);
    check_query(0, "");
    free(tsv);

    /* A server that pages: the first answer holds L topics and a meta.total;
     * the rest come with limit=L from offset L on. */
    static const struct {
        int limit;        /* the first page's size */
        long long total;  /* its meta.total, -1: the true 20000 */
        int requests;     /* all it takes */
        const char *last; /* the last request's query */
    } paged[] = {
        {1000, -1, 20, "limit=1000&offset=19000"},    /* stops at meta.total */
        {1000, 30000, 21, "limit=1000&offset=20000"}, /* total too large: an empty page ends it */
        {1500, 25000, 14, "limit=1500&offset=19500"}, /* a short page ends it */
    };
    for (size_t i = 0; i < sizeof paged / sizeof paged[0]; i++) {
        char second[64];
        snprintf(second, sizeof second, "limit=%d&offset=%d", paged[i].limit, paged[i].limit);
        fault_first_topics_page(paged[i].limit, paged[i].total);
        CHECK_INT(lp_api_topics(api, &tsv, &len, &err), 0);
        CHECK_STR(tsv, want);
        CHECK_INT(lp_emu_count_requests(&emu, "GET", TOPICS_PATH), paged[i].requests);
        check_query(0, "");
        check_query(1, second);
        check_query(paged[i].requests - 1, paged[i].last);
        free(tsv);
    }

    /* At most 1000 pages: pages of 13 stop at 13000 topics. */
    fault_first_topics_page(13, -1);
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), 0);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", TOPICS_PATH), 1000);
    CHECK_INT(count_char(tsv, '\n'), 1 + 13000);
    CHECK(tsv && strncmp(tsv, want, strlen(tsv)) == 0); /* the first 13000, in order */
    check_query(999, "limit=13&offset=12987");
    free(tsv);

    /* A page that fails fails the whole file; a 500 is retried. */
    fault_first_topics_page(1000, -1);
    fault("{\"method\":\"GET\",\"path\":\"" TOPICS_PATH "\",\"kind\":\"status\",\"status\":500}");
    fault("{\"method\":\"GET\",\"path\":\"" TOPICS_PATH "\",\"kind\":\"status\",\"status\":404}");
    tsv = (char *)"unset";
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), -ENOENT);
    CHECK(tsv == NULL);
    CHECK_INT(len, 0);
    CHECK_INT(err.http_status, 404);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", TOPICS_PATH), 3);

    control_ok("POST", "/_emu/log/clear", "{}");
    fault("{\"method\":\"GET\",\"path\":\"" TOPICS_PATH "\",\"kind\":\"status\",\"status\":503}");
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), 0);
    CHECK_STR(tsv, want);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", TOPICS_PATH), 2);
    free(tsv);

    /* Answers that cannot be read: EIO, once. */
    control_ok("POST", "/_emu/log/clear", "{}");
    fault("{\"path\":\"" TOPICS_PATH "\",\"kind\":\"garbage\"}");
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), -EIO);
    CHECK_INT(err.http_status, 200);
    fault("{\"path\":\"" TOPICS_PATH "\",\"kind\":\"wrong_shape\",\"body\":{\"data\":{\"a\":1}}}");
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), -EIO);
    CHECK(strstr(err.message, "not a list") != NULL);
    CHECK_INT(lp_emu_count_requests(&emu, "GET", TOPICS_PATH), 2);

    /* Items that are not topics are left out (and logged), the rest kept. */
    fault("{\"path\":\"" TOPICS_PATH "\",\"kind\":\"wrong_shape\",\"body\":{\"data\":[1,"
          "{\"topicId\":5,\"topicName\":\"Five\"}]}}");
    CHECK_INT(lp_api_topics(api, &tsv, &len, &err), 0);
    CHECK_STR(tsv, "topicId\ttopicName\ttype\tindustry\tcategory\n5\tFive\t\t\t\n");
    free(tsv);

    /* The topics need no key: a client with a wrong one reads them all the same. */
    lp_api *bad = client(NULL, "sk_wrong_key_1234", 0, 3);
    CHECK_INT(lp_api_topics(bad, &tsv, &len, &err), 0);
    CHECK_STR(tsv, want);
    free(tsv);
    lp_api_free(bad);
    free(want);
    lp_api_free(api);
}

int main(void)
{
    const char *const args[] = {"--empty", NULL};
    lp_log_init("leadpipefs", false, false);
    if (lp_emu_start(&emu, args) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    test_list_pages();
    test_list_dedupe();
    test_get();
    test_create_update_delete();
    test_api_errors();
    test_retry_5xx();
    test_retry_after();
    test_bad_answers();
    test_transport();
    test_threads();
    test_shared_connections();
    test_log();
    test_headers();
    test_hung_server();
    test_timeout_after_sending();
    test_unreachable();
    test_account();
    test_filters();
    test_topics();
    lp_emu_stop(&emu);
    return lp_test_summary();
}
