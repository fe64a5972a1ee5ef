/* test_proc_fds.c - mounts and open descriptors read from /proc: the mount
 * point lookup, a thread's process, and whether a process holds a file open. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_fds.h"
#include "testutil.h"

static void test_mountinfo(void)
{
    char path[] = "/tmp/lp_mountinfo_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                       "44 26 0:39 / /var/tmp/m\\040one rw,nosuid - fuse.leadpipefs leadpipefs rw\n"
                       "45 26 0:40 / /var/tmp/other rw - fuse.leadpipefsx leadpipefs rw\n"
                       "46 26 0:41 / /var/tmp/stacked rw - fuse.leadpipefs leadpipefs rw\n"
                       "47 46 0:42 / /var/tmp/stacked rw - fuse.leadpipefs leadpipefs rw\n"
                       "48 26 0:43 / /var/tmp/plain rw - tmpfs tmpfs rw\n";
    CHECK_INT(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);

    struct lp_fs_dev dev = {0, 0};
    CHECK_INT(lp_mountinfo_find(path, "/var/tmp/m one", "fuse.leadpipefs", &dev), 1);
    CHECK_INT(dev.major, 0);
    CHECK_INT(dev.minor, 39);
    /* The topmost of two mounts on one path is the one the path shows. */
    CHECK_INT(lp_mountinfo_find(path, "/var/tmp/stacked", "fuse.leadpipefs", &dev), 1);
    CHECK_INT(dev.minor, 42);
    CHECK_INT(lp_mountinfo_find(path, "/var/tmp/other", "fuse.leadpipefs", NULL), 0);
    CHECK_INT(lp_mountinfo_find(path, "/var/tmp/plain", "fuse.leadpipefs", NULL), 0);
    CHECK_INT(lp_mountinfo_find(path, "/var/tmp/m", "fuse.leadpipefs", NULL), 0);
    unlink(path);
    CHECK_INT(lp_mountinfo_find(path, "/", "ext4", NULL), -1);
}

static void *thread_ids(void *arg)
{
    pid_t *got = arg;
    got[0] = gettid();
    lp_proc_ids(gettid(), &got[1], &got[2]);
    return NULL;
}

static void test_ids(void)
{
    pid_t tgid = -1, ppid = -1;
    CHECK_INT(lp_proc_ids(getpid(), &tgid, &ppid), 0);
    CHECK_INT(tgid, getpid());
    CHECK_INT(ppid, getppid());
    CHECK_INT(lp_proc_ids(0, &tgid, NULL), -1);
    CHECK_INT(tgid, 0);
    pid_t got[3] = {0, 0, 0};
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, thread_ids, got), 0);
    pthread_join(t, NULL);
    CHECK(got[0] != getpid());
    CHECK_INT(got[1], getpid()); /* a thread answers for its process */
    CHECK_INT(got[2], getppid());
}

/* On /dev/shm (tmpfs, where st_dev is what mountinfo says): a descriptor is
 * seen while open, a dup keeps it seen, a child that exited holds nothing. */
static void test_holds(void)
{
    struct lp_fs_dev dev;
    if (lp_mountinfo_find("/proc/self/mountinfo", "/dev/shm", "tmpfs", &dev) != 1) {
        fprintf(stderr, "no tmpfs on /dev/shm: lp_proc_holds not tested\n");
        return;
    }
    char path[] = "/dev/shm/lp_holds_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    struct stat st;
    CHECK_INT(fstat(fd, &st), 0);
    CHECK_INT(major(st.st_dev), dev.major);
    CHECK_INT(minor(st.st_dev), dev.minor);
    CHECK_INT(lp_proc_holds_for_writing(getpid(), dev, st.st_ino), 1);
    CHECK_INT(lp_proc_holds_for_writing(getpid(), dev, st.st_ino + 1000000), 0);

    /* The shell's `>`: dup2 onto another number, close the original. */
    int copy = dup(fd);
    close(fd);
    CHECK_INT(lp_proc_holds_for_writing(getpid(), dev, st.st_ino), 1);
    /* A reader's descriptor cannot finish what is written. */
    int reader = open(path, O_RDONLY);
    CHECK(reader >= 0);
    close(copy);
    CHECK_INT(lp_proc_holds_for_writing(getpid(), dev, st.st_ino), 0);
    close(reader);
    copy = open(path, O_WRONLY);

    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    CHECK_INT(lp_proc_holds_for_writing(child, dev, st.st_ino), 0); /* gone: holds nothing */

    close(copy);
    CHECK_INT(lp_proc_holds_for_writing(getpid(), dev, st.st_ino), 0);
    CHECK_INT(lp_proc_holds_for_writing(0, dev, st.st_ino), -1);
    unlink(path);
}

int main(void)
{
    test_mountinfo();
    test_ids();
    test_holds();
    return lp_test_summary();
}
