/* metrics.h - this mount's counters, for MOUNTPOINT/.leadpipe/stats.
 *
 * Lock-free counters that any layer bumps (relaxed atomics: a scrape may see
 * one counter a moment ahead of another, never a torn value), rendered in the
 * Prometheus text exposition format (version 0.0.4). Metric names and labels
 * (the man page lists them):
 *
 *   leadpipefs_api_requests_total{method="GET",code="2xx"}   counter
 *       HTTP exchanges by method (GET, POST, PATCH, DELETE, other) and
 *       outcome (1xx..5xx, or "error" when no answer arrived)
 *   leadpipefs_api_retries_total                          counter
 *   leadpipefs_api_received_bytes_total                   counter  (answer bodies)
 *   leadpipefs_cache_hits_total{cache="listing"}          counter
 *   leadpipefs_cache_misses_total{cache="listing"}        counter
 *       cache: listing, config, account, filters, topics, runs, results
 *   leadpipefs_fuse_operations_total{op="lookup"}         counter
 *   leadpipefs_accesslog_dropped_lines_total              counter
 *   leadpipefs_audiences                                  gauge (given at render)
 *   leadpipefs_api_up                                     gauge (given at render)
 *
 * Process-wide (one mount per process); everything here is thread-safe.
 */
#ifndef LEADPIPEFS_METRICS_H
#define LEADPIPEFS_METRICS_H

#include <stddef.h>

enum lp_metric_cache {
    LP_CACHE_LISTING,
    LP_CACHE_CONFIG,
    LP_CACHE_ACCOUNT,
    LP_CACHE_FILTERS,
    LP_CACHE_TOPICS,
    LP_CACHE_RUNS,
    LP_CACHE_RESULTS,
    LP_CACHE_COUNT
};

/* One HTTP exchange: method as sent ("GET"...), status (0: no answer). */
void lp_metrics_request(const char *method, long status);
void lp_metrics_retry(void);
void lp_metrics_received(size_t bytes);
void lp_metrics_cache(enum lp_metric_cache cache, int hit);
/* op: a FUSE operation's name ("lookup", "read"...); unknown names count as "other". */
void lp_metrics_fuse_op(const char *op);
void lp_metrics_accesslog_dropped(unsigned long lines);

/* Gauges known only to the caller. */
struct lp_metrics_gauges {
    long audiences;
    int api_up; /* 1: the API answered lately; 0: serving the cache */
};

/* The whole exposition, malloc'd NUL-terminated text (caller frees), its
 * length in *len (len may be NULL); NULL on no memory. g NULL leaves the two
 * gauges out. */
char *lp_metrics_render(const struct lp_metrics_gauges *g, size_t *len);
/* Back to zero (tests). */
void lp_metrics_reset(void);

#endif
