/* test_wbuf.c - when a write to config.json or status becomes a request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wbuf.h"

static const char *valid = "{\"topicIds\": [117805], \"minScore\": 70}\n";

/* Decides and, on SEND, records the payload as accepted; returns the action. */
static enum lp_wbuf_action step(struct lp_wbuf *w, bool at_close, int *err, char **sent)
{
    char *payload = NULL;
    char reason[256];
    enum lp_wbuf_action a = lp_wbuf_decide(w, at_close, &payload, err, reason, sizeof(reason));
    if (sent)
        *sent = payload ? strdup(payload) : NULL;
    if (a == LP_WBUF_SEND)
        lp_wbuf_sent(w, payload);
    else
        free(payload);
    return a;
}

static void test_shell_redirect_config(void)
{
    struct lp_wbuf w;
    int err;
    char *sent = NULL;
    CHECK_INT(lp_wbuf_init(&w, LP_WBUF_CONFIG, "{\"old\": 1}\n", 11), 0);
    /* open(O_TRUNC) -> SETATTR(0); the dup2 close flushes an empty file. */
    CHECK_INT(lp_wbuf_truncate(&w, 0), 0);
    CHECK_INT(step(&w, true, &err, NULL), LP_WBUF_NOTHING);
    /* The write completes the object: send at once. */
    CHECK_INT(lp_wbuf_write(&w, valid, strlen(valid), 0), 0);
    CHECK_INT(step(&w, false, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "{\"topicIds\":[117805],\"minScore\":70}");
    free(sent);
    /* Close flushes again: the same bytes are not sent twice. */
    CHECK_INT(step(&w, true, &err, NULL), LP_WBUF_NOTHING);
    lp_wbuf_clear(&w);
}

static void test_config_in_pieces(void)
{
    struct lp_wbuf w;
    int err;
    lp_wbuf_init(&w, LP_WBUF_CONFIG, "", 0);
    size_t half = strlen(valid) / 2;
    CHECK_INT(lp_wbuf_write(&w, valid, half, 0), 0);
    CHECK_INT(step(&w, false, &err, NULL), LP_WBUF_NOTHING); /* wait for the rest */
    CHECK_INT(step(&w, true, &err, NULL), LP_WBUF_REFUSE);   /* ...unless it is closing */
    CHECK_INT(err, EINVAL);
    CHECK_INT(lp_wbuf_write(&w, valid + half, strlen(valid) - half, (off_t)half), 0);
    CHECK_INT(step(&w, false, &err, NULL), LP_WBUF_SEND);
    /* A later, different content is sent again. */
    const char *other = "{\"topicIds\": [1, 2]}";
    CHECK_INT(lp_wbuf_truncate(&w, 0), 0);
    CHECK_INT(lp_wbuf_write(&w, other, strlen(other), 0), 0);
    CHECK_INT(step(&w, false, &err, NULL), LP_WBUF_SEND);
    lp_wbuf_clear(&w);
}

static void test_config_refusals(void)
{
    struct {
        const char *bytes;
        int err;
    } cases[] = {
        {"{bad\n", EINVAL},
        {"{\"topicIds\": []}", EINVAL},
        {"{\"topicIds\": [1], \"minScore\": 100}", EINVAL},
        {"{\"topicIds\": [1]} trailing", EINVAL},
        {"[1, 2]", EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lp_wbuf w;
        int err = 0;
        lp_wbuf_init(&w, LP_WBUF_CONFIG, "", 0);
        lp_wbuf_write(&w, cases[i].bytes, strlen(cases[i].bytes), 0);
        CHECK_INT(step(&w, true, &err, NULL), LP_WBUF_REFUSE);
        CHECK_INT(err, cases[i].err);
        lp_wbuf_clear(&w);
    }
}

static void test_too_big(void)
{
    struct lp_wbuf w;
    lp_wbuf_init(&w, LP_WBUF_CONFIG, "", 0);
    size_t n = (2 << 20);
    char *big = malloc(n);
    memset(big, ' ', n);
    CHECK_INT(lp_wbuf_write(&w, big, n, 0), -EFBIG);
    CHECK_INT(lp_wbuf_truncate(&w, (off_t)n), -EFBIG);
    free(big);
    lp_wbuf_clear(&w);
}

static void test_status_words(void)
{
    struct lp_wbuf w;
    int err;
    char *sent = NULL;
    lp_wbuf_init(&w, LP_WBUF_STATUS, "draft\n", 6);
    lp_wbuf_truncate(&w, 0);
    /* bash printf '  active \n\n' writes twice: one request. */
    lp_wbuf_write(&w, "  active \n", 10, 0);
    CHECK_INT(step(&w, false, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "active");
    free(sent);
    lp_wbuf_write(&w, "\n", 1, 10);
    CHECK_INT(step(&w, false, &err, NULL), LP_WBUF_NOTHING);
    CHECK_INT(step(&w, true, &err, NULL), LP_WBUF_NOTHING);
    lp_wbuf_clear(&w);

    lp_wbuf_init(&w, LP_WBUF_STATUS, "draft\n", 6);
    lp_wbuf_truncate(&w, 0);
    lp_wbuf_write(&w, "bogus\n", 6, 0);
    CHECK_INT(step(&w, false, &err, NULL), LP_WBUF_REFUSE);
    CHECK_INT(err, EINVAL);
    lp_wbuf_clear(&w);
}

static void test_untouched_and_undo(void)
{
    struct lp_wbuf w;
    int err;
    /* touch: opened for writing, nothing written. */
    lp_wbuf_init(&w, LP_WBUF_STATUS, "active\n", 7);
    CHECK_INT(step(&w, true, &err, NULL), LP_WBUF_NOTHING);
    /* A refused write is undone. */
    struct lp_wbuf_undo u;
    CHECK_INT(lp_wbuf_save(&w, &u), 0);
    lp_wbuf_write(&w, "paused-and-more\n", 16, 0);
    lp_wbuf_restore(&w, &u);
    lp_wbuf_undo_clear(&u);
    CHECK_INT(w.len, 7);
    CHECK(memcmp(w.data, "active\n", 7) == 0);
    CHECK(!w.touched);
    lp_wbuf_clear(&w);
}

int main(void)
{
    test_shell_redirect_config();
    test_config_in_pieces();
    test_config_refusals();
    test_too_big();
    test_status_words();
    test_untouched_and_undo();
    return lp_test_summary();
}
