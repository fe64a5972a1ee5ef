/* test_metrics.c - the stats counters: each count in its series, a render a
 * Prometheus scraper can parse, reset, and exact totals under concurrency. */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

/* The value of the sample line whose series (name and labels) is exactly
 * series, or -1 when the render has none. */
static long long series_value(const char *text, const char *series)
{
    size_t slen = strlen(series);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            break;
        if (strncmp(line, series, slen) == 0 && line[slen] == ' ')
            return strtoll(line + slen + 1, NULL, 10);
        line = end + 1;
    }
    return -1;
}

static long long value_of(const char *series)
{
    char *text = lp_metrics_render(NULL, NULL);
    CHECK(text != NULL);
    long long v = text ? series_value(text, series) : -1;
    free(text);
    return v;
}

static bool is_name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && isdigit((unsigned char)c));
}

/* Checks {k="v",...} at *p and moves past it; false when malformed. */
static bool parse_labels(const char **p)
{
    const char *s = *p;
    if (*s != '{')
        return true;
    s++;
    for (;;) {
        if (!is_name_char(*s, true))
            return false;
        while (is_name_char(*s, false))
            s++;
        if (*s++ != '=' || *s++ != '"')
            return false;
        while (*s && *s != '"' && *s != '\\' && *s != '\n')
            s++;
        if (*s++ != '"')
            return false;
        if (*s == '}') {
            *p = s + 1;
            return true;
        }
        if (*s++ != ',')
            return false;
    }
}

#define MAX_SERIES 512

/* Checks the whole exposition line by line; returns the number of samples,
 * -1 after reporting what was wrong. */
static int check_exposition(const char *text)
{
    static char *seen[MAX_SERIES];
    char family[128] = "", helped[128] = "";
    int nseen = 0, bad = 0;
    const char *line = text;

    CHECK(*text && text[strlen(text) - 1] == '\n');
    while (*line) {
        const char *end = strchr(line, '\n');
        if (!end) {
            bad++;
            break;
        }
        size_t len = (size_t)(end - line);
        char buf[512];
        if (len >= sizeof buf) {
            bad++;
            break;
        }
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = end + 1;

        if (strncmp(buf, "# HELP ", 7) == 0) {
            char name[128] = "";
            if (sscanf(buf + 7, "%127s", name) != 1 || strlen(buf + 7) <= strlen(name) + 1) {
                fprintf(stderr, "bad HELP line: %s\n", buf);
                bad++;
            }
            snprintf(helped, sizeof helped, "%s", name);
            family[0] = '\0';
            continue;
        }
        if (strncmp(buf, "# TYPE ", 7) == 0) {
            char name[128], type[32], extra[8];
            int got = sscanf(buf + 7, "%127s %31s %7s", name, type, extra);
            if (got != 2 || strcmp(name, helped) != 0 ||
                (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0)) {
                fprintf(stderr, "bad TYPE line (or no HELP before it): %s\n", buf);
                bad++;
            }
            snprintf(family, sizeof family, "%s", name);
            continue;
        }
        if (buf[0] == '#') {
            fprintf(stderr, "unexpected comment: %s\n", buf);
            bad++;
            continue;
        }

        /* A sample: name{labels} value, of the family just declared. */
        const char *p = buf;
        if (!is_name_char(*p, true))
            bad++;
        while (is_name_char(*p, false))
            p++;
        size_t nlen = (size_t)(p - buf);
        if (!family[0] || strlen(family) != nlen || strncmp(buf, family, nlen) != 0) {
            fprintf(stderr, "sample outside its family (no TYPE before it): %s\n", buf);
            bad++;
        }
        if (!parse_labels(&p)) {
            fprintf(stderr, "bad labels: %s\n", buf);
            bad++;
            continue;
        }
        size_t series_len = (size_t)(p - buf);
        if (*p++ != ' ') {
            fprintf(stderr, "no space before the value: %s\n", buf);
            bad++;
            continue;
        }
        if (*p == '-')
            p++;
        if (!isdigit((unsigned char)*p)) {
            fprintf(stderr, "value not an integer: %s\n", buf);
            bad++;
        }
        while (isdigit((unsigned char)*p))
            p++;
        if (*p) {
            fprintf(stderr, "trailing text after the value: %s\n", buf);
            bad++;
        }
        for (int i = 0; i < nseen; i++)
            if (strlen(seen[i]) == series_len && strncmp(seen[i], buf, series_len) == 0) {
                fprintf(stderr, "duplicate series: %s\n", buf);
                bad++;
            }
        if (nseen < MAX_SERIES)
            seen[nseen++] = strndup(buf, series_len);
        else
            bad++;
    }
    for (int i = 0; i < nseen; i++)
        free(seen[i]);
    CHECK_INT(bad, 0);
    return bad ? -1 : nseen;
}

static void test_series(void)
{
    lp_metrics_reset();
    lp_metrics_request("GET", 200);
    lp_metrics_request("GET", 204);
    lp_metrics_request("POST", 201);
    lp_metrics_request("PATCH", 409);
    lp_metrics_request("DELETE", 503);
    lp_metrics_request("PUT", 302);
    lp_metrics_request(NULL, 101);
    lp_metrics_request("GET", 0);
    lp_metrics_request("GET", 700); /* no HTTP status: "error" */
    lp_metrics_request("get", 200); /* methods are sent upper-case; anything else is "other" */
    lp_metrics_retry();
    lp_metrics_retry();
    lp_metrics_received(1000);
    lp_metrics_received(234);
    lp_metrics_cache(LP_CACHE_LISTING, 1);
    lp_metrics_cache(LP_CACHE_LISTING, 1);
    lp_metrics_cache(LP_CACHE_LISTING, 0);
    lp_metrics_cache(LP_CACHE_RESULTS, 0);
    lp_metrics_cache(LP_CACHE_RUNS, 1);
    lp_metrics_fuse_op("lookup");
    lp_metrics_fuse_op("read");
    lp_metrics_fuse_op("read");
    lp_metrics_fuse_op("readdirplus");
    lp_metrics_fuse_op("create");
    lp_metrics_fuse_op("ioctl");
    lp_metrics_fuse_op(NULL);
    lp_metrics_accesslog_dropped(7);

    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"GET\",code=\"2xx\"}"), 2);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"POST\",code=\"2xx\"}"), 1);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"PATCH\",code=\"4xx\"}"), 1);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"DELETE\",code=\"5xx\"}"), 1);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"other\",code=\"3xx\"}"), 1);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"other\",code=\"1xx\"}"), 1);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"other\",code=\"2xx\"}"), 1);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"GET\",code=\"error\"}"), 2);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"GET\",code=\"4xx\"}"), 0);
    CHECK_INT(value_of("leadpipefs_api_retries_total"), 2);
    CHECK_INT(value_of("leadpipefs_api_received_bytes_total"), 1234);
    CHECK_INT(value_of("leadpipefs_cache_hits_total{cache=\"listing\"}"), 2);
    CHECK_INT(value_of("leadpipefs_cache_misses_total{cache=\"listing\"}"), 1);
    CHECK_INT(value_of("leadpipefs_cache_misses_total{cache=\"results\"}"), 1);
    CHECK_INT(value_of("leadpipefs_cache_hits_total{cache=\"runs\"}"), 1);
    CHECK_INT(value_of("leadpipefs_cache_hits_total{cache=\"results\"}"), 0);
    CHECK_INT(value_of("leadpipefs_cache_hits_total{cache=\"config\"}"), 0);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"lookup\"}"), 1);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"read\"}"), 2);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"readdirplus\"}"), 1);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"readdir\"}"), 0);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"create\"}"), 1);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"other\"}"), 2);
    CHECK_INT(value_of("leadpipefs_accesslog_dropped_lines_total"), 7);
}

static void test_render_parses(void)
{
    struct lp_metrics_gauges g = {.audiences = 12, .api_up = 1};
    size_t len = 0;

    lp_metrics_reset();
    lp_metrics_request("GET", 200);
    char *text = lp_metrics_render(&g, &len);
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK_INT(len, strlen(text));
    /* 5 methods x 6 classes, 2 plain counters, 7 caches x 2, 29 ops, dropped,
     * 2 gauges: every series, zeros included. */
    CHECK_INT(check_exposition(text), 30 + 2 + 14 + 29 + 1 + 2);
    CHECK_INT(series_value(text, "leadpipefs_audiences"), 12);
    CHECK_INT(series_value(text, "leadpipefs_api_up"), 1);
    CHECK(strstr(text, "# TYPE leadpipefs_audiences gauge\n") != NULL);
    CHECK(strstr(text, "# TYPE leadpipefs_api_requests_total counter\n") != NULL);
    free(text);

    /* Without gauges, the rest renders the same way. */
    text = lp_metrics_render(NULL, &len);
    CHECK(text != NULL);
    if (text) {
        CHECK_INT(check_exposition(text), 30 + 2 + 14 + 29 + 1);
        CHECK(strstr(text, "leadpipefs_api_up") == NULL);
        free(text);
    }

    g.audiences = -1;
    g.api_up = 0;
    text = lp_metrics_render(&g, NULL);
    CHECK(text != NULL);
    if (text) {
        CHECK(check_exposition(text) > 0);
        CHECK_INT(series_value(text, "leadpipefs_audiences"), -1);
        CHECK_INT(series_value(text, "leadpipefs_api_up"), 0);
        free(text);
    }
}

static void test_reset(void)
{
    lp_metrics_request("POST", 500);
    lp_metrics_retry();
    lp_metrics_received(5);
    lp_metrics_cache(LP_CACHE_TOPICS, 0);
    lp_metrics_fuse_op("write");
    lp_metrics_accesslog_dropped(3);
    lp_metrics_reset();

    char *text = lp_metrics_render(NULL, NULL);
    CHECK(text != NULL);
    if (!text)
        return;
    int nonzero = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (*line != '#' && !(end - line >= 2 && end[-1] == '0' && end[-2] == ' '))
            nonzero++;
        line = end + 1;
    }
    CHECK_INT(nonzero, 0);
    free(text);
}

#define THREADS 4
#define ROUNDS 100000

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        lp_metrics_request("GET", 200);
        lp_metrics_request("PATCH", 0);
        lp_metrics_retry();
        lp_metrics_received(3);
        lp_metrics_cache(LP_CACHE_ACCOUNT, i & 1);
        lp_metrics_fuse_op("getattr");
        lp_metrics_accesslog_dropped(2);
    }
    return NULL;
}

static void test_concurrency(void)
{
    pthread_t t[THREADS];
    const long long n = (long long)THREADS * ROUNDS;

    lp_metrics_reset();
    for (int i = 0; i < THREADS; i++)
        CHECK_INT(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"GET\",code=\"2xx\"}"), n);
    CHECK_INT(value_of("leadpipefs_api_requests_total{method=\"PATCH\",code=\"error\"}"), n);
    CHECK_INT(value_of("leadpipefs_api_retries_total"), n);
    CHECK_INT(value_of("leadpipefs_api_received_bytes_total"), 3 * n);
    CHECK_INT(value_of("leadpipefs_cache_hits_total{cache=\"account\"}"), n / 2);
    CHECK_INT(value_of("leadpipefs_cache_misses_total{cache=\"account\"}"), n / 2);
    CHECK_INT(value_of("leadpipefs_fuse_operations_total{op=\"getattr\"}"), n);
    CHECK_INT(value_of("leadpipefs_accesslog_dropped_lines_total"), 2 * n);
}

int main(void)
{
    test_series();
    test_render_parses();
    test_reset();
    test_concurrency();
    return lp_test_summary();
}
