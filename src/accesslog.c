/* accesslog.c - the live access log: a bounded ring of lines, read as a
 * file that grows (see accesslog.h).
 *
 * The ring is two fixed arrays, allocated with the first line and kept:
 * LP_ACCESSLOG_BYTES of text, used as a circular byte buffer, and
 * LP_ACCESSLOG_LINES slots saying where each line starts. Line number seq
 * (counted from 0 since the last reset) lives in slot seq % LP_ACCESSLOG_LINES;
 * byte off of the log (counted the same way) at text[off % LP_ACCESSLOG_BYTES].
 * The ring holds lines first_seq..next_seq-1, bytes first_off..next_off-1,
 * and next_off is the file's size. A writer makes room by forgetting the
 * oldest lines, whoever has not read them yet: a reader only keeps its
 * position, and finds out it fell behind when that is below first_off. So a
 * writer never waits for a reader; it formats and scrubs its line outside the
 * lock and holds the lock only to copy it in.
 * Plain C, libc and pthreads only (the "util" layer).
 */
#include "accesslog.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "metrics.h"
#include "sbuf.h"
#include "scrub.h"

/* The longest line kept; a longer one (a path near PATH_MAX is the only way
 * there) is cut and still ends in "\n". Bounding lines keeps the cost of a
 * write bounded and guarantees any one line fits the ring. */
#define LINE_MAX_BYTES 8192
_Static_assert(LINE_MAX_BYTES <= LP_ACCESSLOG_BYTES, "a line must fit the ring");

struct slot {
    uint64_t start; /* the line's first byte, counted from the log's start */
    size_t len;
};

struct lp_accesslog_reader {
    /* All guarded by ring_lock. A reader maps the offsets it is asked for
     * (the kernel's file position) to the log's own: byte `at` of the log is
     * what offset `kpos` reads. They move together as bytes are delivered,
     * and a read anywhere else is a seek: the offset is then the log's own. */
    bool started;          /* a read was answered (or positioned) already */
    uint64_t kpos;         /* the offset the next sequential read asks for */
    uint64_t at;           /* the log byte it reads */
    uint64_t seq;          /* the line `at` falls in; valid when seq_known */
    bool seq_known;        /* false after a seek before the oldest line kept */
    uint64_t begin;        /* the oldest byte kept when the reader opened */
    uint64_t begin_seq;    /* and its line */
    unsigned long dropped; /* lines lost in all */
    bool interrupted;      /* lp_accesslog_interrupt called, not yet reported */
};

/* Everything from here to `secret_lock` is guarded by ring_lock. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
/* Broadcast on a new line, an interrupt and shutdown; readers wait on it. It
 * measures timeouts on CLOCK_MONOTONIC (a clock change must not stretch or cut
 * a wait), which needs a condattr, hence the one-time init. */
static pthread_cond_t ring_cond;
static pthread_once_t ring_cond_once = PTHREAD_ONCE_INIT;
static char *ring_text;         /* LP_ACCESSLOG_BYTES; NULL until the first line */
static struct slot *ring_slots; /* LP_ACCESSLOG_LINES */
/* Lines first_seq..next_seq-1 are kept, bytes first_off..next_off-1; byte
 * `off` of the log sits at ring_text[off % LP_ACCESSLOG_BYTES]. */
static uint64_t first_seq, next_seq;
static uint64_t first_off, next_off;
static struct timespec last_line; /* when the newest line was added */
static bool ring_shutdown;

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

uint64_t lp_accesslog_size(void)
{
    pthread_mutex_lock(&ring_lock);
    uint64_t n = next_off;
    pthread_mutex_unlock(&ring_lock);
    return n;
}

struct timespec lp_accesslog_mtime(void)
{
    pthread_mutex_lock(&ring_lock);
    if (last_line.tv_sec == 0 && last_line.tv_nsec == 0)
        clock_gettime(CLOCK_REALTIME, &last_line); /* an empty log dates from its first look */
    struct timespec t = last_line;
    pthread_mutex_unlock(&ring_lock);
    return t;
}

/* ---- the ring (ring_lock held) ---- */

static void free_ring_locked(void)
{
    free(ring_text);
    free(ring_slots);
    ring_text = NULL;
    ring_slots = NULL;
}

static void evict_oldest_locked(void)
{
    first_off += ring_slots[first_seq % LP_ACCESSLOG_LINES].len;
    first_seq++;
}

/* Copies len bytes into the ring at log byte off, wrapping at its end. */
static void copy_in_locked(uint64_t off, const char *src, size_t len)
{
    size_t at = (size_t)(off % LP_ACCESSLOG_BYTES);
    size_t first = LP_ACCESSLOG_BYTES - at < len ? LP_ACCESSLOG_BYTES - at : len;
    memcpy(ring_text + at, src, first);
    memcpy(ring_text, src + first, len - first);
}

static void copy_out_locked(char *dst, uint64_t off, size_t len)
{
    size_t at = (size_t)(off % LP_ACCESSLOG_BYTES);
    size_t first = LP_ACCESSLOG_BYTES - at < len ? LP_ACCESSLOG_BYTES - at : len;
    memcpy(dst, ring_text + at, first);
    memcpy(dst + first, ring_text, len - first);
}

/* Adds one finished line (len <= LINE_MAX_BYTES, ending in "\n"). */
static void put_line(const char *line, size_t len)
{
    pthread_once(&ring_cond_once, init_cond);
    pthread_mutex_lock(&ring_lock);
    if (!ring_text) {
        /* Allocated once, on the first line, and kept: the log always
         * holds the latest lines, as a log file would. */
        ring_text = malloc(LP_ACCESSLOG_BYTES);
        ring_slots = malloc(LP_ACCESSLOG_LINES * sizeof *ring_slots);
        if (!ring_text || !ring_slots) { /* no memory: this line is lost */
            free_ring_locked();
            pthread_mutex_unlock(&ring_lock);
            return;
        }
    }
    while (next_seq - first_seq == LP_ACCESSLOG_LINES || next_off - first_off + len > LP_ACCESSLOG_BYTES)
        evict_oldest_locked();
    struct slot *s = &ring_slots[next_seq % LP_ACCESSLOG_LINES];
    s->start = next_off;
    s->len = len;
    copy_in_locked(next_off, line, len);
    next_off += len;
    next_seq++;
    clock_gettime(CLOCK_REALTIME, &last_line);
    pthread_cond_broadcast(&ring_cond);
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

lp_accesslog_reader *lp_accesslog_open(void)
{
    lp_accesslog_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_once(&ring_cond_once, init_cond);
    pthread_mutex_lock(&ring_lock);
    r->begin = first_off;
    r->begin_seq = first_seq;
    pthread_mutex_unlock(&ring_lock);
    return r;
}

void lp_accesslog_close(lp_accesslog_reader *r)
{
    free(r);
}

/* The line log byte off (first_off <= off <= next_off) falls in: a binary
 * search of the slots, whose starts grow with their seq. */
static uint64_t line_of_locked(uint64_t off)
{
    if (off >= next_off)
        return next_seq;
    uint64_t lo = first_seq, hi = next_seq - 1; /* the answer is in [lo, hi] */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (ring_slots[mid % LP_ACCESSLOG_LINES].start <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Where a read at offset off starts. A reader's first read at 0 starts at
 * the oldest line kept when it opened (`cat` gets the whole log); any other
 * read out of sequence is a seek, to the log's byte off (`tail` seeks near
 * the end it was told by stat). Idempotent: a read that waited and comes
 * again with the same offset finds it in sequence. */
static void position_locked(lp_accesslog_reader *r, uint64_t off)
{
    if (r->started && off == r->kpos)
        return;
    r->kpos = off;
    if (!r->started && off == 0) {
        r->at = r->begin;
        r->seq = r->begin_seq;
        r->seq_known = true;
    } else {
        r->at = off;
        r->seq_known = off >= first_off && off <= next_off;
        if (r->seq_known)
            r->seq = line_of_locked(off);
    }
    r->started = true;
}

/* The reader's byte fell out of the ring: it is told so in the stream, one
 * line in place of what it lost, and goes on from the oldest line kept.
 * Returns the bytes of that line put in buf (size > 0). */
static size_t tell_lost_locked(lp_accesslog_reader *r, char *buf, size_t size)
{
    char msg[64];

    if (r->seq_known && first_seq > r->seq) {
        uint64_t gap = first_seq - r->seq;
        r->dropped += (unsigned long)gap;
        lp_metrics_accesslog_dropped((unsigned long)gap);
        snprintf(msg, sizeof msg, "# %llu lines dropped\n", (unsigned long long)gap);
    } else { /* a seek before the oldest line: how many is not known */
        snprintf(msg, sizeof msg, "# earlier lines dropped\n");
    }
    size_t n = strlen(msg);
    if (n > size) {
        n = size;
        msg[n - 1] = '\n';
    }
    memcpy(buf, msg, n);
    r->kpos += n;
    r->at = first_off;
    r->seq = first_seq;
    r->seq_known = true;
    return n;
}

/* Copies what there is to read at r->at (first_off <= at < next_off). */
static size_t fill_locked(lp_accesslog_reader *r, char *buf, size_t size)
{
    uint64_t avail = next_off - r->at;
    size_t n = avail < size ? (size_t)avail : size;
    copy_out_locked(buf, r->at, n);
    for (const char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        r->seq++;
    r->at += n;
    r->kpos += n;
    return n;
}

ssize_t lp_accesslog_read(lp_accesslog_reader *r, char *buf, size_t size, uint64_t off,
                          int timeout_ms)
{
    struct timespec deadline;
    bool timed_out = timeout_ms == 0;
    ssize_t ret;

    if (size == 0)
        return 0;
    if (timeout_ms > 0)
        deadline = lp_deadline_ms(timeout_ms);

    pthread_mutex_lock(&ring_lock);
    position_locked(r, off);
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
        if (r->at < first_off) {
            ret = (ssize_t)tell_lost_locked(r, buf, size);
            break;
        }
        if (r->at < next_off) {
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
    first_off = next_off = 0;
    last_line = (struct timespec){0};
    ring_shutdown = false;
    pthread_mutex_unlock(&ring_lock);
    lp_accesslog_set_secret(NULL);
}
