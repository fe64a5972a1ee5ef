/* fuzz_run.c - libFuzzer target for run.c: a runs list, one run and a run's
 * stats read from any bytes, and the directory name of every run that
 * parses. No crash, no leak, and what parses obeys run.h's contract.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_pretty.h"
#include "run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The id is there, fields have keys and values, a copy is equal, and the
 * directory name is a safe file name. */
static void check_run(const struct lp_run *r)
{
    if (!r->id || !r->id[0] || (r->nfields && !r->fields))
        abort();
    for (size_t i = 0; i < r->nfields; i++)
        if (!r->fields[i].key || !r->fields[i].key[0] || !r->fields[i].value)
            abort();
    char *name = lp_run_dirname(r);
    if (!name) /* only on no memory, which the fuzzer does not make */
        abort();
    size_t len = strlen(name);
    if (len == 0 || len > 255 || name[0] == '.' || strchr(name, '/'))
        abort();
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            abort();
    free(name);

    struct lp_run copy;
    if (lp_run_copy(&copy, r) != 0 || strcmp(copy.id, r->id) != 0 || copy.nfields != r->nfields)
        abort();
    lp_run_clear(&copy);
}

/* stats.json: see fuzz_pretty.h. */
static void check_stats(const char *body, size_t size)
{
    char *text = NULL, err[256] = "";
    size_t len = 1;
    int rc = lp_parse_run_stats(body, size, &text, &len, err, sizeof(err));
    check_pretty(rc, text, len, err, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data; /* not NUL-terminated, on purpose */
    struct lp_run *arr = NULL, one;
    size_t n = 7;
    char err[256] = "";

    if (lp_parse_runs_response(body, size, &arr, &n, err, sizeof(err)) == 0) {
        if (!arr)
            abort();
        for (size_t i = 0; i < n; i++)
            check_run(&arr[i]);
        lp_run_array_free(arr, n);
    } else if (arr || n || !err[0]) {
        abort();
    }
    err[0] = '\0';
    if (lp_parse_run_response(body, size, &one, err, sizeof(err)) == 0)
        check_run(&one);
    else if (one.id || one.fields || !err[0])
        abort();
    lp_run_clear(&one);
    check_stats(body, size);
    return 0;
}
