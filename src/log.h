/* log.h - leadpipefs logging: stderr in the foreground, syslog when detached.
 *
 * Every message passes through lp_scrub (scrub.h), which replaces the API key
 * (set once with lp_log_set_secret) with "[REDACTED]", so no call site can leak it.
 */
#ifndef LEADPIPEFS_LOG_H
#define LEADPIPEFS_LOG_H

#include <stdbool.h>

enum lp_log_level { LP_LOG_ERR, LP_LOG_WARNING, LP_LOG_INFO, LP_LOG_DEBUG };

/* to_syslog: send to syslog(3) under `ident` instead of stderr.
 * debug: let LP_LOG_DEBUG messages through (request lines with -d). */
void lp_log_init(const char *ident, bool to_syslog, bool debug);
void lp_log_set_syslog(bool to_syslog);
/* Quiet: only LP_LOG_ERR gets through (the start-up check prints its own one line). */
void lp_log_set_quiet(bool quiet);

/* The secret is copied; every later message has it replaced. NULL clears.
 * Returns 0, or -1 when there is no memory for the copy (nothing changes). */
int lp_log_set_secret(const char *secret);

void lp_log(enum lp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
