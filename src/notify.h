/* notify.h - tells the kernel what changed, from a thread of its own.
 *
 * Invalidations are queued by the inode view (with the records lock held) and sent
 * by a background thread: sending them from inside a request handler could
 * deadlock on the directory lock the kernel holds for that request.
 */
#ifndef LEADPIPEFS_NOTIFY_H
#define LEADPIPEFS_NOTIFY_H

#include <fuse_lowlevel.h>

#include "view.h"

typedef struct lp_notifier lp_notifier;

lp_notifier *lp_notifier_new(void);
/* Starts sending to se (call once the session is mounted). Returns 0 or -errno. */
int lp_notifier_start(lp_notifier *nf, struct fuse_session *se);
/* Stops the thread and drops what is queued. */
void lp_notifier_free(lp_notifier *nf);
/* The view's notify callback (ctx: the notifier). Never blocks. */
void lp_notifier_queue(void *ctx, const struct lp_change *change);

#endif
