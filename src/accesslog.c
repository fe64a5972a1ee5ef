/* accesslog.c - the live access log: a bounded ring of lines that readers
 * follow, each at its own pace (see accesslog.h).
 *
 * The ring is two fixed arrays, allocated when the first reader opens and
 * freed when the last one closes: LP_ACCESSLOG_BYTES of text, used as a
 * circular byte buffer, and LP_ACCESSLOG_LINES slots saying where each line
 * starts. Line number seq (counted from 0 since the last reset) lives in slot
 * seq % LP_ACCESSLOG_LINES; the ring holds lines first_seq..next_seq-1. A
 * writer makes room by forgetting the oldest lines, whoever has not read them
 * yet: a reader only keeps a cursor (the next seq it wants), and finds out it
 * fell behind when its cursor is below first_seq. So a writer never waits for
 * a reader; it formats and scrubs its line outside the lock and holds the lock
 * only to copy it in.
 * Plain C, libc and pthreads only (the "util" layer).
 */
#include "accesslog.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "sbuf.h"
#include "scrub.h"

/* The longest line kept; a longer one (a path near PATH_MAX is the only way
 * there) is cut and still ends in "\n". Bounding lines keeps the cost of a
 * write bounded and guarantees any one line fits the ring. */
#define LINE_MAX_BYTES 8192
_Static_assert(LINE_MAX_BYTES <= LP_ACCESSLOG_BYTES, "a line must fit the ring");

struct slot {
    size_t off; /* in ring_text */
    size_t len;
};

struct lp_accesslog_reader {
    /* All guarded by ring_lock. */
    uint64_t next;         /* seq of the next line to deliver */
    uint64_t untold;       /* lines lost and not yet announced in the stream */
    unsigned long dropped; /* lines lost in all */
    bool interrupted;      /* lp_accesslog_interrupt called, not yet reported */
};

/* Everything from here to `readers` is guarded by ring_lock. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast on a new line, an interrupt and shutdown; readers wait on it. It
 * measures timeouts on CLOCK_MONOTONIC (a clock change must not stretch or cut
 * a wait), which needs a condattr, hence the one-time init. */
static pthread_cond_t ring_cond;
static pthread_once_t ring_cond_once = PTHREAD_ONCE_INIT;
static char *ring_text;         /* LP_ACCESSLOG_BYTES; NULL while no reader is open */
static struct slot *ring_slots; /* LP_ACCESSLOG_LINES */
static uint64_t first_seq, next_seq;
static size_t ring_used; /* bytes of lines first_seq..next_seq-1 */
static size_t ring_tail; /* where the next line's text starts */
static bool ring_shutdown;
/* Open readers. Changed under ring_lock, read without it by
 * lp_accesslog_active: a writer that sees a stale count either formats a line
 * nobody keeps (put_line drops it) or misses a line of a reader opening that
 * very moment, which could not tell. */
static atomic_int readers;

/* The key to scrub. Writers only read it, and many at once: a rwlock keeps
 * them from serializing on the scrub. */
static pthread_rwlock_t secret_lock = PTHREAD_RWLOCK_INITIALIZER;
static char *secret;

static void init_cond(void)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ring_cond, &attr);
    pthread_condattr_destroy(&attr);
}

bool lp_accesslog_active(void)
{
    return atomic_load_explicit(&readers, memory_order_relaxed) > 0;
}

int lp_accesslog_set_secret(const char *s)
{
    char *copy = s && *s ? strdup(s) : NULL;
    if (s && *s && !copy)
        return -1; /* the old secret stays */

    pthread_rwlock_wrlock(&secret_lock);
    if (secret) {
        /* The old key should not linger in freed memory. */
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    secret = copy;
    pthread_rwlock_unlock(&secret_lock);
    return 0;
}

/* ---- the ring (ring_lock held) ---- */

static void free_ring_locked(void)
{
    free(ring_text);
    free(ring_slots);
    ring_text = NULL;
    ring_slots = NULL;
    first_seq = next_seq;
    ring_used = 0;
    ring_tail = 0;
}

static void evict_oldest_locked(void)
{
    ring_used -= ring_slots[first_seq % LP_ACCESSLOG_LINES].len;
    first_seq++;
}

/* Copies len bytes into the ring at off, wrapping at its end. */
static void copy_in_locked(size_t off, const char *src, size_t len)
{
    size_t first = LP_ACCESSLOG_BYTES - off < len ? LP_ACCESSLOG_BYTES - off : len;
    memcpy(ring_text + off, src, first);
    memcpy(ring_text, src + first, len - first);
}

static void copy_out_locked(char *dst, size_t off, size_t len)
{
    size_t first = LP_ACCESSLOG_BYTES - off < len ? LP_ACCESSLOG_BYTES - off : len;
    memcpy(dst, ring_text + off, first);
    memcpy(dst + first, ring_text, len - first);
}

/* Adds one finished line (len <= LINE_MAX_BYTES, ending in "\n"). */
static void put_line(const char *line, size_t len)
{
    pthread_mutex_lock(&ring_lock);
    if (ring_text) { /* else the last reader closed since the caller looked */
        while (next_seq - first_seq == LP_ACCESSLOG_LINES || ring_used + len > LP_ACCESSLOG_BYTES)
            evict_oldest_locked();
        struct slot *s = &ring_slots[next_seq % LP_ACCESSLOG_LINES];
        s->off = ring_tail;
        s->len = len;
        copy_in_locked(ring_tail, line, len);
        ring_tail = (ring_tail + len) % LP_ACCESSLOG_BYTES;
        ring_used += len;
        next_seq++;
        pthread_cond_broadcast(&ring_cond);
    }
    pthread_mutex_unlock(&ring_lock);
}

/* ---- formatting (no lock) ---- */

/* Appends s, "-" when NULL or empty, with every control character made a
 * space: a line must stay one line, and a tab or newline in a file name
 * would otherwise forge a field or a whole line. */
static void add_field(struct lp_sbuf *b, const char *s)
{
    if (!s || !*s) {
        lp_sb_addc(b, '-');
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        lp_sb_addc(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
}

/* "2026-12-02T06:20:14.123456Z " */
static void add_time(struct lp_sbuf *b)
{
    struct timespec ts;
    struct tm tm;
    char text[96]; /* room for any int the compiler can imagine */

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    lp_sb_adds(b, text);
}

/* " 0.000412": seconds with microseconds; nonsense (negative, NaN) as 0. */
static void add_seconds(struct lp_sbuf *b, double seconds)
{
    char text[48];

    if (!(seconds >= 0 && seconds < 1e12))
        seconds = seconds >= 1e12 ? 1e12 : 0;
    snprintf(text, sizeof text, " %.6f", seconds);
    lp_sb_adds(b, text);
}

/* The symbolic names of the errors FUSE operations commonly end with; a
 * table, as strerror is not thread-safe and a name greps better anyway. */
static const struct {
    int num;
    const char *name;
} errno_names[] = {
    {ENOENT, "ENOENT"},
    {EACCES, "EACCES"},
    {EPERM, "EPERM"},
    {EINVAL, "EINVAL"},
    {EIO, "EIO"},
    {EAGAIN, "EAGAIN"},
    {EEXIST, "EEXIST"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {EISDIR, "EISDIR"},
    {ENOTDIR, "ENOTDIR"},
    {EDQUOT, "EDQUOT"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {EBUSY, "EBUSY"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {EXDEV, "EXDEV"},
    {ENODATA, "ENODATA"},
    {ENOTSUP, "ENOTSUP"},
    {ERANGE, "ERANGE"},
    {EINTR, "EINTR"},
    {EBADF, "EBADF"},
    {ENOMEM, "ENOMEM"},
    {ENOSYS, "ENOSYS"},
};

/* " 0", " ENOENT", or the result as a number when it has no name here. */
static void add_result(struct lp_sbuf *b, int result)
{
    char text[24];

    if (result < 0)
        for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
            if (errno_names[i].num == -result) {
                lp_sb_addc(b, ' ');
                lp_sb_adds(b, errno_names[i].name);
                return;
            }
    snprintf(text, sizeof text, " %d", result);
    lp_sb_adds(b, text);
}

/* Scrubs the raw line (freeing it), cuts it to LINE_MAX_BYTES and adds it.
 * The whole line is scrubbed before the cut, so a cut cannot leave the
 * start of the key behind. */
static void finish_line(struct lp_sbuf *raw)
{
    char line[LINE_MAX_BYTES + 1];
    size_t len;

    if (raw->failed) { /* no memory: the line is lost, nothing else */
        free(raw->p);
        return;
    }
    pthread_rwlock_rdlock(&secret_lock);
    len = lp_scrub(line, sizeof line, raw->p, secret);
    pthread_rwlock_unlock(&secret_lock);
    free(raw->p);
    if (len > LINE_MAX_BYTES) {
        len = LINE_MAX_BYTES;
        line[len - 1] = '\n';
    }
    put_line(line, len);
}

void lp_accesslog_fuse(const char *op, const char *path, int result, double seconds)
{
    struct lp_sbuf b = {0};

    if (!lp_accesslog_active())
        return;
    add_time(&b);
    lp_sb_adds(&b, "fuse ");
    add_field(&b, op);
    lp_sb_addc(&b, ' ');
    add_field(&b, path);
    add_result(&b, result);
    add_seconds(&b, seconds);
    lp_sb_addc(&b, '\n');
    finish_line(&b);
}

void lp_accesslog_api(const char *method, const char *path, long status, double seconds,
                      size_t bytes)
{
    struct lp_sbuf b = {0};
    char text[32];

    if (!lp_accesslog_active())
        return;
    add_time(&b);
    lp_sb_adds(&b, "api ");
    add_field(&b, method);
    lp_sb_addc(&b, ' ');
    add_field(&b, path);
    if (status > 0) {
        snprintf(text, sizeof text, " %ld", status);
        lp_sb_adds(&b, text);
    } else {
        lp_sb_adds(&b, " error");
    }
    add_seconds(&b, seconds);
    snprintf(text, sizeof text, " %zu\n", bytes);
    lp_sb_adds(&b, text);
    finish_line(&b);
}

/* ---- readers ---- */

static void catch_up_locked(lp_accesslog_reader *r);

lp_accesslog_reader *lp_accesslog_open(void)
{
    lp_accesslog_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_once(&ring_cond_once, init_cond);

    pthread_mutex_lock(&ring_lock);
    if (!ring_text) {
        /* No writer touches the ring while no reader is open, so
         * allocating under the lock delays nobody. */
        ring_text = malloc(LP_ACCESSLOG_BYTES);
        ring_slots = malloc(LP_ACCESSLOG_LINES * sizeof *ring_slots);
        if (!ring_text || !ring_slots) {
            free_ring_locked();
            pthread_mutex_unlock(&ring_lock);
            free(r);
            return NULL;
        }
        first_seq = next_seq;
        ring_used = 0;
        ring_tail = 0;
    }
    r->next = next_seq;
    atomic_fetch_add_explicit(&readers, 1, memory_order_relaxed);
    pthread_mutex_unlock(&ring_lock);
    return r;
}

void lp_accesslog_close(lp_accesslog_reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&ring_lock);
    catch_up_locked(r); /* what it lost counts, read or not */
    /* The last reader out frees the ring: with nobody reading, nothing is kept. */
    if (atomic_fetch_sub_explicit(&readers, 1, memory_order_relaxed) == 1)
        free_ring_locked();
    pthread_mutex_unlock(&ring_lock);
    free(r);
}

/* Moves a cursor that fell behind the ring to its oldest line, counting the gap. */
static void catch_up_locked(lp_accesslog_reader *r)
{
    if (r->next >= first_seq)
        return;
    uint64_t gap = first_seq - r->next;
    r->dropped += (unsigned long)gap;
    r->untold += gap;
    lp_metrics_accesslog_dropped((unsigned long)gap);
    r->next = first_seq;
}

/* Copies text of len bytes into buf (size > 0 bytes, at most avail of them
 * free). Returns the bytes copied: all of them, or with too little room none
 * unless buf is still empty (avail == size); then the text is cut to size and
 * still ends in "\n", so whoever reads the stream keeps seeing whole lines.
 * src NULL: the text is ring line r->next. */
static size_t deliver_locked(char *buf, size_t size, size_t avail, const char *src,
                             const struct slot *s)
{
    size_t len = src ? strlen(src) : s->len;
    size_t n = len <= avail ? len : avail == size ? size : 0;
    if (n == 0)
        return 0;
    if (src)
        memcpy(buf, src, n);
    else
        copy_out_locked(buf, s->off, n);
    if (n < len)
        buf[n - 1] = '\n';
    return n;
}

/* Fills buf with what r has to read (ring_lock held, something to read). */
static size_t fill_locked(lp_accesslog_reader *r, char *buf, size_t size)
{
    size_t n = 0;

    if (r->untold) {
        char msg[64];
        snprintf(msg, sizeof msg, "# %llu lines dropped\n", (unsigned long long)r->untold);
        n = deliver_locked(buf, size, size, msg, NULL);
        r->untold = 0;
    }
    while (r->next < next_seq && n < size) {
        const struct slot *s = &ring_slots[r->next % LP_ACCESSLOG_LINES];
        size_t got = deliver_locked(buf + n, size, size - n, NULL, s);
        if (got == 0)
            break; /* the next line does not fit whole: the next read's */
        n += got;
        r->next++;
    }
    return n;
}

ssize_t lp_accesslog_read(lp_accesslog_reader *r, char *buf, size_t size, int timeout_ms)
{
    struct timespec deadline;
    bool timed_out = timeout_ms == 0;
    ssize_t ret;

    if (size == 0)
        return 0;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }

    pthread_mutex_lock(&ring_lock);
    for (;;) {
        /* The flags are checked under the lock they are set under, before
         * every wait: an interrupt that came before the wait is not missed. */
        if (ring_shutdown) {
            ret = -ESHUTDOWN;
            break;
        }
        if (r->interrupted) {
            r->interrupted = false;
            ret = -EINTR;
            break;
        }
        catch_up_locked(r);
        if (r->untold || r->next < next_seq) {
            ret = (ssize_t)fill_locked(r, buf, size);
            break;
        }
        if (timed_out) {
            ret = 0;
            break;
        }
        if (timeout_ms < 0)
            pthread_cond_wait(&ring_cond, &ring_lock);
        else if (pthread_cond_timedwait(&ring_cond, &ring_lock, &deadline) == ETIMEDOUT)
            timed_out = true; /* one more look: a line may have come with the timeout */
    }
    pthread_mutex_unlock(&ring_lock);
    return ret;
}

void lp_accesslog_interrupt(lp_accesslog_reader *r)
{
    pthread_mutex_lock(&ring_lock);
    r->interrupted = true;
    /* Every waiter wakes, not just r's: one condvar serves all readers, and
     * the others go back to waiting. */
    pthread_cond_broadcast(&ring_cond);
    pthread_mutex_unlock(&ring_lock);
}

void lp_accesslog_shutdown(void)
{
    pthread_once(&ring_cond_once, init_cond);
    pthread_mutex_lock(&ring_lock);
    ring_shutdown = true;
    pthread_cond_broadcast(&ring_cond);
    pthread_mutex_unlock(&ring_lock);
}

unsigned long lp_accesslog_dropped(const lp_accesslog_reader *r)
{
    pthread_mutex_lock(&ring_lock);
    unsigned long n = r->dropped;
    pthread_mutex_unlock(&ring_lock);
    return n;
}

void lp_accesslog_reset(void)
{
    pthread_mutex_lock(&ring_lock);
    free_ring_locked();
    first_seq = next_seq = 0;
    ring_shutdown = false;
    atomic_store_explicit(&readers, 0, memory_order_relaxed);
    pthread_mutex_unlock(&ring_lock);
    lp_accesslog_set_secret(NULL);
}
