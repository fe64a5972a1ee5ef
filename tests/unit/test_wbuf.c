/* test_wbuf.c - when a write to config.json or status becomes a request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wbuf.h"

static const char *valid = "{\"topicIds\": [117805], \"minScore\": 70}\n";

#define WRITE LP_WBUF_AT_WRITE
#define CLOSE LP_WBUF_AT_CLOSE

/* Decides and, on SEND, records the payload as accepted; returns the action. */
static enum lp_wbuf_action step(struct lp_wbuf *w, enum lp_wbuf_moment at, int *err, char **sent)
{
    char *payload = NULL;
    char reason[256];
    enum lp_wbuf_action a = lp_wbuf_decide(w, at, &payload, err, reason, sizeof(reason));
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
    /* open(O_TRUNC); the dup2 close flushes an empty file: unfinished, which
     * the caller does not count against a file still open elsewhere. */
    CHECK_INT(lp_wbuf_truncate(&w, 0), 0);
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_WAIT);
    CHECK_INT(err, EINVAL);
    /* The write completes the object: send at once. */
    CHECK_INT(lp_wbuf_write(&w, valid, strlen(valid), 0), 0);
    CHECK_INT(step(&w, WRITE, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "{\"topicIds\":[117805],\"minScore\":70}");
    free(sent);
    /* Close flushes again: the same bytes are not sent twice. */
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_NOTHING);
    lp_wbuf_clear(&w);
}

static void test_config_in_pieces(void)
{
    struct lp_wbuf w;
    int err;
    lp_wbuf_init(&w, LP_WBUF_CONFIG, "", 0);
    size_t half = strlen(valid) / 2;
    CHECK_INT(lp_wbuf_write(&w, valid, half, 0), 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT); /* wait for the rest */
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_WAIT); /* the last close refuses it */
    CHECK_INT(err, EINVAL);
    CHECK_INT(lp_wbuf_write(&w, valid + half, strlen(valid) - half, (off_t)half), 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_SEND);
    /* A later, different content is sent again. */
    const char *other = "{\"topicIds\": [1, 2]}";
    CHECK_INT(lp_wbuf_truncate(&w, 0), 0);
    CHECK_INT(lp_wbuf_write(&w, other, strlen(other), 0), 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_SEND);
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
        CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_REFUSE);
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
    CHECK_INT(step(&w, WRITE, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "active");
    free(sent);
    lp_wbuf_write(&w, "\n", 1, 10);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_NOTHING);
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_NOTHING);
    lp_wbuf_clear(&w);

    /* dd bs=1: each byte of a word waits for the next; the word is sent once. */
    lp_wbuf_init(&w, LP_WBUF_STATUS, "draft\n", 6);
    lp_wbuf_truncate(&w, 0);
    for (size_t i = 0; i < 5; i++) {
        lp_wbuf_write(&w, "paused" + i, 1, (off_t)i);
        CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    }
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_WAIT); /* "pause": if it ends here, EINVAL */
    CHECK_INT(err, EINVAL);
    lp_wbuf_write(&w, "d", 1, 5);
    CHECK_INT(step(&w, WRITE, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "paused");
    free(sent);
    lp_wbuf_clear(&w);

    /* A start followed by what no word has, or cut by whitespace: refused at once. */
    const char *bad[] = {"pax", "pa\n", "pa used", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lp_wbuf_init(&w, LP_WBUF_STATUS, "", 0);
        lp_wbuf_write(&w, bad[i], strlen(bad[i]), 0);
        CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_REFUSE);
        CHECK_INT(err, EINVAL);
        lp_wbuf_clear(&w);
    }

    /* runs/queue the same way: "man" waits for "ual". */
    lp_wbuf_init(&w, LP_WBUF_QUEUE, "", 0);
    lp_wbuf_write(&w, "man", 3, 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    lp_wbuf_write(&w, "ual\n", 4, 3);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_SEND);
    lp_wbuf_clear(&w);

    lp_wbuf_init(&w, LP_WBUF_STATUS, "draft\n", 6);
    lp_wbuf_truncate(&w, 0);
    lp_wbuf_write(&w, "bogus\n", 6, 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_REFUSE);
    CHECK_INT(err, EINVAL);
    lp_wbuf_clear(&w);
}

/* Python's open('r+'), seek(0), json.dump, truncate(): the shorter JSON lands
 * on the old text, whose tail stays until the truncate. Nothing is judged
 * while old bytes remain; the truncate finishes it and sends it. */
static void test_rewrite_in_place(void)
{
    struct lp_wbuf w;
    int err;
    char *sent = NULL;
    const char *old = "{\n  \"topicIds\": [101, 202],\n  \"minScore\": 70,\n  \"filters\": {}\n}\n";
    const char *new = "{\"topicIds\": [101, 202], \"minScore\": 5}";
    lp_wbuf_init(&w, LP_WBUF_CONFIG, old, strlen(old));
    CHECK_INT(lp_wbuf_write(&w, new, strlen(new), 0), 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT); /* not EINVAL: old tail left */
    CHECK_INT(lp_wbuf_truncate(&w, (off_t)strlen(new)), 0);
    CHECK_INT(step(&w, WRITE, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "{\"topicIds\":[101,202],\"minScore\":5}");
    free(sent);
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_NOTHING); /* the close: sent already */
    lp_wbuf_clear(&w);

    /* Without the truncate, the close judges what the file holds. */
    lp_wbuf_init(&w, LP_WBUF_CONFIG, old, strlen(old));
    lp_wbuf_write(&w, new, strlen(new), 0);
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_REFUSE);
    CHECK_INT(err, EINVAL);
    lp_wbuf_clear(&w);

    /* Digits overwritten one at a time ("70" -> "95"): the state in between
     * ("90") is valid JSON but never the writer's last word, so never sent. */
    const char *cfg = "{\"topicIds\": [1], \"minScore\": 70}";
    size_t at = (size_t)(strstr(cfg, "70") - cfg);
    lp_wbuf_init(&w, LP_WBUF_CONFIG, cfg, strlen(cfg));
    lp_wbuf_write(&w, "9", 1, (off_t)at);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    lp_wbuf_write(&w, "5", 1, (off_t)at + 1);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    CHECK_INT(step(&w, CLOSE, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "{\"topicIds\":[1],\"minScore\":95}");
    free(sent);
    lp_wbuf_clear(&w);

    /* Rewritten whole (as long or longer): the writer's own bytes, sent at once;
     * pieces that do not touch wait until they join. */
    const char *same_len = "{\"topicIds\": [2], \"minScore\": 71}";
    lp_wbuf_init(&w, LP_WBUF_CONFIG, cfg, strlen(cfg));
    lp_wbuf_write(&w, same_len + 10, strlen(same_len) - 10, 10);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    lp_wbuf_write(&w, same_len, 5, 0);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    lp_wbuf_write(&w, same_len + 5, 5, 5);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT); /* [0,10) and [10,..) kept apart */
    lp_wbuf_write(&w, same_len, strlen(same_len), 0);
    CHECK_INT(step(&w, WRITE, &err, &sent), LP_WBUF_SEND);
    CHECK_STR(sent, "{\"topicIds\":[2],\"minScore\":71}");
    free(sent);
    lp_wbuf_clear(&w);

    /* Zeros a truncate added are not the writer's either. */
    lp_wbuf_init(&w, LP_WBUF_CONFIG, "", 0);
    lp_wbuf_truncate(&w, 4);
    lp_wbuf_write(&w, "{\"topicIds\":[1]}", 16, 4);
    CHECK_INT(step(&w, WRITE, &err, NULL), LP_WBUF_WAIT);
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_REFUSE); /* NUL bytes */
    lp_wbuf_clear(&w);
}

/* Emptied (`: > config.json`, truncate -s 0) and closed: unfinished, which
 * the last close refuses; whitespace alone is empty too. */
static void test_emptied(void)
{
    struct lp_wbuf w;
    int err;
    char reason[256];
    char *payload = NULL;
    lp_wbuf_init(&w, LP_WBUF_CONFIG, "{\"topicIds\": [1]}\n", 17);
    lp_wbuf_truncate(&w, 0);
    CHECK_INT(lp_wbuf_decide(&w, CLOSE, &payload, &err, reason, sizeof(reason)), LP_WBUF_WAIT);
    CHECK_INT(err, EINVAL);
    CHECK_STR(reason, "config.json is empty");
    lp_wbuf_write(&w, " \n", 2, 0);
    CHECK_INT(lp_wbuf_decide(&w, CLOSE, &payload, &err, reason, sizeof(reason)), LP_WBUF_WAIT);
    CHECK_STR(reason, "config.json is empty");
    lp_wbuf_clear(&w);

    lp_wbuf_init(&w, LP_WBUF_STATUS, "draft\n", 6);
    lp_wbuf_truncate(&w, 0);
    CHECK_INT(lp_wbuf_decide(&w, CLOSE, &payload, &err, reason, sizeof(reason)), LP_WBUF_WAIT);
    CHECK_STR(reason, "status is empty");
    lp_wbuf_clear(&w);
}

static void test_untouched_and_undo(void)
{
    struct lp_wbuf w;
    int err;
    /* touch: opened for writing, nothing written. */
    lp_wbuf_init(&w, LP_WBUF_STATUS, "active\n", 7);
    CHECK_INT(step(&w, CLOSE, &err, NULL), LP_WBUF_NOTHING);
    /* A refused write is undone. */
    struct lp_wbuf_undo u;
    CHECK_INT(lp_wbuf_save(&w, &u), 0);
    lp_wbuf_write(&w, "paused-and-more\n", 16, 0);
    lp_wbuf_restore(&w, &u);
    lp_wbuf_undo_clear(&u);
    CHECK_INT(w.len, 7);
    CHECK(memcmp(w.data, "active\n", 7) == 0);
    CHECK(!w.touched);
    CHECK_INT(w.own_hi, 0);
    lp_wbuf_clear(&w);
}

int main(void)
{
    test_shell_redirect_config();
    test_config_in_pieces();
    test_config_refusals();
    test_too_big();
    test_status_words();
    test_rewrite_in_place();
    test_emptied();
    test_untouched_and_undo();
    return lp_test_summary();
}
