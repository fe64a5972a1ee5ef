/* fuzz_response.c - libFuzzer target for the API answer parsers: list, one
 * audience, delete, error bodies, and the control files' texts (an answer's
 * data as pretty JSON, a topics page as TSV). Whatever the bytes, no crash, no leak, and
 * what parses obeys the model's contract.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_pretty.h"
#include "model.h"
#include "sbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Required fields are present and a carried config prints. */
static void check_audience(const struct lp_audience *a)
{
    if (!a->id || !a->id[0] || !a->name || !a->status)
        abort();
    if (a->daily_refresh < -1 || a->daily_refresh > 1 || a->audience_size < 0)
        abort();
    if (a->config) {
        char *pretty = lp_config_pretty(a->config);

        if (!pretty)
            abort();
        free(pretty);
    }
}

/* account.json / filters.json: see fuzz_pretty.h. */
static void check_data_pretty(const char *body, size_t size)
{
    char *text = NULL, err[256] = "";
    size_t len = 1;
    int rc = lp_parse_data_pretty(body, size, &text, &len, err, sizeof(err));
    check_pretty(rc, text, len, err, true);
}

/* topics.tsv: what a page appends is whole lines of five fields with no CR,
 * at most one a page item; a refused page appends nothing. */
static void check_topics_page(const char *body, size_t size)
{
    struct lp_sbuf tsv = {0};
    size_t items = 7, lines = 0, tabs = 0;
    long long total = 7;
    char err[256] = "";

    lp_sb_adds(&tsv, "head\n");
    if (lp_parse_topics_page(body, size, &tsv, &items, &total, err, sizeof(err)) != 0) {
        if (items || total != -1 || tsv.len != 5 || !err[0])
            abort();
        free(tsv.p);
        return;
    }
    if (tsv.failed || total < -1 || tsv.p[tsv.len - 1] != '\n' || strlen(tsv.p) != tsv.len)
        abort();
    for (const char *p = tsv.p + 5; *p; p++) {
        if (*p == '\r')
            abort();
        lines += *p == '\n';
        tabs += *p == '\t';
    }
    if (lines > items || tabs != 4 * lines)
        abort();
    free(tsv.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data; /* not NUL-terminated, on purpose */
    struct lp_audience *arr = NULL, one;
    size_t n = 0, listed = 0;
    long long total = 0;
    char err[256] = "", code[64], msg[512];

    if (lp_parse_list_page(body, size, &arr, &n, &listed, &total, err, sizeof(err)) == 0) {
        /* Unreadable items are left out, with a reason; none readable is an error. */
        if (n > listed || (n < listed && !err[0]) || (listed && !n) || total < -1)
            abort();
        for (size_t i = 0; i < n; i++)
            check_audience(&arr[i]);
        lp_audience_array_free(arr, n);
    } else if (arr || n || !err[0] || total != -1) {
        abort();
    }
    if (lp_parse_audience_response(body, size, &one, err, sizeof(err)) == 0)
        check_audience(&one);
    lp_audience_clear(&one);
    (void)lp_parse_delete_response(body, size, err, sizeof(err));

    lp_parse_error_body(body, size, code, sizeof(code), msg, sizeof(msg));
    /* Log-safe: NUL-terminated within bounds, no control characters. */
    if (strlen(code) >= sizeof(code) || strlen(msg) >= sizeof(msg))
        abort();
    for (const char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort();
    (void)lp_errno_for_status(403, code);

    check_data_pretty(body, size);
    check_topics_page(body, size);
    return 0;
}
