/* proc_fds.c - mounts and open descriptors as /proc shows them (proc_fds.h).
 * Reads text files only: nothing here stats or opens a file through a
 * descriptor, which could call back into this very file system.
 */
#include "proc_fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_MOUNTS 16 /* mount ids one process sees for one file system */

/* Unescapes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

int lp_mountinfo_find(const char *path, const char *mountpoint, const char *fstype,
                      struct lp_fs_dev *dev)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[4096];
    size_t typelen = strlen(fstype);
    int found = 0;
    while (fgets(line, sizeof(line), f)) {
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE ..." */
        unsigned major, minor;
        if (sscanf(line, "%*d %*d %u:%u", &major, &minor) != 2)
            continue;
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 1; field && i < 5; i++)
            field = strtok_r(NULL, " ", &save);
        if (!field)
            continue;
        unescape_octal(field);
        if (strcmp(field, mountpoint) != 0)
            continue;
        char *rest = strtok_r(NULL, "\n", &save);
        char *dash = rest ? strstr(rest, " - ") : NULL;
        if (!dash || strncmp(dash + 3, fstype, typelen) != 0 || dash[3 + typelen] != ' ')
            continue;
        found = 1; /* keep reading: a later mount on the same path hides this one */
        if (dev) {
            dev->major = major;
            dev->minor = minor;
        }
    }
    fclose(f);
    return found;
}

/* Reads the start of a small /proc file into buf (NUL-terminated); returns
 * the bytes read or -1 with errno set. */
static ssize_t read_head(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* The number after "\nNAME:" in a /proc status text; 0 when absent. */
static pid_t status_field(const char *text, const char *name)
{
    char key[16];
    snprintf(key, sizeof(key), "\n%s:", name);
    const char *at = strstr(text, key);
    return at ? (pid_t)strtol(at + strlen(key), NULL, 10) : 0;
}

int lp_proc_ids(pid_t tid, pid_t *tgid, pid_t *ppid)
{
    char path[64], buf[1024];
    pid_t t = 0, p = 0;
    if (tid > 0) {
        snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
        if (read_head(path, buf, sizeof(buf)) >= 0) {
            t = status_field(buf, "Tgid");
            p = status_field(buf, "PPid");
        }
    }
    if (tgid)
        *tgid = t;
    if (ppid)
        *ppid = p;
    return t ? 0 : -1;
}

/* The mount ids under which process pid sees dev (a bind mount or a mount
 * namespace of its own gives it other ids than ours). Returns how many went
 * to ids, or -1 with errno set when its mountinfo cannot be read. */
static int mounts_of(pid_t pid, struct lp_fs_dev dev, int *ids, int max)
{
    char path[64], line[4096];
    snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        int id;
        unsigned major, minor;
        if (sscanf(line, "%d %*d %u:%u", &id, &major, &minor) == 3 && major == dev.major &&
            minor == dev.minor)
            ids[n++] = id;
    }
    fclose(f);
    return n;
}

/* Reads "flags:" (octal open flags), "mnt_id:" and "ino:" from the fdinfo
 * text of one descriptor; false when one is missing (kernels before 5.14
 * show no inode). */
static bool fdinfo_fields(const char *text, int *flags, int *mnt_id, unsigned long long *ino)
{
    const char *f = strstr(text, "flags:");
    const char *m = strstr(text, "mnt_id:");
    const char *i = strstr(text, "\nino:");
    if (!f || !m || !i)
        return false;
    *flags = (int)strtol(f + 6, NULL, 8);
    *mnt_id = (int)strtol(m + 7, NULL, 10);
    *ino = strtoull(i + 5, NULL, 10);
    return true;
}

int lp_proc_holds_for_writing(pid_t pid, struct lp_fs_dev dev, uint64_t ino)
{
    if (pid <= 0)
        return -1;
    int ids[MAX_MOUNTS];
    int nids = mounts_of(pid, dev, ids, MAX_MOUNTS);
    if (nids < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    if (nids == 0)
        return 0; /* it does not see this file system at all */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    int held = 0;
    struct dirent *e;
    /* An exiting process has already let go of its descriptor table: it
     * lists none, which is the truth for what it still holds. */
    while (held == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char fpath[sizeof("/proc//fdinfo/") + 12 + sizeof(e->d_name)], text[256];
        snprintf(fpath, sizeof(fpath), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
        if (read_head(fpath, text, sizeof(text)) < 0)
            continue; /* closed meanwhile */
        int flags, mnt_id;
        unsigned long long fino;
        if (!fdinfo_fields(text, &flags, &mnt_id, &fino)) {
            held = -1;
            break;
        }
        if (fino != ino || (flags & O_ACCMODE) == O_RDONLY)
            continue;
        for (int k = 0; k < nids; k++)
            if (ids[k] == mnt_id)
                held = 1;
    }
    closedir(d);
    return held;
}
