/* fs_fh.h - an open file as the FUSE layer keeps it: shared by the write
 * side (fs_file.c) and the read side (fs_read.c), private to those two. */
#ifndef LEADPIPEFS_FS_FH_H
#define LEADPIPEFS_FS_FH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "accesslog.h"
#include "fs_types.h"
#include "wbuf.h"

/* An open file. */
struct lp_fh {
    lp_ino ino;
    enum lp_write_rule rule;
    pthread_mutex_t lock; /* protects everything below: writes on one descriptor
                           * may come from several threads */
    char *snap;           /* what a reader sees: the content at open */
    size_t snap_len;
    bool writable;
    struct lp_wbuf wb;           /* config.json/status opened for writing */
    pid_t opener;                /* the process that opened it; 0: unknown */
    int told;                    /* errno of a refusal said since the content last changed */
    lp_accesslog_reader *reader; /* the access log opened (its own lock) */
    int fd;                      /* LP_READ_FILE: the local file, else -1 */
    struct lp_rcache_live *live; /* ... while still being downloaded: reads wait on it */
    uint64_t size_told;          /* ... the length the kernel was last given (0: none) */
    struct lp_fh *prev, *next;   /* every open file, so none outlives the session */
};

#endif
