/* test_run.c - run.c: runs lists, one run and a run's stats read from API
 * answers (every field, missing and null ones, unreadable items left out with
 * a reason), the xattr field texts, and run directory names.
 */
#include <stdlib.h>
#include <string.h>

#include "run.h"
#include "testutil.h"

/* A malloc'd copy of s without its NUL, so that reading past the end shows
 * under ASan. Caller frees. */
static char *exact(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n ? n : 1);
    memcpy(p, s, n);
    return p;
}

static int parse_runs(const char *body, struct lp_run **arr, size_t *n, char *err, size_t errlen)
{
    char *b = exact(body);
    int rc = lp_parse_runs_response(b, strlen(body), arr, n, err, errlen);
    free(b);
    return rc;
}

/* The value of field key, NULL when the run has no such field. */
static const char *field(const struct lp_run *r, const char *key)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i].key, key) == 0)
            return r->fields[i].value;
    return NULL;
}

#define FULL_RUN                                                                                   \
    "{\"id\":\"3f2a9c1e-7b6d-4e1a-9c2b-0d1e2f3a4b5c\",\"audienceId\":\"aud-1\","                   \
    "\"organizationId\":\"org-1\",\"status\":\"completed\",\"runType\":\"daily\","                 \
    "\"configHash\":\"abc\",\"dataDate\":\"2026-11-25\",\"resultKey\":\"k/1.csv\","                \
    "\"candidateCount\":5000,\"resultCount\":1234,\"attempts\":1,\"nextAttemptAt\":null,"          \
    "\"idempotencyKey\":null,\"errorCode\":null,\"errorMessage\":null,"                            \
    "\"startedAt\":\"2026-11-25T04:00:01.000Z\",\"completedAt\":\"2026-11-25T04:05:00.000Z\","     \
    "\"cancelledAt\":null,\"createdAt\":\"2026-11-25T04:00:00.000Z\","                             \
    "\"updatedAt\":\"2026-11-25T04:05:00.000Z\",\"score\":71.25,\"big\":1e15,\"neg\":-3,"          \
    "\"preview\":true,\"paid\":false,\"extra\":{\"a\":1},\"tags\":[1,2]}"

static void test_runs_list(void)
{
    struct lp_run *arr = NULL;
    size_t n = 9;
    char err[256] = "";

    CHECK_INT(parse_runs("{\"data\":[" FULL_RUN ",{\"id\":\"r2\"},"
                         "{\"id\":\"r3\",\"status\":null,\"runType\":null,\"createdAt\":null},"
                         "17,{\"status\":\"queued\"},{\"id\":\"r6\",\"status\":5},{\"id\":\"\"}]}",
                         &arr, &n, err, sizeof err),
              0);
    CHECK_INT(n, 3);
    /* the first unreadable item's reason */
    CHECK_STR(err, "run 4 of the list is not a JSON object");
    const struct lp_run *r = &arr[0];
    CHECK_STR(r->id, "3f2a9c1e-7b6d-4e1a-9c2b-0d1e2f3a4b5c");
    CHECK_STR(r->status, "completed");
    CHECK_STR(r->run_type, "daily");
    CHECK_STR(r->created_at, "2026-11-25T04:00:00.000Z");
    CHECK_STR(r->updated_at, "2026-11-25T04:05:00.000Z");
    CHECK_STR(r->started_at, "2026-11-25T04:00:01.000Z");
    CHECK_STR(r->completed_at, "2026-11-25T04:05:00.000Z");
    /* Every scalar in the order sent; nulls, objects and arrays left out. */
    static const char *const keys[] = {
        "id",          "audienceId", "organizationId", "status",      "runType",  "configHash",
        "dataDate",    "resultKey",  "candidateCount", "resultCount", "attempts", "startedAt",
        "completedAt", "createdAt",  "updatedAt",      "score",       "big",      "neg",
        "preview",     "paid"};
    CHECK_INT(r->nfields, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < r->nfields && i < sizeof keys / sizeof keys[0]; i++)
        CHECK_STR(r->fields[i].key, keys[i]);
    CHECK_STR(field(r, "resultCount"), "1234"); /* not 1234.0 */
    CHECK_STR(field(r, "candidateCount"), "5000");
    CHECK_STR(field(r, "score"), "71.25");
    CHECK_STR(field(r, "big"), "1000000000000000"); /* not 1e+15 */
    CHECK_STR(field(r, "neg"), "-3");
    CHECK_STR(field(r, "preview"), "true");
    CHECK_STR(field(r, "paid"), "false");
    CHECK_STR(field(r, "dataDate"), "2026-11-25");
    CHECK(field(r, "errorCode") == NULL);
    CHECK(field(r, "extra") == NULL);

    /* Missing and null fields are NULL. */
    CHECK_STR(arr[1].id, "r2");
    CHECK(!arr[1].status && !arr[1].run_type && !arr[1].created_at && !arr[1].completed_at);
    CHECK_INT(arr[1].nfields, 1);
    CHECK_STR(arr[2].id, "r3");
    CHECK(!arr[2].status && !arr[2].run_type && !arr[2].created_at);
    CHECK_INT(arr[2].nfields, 1);

    /* A deep copy outlives the original. */
    struct lp_run copy;
    CHECK_INT(lp_run_copy(&copy, r), 0);
    lp_run_array_free(arr, n);
    CHECK_STR(copy.id, "3f2a9c1e-7b6d-4e1a-9c2b-0d1e2f3a4b5c");
    CHECK_STR(copy.completed_at, "2026-11-25T04:05:00.000Z");
    CHECK_INT(copy.nfields, 20);
    CHECK_STR(field(&copy, "resultCount"), "1234");
    lp_run_clear(&copy);
    CHECK(copy.id == NULL && copy.nfields == 0);
}

static void test_runs_list_errors(void)
{
    struct lp_run *arr = NULL;
    size_t n = 9;
    char err[256] = "";

    /* An empty list is a list: an array, no runs. */
    CHECK_INT(parse_runs("{\"data\":[]}", &arr, &n, err, sizeof err), 0);
    CHECK(arr != NULL);
    CHECK_INT(n, 0);
    lp_run_array_free(arr, n);

    static const char *const bad[] = {
        "{\"data\":[1,{\"id\":7}]}", /* items, none readable */
        "{\"data\":{}}",
        "{\"data\":null}",
        "[]",
        "{\"meta\":{}}",
        "{\"data\":[",
        "",
        "<html>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        arr = (struct lp_run *)1;
        n = 9;
        CHECK_INT(parse_runs(bad[i], &arr, &n, err, sizeof err), -1);
        CHECK(arr == NULL);
        CHECK_INT(n, 0);
        CHECK(err[0] != '\0');
    }
}

static void test_one_run(void)
{
    struct lp_run r;
    char err[256] = "";
    const char *ok = "{\"data\":" FULL_RUN "}";
    char *b = exact(ok);

    CHECK_INT(lp_parse_run_response(b, strlen(ok), &r, err, sizeof err), 0);
    CHECK_STR(r.id, "3f2a9c1e-7b6d-4e1a-9c2b-0d1e2f3a4b5c");
    CHECK_STR(r.status, "completed");
    lp_run_clear(&r);
    free(b);

    static const char *const bad[] = {"{\"data\":[" FULL_RUN "]}", "{\"data\":{\"status\":\"x\"}}",
                                      "{\"data\":{\"id\":\"a\",\"createdAt\":3}}", "nope"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_INT(lp_parse_run_response(bad[i], strlen(bad[i]), &r, err, sizeof err), -1);
        CHECK(r.id == NULL && r.nfields == 0 && r.fields == NULL);
        CHECK(err[0] != '\0');
    }
}

static void test_stats(void)
{
    const char *body =
        "{\"data\":{\"run\":{\"id\":\"r1\",\"status\":\"completed\"},\"stats\":{\"total\":3,"
        "\"fillRates\":{\"email\":{\"count\":2,\"percent\":66.67},\"phone\":{\"count\":0,"
        "\"percent\":0}},\"scoreHistogram\":[{\"bucket\":\"50-59\",\"count\":1,\"percent\":33.33}],"
        "\"averages\":{\"score\":71.5}}}}";
    const char *expect = "{\n"
                         "  \"total\": 3,\n"
                         "  \"fillRates\": {\n"
                         "    \"email\": {\n"
                         "      \"count\": 2,\n"
                         "      \"percent\": 66.67\n"
                         "    },\n"
                         "    \"phone\": {\n"
                         "      \"count\": 0,\n"
                         "      \"percent\": 0\n"
                         "    }\n"
                         "  },\n"
                         "  \"scoreHistogram\": [\n"
                         "    {\n"
                         "      \"bucket\": \"50-59\",\n"
                         "      \"count\": 1,\n"
                         "      \"percent\": 33.33\n"
                         "    }\n"
                         "  ],\n"
                         "  \"averages\": {\n"
                         "    \"score\": 71.5\n"
                         "  }\n"
                         "}\n";
    char *text = NULL, err[256] = "";
    size_t len = 0;
    char *b = exact(body);

    CHECK_INT(lp_parse_run_stats(b, strlen(body), &text, &len, err, sizeof err), 0);
    CHECK_STR(text, expect);
    CHECK_INT(len, strlen(expect));
    free(text);
    free(b);

    static const char *const bad[] = {"{\"data\":{\"run\":{}}}", "{\"data\":{\"stats\":[1]}}",
                                      "{\"data\":[]}", "{}", "{\"data\":{\"stats\":{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        text = (char *)1;
        len = 9;
        err[0] = '\0';
        CHECK_INT(lp_parse_run_stats(bad[i], strlen(bad[i]), &text, &len, err, sizeof err), -1);
        CHECK(text == NULL);
        CHECK_INT(len, 0);
        CHECK(err[0] != '\0');
    }
}

/* lp_run_dirname of a run built from its parts. */
static void check_dirname(const char *id, const char *type, const char *created,
                          const char *updated, const char *started, const char *expect)
{
    struct lp_run r = {.id = (char *)id,
                       .run_type = (char *)type,
                       .created_at = (char *)created,
                       .updated_at = (char *)updated,
                       .started_at = (char *)started};
    char *name = lp_run_dirname(&r);
    CHECK_STR(name, expect);
    free(name);
}

static void test_dirname(void)
{
    const char *id = "3f2a9c1e-7b6d-4e1a-9c2b-0d1e2f3a4b5c";
    check_dirname(id, "daily", "2026-11-25T04:00:00.000Z", NULL, NULL,
                  "2026-11-25T040000Z-daily-3f2a9c1e");
    /* Without createdAt: updatedAt, then startedAt, then zeros. */
    check_dirname(id, "manual", NULL, "2026-11-24T10:12:13.5Z", "2026-11-23T01:02:03Z",
                  "2026-11-24T101213Z-manual-3f2a9c1e");
    check_dirname(id, "manual", NULL, NULL, "2026-11-23T01:02:03Z",
                  "2026-11-23T010203Z-manual-3f2a9c1e");
    check_dirname(id, "manual", NULL, NULL, NULL, "0000-00-00T000000Z-manual-3f2a9c1e");
    /* An unreadable createdAt counts as none. */
    check_dirname(id, "daily", "yesterday", "2026-11-24T10:12:13Z", NULL,
                  "2026-11-24T101213Z-daily-3f2a9c1e");
    check_dirname(id, "daily", "2026-11-25 04:00:00", NULL, NULL,
                  "0000-00-00T000000Z-daily-3f2a9c1e");
    /* No runType (or an empty one): "run". */
    check_dirname(id, NULL, "2026-11-25T04:00:00.000Z", NULL, NULL,
                  "2026-11-25T040000Z-run-3f2a9c1e");
    check_dirname(id, "", "2026-11-25T04:00:00.000Z", NULL, NULL,
                  "2026-11-25T040000Z-run-3f2a9c1e");
    /* An id shorter than 8 is used whole. */
    check_dirname("ab1", "preview", "2026-01-02T03:04:05Z", NULL, NULL,
                  "2026-01-02T030405Z-preview-ab1");
    /* '/', dots, spaces and non-ASCII (names.h's specials too) become '_'. */
    check_dirname("../x/y\xe2\x88\x95z", "a/b c\xe2\x80\xa4", "2026-01-02T03:04:05Z", NULL, NULL,
                  "2026-01-02T030405Z-a_b_c___-.._x_y__");
    /* A long runType is cut at 64 bytes. */
    char type[200], expect[300];
    memset(type, 'x', sizeof type - 1);
    type[sizeof type - 1] = '\0';
    snprintf(expect, sizeof expect, "0000-00-00T000000Z-%.64s-ab1", type);
    check_dirname("ab1", type, NULL, NULL, NULL, expect);
}

int main(void)
{
    test_runs_list();
    test_runs_list_errors();
    test_one_run();
    test_stats();
    test_dirname();
    return lp_test_summary();
}
