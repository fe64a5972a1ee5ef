/* log.c - leadpipefs logging to stderr or syslog(3), one whole line at a time.
 *
 * Every message is formatted first and then passed through the redactor, so the
 * API key cannot reach the log whatever a caller formats into it.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define LP_LOG_REDACTED "[REDACTED]"

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

bool lp_log_debug_enabled(void)
{
    pthread_mutex_lock(&log_lock);
    bool debug = log_debug;
    pthread_mutex_unlock(&log_lock);
    return debug;
}

void lp_log_set_secret(const char *secret)
{
    char *copy = secret && *secret ? strdup(secret) : NULL;

    pthread_mutex_lock(&log_lock);
    if (log_secret) {
        /* The old key should not linger in freed memory either. */
        explicit_bzero(log_secret, strlen(log_secret));
        free(log_secret);
    }
    log_secret = copy;
    pthread_mutex_unlock(&log_lock);
}

/* Returns text with every occurrence of secret replaced: malloc'd (caller frees),
 * or NULL when there was nothing to replace or no memory (use text as is then;
 * on no memory the caller drops the line rather than leak). *failed says which. */
static char *redact(const char *text, const char *secret, bool *failed)
{
    size_t slen = strlen(secret), rlen = strlen(LP_LOG_REDACTED), count = 0;
    const char *p;

    *failed = false;
    for (p = strstr(text, secret); p; p = strstr(p + slen, secret))
        count++;
    if (count == 0)
        return NULL;
    size_t out_len = strlen(text) - count * slen + count * rlen;
    char *out = malloc(out_len + 1), *o = out;
    if (!out) {
        *failed = true;
        return NULL;
    }
    for (p = text;;) {
        const char *hit = strstr(p, secret);
        if (!hit) {
            strcpy(o, p);
            break;
        }
        memcpy(o, p, (size_t)(hit - p));
        o += hit - p;
        memcpy(o, LP_LOG_REDACTED, rlen);
        o += rlen;
        p = hit + slen;
    }
    return out;
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
    bool failed = false;
    char *clean = log_secret ? redact(text, log_secret, &failed) : NULL;
    if (!failed)
        emit_locked(level, clean ? clean : text);
    pthread_mutex_unlock(&log_lock);
    free(clean);
    free(text);
}
