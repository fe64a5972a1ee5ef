/* test_control_text.c - unit tests for control_text.c: an answer's "data" as
 * pretty JSON (account.json, filters.json) and topic pages as TSV lines
 * (topics.tsv).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sbuf.h"
#include "testutil.h"

/* A malloc'd copy of s with no NUL after it, so that a parser reading past
 * the end is caught by ASan and valgrind. Caller frees. */
static char *exact_copy(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    if (len)
        memcpy(p, s, len);
    return p;
}

/* lp_parse_data_pretty on a copy of body without its NUL. */
static int pretty(const char *body, char **text, size_t *len, char *err, size_t errlen)
{
    size_t n = strlen(body);
    char *buf = exact_copy(body, n);
    int rc = lp_parse_data_pretty(buf, n, text, len, err, errlen);

    free(buf);
    return rc;
}

/* lp_parse_topics_page on a copy of body without its NUL. */
static int topics(const char *body, struct lp_sbuf *tsv, size_t *items, long long *total, char *err,
                  size_t errlen)
{
    size_t n = strlen(body);
    char *buf = exact_copy(body, n);
    int rc = lp_parse_topics_page(buf, n, tsv, items, total, err, errlen);

    free(buf);
    return rc;
}

static void check_pretty(const char *body, const char *want)
{
    char *text = (char *)"unset", err[256] = "";
    size_t len = 0;

    CHECK_INT(pretty(body, &text, &len, err, sizeof err), 0);
    CHECK_STR(text, want);
    CHECK_INT(len, strlen(want));
    CHECK_STR(err, "");
    free(text);
}

static void test_pretty_object(void)
{
    /* An account answer with every kind of value; numbers come out as sent,
     * "meta" is not part of the file. */
    check_pretty("{\"data\":{\"organization\":{\"id\":\"org-1\",\"name\":\"Acme \\\"Growth\\\" Co."
                 "\"},\"plan\":\"growth\",\"credits\":{\"total\":50000,\"used\":12840,"
                 "\"available\":37160},\"ids\":[1,2,3],\"max\":9007199254740991,\"ratio\":0.1,"
                 "\"neg\":-2.5,\"none\":null,\"on\":true,\"off\":false,\"empty\":{},\"list\":[]},"
                 "\"meta\":{\"x\":1}}",
                 "{\n"
                 "  \"organization\": {\n"
                 "    \"id\": \"org-1\",\n"
                 "    \"name\": \"Acme \\\"Growth\\\" Co.\"\n"
                 "  },\n"
                 "  \"plan\": \"growth\",\n"
                 "  \"credits\": {\n"
                 "    \"total\": 50000,\n"
                 "    \"used\": 12840,\n"
                 "    \"available\": 37160\n"
                 "  },\n"
                 "  \"ids\": [1, 2, 3],\n"
                 "  \"max\": 9007199254740991,\n"
                 "  \"ratio\": 0.1,\n"
                 "  \"neg\": -2.5,\n"
                 "  \"none\": null,\n"
                 "  \"on\": true,\n"
                 "  \"off\": false,\n"
                 "  \"empty\": {},\n"
                 "  \"list\": []\n"
                 "}\n");
}

static void test_pretty_array(void)
{
    /* A filter catalog: data is a list; whitespace around the answer is fine. */
    check_pretty(" {\"data\":[{\"key\":\"role.seniority\",\"values\":[{\"value\":\"vp\","
                 "\"label\":\"VP\"}]},{\"key\":\"contact.hasPhone\",\"type\":\"boolean\"}]}\n",
                 "[\n"
                 "  {\n"
                 "    \"key\": \"role.seniority\",\n"
                 "    \"values\": [\n"
                 "      {\n"
                 "        \"value\": \"vp\",\n"
                 "        \"label\": \"VP\"\n"
                 "      }\n"
                 "    ]\n"
                 "  },\n"
                 "  {\n"
                 "    \"key\": \"contact.hasPhone\",\n"
                 "    \"type\": \"boolean\"\n"
                 "  }\n"
                 "]\n");
    check_pretty("{\"data\":[]}", "[]\n");
    check_pretty("{\"data\":{}}", "{}\n");
}

static void check_pretty_fails(const char *body, const char *reason_part)
{
    char *text = (char *)"unset", err[256] = "";
    size_t len = 99;

    CHECK_INT(pretty(body, &text, &len, err, sizeof err), -1);
    CHECK(text == NULL);
    CHECK_INT(len, 0);
    if (!strstr(err, reason_part))
        fprintf(stderr, "reason for %s: \"%s\", wanted \"%s\" in it\n", body, err, reason_part);
    CHECK(strstr(err, reason_part) != NULL);
}

static void test_pretty_errors(void)
{
    check_pretty_fails("{\"organization\":{}}", "no \"data\"");
    check_pretty_fails("{\"error\":{\"code\":\"X\",\"message\":\"y\"}}", "no \"data\"");
    check_pretty_fails("", "empty");
    check_pretty_fails("<html>502</html>", "not valid JSON");
    check_pretty_fails("{\"data\":{}} x", "text after");
    check_pretty_fails("[{\"data\":{}}]", "not a JSON object");
    check_pretty_fails("{\"data\":5}", "neither an object nor a list");
    check_pretty_fails("{\"data\":null}", "neither an object nor a list");
    check_pretty_fails("{\"data\":\"text\"}", "neither an object nor a list");

    /* No room for a reason is fine. */
    char *text = NULL;
    size_t len = 0;
    CHECK_INT(lp_parse_data_pretty("{}", 2, &text, &len, NULL, 0), -1);
    CHECK(text == NULL);
    CHECK_INT(lp_parse_data_pretty(NULL, 0, &text, &len, NULL, 0), -1);
}

static void test_topics_header(void)
{
    CHECK_STR(lp_topics_tsv_header(), "topicId\ttopicName\ttype\tindustry\tcategory\n");
}

static void test_topics_page(void)
{
    /* The emulator's special names, missing and null fields, an id at 2^53 - 1,
     * and items that are not objects (left out, but counted: they take an
     * offset). */
    const char *body =
        "{\"data\":["
        "{\"topicId\":100007,\"topicName\":\"Sales\\tEnablement Platforms\",\"type\":\"product\","
        "\"industry\":\"Technology\",\"category\":\"Software\"},"
        "{\"topicId\":100042,\"topicName\":\"ERP\\r\\nMigration Services\",\"type\":\"vendor\","
        "\"industry\":\"Finance\",\"category\":\"Services\"},"
        "{\"topicId\":100099,\"topicName\":\"Remote\\nWork Tools\",\"type\":null},"
        "5,\"topic\",null,[1],"
        "{\"category\":\"Tabs\\t\\tand \\\"quotes\\\", commas\",\"topicName\":\"No id\","
        "\"industry\":\"\\r\"},"
        "{\"topicId\":9007199254740991,\"topicName\":\"Caf\\u00e9 \\u2014 Z\\u00fcrich\","
        "\"extra\":{\"ignored\":true}},"
        "{}"
        "],\"meta\":{\"total\":20000,\"limit\":10,\"offset\":0}}";
    const char *want = "topicId\ttopicName\ttype\tindustry\tcategory\n"
                       "100007\tSales Enablement Platforms\tproduct\tTechnology\tSoftware\n"
                       "100042\tERP  Migration Services\tvendor\tFinance\tServices\n"
                       "100099\tRemote Work Tools\t\t\t\n"
                       "\tNo id\t\t \tTabs  and \"quotes\", commas\n"
                       "9007199254740991\tCaf\xc3\xa9 \xe2\x80\x94 Z\xc3\xbcrich\t\t\t\n"
                       "\t\t\t\t\n";
    struct lp_sbuf tsv = {0};
    size_t items = 99;
    long long total = 0;
    char err[256] = "stale";

    lp_sb_adds(&tsv, lp_topics_tsv_header());
    CHECK_INT(topics(body, &tsv, &items, &total, err, sizeof err), 0);
    CHECK_INT(items, 10);
    CHECK_INT(total, 20000);
    CHECK(strstr(err, "topic 4 ") != NULL); /* the first one left out */
    char *text = lp_sb_finish(&tsv);
    CHECK_STR(text, want);
    free(text);

    /* Ids as integers also when sent as 1e5 or 100001.0; another number
     * type, a boolean or an object in a field prints as compact JSON. */
    struct lp_sbuf odd = {0};
    CHECK_INT(topics("{\"data\":[{\"topicId\":1e5,\"topicName\":\"a\"},{\"topicId\":100001.0,"
                     "\"topicName\":7,\"type\":true,\"industry\":[\"x\\ty\"],\"category\":1.5}]}",
                     &odd, &items, &total, err, sizeof err),
              0);
    CHECK_INT(items, 2);
    CHECK_INT(total, -1); /* no meta */
    CHECK_STR(err, "");
    text = lp_sb_finish(&odd);
    CHECK_STR(text, "100000\ta\t\t\t\n100001\t7\ttrue\t[\"x\\ty\"]\t1.5\n");
    free(text);
}

static void check_topics_fails(const char *body, const char *reason_part)
{
    struct lp_sbuf tsv = {0};
    size_t items = 99;
    long long total = 99;
    char err[256] = "";

    lp_sb_adds(&tsv, "before\n");
    CHECK_INT(topics(body, &tsv, &items, &total, err, sizeof err), -1);
    CHECK_INT(items, 0);
    CHECK_INT(total, -1);
    if (!strstr(err, reason_part))
        fprintf(stderr, "reason for %s: \"%s\", wanted \"%s\" in it\n", body, err, reason_part);
    CHECK(strstr(err, reason_part) != NULL);
    char *text = lp_sb_finish(&tsv);
    CHECK_STR(text, "before\n"); /* nothing appended */
    free(text);
}

static void test_topics_errors(void)
{
    check_topics_fails("{\"data\":{\"topicId\":1}}", "not a list");
    check_topics_fails("{\"data\":null,\"meta\":{\"total\":3}}", "not a list");
    check_topics_fails("{\"topics\":[]}", "no \"data\"");
    check_topics_fails("[]", "not a JSON object");
    check_topics_fails("{\"data\":[{\"topicId\":1}]", "not valid JSON");
    check_topics_fails("", "empty");

    /* An empty page is a page: nothing appended, total as the meta says; a
     * meta.total that is not a whole number is no total. */
    struct lp_sbuf tsv = {0};
    size_t items = 99;
    long long total = 0;
    char err[256] = "";
    CHECK_INT(topics("{\"data\":[],\"meta\":{\"total\":0}}", &tsv, &items, &total, err, sizeof err),
              0);
    CHECK_INT(items, 0);
    CHECK_INT(total, 0);
    CHECK_INT(tsv.len, 0);
    CHECK_INT(
        topics("{\"data\":[],\"meta\":{\"total\":2.5}}", &tsv, &items, &total, err, sizeof err), 0);
    CHECK_INT(total, -1);
    CHECK_INT(topics("{\"data\":[],\"meta\":{\"total\":\"7\"}}", &tsv, &items, &total, NULL, 0), 0);
    CHECK_INT(total, -1);
    free(tsv.p);
}

int main(void)
{
    test_pretty_object();
    test_pretty_array();
    test_pretty_errors();
    test_topics_header();
    test_topics_page();
    test_topics_errors();
    return lp_test_summary();
}
