/* log.c - leadpipefs logging to stderr or syslog(3), one whole line at a time.
 *
 * Every message is formatted first and then passed through lp_scrub, so the
 * API key cannot reach the log whatever a caller formats into it.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "scrub.h"

/* All state below is guarded by log_lock; one lock also keeps lines whole. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_ident[64] = "leadpipefs";
static bool log_to_syslog;
static bool log_syslog_open;
static bool log_debug;
static bool log_quiet;
static char *log_secret;

/* Called with log_lock held. openlog keeps the ident pointer, hence the static copy. */
static void open_syslog_locked(void)
{
    if (!log_syslog_open) {
        openlog(log_ident, LOG_PID, LOG_DAEMON);
        log_syslog_open = true;
    }
}

void lp_log_init(const char *ident, bool to_syslog, bool debug)
{
    pthread_mutex_lock(&log_lock);
    if (ident && *ident && !log_syslog_open)
        snprintf(log_ident, sizeof log_ident, "%s", ident);
    log_to_syslog = to_syslog;
    log_debug = debug;
    if (to_syslog)
        open_syslog_locked();
    pthread_mutex_unlock(&log_lock);
}

void lp_log_set_syslog(bool to_syslog)
{
    pthread_mutex_lock(&log_lock);
    log_to_syslog = to_syslog;
    if (to_syslog)
        open_syslog_locked();
    pthread_mutex_unlock(&log_lock);
}

void lp_log_set_quiet(bool quiet)
{
    pthread_mutex_lock(&log_lock);
    log_quiet = quiet;
    pthread_mutex_unlock(&log_lock);
}

static bool suppressed(enum lp_log_level level)
{
    pthread_mutex_lock(&log_lock);
    bool drop = (level == LP_LOG_DEBUG && !log_debug) || (log_quiet && level != LP_LOG_ERR);
    pthread_mutex_unlock(&log_lock);
    return drop;
}

int lp_log_set_secret(const char *secret)
{
    char *copy = secret && *secret ? strdup(secret) : NULL;
    if (secret && *secret && !copy)
        return -1; /* the old secret stays */

    pthread_mutex_lock(&log_lock);
    if (log_secret) {
        /* The old key should not linger in freed memory either. */
        explicit_bzero(log_secret, strlen(log_secret));
        free(log_secret);
    }
    log_secret = copy;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

static int syslog_priority(enum lp_log_level level)
{
    switch (level) {
    case LP_LOG_ERR:
        return LOG_ERR;
    case LP_LOG_WARNING:
        return LOG_WARNING;
    case LP_LOG_INFO:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

/* Called with log_lock held: sends one finished line. */
static void emit_locked(enum lp_log_level level, const char *line)
{
    size_t len = strlen(line);

    /* A caller's trailing newline would make an empty line on stderr. */
    while (len > 0 && line[len - 1] == '\n')
        len--;
    if (log_to_syslog)
        syslog(syslog_priority(level), "%.*s", (int)len, line);
    else
        fprintf(stderr, "leadpipefs: %.*s\n", (int)len, line);
}

/* Returns the formatted message, malloc'd (caller frees), or NULL. */
static char *format_message(const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        return NULL;
    return text;
}

void lp_log(enum lp_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (suppressed(level))
        return;
    va_start(ap, fmt);
    char *text = format_message(fmt, ap);
    va_end(ap);
    if (!text)
        return;

    pthread_mutex_lock(&log_lock);
    char *clean = NULL;
    if (log_secret) {
        size_t len = lp_scrub(NULL, 0, text, log_secret);
        clean = malloc(len + 1);
        if (clean)
            lp_scrub(clean, len + 1, text, log_secret);
    }
    /* With no memory to scrub into, the line is dropped rather than leak. */
    if (clean || !log_secret)
        emit_locked(level, clean ? clean : text);
    pthread_mutex_unlock(&log_lock);
    free(clean);
    free(text);
}
