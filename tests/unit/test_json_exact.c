/* test_json_exact.c - unit tests for what cJSON alone would change on the way
 * through: numbers a double cannot hold (integers beyond 2^53, decimals with
 * more digits than a double keeps) and NUL characters (\u0000) in strings.
 * An API answer, config.json as cat shows it, a config written back and the
 * request body must all carry them exactly as they were written.
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

/* A malloc'd copy without a NUL after it (ASan catches a read past the end). */
static char *exact_copy(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    if (len)
        memcpy(p, s, len);
    return p;
}

static enum lp_config_result check(const char *in, char **compact, char *reason, size_t reasonlen)
{
    size_t len = strlen(in);
    char *buf = exact_copy(in, len);
    enum lp_config_result r = lp_config_check(buf, len, compact, reason, reasonlen);

    free(buf);
    return r;
}

/* in checks OK and its canonical text is want; pretty and back give want again. */
static void check_kept(const char *in, const char *want)
{
    char reason[256] = "", *compact = NULL, *pretty, *again = NULL;

    CHECK_INT(check(in, &compact, reason, sizeof(reason)), LP_CONFIG_OK);
    if (!compact) {
        fprintf(stderr, "  %s: %s\n", in, reason);
        return;
    }
    CHECK_STR(compact, want);
    pretty = lp_config_pretty(compact);
    CHECK(pretty != NULL);
    if (pretty) {
        CHECK_INT(check(pretty, &again, reason, sizeof(reason)), LP_CONFIG_OK);
        CHECK_STR(again, want);
        free(again);
    }
    free(pretty);
    free(compact);
}

static void check_refused(const char *in, const char *why)
{
    char reason[256] = "", *compact = NULL;

    CHECK_INT(check(in, &compact, reason, sizeof(reason)), LP_CONFIG_INVALID);
    CHECK(compact == NULL);
    if (!strstr(reason, why)) {
        CHECK(strstr(reason, why) != NULL);
        fprintf(stderr, "  %s: \"%s\" lacks \"%s\"\n", in, reason, why);
    }
    free(compact);
}

static void test_written_numbers(void)
{
    /* Integers a double cannot hold: kept as written, both the true value and
     * the double's rounding of it (each is what its writer meant). */
    check_kept("{\"topicIds\":[1],\"filters\":{\"ids\":[1234567890123456789]}}",
               "{\"topicIds\":[1],\"filters\":{\"ids\":[1234567890123456789]}}");
    check_kept("{\"topicIds\":[1],\"filters\":{\"ids\":[1234567890123456768]}}",
               "{\"topicIds\":[1],\"filters\":{\"ids\":[1234567890123456768]}}");
    check_kept("{\"topicIds\":[9007199254740993, -12345678901234567]}",
               "{\"topicIds\":[9007199254740993,-12345678901234567]}");
    check_kept("{\"topicIds\":[12345678901234567890123456789]}",
               "{\"topicIds\":[12345678901234567890123456789]}");
    /* Decimals with more digits than a double keeps stay as written ... */
    check_kept("{\"topicIds\":[1],\"f\":[0.10000000000000000001, 2.00000000000000000000001e-400]}",
               "{\"topicIds\":[1],\"f\":[0.10000000000000000001,2.00000000000000000000001e-400]}");
    /* ... while numbers a double holds exactly print in the one canonical
     * form (same value, so nothing the API sees changes). */
    check_kept("{\"topicIds\":[1.0, 1e2, 2E+1, -0],\"f\":[0.1000, 10.50e-1]}",
               "{\"topicIds\":[1,100,20,0],\"f\":[0.1,1.05]}");
    check_kept("{\"topicIds\":[9007199254740992, 1e20],\"f\":123456789012345678901e-1}",
               "{\"topicIds\":[9007199254740992,100000000000000000000],"
               "\"f\":123456789012345678901e-1}");

    /* Whole numbers are judged by what was written, not by its rounding. */
    check_refused("{\"topicIds\":[1.0000000000000000001]}", "topicIds must hold 1 to 250");
    check_refused("{\"topicIds\":[1],\"minScore\":70.00000000000000001}", "minScore must be");
    check_refused("{\"topicIds\":[1],\"maxScore\":99.0000000000000000001}", "maxScore must be");
    check_kept("{\"topicIds\":[1.000000000000000000000, 5e0, 12e+2]}", "{\"topicIds\":[1,5,1200]}");
}

static void test_answer_numbers(void)
{
    static const char answer[] =
        "{\"data\":{\"id\":\"a1\",\"name\":\"Big\",\"status\":\"draft\",\"config\":{"
        "\"topicIds\":[117805],\"minScore\":70,\"filters\":{\"company.ids\":"
        "[1234567890123456789,9007199254740993],\"w\":0.30000000000000000001}}}}";
    struct lp_audience a;
    char err[256] = "", *buf = exact_copy(answer, strlen(answer)), *pretty, *body;

    CHECK_INT(lp_parse_audience_response(buf, strlen(answer), &a, err, sizeof(err)), 0);
    free(buf);
    CHECK_STR(a.config, "{\"topicIds\":[117805],\"minScore\":70,\"filters\":{\"company.ids\":"
                        "[1234567890123456789,9007199254740993],\"w\":0.30000000000000000001}}");
    /* What cat shows ... */
    pretty = lp_config_pretty(a.config);
    CHECK(pretty && strstr(pretty, "[1234567890123456789, 9007199254740993]"));
    CHECK(pretty && strstr(pretty, "\"w\": 0.30000000000000000001\n"));
    /* ... an edit of another field (sed on minScore) written back ... */
    if (pretty) {
        char *edit = strdup(pretty), *p = strstr(edit, "\"minScore\": 70"), *compact = NULL;

        memcpy(p, "\"minScore\": 60", 14);
        CHECK_INT(check(edit, &compact, err, sizeof(err)), LP_CONFIG_OK);
        /* ... and the PATCH it becomes. */
        body = lp_build_body(NULL, NULL, compact);
        CHECK_STR(body, "{\"config\":{\"topicIds\":[117805],\"minScore\":60,\"filters\":{"
                        "\"company.ids\":[1234567890123456789,9007199254740993],"
                        "\"w\":0.30000000000000000001}}}");
        free(body);
        free(compact);
        free(edit);
    }
    free(pretty);
    lp_audience_clear(&a);
}

static void test_nul_in_strings(void)
{
    static const char answer[] =
        "{\"data\":{\"id\":\"a1\",\"name\":\"Nul\\u0000Name\",\"status\":\"draft\","
        "\"config\":{\"topicIds\":[1],\"filters\":{\"a\\u0000b\":\"x\\u0000y\\\\u0000\"}}}}";
    struct lp_audience a;
    char err[256] = "", *buf = exact_copy(answer, strlen(answer)), *body;

    CHECK_INT(lp_parse_audience_response(buf, strlen(answer), &a, err, sizeof(err)), 0);
    free(buf);
    /* The name is whole: its NUL held as C0 80 (see json_exact.h). */
    CHECK_STR(a.name, "Nul\xC0\x80Name");
    CHECK_STR(a.config, "{\"topicIds\":[1],\"filters\":{\"a\\u0000b\":\"x\\u0000y\\\\u0000\"}}");
    body = lp_build_body(a.name, NULL, a.config);
    CHECK_STR(body, "{\"name\":\"Nul\\u0000Name\",\"config\":{\"topicIds\":[1],\"filters\":{"
                    "\"a\\u0000b\":\"x\\u0000y\\\\u0000\"}}}");
    free(body);
    lp_audience_clear(&a);

    /* Written back: kept, never cut. */
    check_kept("{\"topicIds\":[1],\"s\":\"\\u0000\",\"t\":\"a\\u0000\\u0000b\\\\u0000\"}",
               "{\"topicIds\":[1],\"s\":\"\\u0000\",\"t\":\"a\\u0000\\u0000b\\\\u0000\"}");

    /* Where a broken answer breaks is still told in the answer's own
     * coordinates, \u0000 before it or not. */
    static const char broken[] = "{\"data\":{\"name\":\"\\u0000\\u0000\"}} x";
    buf = exact_copy(broken, strlen(broken));
    CHECK_INT(lp_parse_audience_response(buf, strlen(broken), &a, err, sizeof(err)), -1);
    free(buf);
    CHECK(strstr(err, "(line 1, column 34)") != NULL);
    /* The same fault after \u0000 or after another escape of six bytes. */
    static const char *const broken2[] = {"{\"data\":{\"name\":\"\\u0000\"\n,,}}",
                                          "{\"data\":{\"name\":\"\\u0041\"\n,,}}"};
    char err2[2][256];
    for (int i = 0; i < 2; i++) {
        buf = exact_copy(broken2[i], strlen(broken2[i]));
        CHECK_INT(lp_parse_audience_response(buf, strlen(broken2[i]), &a, err2[i], 256), -1);
        free(buf);
    }
    CHECK_STR(err2[0], err2[1]);
    CHECK(strstr(err2[0], "(line 2, column") != NULL);
}

int main(void)
{
    test_written_numbers();
    test_answer_numbers();
    test_nul_in_strings();
    return lp_test_summary();
}
