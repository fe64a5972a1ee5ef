/* test_model.c - unit tests for the pure model layer: API answers -> audiences,
 * error bodies -> errno, request bodies, status words, and config.json checks,
 * canonical and pretty printing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "testutil.h"

/* A malloc'd copy of s[0..len) with no NUL after it, so that a parser
 * reading past the end is caught by ASan and valgrind. Caller frees. */
static char *exact_copy(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    if (len)
        memcpy(p, s, len);
    return p;
}

/* Deterministic across libcs, unlike rand(). */
static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------ */
/* API answers                                                              */

static int parse_list(const char *body, size_t len, struct lp_audience **arr, size_t *n, char *err,
                      size_t errlen)
{
    char *buf = exact_copy(body, len);
    int rc = lp_parse_list_page(buf, len, arr, n, NULL, NULL, err, errlen);

    free(buf);
    return rc;
}

static int parse_one(const char *body, struct lp_audience *a, char *err, size_t errlen)
{
    size_t len = strlen(body);
    char *buf = exact_copy(body, len);
    int rc = lp_parse_audience_response(buf, len, a, err, errlen);

    free(buf);
    return rc;
}

static void test_list_documented(void)
{
    /* The documented list example, plus a meta object, unknown fields and a
     * second audience with every optional field missing. */
    const char *body = "{\n"
                       "  \"data\": [\n"
                       "    {\n"
                       "      \"id\": \"6fb81599-f601-4afe-b3ff-e8a211cae27d\",\n"
                       "      \"organizationId\": \"0f1815d3-6edc-4e8e-87e1-4d65ef4f1d2c\",\n"
                       "      \"name\": \"Marketing Directors at Tech Companies\",\n"
                       "      \"status\": \"active\",\n"
                       "      \"accessType\": \"paid\",\n"
                       "      \"dailyRefreshEnabled\": true,\n"
                       "      \"audienceSize\": 151,\n"
                       "      \"lastRefreshedAt\": \"2026-05-05T08:45:00.000Z\",\n"
                       "      \"createdAt\": \"2026-05-04T16:20:00.000Z\",\n"
                       "      \"futureField\": {\"nested\": [1, 2, {\"x\": null}]}\n"
                       "    },\n"
                       "    {\"id\": \"b2\", \"name\": \"Second\", \"status\": \"draft\"}\n"
                       "  ],\n"
                       "  \"meta\": {\"total\": 2, \"limit\": 50, \"offset\": 0}\n"
                       "}\n";
    struct lp_audience *arr = NULL;
    size_t n = 0;
    char err[256] = "";

    CHECK_INT(parse_list(body, strlen(body), &arr, &n, err, sizeof(err)), 0);
    CHECK_STR(err, "");
    CHECK_INT(n, 2);
    if (n != 2)
        return;
    CHECK_STR(arr[0].id, "6fb81599-f601-4afe-b3ff-e8a211cae27d");
    CHECK_STR(arr[0].name, "Marketing Directors at Tech Companies");
    CHECK_STR(arr[0].status, "active");
    CHECK_STR(arr[0].access_type, "paid");
    CHECK_INT(arr[0].daily_refresh, 1);
    CHECK_INT(arr[0].audience_size, 151);
    CHECK_STR(arr[0].last_refreshed_at, "2026-05-05T08:45:00.000Z");
    CHECK_STR(arr[0].created_at, "2026-05-04T16:20:00.000Z");
    CHECK(arr[0].updated_at == NULL);
    CHECK(arr[0].config == NULL); /* the list carries no config */

    CHECK_STR(arr[1].id, "b2");
    CHECK_STR(arr[1].name, "Second");
    CHECK_STR(arr[1].status, "draft");
    CHECK(arr[1].access_type == NULL);
    CHECK_INT(arr[1].daily_refresh, -1);
    CHECK_INT(arr[1].audience_size, 0);
    CHECK(arr[1].created_at == NULL && arr[1].updated_at == NULL);
    CHECK(arr[1].last_refreshed_at == NULL && arr[1].config == NULL);

    /* Clearing leaves an empty audience that can be cleared (freed) again. */
    lp_audience_clear(&arr[0]);
    CHECK(arr[0].id == NULL && arr[0].name == NULL && arr[0].status == NULL);
    CHECK(arr[0].access_type == NULL && arr[0].last_refreshed_at == NULL);
    CHECK_INT(arr[0].daily_refresh, -1);
    lp_audience_array_free(arr, n);

    /* The page's own count and meta.total come with it. */
    {
        size_t listed = 0;
        long long total = 0;

        arr = NULL;
        n = 0;
        CHECK_INT(
            lp_parse_list_page(body, strlen(body), &arr, &n, &listed, &total, err, sizeof(err)), 0);
        CHECK_INT(n, 2);
        CHECK_INT(listed, 2);
        CHECK_INT(total, 2);
        lp_audience_array_free(arr, n);
    }
}

/* The standard audience object with one key replaced (value non-NULL) or
 * removed (value NULL). Returns a static buffer. */
static const char *audience_with(const char *key, const char *value)
{
    static const char *const keys[] = {
        "id",           "name",      "status",    "accessType",      "dailyRefreshEnabled",
        "audienceSize", "createdAt", "updatedAt", "lastRefreshedAt", "config"};
    static const char *const values[] = {"\"a1\"",
                                         "\"Name\"",
                                         "\"paused\"",
                                         "\"paid\"",
                                         "false",
                                         "42",
                                         "\"2026-05-04T16:20:00.000Z\"",
                                         "\"2026-05-05T09:15:00.000Z\"",
                                         "null",
                                         "{\"topicIds\":[1]}"};
    static char buf[1024];
    size_t o = 0;

    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "{");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = values[i];

        if (strcmp(keys[i], key) == 0) {
            if (!value)
                continue;
            v = value;
        }
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"%s\": %s", o > 1 ? ", " : "", keys[i],
                              v);
    }
    snprintf(buf + o, sizeof(buf) - o, "}");
    return buf;
}

struct field_case {
    const char *key;
    const char *value; /* NULL: the key is left out */
    bool ok;
};

static const struct field_case field_cases[] = {
    /* required strings */
    {"id", NULL, false},
    {"id", "null", false},
    {"id", "5", false},
    {"id", "true", false},
    {"id", "[]", false},
    {"id", "{}", false},
    {"id", "\"\"", false},
    {"name", NULL, false},
    {"name", "5", false},
    {"name", "null", false},
    {"name", "[\"x\"]", false},
    {"name", "\"\"", true}, /* shown as U+2205 by the name encoding */
    {"status", NULL, false},
    {"status", "1", false},
    {"status", "false", false},
    {"status", "\"archived\"", true}, /* another API word is carried as is */
    /* optional strings */
    {"accessType", NULL, true},
    {"accessType", "null", true},
    {"accessType", "5", false},
    {"accessType", "{}", false},
    {"createdAt", "17", false},
    {"createdAt", "true", false},
    {"updatedAt", "[]", false},
    {"updatedAt", NULL, true},
    {"lastRefreshedAt", "0", false},
    {"lastRefreshedAt", "\"2026-05-05T08:45:00.000Z\"", true},
    /* dailyRefreshEnabled */
    {"dailyRefreshEnabled", "\"true\"", false},
    {"dailyRefreshEnabled", "1", false},
    {"dailyRefreshEnabled", "[]", false},
    {"dailyRefreshEnabled", "null", true},
    {"dailyRefreshEnabled", "true", true},
    /* audienceSize */
    {"audienceSize", "\"151\"", false},
    {"audienceSize", "1.5", false},
    {"audienceSize", "-1", false},
    {"audienceSize", "true", false},
    {"audienceSize", "[151]", false},
    {"audienceSize", "1e400", false},
    {"audienceSize", "null", true},
    {"audienceSize", "151.0", true},
    {"audienceSize", "1e10", true},
    /* config */
    {"config", "\"{}\"", false},
    {"config", "[]", false},
    {"config", "5", false},
    {"config", "null", true},
    {"config", "{}", true},
};

static void test_field_types(void)
{
    for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
        const struct field_case *c = &field_cases[i];
        char body[1200], err[256] = "";
        struct lp_audience one, dummy, *arr = &dummy; /* must be reset */
        size_t n = 99;
        int rc;

        snprintf(body, sizeof(body), "{\"data\":%s}", audience_with(c->key, c->value));
        rc = parse_one(body, &one, err, sizeof(err));
        CHECK_INT(rc, c->ok ? 0 : -1);
        if (rc == 0)
            lp_audience_clear(&one);
        else if (!c->ok)
            CHECK(strstr(err, c->key) != NULL); /* the reason names the field */
        if ((rc == 0) != c->ok)
            fprintf(stderr, "  single audience, %s = %s: %s\n", c->key,
                    c->value ? c->value : "(absent)", err);

        snprintf(body, sizeof(body),
                 "{\"data\":[{\"id\":\"z\",\"name\":\"n\",\"status\":\"draft\"},%s]}",
                 audience_with(c->key, c->value));
        err[0] = '\0';
        /* In a list, an unreadable audience is left out, not the whole list:
         * the good one stays and the reason names the bad one. */
        rc = parse_list(body, strlen(body), &arr, &n, err, sizeof(err));
        CHECK_INT(rc, 0);
        if (rc == 0) {
            CHECK_INT(n, c->ok ? 2 : 1);
            CHECK_STR(arr[0].id, "z");
            if (!c->ok)
                CHECK(strstr(err, "audience 2") != NULL); /* which one is wrong */
            lp_audience_array_free(arr, n);
        }
    }
}

static void test_field_values(void)
{
    char body[1200], err[256];
    struct lp_audience a;

    snprintf(body, sizeof(body), "{\"data\":%s,\"meta\":{\"x\":1}}", audience_with("", NULL));
    CHECK_INT(parse_one(body, &a, err, sizeof(err)), 0);
    CHECK_STR(a.id, "a1");
    CHECK_STR(a.status, "paused");
    CHECK_INT(a.daily_refresh, 0);
    CHECK_INT(a.audience_size, 42);
    CHECK_STR(a.updated_at, "2026-05-05T09:15:00.000Z");
    CHECK(a.last_refreshed_at == NULL); /* null */
    CHECK_STR(a.config, "{\"topicIds\":[1]}");
    lp_audience_clear(&a);

    snprintf(body, sizeof(body), "{\"data\":%s}", audience_with("audienceSize", "1e10"));
    CHECK_INT(parse_one(body, &a, err, sizeof(err)), 0);
    CHECK_INT(a.audience_size, 10000000000LL);
    lp_audience_clear(&a);

    /* The config is kept as canonical compact JSON, key order and values kept
     * (a number a double cannot hold as it was sent: test_json_exact.c). */
    snprintf(body, sizeof(body), "{\"data\":%s}",
             audience_with("config", "{ \"topicIds\": [117805, 117890], \"minScore\": null,\n"
                                     " \"filters\": {\"b\": {\"values\": [\"x\\u00e9\"]}, "
                                     "\"a\": 1.50, \"big\": 12345678901234567}}"));
    CHECK_INT(parse_one(body, &a, err, sizeof(err)), 0);
    CHECK_STR(a.config, "{\"topicIds\":[117805,117890],\"minScore\":null,\"filters\":{\"b\":{"
                        "\"values\":[\"x\xc3\xa9\"]},\"a\":1.5,\"big\":12345678901234567}}");
    lp_audience_clear(&a);

    /* Unicode and escapes in names come out as UTF-8. */
    CHECK_INT(
        parse_one("{\"data\":{\"id\":\"u\",\"name\":\"Caf\\u00e9 \\\"A/B\\\" \\ud83d\\ude00\","
                  "\"status\":\"active\"}}",
                  &a, err, sizeof(err)),
        0);
    CHECK_STR(a.name, "Caf\xc3\xa9 \"A/B\" \xf0\x9f\x98\x80");
    lp_audience_clear(&a);
}

struct garbage_case {
    const char *body;
    bool list_ok, one_ok;
};

static void test_garbage_answers(void)
{
    static const struct garbage_case cases[] = {
        {"", false, false},
        {"   \r\n", false, false},
        {"garbage", false, false},
        {"<html><body>502 Bad Gateway</body></html>", false, false},
        {"{", false, false},
        {"{\"data\":[", false, false},
        {"{\"data\":[]} trailing", false, false},
        {"{\"data\":[]}{\"data\":[]}", false, false},
        {"[]", false, false},
        {"null", false, false},
        {"\"data\"", false, false},
        {"{\"meta\":{}}", false, false},
        {"{\"data\":null}", false, false},
        {"{\"data\":\"x\"}", false, false},
        {"{\"data\":5}", false, false},
        /* Items, but none readable: unusable, not "no audiences". */
        {"{\"data\":[1]}", false, false},
        {"{\"data\":[null]}", false, false},
        {"{\"data\":[[]]}", false, false},
        {"{\"data\":{}}", false, false},
        {"{\"data\":[]}", true, false},
        {"{\"data\":[]}\n\n", true, false},
        {"{\"data\":{\"id\":\"x\",\"name\":\"y\",\"status\":\"draft\"}}", false, true},
        {"\x00\x01\x02", false, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct garbage_case *c = &cases[i];
        size_t len = i == sizeof(cases) / sizeof(cases[0]) - 1 ? 3 : strlen(c->body);
        struct lp_audience *arr = NULL, one;
        size_t n = 7;
        char err[256] = "";
        char *buf = exact_copy(c->body, len);
        int rc;

        rc = lp_parse_list_page(buf, len, &arr, &n, NULL, NULL, err, sizeof(err));
        CHECK_INT(rc, c->list_ok ? 0 : -1);
        CHECK_INT(n, 0);
        if (rc < 0)
            CHECK(arr == NULL);
        if (rc < 0 || strchr(c->body, '[') != strrchr(c->body, '['))
            CHECK(err[0] != '\0'); /* a refusal, or an item left out, says why */
        lp_audience_array_free(arr, n);

        err[0] = '\0';
        rc = lp_parse_audience_response(buf, len, &one, err, sizeof(err));
        CHECK_INT(rc, c->one_ok ? 0 : -1);
        if (rc < 0) {
            CHECK(err[0] != '\0');
            CHECK(one.id == NULL && one.name == NULL);
        }
        lp_audience_clear(&one);
        free(buf);
    }

    /* Where the JSON breaks is reported. */
    {
        char err[256] = "";
        struct lp_audience *arr;
        size_t n;
        const char *body = "{\"data\": [\n  {\"id\": \"a\",\n   \"name\": x}]}";

        CHECK_INT(parse_list(body, strlen(body), &arr, &n, err, sizeof(err)), -1);
        CHECK(strstr(err, "not valid JSON (line 3") != NULL);
        /* A reason is cut, never overflows; NULL/0 means no reason wanted. */
        CHECK_INT(parse_list("[]", 2, &arr, &n, err, 8), -1);
        CHECK_INT((int)strlen(err), 7);
        CHECK_INT(parse_list("[]", 2, &arr, &n, NULL, 0), -1);
    }
}

static void test_big_list(void)
{
    const size_t count = 100000;
    size_t cap = count * 200 + 64, o = 0, n = 0;
    char *body = malloc(cap);
    struct lp_audience *arr = NULL;
    char err[256] = "";
    double t0, dt;

    o += (size_t)snprintf(body + o, cap - o, "{\"data\":[");
    for (size_t i = 0; i < count; i++)
        o += (size_t)snprintf(body + o, cap - o,
                              "%s{\"id\":\"00000000-0000-4000-8000-%012zu\",\"name\":\"Audience "
                              "%06zu\",\"status\":\"active\",\"audienceSize\":%zu,"
                              "\"dailyRefreshEnabled\":true,\"createdAt\":\"2026-05-04T16:20:00."
                              "000Z\"}",
                              i ? "," : "", i, i, i * 3);
    o += (size_t)snprintf(body + o, cap - o, "],\"meta\":{\"total\":%zu}}", count);

    t0 = now_seconds();
    CHECK_INT(lp_parse_list_page(body, o, &arr, &n, NULL, NULL, err, sizeof(err)), 0);
    dt = now_seconds() - t0;
    fprintf(stderr, "  100000-audience list (%zu bytes) parsed in %.3f s\n", o, dt);
    /* Linear work takes well under a second; anything quadratic, hours. */
    CHECK(dt < 30.0);
    CHECK_INT(n, count);
    if (n == count) {
        CHECK_STR(arr[99999].name, "Audience 099999");
        CHECK_STR(arr[99999].id, "00000000-0000-4000-8000-000000099999");
        CHECK_INT(arr[99999].audience_size, 299997);
        CHECK_INT(arr[0].daily_refresh, 1);
    }
    lp_audience_array_free(arr, n);
    free(body);
}

static void test_delete_answers(void)
{
    static const struct {
        const char *body;
        int rc;
    } cases[] = {
        {"{\"data\":{\"deleted\":true}}", 0},
        {"", 0},
        {"garbage", 0},
        {"{\"data\":{\"id\":\"x\"}}", 0},
        {"{\"data\":{\"deleted\":false}}", -1},
        {"{\"deleted\":false}", -1},
        {"{\"data\":{\"deleted\":\"false\"}}", 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[128] = "x";
        size_t len = strlen(cases[i].body);
        char *buf = exact_copy(cases[i].body, len);

        CHECK_INT(lp_parse_delete_response(buf, len, err, sizeof(err)), cases[i].rc);
        CHECK(cases[i].rc == 0 ? err[0] == '\0' : err[0] != '\0');
        free(buf);
    }
}

/* ------------------------------------------------------------------------ */
/* Error bodies, errno, request bodies, status words                        */

struct error_case {
    const char *body;
    size_t len; /* 0: strlen */
    const char *code, *msg;
};

static void test_error_bodies(void)
{
    static const struct error_case cases[] = {
        {"{\"error\":{\"code\":\"SLOTS_FULL\",\"message\":\"All audience slots are in use\"}}", 0,
         "SLOTS_FULL", "All audience slots are in use"},
        {"{\"error\":{\"code\":\"VALIDATION_ERROR\",\"message\":\"topicIds: too few\","
         "\"details\":[1]},\"meta\":{}}",
         0, "VALIDATION_ERROR", "topicIds: too few"},
        {"{\"message\":\"Unauthorized\"}", 0, "", "Unauthorized"},
        {"{\"error\":\"Not Found\"}", 0, "", "Not Found"},
        {"{\"detail\":\"Invalid API key\"}", 0, "", "Invalid API key"},
        {"{\"code\":\"RATE_LIMITED\",\"message\":\"slow down\"}", 0, "RATE_LIMITED", "slow down"},
        {"{\"error\":{\"code\":\"NOT_FOUND\"}}", 0, "NOT_FOUND", ""},
        {"{\"error\":{\"code\":400,\"message\":\"bad\"}}", 0, "400", "bad"},
        {"{\"error\":{\"message\":\"multi\\nline\\t\\ttext \"}}", 0, "", "multi line text"},
        {"{\"error\":{\"message\":5},\"message\":\"fallback\"}", 0, "", "fallback"},
        {"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>\r\n", 0, "",
         "<html> <head><title>502 Bad Gateway</title></head> </html>"},
        {"  plain text  \n", 0, "", "plain text"},
        {"", 0, "", ""},
        {" \n\t ", 0, "", ""},
        {"{\"foo\":1}", 0, "", "{\"foo\":1}"},
        {"[1, 2]", 0, "", "[1, 2]"},
        {"\x01\x02"
         "abc\xff"
         "def",
         0, "", "abc?def"},
        {"a\0b", 3, "", "a b"},
        {"{\"error\":{\"code\":\"X\",\"message\":\"cut here", 0, "",
         "{\"error\":{\"code\":\"X\",\"message\":\"cut here"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct error_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->body);
        char *buf = exact_copy(c->body, len);
        char code[64] = "junk", msg[256] = "junk";

        lp_parse_error_body(buf, len, code, sizeof(code), msg, sizeof(msg));
        CHECK_STR(code, c->code);
        CHECK_STR(msg, c->msg);
        free(buf);
    }

    /* Cut to fit, at a character boundary; no room asked for is fine. */
    {
        char big[2000], code[5], msg[6];

        memset(big, 'x', sizeof(big));
        lp_parse_error_body(big, sizeof(big), code, sizeof(code), msg, sizeof(msg));
        CHECK_STR(msg, "xxxxx");
        lp_parse_error_body("\xc3\xa9\xc3\xa9\xc3\xa9", 6, code, sizeof(code), msg, sizeof(msg));
        CHECK_STR(msg, "\xc3\xa9\xc3\xa9");
        lp_parse_error_body("{\"error\":{\"code\":\"SLOTS_FULL\"}}", 31, code, sizeof(code), msg,
                            sizeof(msg));
        CHECK_STR(code, "SLOT");
        lp_parse_error_body("{\"error\":{\"code\":\"SLOTS_FULL\"}}", 31, NULL, 0, NULL, 0);
        lp_parse_error_body(NULL, 0, code, sizeof(code), msg, sizeof(msg));
        CHECK_STR(code, "");
        CHECK_STR(msg, "");
    }
}

static void test_errno_table(void)
{
    static const struct {
        long status;
        const char *code;
        int err;
    } cases[] = {
        {200, NULL, 0},
        {201, NULL, 0},
        {204, "", 0},
        {299, NULL, 0},
        {400, "VALIDATION_ERROR", EINVAL},
        {400, NULL, EINVAL},
        {422, NULL, EINVAL},
        {401, NULL, EACCES},
        {401, "SLOTS_FULL", EACCES},
        {403, "SLOTS_FULL", EDQUOT},
        {403, NULL, EACCES},
        {403, "", EACCES},
        {403, "FORBIDDEN", EACCES},
        {404, "NOT_FOUND", ENOENT},
        {409, NULL, EEXIST},
        {429, NULL, EAGAIN},
        {500, NULL, EIO},
        {502, NULL, EIO},
        {503, NULL, EIO},
        {504, NULL, EIO},
        {599, NULL, EIO},
        {0, NULL, EIO},
        {100, NULL, EIO},
        {302, NULL, EIO},
        {405, NULL, EIO},
        {418, NULL, EIO},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(lp_errno_for_status(cases[i].status, cases[i].code), cases[i].err);
}

static void check_body(const char *name, const char *status, const char *config, const char *want)
{
    char *body = lp_build_body(name, status, config);

    if (want)
        CHECK_STR(body, want);
    else
        CHECK(body == NULL);
    free(body);
}

static void test_build_body(void)
{
    check_body("n", NULL, NULL, "{\"name\":\"n\"}");
    check_body(NULL, "active", NULL, "{\"status\":\"active\"}");
    check_body(NULL, NULL, NULL, "{}");
    check_body(NULL, NULL, "{\"topicIds\":[117805]}", "{\"config\":{\"topicIds\":[117805]}}");
    check_body("Caf\xc3\xa9 \"A/B\"\n\x01\\", "draft",
               "{\"topicIds\":[117805,117890],\"minScore\":null,\"filters\":{\"x\":[1.5,true]}}",
               "{\"name\":\"Caf\xc3\xa9 \\\"A/B\\\"\\n\\u0001\\\\\",\"status\":\"draft\","
               "\"config\":{\"topicIds\":[117805,117890],\"minScore\":null,\"filters\":{\"x\":[1.5,"
               "true]}}}");
    /* Large whole numbers stay integers. */
    check_body(NULL, NULL, "{\"topicIds\":[2147483648,1000000000000000]}",
               "{\"config\":{\"topicIds\":[2147483648,1000000000000000]}}");
    check_body("n", NULL, "{\"topicIds\":", NULL);
    check_body("n", NULL, "[1]", NULL);
}

static void test_status_words(void)
{
    static const struct {
        const char *in;
        size_t len; /* 0: strlen */
        int rc;
        const char *word;
    } cases[] = {
        {"active", 0, 1, "active"},
        {"active\n", 0, 1, "active"},
        {"  active \n\n", 0, 1, "active"},
        {"\tdraft\r\n", 0, 1, "draft"},
        {"paused", 0, 1, "paused"},
        {"", 0, 0, ""},
        {"  \n\n", 0, 0, ""},
        {"bogus", 0, -1, "bogus"},
        {"Active", 0, -1, "Active"},
        {"act ive", 0, -1, "act ive"},
        {"activ", 0, LP_WORD_START, "activ"}, /* more bytes may finish it */
        {"  pa", 0, LP_WORD_START, "pa"},
        {"activ\n", 0, -1, "activ"}, /* whitespace ended it */
        {"pa used", 0, -1, "pa used"},
        {"actives", 0, -1, "actives"},
        {"active\0", 7, -1, "active"},
        {"active paused", 0, -1, "active paused"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        char *buf = exact_copy(cases[i].in, len);
        char out[32] = "junk";

        CHECK_INT(lp_status_parse(buf, len, out, sizeof(out)), cases[i].rc);
        CHECK_STR(out, cases[i].word);
        free(buf);
    }
    {
        char small[4];

        CHECK_INT(lp_status_parse("paused", 6, small, sizeof(small)), 1);
        CHECK_STR(small, "pau");
        CHECK_INT(lp_status_parse("nonsense", 8, NULL, 0), -1);
    }
    /* Exact words only, with no buffer to copy into; "" and NULL say none. */
    CHECK_INT(lp_status_parse("draft", 5, NULL, 0), 1);
    CHECK_INT(lp_status_parse("active", 6, NULL, 0), 1);
    CHECK_INT(lp_status_parse("paused", 6, NULL, 0), 1);
    CHECK_INT(lp_status_parse("Active", 6, NULL, 0), -1);
    CHECK_INT(lp_status_parse("active\0", 7, NULL, 0), -1);
    CHECK_INT(lp_status_parse("activ", 5, NULL, 0), LP_WORD_START);
    CHECK_INT(lp_status_parse("activ ", 6, NULL, 0), LP_WORD_BAD);
    CHECK_INT(lp_queue_word_parse("man", 3, NULL, 0), LP_WORD_START);
    CHECK_INT(lp_queue_word_parse("paused", 6, NULL, 0), LP_WORD_BAD);
    CHECK_INT(lp_status_parse("", 0, NULL, 0), 0);
    CHECK_INT(lp_status_parse(NULL, 0, NULL, 0), 0);
}

/* ------------------------------------------------------------------------ */
/* config.json                                                              */

#define DOC_CONFIG                                                                                 \
    "{\n"                                                                                          \
    "    \"topicIds\": [117805, 117890, 117918],\n"                                                \
    "    \"minScore\": 70,\n"                                                                      \
    "    \"maxScore\": 99,\n"                                                                      \
    "    \"minTopicOverlap\": 2,\n"                                                                \
    "    \"filters\": {\n"                                                                         \
    "      \"company.industries\": {\n"                                                            \
    "        \"values\": [\"software development\"]\n"                                             \
    "      },\n"                                                                                   \
    "      \"role.seniority\": {\n"                                                                \
    "        \"values\": [\"director\", \"vp\", \"c_suite\"]\n"                                    \
    "      },\n"                                                                                   \
    "      \"contact.hasBusinessEmail\": true\n"                                                   \
    "    }\n"                                                                                      \
    "  }\n"

#define DOC_COMPACT                                                                                \
    "{\"topicIds\":[117805,117890,117918],\"minScore\":70,\"maxScore\":99,\"minTopicOverlap\":2,"  \
    "\"filters\":{\"company.industries\":{\"values\":[\"software development\"]},"                 \
    "\"role.seniority\":{\"values\":[\"director\",\"vp\",\"c_suite\"]},"                           \
    "\"contact.hasBusinessEmail\":true}}"

#define DOC_PRETTY                                                                                 \
    "{\n"                                                                                          \
    "  \"topicIds\": [117805, 117890, 117918],\n"                                                  \
    "  \"minScore\": 70,\n"                                                                        \
    "  \"maxScore\": 99,\n"                                                                        \
    "  \"minTopicOverlap\": 2,\n"                                                                  \
    "  \"filters\": {\n"                                                                           \
    "    \"company.industries\": {\n"                                                              \
    "      \"values\": [\"software development\"]\n"                                               \
    "    },\n"                                                                                     \
    "    \"role.seniority\": {\n"                                                                  \
    "      \"values\": [\"director\", \"vp\", \"c_suite\"]\n"                                      \
    "    },\n"                                                                                     \
    "    \"contact.hasBusinessEmail\": true\n"                                                     \
    "  }\n"                                                                                        \
    "}\n"

struct config_case {
    const char *in;
    size_t len; /* 0: strlen */
    enum lp_config_result want;
    const char *expect; /* OK: the compact text; else a piece of the reason */
};

#define OK LP_CONFIG_OK
#define MORE LP_CONFIG_INCOMPLETE
#define BAD LP_CONFIG_BAD_JSON
#define INV LP_CONFIG_INVALID

static const struct config_case config_cases[] = {
    /* valid */
    {DOC_CONFIG, 0, OK, DOC_COMPACT},
    {"{\"topicIds\":[117805]}", 0, OK, "{\"topicIds\":[117805]}"},
    {"  \r\n{ \"topicIds\" : [ 1 , 2 ] }\n\n\t ", 0, OK, "{\"topicIds\":[1,2]}"},
    {"\xEF\xBB\xBF{\"topicIds\":[1]}", 0, OK, "{\"topicIds\":[1]}"},
    {"{\"topicIds\":[1],\"minScore\":null}", 0, OK, "{\"topicIds\":[1],\"minScore\":null}"},
    {"{\"topicIds\":[1.0, 1e2, 2E+1, -0]}", 0, OK, "{\"topicIds\":[1,100,20,0]}"},
    {"{\"topicIds\":[1],\"minScore\":0,\"maxScore\":50,\"minTopicOverlap\":1}", 0, OK,
     "{\"topicIds\":[1],\"minScore\":0,\"maxScore\":50,\"minTopicOverlap\":1}"},
    {"{\"topicIds\":[1],\"minScore\":99,\"maxScore\":99,\"minTopicOverlap\":250,\"filters\":{}}", 0,
     OK,
     "{\"topicIds\":[1],\"minScore\":99,\"maxScore\":99,\"minTopicOverlap\":250,\"filters\":{}}"},
    {"{\"zeta\":[],\"topicIds\":[3],\"alpha\":{\"x\":[1,\"s\",true,false,null,{}],\"y\":0.25}}", 0,
     OK,
     "{\"zeta\":[],\"topicIds\":[3],\"alpha\":{\"x\":[1,\"s\",true,false,null,{}],\"y\":0.25}}"},
    {"{\"topicIds\":[1],\"filters\":{\"s\":\"caf\\u00e9 \\\"q\\\" \\\\ \\/ \\n\\t\\b\\f\\r "
     "\\ud83d\\ude00 \xe2\x82\xac\"}}",
     0, OK,
     "{\"topicIds\":[1],\"filters\":{\"s\":\"caf\xc3\xa9 \\\"q\\\" \\\\ / \\n\\t\\b\\f\\r "
     "\xf0\x9f\x98\x80 \xe2\x82\xac\"}}"},
    /* An integer a double cannot hold exactly is kept as written (json_exact.h). */
    {"{\"topicIds\":[9007199254740993]}", 0, OK, "{\"topicIds\":[9007199254740993]}"},
    {"{\"topicIds\":[-12345678901234567]}", 0, OK, "{\"topicIds\":[-12345678901234567]}"},
    {"{\"topicIds\":[2147483648, 9007199254740992, 1e20], \"f\": [0.1, -2.5e-7, 123456.789]}", 0,
     OK,
     "{\"topicIds\":[2147483648,9007199254740992,100000000000000000000],\"f\":[0.1,-2.5e-07,"
     "123456.789]}"},
    {"{\"topicIds\":[1],\"topicIds2\":[]}", 0, OK, "{\"topicIds\":[1],\"topicIds2\":[]}"},

    /* incomplete: more bytes could still make them valid */
    {"", 0, MORE, "empty"},
    {" \n\t\r\n", 0, MORE, "empty"},
    {"{", 0, MORE, "complete"},
    {"\xEF\xBB\xBF", 0, MORE, "empty"},
    {"\xEF", 0, MORE, "empty"},
    {"\xEF\xBB", 0, MORE, "empty"},
    {"{\"topicIds\"", 0, MORE, ""},
    {"{\"topicIds\":", 0, MORE, ""},
    {"{\"topicIds\":[1", 0, MORE, ""},
    {"{\"topicIds\":[1,", 0, MORE, ""},
    {"{\"topicIds\":[1]", 0, MORE, ""},
    {"{\"topicIds\":[1],", 0, MORE, ""},
    {"{\"a\":tr", 0, MORE, ""},
    {"{\"a\":fals", 0, MORE, ""},
    {"{\"a\":n", 0, MORE, ""},
    {"{\"a\":-", 0, MORE, ""},
    {"{\"a\":1.", 0, MORE, ""},
    {"{\"a\":1e", 0, MORE, ""},
    {"{\"a\":1e+", 0, MORE, ""},
    {"{\"a\":\"x", 0, MORE, ""},
    {"{\"a\":\"\\", 0, MORE, ""},
    {"{\"a\":\"\\u00", 0, MORE, ""},
    {"{\"a\":\"\\ud83d", 0, MORE, ""},
    {"{\"a\":\"\\ud83d\\u", 0, MORE, ""},
    {"{\"a\":\"caf\xc3", 0, MORE, ""},
    {"{\"a\":\"\xf0\x9f\x98", 0, MORE, ""},
    {"{\"a\":[{\"b\":[[]", 0, MORE, ""},

    /* bad JSON: appending cannot fix them */
    {"{\"topicIds\":[1]} x", 0, BAD, "more text after"},
    {"{\"topicIds\":[1]}{}", 0, BAD, "more text after"},
    {"{\"topicIds\":[1]}}", 0, BAD, "more text after"},
    {"{\"topicIds\":[1]}\n\n{", 0, BAD, "(line 3, column 1)"},
    {"[1]", 0, BAD, "must hold one JSON object"},
    {"\"x\"", 0, BAD, "must hold one JSON object"},
    {"42", 0, BAD, "must hold one JSON object"},
    {"null", 0, BAD, "must hold one JSON object"},
    {"  [", 0, BAD, "must hold one JSON object"},
    {"x", 0, BAD, "not valid JSON (line 1, column 1)"},
    {"{\"a\":01}", 0, BAD, "not valid JSON"},
    {"{\"a\":+1}", 0, BAD, "not valid JSON"},
    {"{\"a\":.5}", 0, BAD, "not valid JSON"},
    {"{\"a\":1.e3}", 0, BAD, "not valid JSON"},
    {"{\"a\":0x10}", 0, BAD, "not valid JSON"},
    {"{\"a\":tru}", 0, BAD, "not valid JSON"},
    {"{\"a\":True}", 0, BAD, "not valid JSON"},
    {"{\"a\":NaN}", 0, BAD, "not valid JSON"},
    {"{\"a\":Infinity}", 0, BAD, "not valid JSON"},
    {"{'a':1}", 0, BAD, "not valid JSON"},
    {"{a:1}", 0, BAD, "not valid JSON"},
    {"{\"a\":1,}", 0, BAD, "not valid JSON"},
    {"{\"a\" 1}", 0, BAD, "not valid JSON"},
    {"{\"a\":[1}", 0, BAD, "not valid JSON"},
    {"{\"a\":{]}", 0, BAD, "not valid JSON"},
    {"{,}", 0, BAD, "not valid JSON"},
    {"{\"a\":\"x\\qy\"}", 0, BAD, "not valid JSON"},
    {"{\"a\":\"\\u12G4\"}", 0, BAD, "not valid JSON"},
    {"{\"a\":\"line\nbreak\"}", 0, BAD, "control character"},
    {"{\"a\":\"unit\x1fseparator\"}", 0, BAD, "control character"},
    {"{\"a\":\"delete \x7f is fine\",\"topicIds\":[1]}", 0, OK,
     "{\"a\":\"delete \x7f is fine\",\"topicIds\":[1]}"},
    {"{\"a\":\"\xff\"}", 0, BAD, "not valid UTF-8"},
    {"{\"a\":\"\xc3\x28\"}", 0, BAD, "not valid UTF-8"},
    {"{\"a\":\"\xc0\xaf\"}", 0, BAD, "not valid UTF-8"},         /* overlong '/' */
    {"{\"a\":\"\xed\xa0\x80\"}", 0, BAD, "not valid UTF-8"},     /* UTF-8 surrogate */
    {"{\"a\":\"\xf4\x90\x80\x80\"}", 0, BAD, "not valid UTF-8"}, /* above U+10FFFF */
    {"{\"a\":\"\\ud800x\"}", 0, BAD, "surrogate"},
    {"{\"a\":\"\\udc00\"}", 0, BAD, "surrogate"},
    {"{\"a\":\"\\u0000\",\"topicIds\":[1]}", 0, OK, "{\"a\":\"\\u0000\",\"topicIds\":[1]}"},
    {"{\"a\":\0}", 7, BAD, "NUL byte (line 1, column 6)"},
    {"{\"topicIds\":[1]}\0", 17, BAD, "NUL byte"},
    {"\0", 1, BAD, "NUL byte"},
    {"{\0", 2, BAD, "NUL byte"},
    {"\x01{\"topicIds\":[1]}", 0, BAD, "not valid JSON"},
    {"{\"topicIds\":[1]}\x0b", 0, BAD, "more text after"},
    {"{\"a\":1234567890123456789012345678901234567890123456789012345678901234}", 0, BAD,
     "too many digits"},
    {"{\n  \"topicIds\": [1,\n    x]\n}", 0, BAD,
     "config.json is not valid JSON (line 3, column 5)"},
    {"{\n\"name\": \"caf\xc3\xa9\", x", 0, BAD, "(line 2, column 17)"},

    /* one JSON object, but the API would refuse it */
    {"{}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[1.5]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[true]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[\"117805\"]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[null]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[[1]]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":117805}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":\"1,2\"}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":null}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":{\"0\":1}}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"TopicIds\":[1]}", 0, INV, "topicIds must hold 1 to 250 integers"},
    {"{\"topicIds\":[1],\"topicIds\":[]}", 0, INV, "topicIds must appear only once"},
    {"{\"topicIds\":[1],\"minScore\":-1}", 0, INV,
     "minScore must be an integer from 0 to 99, or null"},
    {"{\"topicIds\":[1],\"minScore\":100}", 0, INV, "minScore must be an integer from 0 to 99"},
    {"{\"topicIds\":[1],\"minScore\":70.5}", 0, INV, "minScore must be"},
    {"{\"topicIds\":[1],\"minScore\":\"70\"}", 0, INV, "minScore must be"},
    {"{\"topicIds\":[1],\"minScore\":true}", 0, INV, "minScore must be"},
    {"{\"topicIds\":[1],\"maxScore\":49}", 0, INV, "maxScore must be an integer from 50 to 99"},
    {"{\"topicIds\":[1],\"maxScore\":100}", 0, INV, "maxScore must be an integer from 50 to 99"},
    {"{\"topicIds\":[1],\"maxScore\":null}", 0, INV, "maxScore must be"},
    {"{\"topicIds\":[1],\"maxScore\":[99]}", 0, INV, "maxScore must be"},
    {"{\"topicIds\":[1],\"minTopicOverlap\":0}", 0, INV,
     "minTopicOverlap must be an integer from 1 to 250"},
    {"{\"topicIds\":[1],\"minTopicOverlap\":251}", 0, INV, "minTopicOverlap must be"},
    {"{\"topicIds\":[1],\"minTopicOverlap\":1.5}", 0, INV, "minTopicOverlap must be"},
    {"{\"topicIds\":[1],\"filters\":[]}", 0, INV, "filters must be an object"},
    {"{\"topicIds\":[1],\"filters\":\"x\"}", 0, INV, "filters must be an object"},
    {"{\"topicIds\":[1],\"filters\":null}", 0, INV, "filters must be an object"},
    {"{\"topicIds\":[1],\"filters\":{\"x\":1e999}}", 0, INV, "too large"},
    {"{\"topicIds\":[1e999]}", 0, INV, "too large"},
};

/* Runs lp_config_check on an exact-size copy. Caller frees *compact. */
static enum lp_config_result run_check(const char *in, size_t len, char **compact, char *reason,
                                       size_t reasonlen)
{
    char *buf = exact_copy(in, len);
    enum lp_config_result r = lp_config_check(buf, len, compact, reason, reasonlen);

    free(buf);
    return r;
}

/* Pretty printing then checking again gives back the same canonical text. */
static void check_round_trip(const char *compact)
{
    char *pretty = lp_config_pretty(compact), *again = NULL, reason[256];
    size_t len;

    CHECK(pretty != NULL);
    if (!pretty)
        return;
    len = strlen(pretty);
    CHECK(len > 0 && pretty[len - 1] == '\n');
    CHECK_INT(run_check(pretty, len, &again, reason, sizeof(reason)), LP_CONFIG_OK);
    CHECK_STR(again, compact);
    free(again);
    /* The canonical form is a fixed point. */
    CHECK_INT(run_check(compact, strlen(compact), &again, reason, sizeof(reason)), LP_CONFIG_OK);
    CHECK_STR(again, compact);
    free(again);
    free(pretty);
}

static void test_config_table(void)
{
    for (size_t i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
        const struct config_case *c = &config_cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        char reason[256] = "junk", *compact = (char *)"junk";
        enum lp_config_result r = run_check(c->in, len, &compact, reason, sizeof(reason));

        CHECK_INT(r, c->want);
        if (r != c->want)
            fprintf(stderr, "  case %zu: \"%s\": %s\n", i, c->in, reason);
        if (c->want == LP_CONFIG_OK) {
            CHECK_STR(compact, c->expect);
            CHECK_STR(reason, "");
            if (r == LP_CONFIG_OK)
                check_round_trip(compact);
        } else {
            CHECK(compact == NULL);
            CHECK(reason[0] != '\0');
            if (!strstr(reason, c->expect)) {
                CHECK(strstr(reason, c->expect) != NULL);
                fprintf(stderr, "  case %zu: reason \"%s\" lacks \"%s\"\n", i, reason, c->expect);
            }
        }
        if (r == LP_CONFIG_OK)
            free(compact);
    }
}

/* The write path sends once the bytes form one object and waits otherwise:
 * no prefix of a valid config.json may ever be called broken. */
static void test_config_prefixes(void)
{
    static const char *const docs[] = {
        DOC_CONFIG,
        "{\"topicIds\":[1],\"n\":[-2.5e+3,0.0,1E-2],\"minScore\":null,\"t\":true,\"f\":false}",
        "{\"topicIds\":[1],\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\u00e9\\ud83d\\ude00\\\"\\\\\"}",
        "{ \"topicIds\" : [ 1 ] , \"filters\" : { \"a\" : { \"b\" : [ [ ] , { } ] } } }\n",
        "\xEF\xBB\xBF{\"topicIds\":[1]}",
    };

    for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
        size_t len = strlen(docs[d]), complete = 0;
        char reason[256];

        for (size_t cut = 0; cut <= len; cut++) {
            char *compact = NULL;
            enum lp_config_result r = run_check(docs[d], cut, &compact, reason, sizeof(reason));

            free(compact);
            if (r == LP_CONFIG_OK && !complete)
                complete = cut;
            if (r == LP_CONFIG_INCOMPLETE || r == LP_CONFIG_OK)
                continue;
            CHECK(r == LP_CONFIG_INCOMPLETE || r == LP_CONFIG_OK);
            fprintf(stderr, "  doc %zu cut at %zu: %d %s\n", d, cut, (int)r, reason);
            break;
        }
        /* OK exactly from the closing brace on. */
        CHECK_INT(complete, strrchr(docs[d], '}') - docs[d] + 1);
    }
}

/* Deep nesting, sizes and the 250-topic limit, built at run time. */
static void test_config_generated(void)
{
    size_t cap = 3 * 1024 * 1024, o;
    char *buf = malloc(cap), *compact = NULL, reason[256];
    enum lp_config_result r;

    /* 10,000 levels: refused cleanly, whether closed or not. */
    o = (size_t)sprintf(buf, "{\"topicIds\":[1],\"deep\":");
    memset(buf + o, '[', 10000);
    o += 10000;
    CHECK_INT(run_check(buf, o, &compact, reason, sizeof(reason)), LP_CONFIG_BAD_JSON);
    CHECK(strstr(reason, "deeply") != NULL);
    memset(buf + o, ']', 10000);
    o += 10000;
    buf[o++] = '}';
    CHECK_INT(run_check(buf, o, &compact, reason, sizeof(reason)), LP_CONFIG_BAD_JSON);
    CHECK(compact == NULL);

    /* 1,000 levels (the object and 999 arrays) is as deep as cJSON goes. */
    o = (size_t)sprintf(buf, "{\"topicIds\":[1],\"deep\":");
    memset(buf + o, '[', 999);
    memset(buf + o + 999, ']', 999);
    o += 1998;
    buf[o++] = '}';
    r = run_check(buf, o, &compact, reason, sizeof(reason));
    CHECK_INT(r, LP_CONFIG_OK);
    if (r == LP_CONFIG_OK)
        check_round_trip(compact);
    free(compact);
    compact = NULL;
    memmove(buf + 24, buf + 23, o - 23); /* one more '[' ... */
    buf[o] = ']';                        /* ... and its ']' before the '}' */
    buf[o + 1] = '}';
    CHECK_INT(run_check(buf, o + 2, &compact, reason, sizeof(reason)), LP_CONFIG_BAD_JSON);

    /* 250 topics is the most; 251 is refused. */
    o = (size_t)sprintf(buf, "{\"topicIds\":[");
    for (int i = 0; i < 250; i++)
        o += (size_t)sprintf(buf + o, "%s%d", i ? "," : "", 100000 + i);
    strcpy(buf + o, "]}");
    r = run_check(buf, o + 2, &compact, reason, sizeof(reason));
    CHECK_INT(r, LP_CONFIG_OK);
    if (r == LP_CONFIG_OK) {
        char *pretty = lp_config_pretty(compact), *line;
        int lines = 0, longest = 0;

        CHECK_STR(compact, buf);
        for (line = pretty; line && *line; lines++) {
            char *nl = strchr(line, '\n');

            if ((int)(nl - line) > longest)
                longest = (int)(nl - line);
            line = nl + 1;
        }
        CHECK_INT(lines, 254); /* {, "topicIds": [, 250 ids, ], } */
        CHECK(longest < 80);
        free(pretty);
        check_round_trip(compact);
    }
    free(compact);
    compact = NULL;
    o += (size_t)sprintf(buf + o, ",123]}");
    CHECK_INT(run_check(buf, o, &compact, reason, sizeof(reason)), LP_CONFIG_INVALID);
    CHECK_STR(reason, "topicIds must hold 1 to 250 integers");

    /* LP_CONFIG_MAX bytes are accepted when the canonical text plus its "\n"
     * fits (so that what is shown can be written back); one more byte, a
     * canonical text that fills the limit, or 2 MiB, are not. */
    o = (size_t)sprintf(buf, "{\"topicIds\":[1],\"pad\":\"");
    memset(buf + o, 'x', LP_CONFIG_MAX - o - 3);
    o = LP_CONFIG_MAX - 3;
    buf[o++] = '"';
    buf[o++] = '}';
    buf[o++] = '\n';
    r = run_check(buf, o, &compact, reason, sizeof(reason));
    CHECK_INT(r, LP_CONFIG_OK);
    if (r == LP_CONFIG_OK) {
        char *pretty = lp_config_pretty(compact);

        CHECK(pretty && strlen(pretty) <= LP_CONFIG_MAX);
        free(pretty);
        check_round_trip(compact);
    }
    free(compact);
    compact = NULL;
    buf[o++] = ' ';
    CHECK_INT(run_check(buf, o, &compact, reason, sizeof(reason)), LP_CONFIG_TOO_BIG);
    CHECK(compact == NULL && reason[0] != '\0');
    o = (size_t)sprintf(buf, "{\"topicIds\":[1],\"pad\":\"");
    memset(buf + o, 'x', LP_CONFIG_MAX - o - 2); /* no room left for the "\n" */
    buf[LP_CONFIG_MAX - 2] = '"';
    buf[LP_CONFIG_MAX - 1] = '}';
    CHECK_INT(run_check(buf, LP_CONFIG_MAX, &compact, reason, sizeof(reason)), LP_CONFIG_TOO_BIG);
    CHECK(compact == NULL);
    /* Numbers that grow when printed are measured after printing. */
    o = (size_t)sprintf(buf, "{\"topicIds\":[1],\"n\":[1e20");
    while (o < LP_CONFIG_MAX - 10)
        o += (size_t)sprintf(buf + o, ",1e20");
    o += (size_t)sprintf(buf + o, "]}");
    CHECK_INT(run_check(buf, o, &compact, reason, sizeof(reason)), LP_CONFIG_TOO_BIG);
    CHECK(compact == NULL && reason[0] != '\0');
    memset(buf, ' ', 2 * 1024 * 1024);
    CHECK_INT(run_check(buf, 2 * 1024 * 1024, &compact, reason, sizeof(reason)), LP_CONFIG_TOO_BIG);

    /* Random bytes: some answer, a reason, no crash. */
    static const char json_bytes[] = "{}[]\":,0123456789.eE-+tfnul \\\"x\xc3\xa9";

    for (int round = 0; round < 2000; round++) {
        size_t len = rng() % 200;

        for (size_t i = 0; i < len; i++)
            buf[i] = round % 2 ? (char)rng() : json_bytes[rng() % (sizeof(json_bytes) - 1)];
        if (round % 4 == 0 && len)
            buf[0] = '{';
        compact = NULL;
        r = run_check(buf, len, &compact, reason, sizeof(reason));
        CHECK(r >= LP_CONFIG_OK && r <= LP_CONFIG_TOO_BIG);
        if (r == LP_CONFIG_OK) {
            check_round_trip(compact);
            free(compact);
        } else if (reason[0] == '\0') {
            CHECK(reason[0] != '\0');
        }
    }

    /* A NULL out-pointer or reason buffer is allowed. */
    CHECK_INT(lp_config_check("{\"topicIds\":[1]}", 16, NULL, NULL, 0), LP_CONFIG_OK);
    CHECK_INT(lp_config_check("{", 1, NULL, reason, 5), LP_CONFIG_INCOMPLETE);
    CHECK_INT((int)strlen(reason), 4);
    free(buf);
}

static void check_pretty(const char *compact, const char *want)
{
    char *pretty = lp_config_pretty(compact);

    CHECK_STR(pretty, want);
    free(pretty);
}

static void test_config_pretty(void)
{
    char *p;

    check_pretty(DOC_COMPACT, DOC_PRETTY);
    check_pretty(lp_config_template(), "{\n"
                                       "  \"topicIds\": [],\n"
                                       "  \"minScore\": 70,\n"
                                       "  \"maxScore\": 99,\n"
                                       "  \"minTopicOverlap\": 1,\n"
                                       "  \"filters\": {}\n"
                                       "}\n");
    check_pretty("{}", "{}\n");
    check_pretty("{\"a\":[[],{},[1,{\"b\":null}]],\"s\":\"q\\\"\\\\\\n\\u0001\"}",
                 "{\n"
                 "  \"a\": [\n"
                 "    [],\n"
                 "    {},\n"
                 "    [\n"
                 "      1,\n"
                 "      {\n"
                 "        \"b\": null\n"
                 "      }\n"
                 "    ]\n"
                 "  ],\n"
                 "  \"s\": \"q\\\"\\\\\\n\\u0001\"\n"
                 "}\n");
    /* An array of scalars stays on one line only while the line is < 80. */
    check_pretty(
        "{\"topicIds\":[1000001,1000002,1000003,1000004,1000005,1000006,1000007],\"x\":1}",
        "{\n"
        "  \"topicIds\": [1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 1000007],\n"
        "  \"x\": 1\n"
        "}\n");
    check_pretty("{\"topicIds\":[1000001,1000002,1000003,1000004,1000005,1000006,1000007,1]}",
                 "{\n"
                 "  \"topicIds\": [\n"
                 "    1000001,\n"
                 "    1000002,\n"
                 "    1000003,\n"
                 "    1000004,\n"
                 "    1000005,\n"
                 "    1000006,\n"
                 "    1000007,\n"
                 "    1\n"
                 "  ]\n"
                 "}\n");
    /* What `sed -E 's/("minScore": *)[0-9]+/\180/'` relies on. */
    p = lp_config_pretty(DOC_COMPACT);
    CHECK(p && strstr(p, "\n  \"minScore\": 70,\n") != NULL);
    free(p);
    CHECK(lp_config_pretty("{\"a\":") == NULL);
    CHECK(lp_config_pretty(NULL) == NULL);

    /* Canonical text checks as it reads; the template is itself refused
     * until topics are added. */
    {
        char reason[128], *compact = NULL;

        CHECK_INT(run_check(DOC_COMPACT, strlen(DOC_COMPACT), &compact, reason, sizeof(reason)),
                  LP_CONFIG_OK);
        CHECK_STR(compact, DOC_COMPACT);
        free(compact);
        CHECK_INT(run_check(lp_config_template(), strlen(lp_config_template()), &compact, reason,
                            sizeof(reason)),
                  LP_CONFIG_INVALID);
        CHECK_STR(reason, "topicIds must hold 1 to 250 integers");
        const char *low_max = "{\"topicIds\":[1],\"maxScore\":10}";

        CHECK_INT(lp_config_check(low_max, strlen(low_max), NULL, reason, sizeof(reason)),
                  LP_CONFIG_INVALID);
        CHECK_STR(reason, "maxScore must be an integer from 50 to 99");
        CHECK_INT(
            lp_config_check(lp_config_template(), strlen(lp_config_template()), NULL, NULL, 0),
            LP_CONFIG_INVALID);
        CHECK_INT(lp_config_check(NULL, 0, &compact, reason, sizeof(reason)), LP_CONFIG_INCOMPLETE);
        CHECK(compact == NULL);
    }
}

int main(void)
{
    test_list_documented();
    test_field_types();
    test_field_values();
    test_garbage_answers();
    test_big_list();
    test_delete_answers();
    test_error_bodies();
    test_errno_table();
    test_build_body();
    test_status_words();
    test_config_table();
    test_config_prefixes();
    test_config_generated();
    test_config_pretty();
    return lp_test_summary();
}
