/* metrics.c - this mount's counters and their Prometheus rendering (see metrics.h).
 *
 * Every counter is a C11 atomic bumped with relaxed ordering: the counters are
 * independent of each other, so no ordering between them is worth a fence on
 * the FUSE and HTTP paths that bump them. Labels come from fixed tables, so
 * every series exists from the start and a render prints all of them, zeros
 * included: a scraper sees the same set of series every time.
 * Plain C and libc only (the "util" layer).
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sbuf.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const method_names[] = {"GET", "POST", "PATCH", "DELETE", "other"};
#define METHOD_COUNT ARRAY_LEN(method_names)
#define METHOD_OTHER (METHOD_COUNT - 1)

/* 1xx..5xx, then "error": no answer, or a status no HTTP server sends. */
static const char *const code_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};
#define CODE_COUNT ARRAY_LEN(code_names)
#define CODE_ERROR (CODE_COUNT - 1)

/* Indexed by enum lp_metric_cache. */
static const char *const cache_names[LP_CACHE_COUNT] = {
    [LP_CACHE_LISTING] = "listing", [LP_CACHE_CONFIG] = "config", [LP_CACHE_ACCOUNT] = "account",
    [LP_CACHE_FILTERS] = "filters", [LP_CACHE_TOPICS] = "topics", [LP_CACHE_RUNS] = "runs",
    [LP_CACHE_RESULTS] = "results",
};

/* The low-level FUSE operations leadpipefs implements or may see; "other"
 * last, for any name not in the table. */
static const char *const op_names[] = {
    "lookup",   "forget",    "getattr",     "setattr",    "readlink", "mknod",
    "mkdir",    "unlink",    "rmdir",       "symlink",    "rename",   "link",
    "open",     "read",      "write",       "flush",      "release",  "fsync",
    "opendir",  "readdir",   "readdirplus", "releasedir", "statfs",   "setxattr",
    "getxattr", "listxattr", "removexattr", "create",     "other",
};
#define OP_COUNT ARRAY_LEN(op_names)
#define OP_OTHER (OP_COUNT - 1)

typedef atomic_ullong counter;

static counter requests[METHOD_COUNT][CODE_COUNT];
static counter retries;
static counter received_bytes;
static counter cache_hits[LP_CACHE_COUNT];
static counter cache_misses[LP_CACHE_COUNT];
static counter fuse_ops[OP_COUNT];
static counter accesslog_dropped;

static void bump(counter *c, unsigned long long n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static unsigned long long value(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void zero(counter *c)
{
    atomic_store_explicit(c, 0, memory_order_relaxed);
}

/* Index of name in names[count], or fallback; a linear scan of a short table
 * is cheaper than the syscall every caller has just made. */
static size_t name_index(const char *const *names, size_t count, const char *name, size_t fallback)
{
    if (!name)
        return fallback;
    for (size_t i = 0; i < count; i++)
        if (i != fallback && strcmp(names[i], name) == 0)
            return i;
    return fallback;
}

void lp_metrics_request(const char *method, long status)
{
    size_t m = name_index(method_names, METHOD_COUNT, method, METHOD_OTHER);
    size_t c = status >= 100 && status <= 599 ? (size_t)(status / 100 - 1) : CODE_ERROR;
    bump(&requests[m][c], 1);
}

void lp_metrics_retry(void)
{
    bump(&retries, 1);
}

void lp_metrics_received(size_t bytes)
{
    bump(&received_bytes, bytes);
}

void lp_metrics_cache(enum lp_metric_cache cache, int hit)
{
    if ((unsigned)cache >= LP_CACHE_COUNT)
        return; /* a caller's bug; not worth a crash in a counter */
    bump(hit ? &cache_hits[cache] : &cache_misses[cache], 1);
}

void lp_metrics_fuse_op(const char *op)
{
    bump(&fuse_ops[name_index(op_names, OP_COUNT, op, OP_OTHER)], 1);
}

void lp_metrics_accesslog_dropped(unsigned long lines)
{
    bump(&accesslog_dropped, lines);
}

/* "# HELP" and "# TYPE" for one metric family. */
static void family(struct lp_sbuf *b, const char *name, const char *type, const char *help)
{
    lp_sb_adds(b, "# HELP ");
    lp_sb_adds(b, name);
    lp_sb_addc(b, ' ');
    lp_sb_adds(b, help);
    lp_sb_adds(b, "\n# TYPE ");
    lp_sb_adds(b, name);
    lp_sb_addc(b, ' ');
    lp_sb_adds(b, type);
    lp_sb_addc(b, '\n');
}

/* One sample line. labels: "" or the text between the braces, already quoted
 * (label values come from the tables above and need no escaping). */
static void sample(struct lp_sbuf *b, const char *name, const char *labels, const char *val)
{
    lp_sb_adds(b, name);
    if (*labels) {
        lp_sb_addc(b, '{');
        lp_sb_adds(b, labels);
        lp_sb_addc(b, '}');
    }
    lp_sb_addc(b, ' ');
    lp_sb_adds(b, val);
    lp_sb_addc(b, '\n');
}

static void sample_u(struct lp_sbuf *b, const char *name, const char *labels, unsigned long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", v);
    sample(b, name, labels, num);
}

/* One family labelled by a single label from a table. */
static void labelled(struct lp_sbuf *b, const char *name, const char *help, const char *label,
                     const char *const *names, counter *counters, size_t count)
{
    char labels[96];

    family(b, name, "counter", help);
    for (size_t i = 0; i < count; i++) {
        snprintf(labels, sizeof labels, "%s=\"%s\"", label, names[i]);
        sample_u(b, name, labels, value(&counters[i]));
    }
}

char *lp_metrics_render(const struct lp_metrics_gauges *g, size_t *len)
{
    struct lp_sbuf b = {0};
    char labels[96];

    family(&b, "leadpipefs_api_requests_total", "counter",
           "API requests by method and status class (error: no answer).");
    for (size_t m = 0; m < METHOD_COUNT; m++)
        for (size_t c = 0; c < CODE_COUNT; c++) {
            snprintf(labels, sizeof labels, "method=\"%s\",code=\"%s\"", method_names[m],
                     code_names[c]);
            sample_u(&b, "leadpipefs_api_requests_total", labels, value(&requests[m][c]));
        }

    family(&b, "leadpipefs_api_retries_total", "counter", "API requests sent again.");
    sample_u(&b, "leadpipefs_api_retries_total", "", value(&retries));
    family(&b, "leadpipefs_api_received_bytes_total", "counter",
           "Bytes of API answer bodies received.");
    sample_u(&b, "leadpipefs_api_received_bytes_total", "", value(&received_bytes));

    labelled(&b, "leadpipefs_cache_hits_total", "Lookups answered from the cache.", "cache",
             cache_names, cache_hits, LP_CACHE_COUNT);
    labelled(&b, "leadpipefs_cache_misses_total", "Lookups the cache could not answer.", "cache",
             cache_names, cache_misses, LP_CACHE_COUNT);
    labelled(&b, "leadpipefs_fuse_operations_total", "FUSE operations by name.", "op", op_names,
             fuse_ops, OP_COUNT);

    family(&b, "leadpipefs_accesslog_dropped_lines_total", "counter",
           "Access log lines lost by readers too slow to keep up.");
    sample_u(&b, "leadpipefs_accesslog_dropped_lines_total", "", value(&accesslog_dropped));

    /* Without the caller's gauges there is nothing true to print: leaving
     * them out beats reporting the API down. */
    if (g) {
        char num[32];
        family(&b, "leadpipefs_audiences", "gauge", "Audiences in the account.");
        snprintf(num, sizeof num, "%ld", g->audiences);
        sample(&b, "leadpipefs_audiences", "", num);
        family(&b, "leadpipefs_api_up", "gauge",
               "1 when the API answered lately, 0 while serving the cache.");
        sample(&b, "leadpipefs_api_up", "", g->api_up ? "1" : "0");
    }

    size_t n = b.len;
    char *text = lp_sb_finish(&b);
    if (text && len)
        *len = n;
    return text;
}

void lp_metrics_reset(void)
{
    for (size_t m = 0; m < METHOD_COUNT; m++)
        for (size_t c = 0; c < CODE_COUNT; c++)
            zero(&requests[m][c]);
    zero(&retries);
    zero(&received_bytes);
    for (size_t i = 0; i < LP_CACHE_COUNT; i++) {
        zero(&cache_hits[i]);
        zero(&cache_misses[i]);
    }
    for (size_t i = 0; i < OP_COUNT; i++)
        zero(&fuse_ops[i]);
    zero(&accesslog_dropped);
}
