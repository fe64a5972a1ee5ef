/* proc_fds.h - what /proc tells about mounts and the files processes hold
 * open: where this file system is mounted, and whether a process still has a
 * descriptor on one of its files (FUSE says when a descriptor is closed, never
 * how many are left). Linux only; libc only; nothing is allocated for the caller.
 */
#ifndef LEADPIPEFS_PROC_FDS_H
#define LEADPIPEFS_PROC_FDS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A file system as mountinfo names it ("MAJ:MIN", the st_dev of its files):
 * the same in every mount namespace and under every bind mount. */
struct lp_fs_dev {
    unsigned major, minor;
};

/* Looks for a mount of type fstype (e.g. "fuse.leadpipefs") on mountpoint
 * (absolute, as realpath gives it) in a mountinfo file such as
 * /proc/self/mountinfo. Returns 1 when there is one (its device to *dev, which
 * may be NULL; the topmost when several are stacked there), 0 when there is
 * none, -1 when the file cannot be read. */
int lp_mountinfo_find(const char *path, const char *mountpoint, const char *fstype,
                      struct lp_fs_dev *dev);

/* The process (thread group) thread tid belongs to, and that process's
 * parent (either pointer may be NULL): FUSE names the calling thread, not its
 * process. Returns 0, or -1 with both set to 0 when unknown (tid 0, a thread
 * gone, no /proc). */
int lp_proc_ids(pid_t tid, pid_t *tgid, pid_t *ppid);

/* Whether process pid has a descriptor open for writing on inode ino of file
 * system dev (one that could still change the file: a reader's does not
 * count): 1 yes, 0 no (also when the process is gone or exiting), -1 cannot
 * tell (no access to its /proc entries, or a kernel whose fdinfo shows no
 * inode). */
int lp_proc_holds_for_writing(pid_t pid, struct lp_fs_dev dev, uint64_t ino);

#endif
