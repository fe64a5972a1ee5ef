/* wbuf.c - per-open write buffers for config.json and status, and the rule for
 * when their content goes to the API: as soon as the writer's own bytes form a
 * complete value (so a shell builtin's write sees the API's answer), else at
 * flush/fsync, never twice for the same content. What is unfinished (empty,
 * cut short, old bytes still after the new ones) waits: the shell's `>`
 * flushes before it writes, and a rewrite in place truncates after it.
 */
#include "wbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define STATUS_MAX 4096 /* a status file holds one short word */

size_t lp_wbuf_limit(enum lp_wbuf_kind kind)
{
    return kind == LP_WBUF_CONFIG ? LP_CONFIG_MAX : STATUS_MAX;
}

static size_t cap_of(const struct lp_wbuf *w)
{
    return lp_wbuf_limit(w->kind);
}

static int reserve(struct lp_wbuf *w, size_t len)
{
    /* Accept up to one byte past the cap so "too big" is reported by decide(). */
    if (len > cap_of(w) + 1)
        return -EFBIG;
    if (len <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < len)
        cap *= 2;
    char *d = realloc(w->data, cap);
    if (!d)
        return -ENOMEM;
    w->data = d;
    w->cap = cap;
    return 0;
}

int lp_wbuf_init(struct lp_wbuf *w, enum lp_wbuf_kind kind, const char *content, size_t len)
{
    memset(w, 0, sizeof(*w));
    w->kind = kind;
    if (reserve(w, len + 1) < 0)
        return -ENOMEM;
    if (len)
        memcpy(w->data, content, len);
    w->len = len;
    return 0;
}

void lp_wbuf_clear(struct lp_wbuf *w)
{
    free(w->data);
    free(w->sent);
    memset(w, 0, sizeof(*w));
}

/* Adds [lo, hi) to what this open wrote. Of two pieces apart, the lower one
 * is kept: the content then waits until later writes join them, which is
 * never wrong, only later. */
static void own_add(struct lp_wbuf *w, size_t lo, size_t hi)
{
    if (lo == hi)
        return;
    if (w->own_lo == w->own_hi) {
        w->own_lo = lo;
        w->own_hi = hi;
    } else if (lo <= w->own_hi && hi >= w->own_lo) {
        w->own_lo = lo < w->own_lo ? lo : w->own_lo;
        w->own_hi = hi > w->own_hi ? hi : w->own_hi;
    } else if (lo < w->own_lo) {
        w->own_lo = lo;
        w->own_hi = hi;
    }
}

/* Whether every byte is one this open wrote. */
static bool all_own(const struct lp_wbuf *w)
{
    return w->len == 0 || (w->own_lo == 0 && w->own_hi >= w->len);
}

int lp_wbuf_write(struct lp_wbuf *w, const char *buf, size_t size, off_t off)
{
    if (off < 0)
        return -EINVAL;
    size_t end = (size_t)off + size;
    if (end > cap_of(w))
        return -EFBIG;
    int rc = reserve(w, end);
    if (rc < 0)
        return rc;
    if ((size_t)off > w->len)
        memset(w->data + w->len, 0, (size_t)off - w->len);
    memcpy(w->data + off, buf, size);
    if (end > w->len)
        w->len = end;
    own_add(w, (size_t)off, end);
    w->touched = true;
    return 0;
}

int lp_wbuf_truncate(struct lp_wbuf *w, off_t size)
{
    if (size < 0)
        return -EINVAL;
    if ((size_t)size > cap_of(w))
        return -EFBIG;
    int rc = reserve(w, (size_t)size);
    if (rc < 0)
        return rc;
    if ((size_t)size > w->len)
        memset(w->data + w->len, 0, (size_t)size - w->len);
    w->len = (size_t)size;
    if (w->own_hi > w->len)
        w->own_hi = w->len;
    if (w->own_lo > w->len)
        w->own_lo = w->len;
    w->touched = true;
    return 0;
}

int lp_wbuf_save(const struct lp_wbuf *w, struct lp_wbuf_undo *u)
{
    u->len = w->len;
    u->touched = w->touched;
    u->own_lo = w->own_lo;
    u->own_hi = w->own_hi;
    u->data = malloc(w->len ? w->len : 1);
    if (!u->data)
        return -ENOMEM;
    if (w->len)
        memcpy(u->data, w->data, w->len);
    return 0;
}

void lp_wbuf_restore(struct lp_wbuf *w, struct lp_wbuf_undo *u)
{
    /* The buffer only grows between save and restore, so the old bytes fit. */
    if (u->len)
        memcpy(w->data, u->data, u->len);
    w->len = u->len;
    w->touched = u->touched;
    w->own_lo = u->own_lo;
    w->own_hi = u->own_hi;
}

void lp_wbuf_undo_clear(struct lp_wbuf_undo *u)
{
    free(u->data);
    u->data = NULL;
}

static enum lp_wbuf_action refuse(int errnum, int *err, char *reason, size_t reasonlen,
                                  const char *why)
{
    *err = errnum;
    if (why)
        snprintf(reason, reasonlen, "%s", why);
    return LP_WBUF_REFUSE;
}

/* Not yet something to send; EINVAL and why, should nothing more come. */
static enum lp_wbuf_action unfinished(int *err, char *reason, size_t reasonlen, const char *why)
{
    refuse(EINVAL, err, reason, reasonlen, why);
    return LP_WBUF_WAIT;
}

static enum lp_wbuf_action send_unless_sent(const struct lp_wbuf *w, char *payload, char **out)
{
    if (w->sent && strcmp(w->sent, payload) == 0) {
        free(payload);
        return LP_WBUF_NOTHING;
    }
    *out = payload;
    return LP_WBUF_SEND;
}

/* A status word or the queue's word. */
static enum lp_wbuf_action decide_word(const struct lp_wbuf *w, char **payload, int *err,
                                       char *reason, size_t reasonlen)
{
    char word[16];
    bool queue = w->kind == LP_WBUF_QUEUE;
    const char *rule =
        queue ? "runs/queue takes the word manual" : "status must be one of draft, active, paused";
    int r = queue ? lp_queue_word_parse(w->data, w->len, word, sizeof(word))
                  : lp_status_parse(w->data, w->len, word, sizeof(word));
    switch (r) {
    case LP_WORD_OK:
        break;
    case LP_WORD_EMPTY:
        return unfinished(err, reason, reasonlen,
                          queue ? "runs/queue is empty" : "status is empty");
    case LP_WORD_START:
        return unfinished(err, reason, reasonlen, rule);
    default:
        return refuse(EINVAL, err, reason, reasonlen, rule);
    }
    char *p = strdup(word);
    if (!p)
        return refuse(ENOMEM, err, reason, reasonlen, "out of memory");
    return send_unless_sent(w, p, payload);
}

static enum lp_wbuf_action decide_config(const struct lp_wbuf *w, char **payload, int *err,
                                         char *reason, size_t reasonlen)
{
    char *compact = NULL;
    enum lp_config_result r = lp_config_check(w->data, w->len, &compact, reason, reasonlen);
    switch (r) {
    case LP_CONFIG_OK:
        return send_unless_sent(w, compact, payload);
    case LP_CONFIG_INCOMPLETE: /* reason: empty, or ends before the object does */
        return unfinished(err, reason, reasonlen, NULL);
    case LP_CONFIG_TOO_BIG:
        return refuse(EFBIG, err, reason, reasonlen, NULL);
    case LP_CONFIG_BAD_JSON:
    case LP_CONFIG_INVALID:
        break;
    }
    return refuse(EINVAL, err, reason, reasonlen, NULL);
}

enum lp_wbuf_action lp_wbuf_decide(const struct lp_wbuf *w, enum lp_wbuf_moment at, char **payload,
                                   int *err, char *reason, size_t reasonlen)
{
    *payload = NULL;
    *err = 0;
    if (reasonlen)
        reason[0] = '\0';
    /* Untouched (touch, a reader): there is nothing the user asked to send. */
    if (!w->touched)
        return LP_WBUF_NOTHING;
    /* Bytes from before the writer's are still in the file: it has not said
     * its last word (Python's seek(0), write, then truncate). Judging now would
     * refuse a good rewrite or, worse, send a state in between. */
    if (at == LP_WBUF_AT_WRITE && !all_own(w))
        return LP_WBUF_WAIT;
    if (w->kind != LP_WBUF_CONFIG)
        return decide_word(w, payload, err, reason, reasonlen);
    return decide_config(w, payload, err, reason, reasonlen);
}

void lp_wbuf_sent(struct lp_wbuf *w, char *payload)
{
    free(w->sent);
    w->sent = payload;
}
