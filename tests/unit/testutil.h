/* testutil.h - tiny assertion macros and an emulator launcher for C unit tests.
 *
 * Each test program counts checks and failures and ends with
 * `return lp_test_summary();`, which prints "N passed, N failed" and gives
 * the exit status meson reads (0 ok, 1 failures).
 */
#ifndef LEADPIPEFS_TESTUTIL_H
#define LEADPIPEFS_TESTUTIL_H

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

extern int lp_test_checks;
extern int lp_test_failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        lp_test_checks++;                                                                  \
        if (!(cond)) {                                                                     \
            lp_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

#define CHECK_INT(a, b)                                                                    \
    do {                                                                                   \
        long long lp_a_ = (long long)(a), lp_b_ = (long long)(b);                          \
        lp_test_checks++;                                                                  \
        if (lp_a_ != lp_b_) {                                                              \
            lp_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a,  \
                    lp_a_, lp_b_);                                                         \
        }                                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *lp_a_ = (a), *lp_b_ = (b);                                             \
        lp_test_checks++;                                                                  \
        if (!lp_a_ || !lp_b_ || strcmp(lp_a_, lp_b_) != 0) {                              \
            lp_test_failures++;                                                            \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,  \
                    #a, lp_a_ ? lp_a_ : "(null)", lp_b_ ? lp_b_ : "(null)");               \
        }                                                                                  \
    } while (0)

int lp_test_summary(void);

/* A running emulator (tests/emulator/leadpipe_emu.py, path from $LP_EMULATOR,
 * interpreter from $LP_PYTHON). */
struct lp_emu {
    pid_t pid;
    int port;
    char base_url[64]; /* "http://127.0.0.1:PORT" */
    char dir[64];      /* temporary directory holding the port file */
};

/* Starts the emulator with extra arguments (e.g. "--seed 250"), waits for its
 * port file. Returns 0 or -1. */
int lp_emu_start(struct lp_emu *emu, const char *const extra_args[]);
void lp_emu_stop(struct lp_emu *emu);
/* One control request (path under /_emu/...). Returns the HTTP status, or -1;
 * *body (may be NULL) receives the malloc'd answer. */
long lp_emu_control(const struct lp_emu *emu, const char *method, const char *path,
                    const char *json, char **body);
/* Number of API requests in the emulator's log matching method (NULL: any) and
 * path prefix (NULL: any). -1 on error. */
int lp_emu_count_requests(const struct lp_emu *emu, const char *method, const char *path_prefix);

#endif
