/* scratch_space.c - the memory editors' scratch files hold, and its bounds:
 * one file at most SCRATCH_MAX bytes (EFBIG), all of them together at most
 * -o scratch_size (ENOSPC), which statfs shows as the file system's blocks
 * (df). What counts is the memory held, so a file's buffer grows ahead of
 * its size (fewer copies while an editor writes) by at most a step, and
 * only as far as the total allows.
 */
#include "inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_MAX (8 << 20)   /* one file larger than this is not an editor's scratch file */
#define SCRATCH_AHEAD (1 << 20) /* most a buffer grows ahead of its file's size */
#define SCRATCH_PAGE 4096       /* buffers come in whole pages (df's blocks) */

static size_t round_page(size_t n)
{
    return (n + SCRATCH_PAGE - 1) / SCRATCH_PAGE * SCRATCH_PAGE;
}

/* Would s's buffer at cap bytes keep the total within the bound? */
static bool fits(const struct lp_view *v, const struct lp_scratch *s, size_t cap)
{
    return v->scratch_used - s->cap + cap <= v->opts.scratch_max;
}

/* s's buffer becomes cap bytes, its first min(len, cap) kept. */
static int set_cap(struct lp_view *v, struct lp_scratch *s, size_t cap)
{
    char *d = NULL;
    if (cap && !(d = realloc(s->data, cap)))
        return -ENOMEM;
    if (!cap)
        free(s->data);
    v->scratch_used = v->scratch_used - s->cap + cap;
    s->data = d;
    s->cap = cap;
    return 0;
}

int lp_scratch_resize(struct lp_view *v, struct lp_scratch *s, size_t len)
{
    if (len > SCRATCH_MAX)
        return -EFBIG;
    if (len > s->cap) {
        size_t need = round_page(len);
        size_t cap = need + (s->cap < SCRATCH_AHEAD ? s->cap : SCRATCH_AHEAD);
        if (cap > SCRATCH_MAX)
            cap = SCRATCH_MAX;
        if (!fits(v, s, cap))
            cap = need; /* no room ahead: exactly what the size needs */
        if (!fits(v, s, cap))
            return -ENOSPC;
        int rc = set_cap(v, s, cap);
        if (rc < 0)
            return rc;
    } else if (round_page(len) <= s->cap / 2) {
        (void)set_cap(v, s, round_page(len)); /* give memory back; a failed shrink keeps it */
    }
    if (len > s->len)
        memset(s->data + s->len, 0, len - s->len);
    s->len = len;
    return 0;
}

int lp_scratch_adopt(struct lp_view *v, struct lp_scratch *s, char *data, size_t len)
{
    if (!fits(v, s, len)) {
        free(data);
        return -ENOSPC;
    }
    s->data = data;
    s->len = s->cap = len;
    v->scratch_used += len;
    return 0;
}

void lp_scratch_release_space(struct lp_view *v, struct lp_scratch *s)
{
    (void)set_cap(v, s, 0);
    s->len = 0;
}
