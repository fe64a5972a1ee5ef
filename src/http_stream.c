/* http_stream.c - a streamed GET (lp_http_get_stream): the body handed to a
 * callback as it arrives, cut off only by a stall, and judged against its
 * Content-Length; the thread's handle gets its usual options back after.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "http_int.h"

#define STREAM_BUFFER (512L * 1024) /* curl's receive buffer for a streamed GET */

/* Whether bytes wait on the connection once the body reached its
 * Content-Length: the rest of a body longer than that (curl reads no further
 * than it, and says nothing). Plain HTTP only: on TLS a close_notify would
 * look the same. Only with the one socket this exchange opened (a second
 * one, from trying IPv4 and IPv6 side by side, may be closed by now). A byte
 * that has not arrived yet goes unseen, but never to the next request: the
 * connection is not reused. */
static bool bytes_left_over(struct lp_http_xfer *st)
{
    const char *scheme = NULL;
    char byte;

    if (st->sockets != 1 || curl_easy_getinfo(st->easy, CURLINFO_SCHEME, &scheme) != CURLE_OK ||
        !scheme || strcasecmp(scheme, "http") != 0)
        return false;
    return recv(st->sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Notes the socket curl opens for this exchange. */
static int stream_sockopt(void *userdata, curl_socket_t fd, curlsocktype purpose)
{
    struct lp_http_xfer *st = userdata;
    if (purpose == CURLSOCKTYPE_IPCXN) {
        st->sock = fd;
        st->sockets++;
    }
    return CURL_SOCKOPT_OK;
}

static size_t write_stream(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct lp_http_xfer *st = userdata;
    size_t n = size * nmemb;

    clock_gettime(CLOCK_MONOTONIC, &st->last);

    curl_off_t length = -1;
    if (curl_easy_getinfo(st->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK)
        length = -1;
    if (st->mode == 0) {
        long status = 0;
        curl_easy_getinfo(st->easy, CURLINFO_RESPONSE_CODE, &status);
        st->mode = status == 200 ? 1 : 2;
        if (st->mode == 1 && st->s->announce)
            st->s->announce(st->s->ctx, length >= 0 ? (int64_t)length : -1);
    }
    if (st->mode == 2)
        return lp_http_write_body(ptr, size, nmemb, st->buf);
    int rc = st->s->write(st->s->ctx, ptr, n);
    if (rc != 0) {
        st->s->write_error = rc < 0 ? rc : -EIO;
        return 0; /* CURLE_WRITE_ERROR */
    }
    st->s->received += n;
    if (length >= 0 && (uint64_t)length == st->s->received && bytes_left_over(st))
        st->excess = true;
    return n;
}

/* Called at least once a second: a body that stopped for stall_ms ends here
 * (within about a second more).
 * (curl's own LOW_SPEED check averages over five seconds, so a pause after a
 * burst would go unnoticed for that much longer; it stays set as a backstop.) */
static int stream_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    struct lp_http_xfer *st = userdata;
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    if (st->s->stop && st->s->stop(st->s->ctx)) {
        st->s->write_error = -ECANCELED;
        snprintf(st->why, sizeof st->why, "the download was stopped");
        return 1; /* CURLE_ABORTED_BY_CALLBACK */
    }
    if (dlnow != st->last_now) {
        st->last_now = dlnow;
        clock_gettime(CLOCK_MONOTONIC, &st->last);
        return 0;
    }
    /* curl's idle ticks come a second apart, the first a hair before a
     * second has passed since the last byte: 50 ms early rather than a
     * second late. */
    if (lp_http_elapsed_ms(&st->last) + 50.0 < (double)st->stall_ms)
        return 0;
    snprintf(st->why, sizeof st->why, "no data for %ld ms: the download stalled", st->stall_ms);
    return 1; /* CURLE_ABORTED_BY_CALLBACK */
}

/* Only curl's informational texts are looked at (never headers or data:
 * the request's carry the key); curl says so when a body ran past its length. */
static int stream_debug(CURL *c, curl_infotype type, char *data, size_t size, void *userdata)
{
    struct lp_http_xfer *st = userdata;
    (void)c;
    if (type == CURLINFO_TEXT && size >= 12 && memcmp(data, "Excess found", 12) == 0)
        st->excess = true;
    return 0;
}

/* The options a streamed GET changes (on) or has back (off) that take a
 * number or the transfer state; the callbacks are set one by one. */
static void set_plain_options(lp_http *h, CURL *c, struct lp_http_xfer *st, bool on)
{
    const struct {
        CURLoption opt;
        long on, off;
    } longs[] = {
        {CURLOPT_TIMEOUT_MS, 0L, h->timeout_ms}, /* a stall ends it, not its length */
        {CURLOPT_LOW_SPEED_LIMIT, 1L, 0L},       /* a backstop: see stream_progress */
        {CURLOPT_LOW_SPEED_TIME, (h->timeout_ms + 999) / 1000, 0L},
        {CURLOPT_NOPROGRESS, 0L, 1L},
        {CURLOPT_VERBOSE, 1L, 0L}, /* for stream_debug */
        /* A connection of its own (its socket known, for bytes_left_over)
         * that serves nothing else: bytes past the body may still arrive. */
        {CURLOPT_FRESH_CONNECT, 1L, 0L},
        {CURLOPT_FORBID_REUSE, 1L, 0L},
        /* Fewer, larger writes: a 200 MB export is some 400 of 512 KiB
         * instead of 12,000 of 16 KiB, each a pwrite and a wake-up check. */
        {CURLOPT_BUFFERSIZE, STREAM_BUFFER, CURL_MAX_WRITE_SIZE},
    };
    static const CURLoption data[] = {CURLOPT_WRITEDATA, CURLOPT_XFERINFODATA, CURLOPT_DEBUGDATA,
                                      CURLOPT_SOCKOPTDATA};
    for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++)
        curl_easy_setopt(c, longs[i].opt, on ? longs[i].on : longs[i].off);
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        curl_easy_setopt(c, data[i], on ? (void *)st : NULL);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(on ? 0 : LP_HTTP_MAX_BODY));
    /* The bytes as sent: Content-Length counts them, not a decoded form. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, on ? NULL : "");
}

/* The options a streamed GET needs; lp_http_stream_end puts them back. */
void lp_http_stream_begin(lp_http *h, CURL *c, struct lp_http_xfer *st, struct lp_http_body *buf)
{
    st->buf = buf;
    st->easy = c;
    st->stall_ms = h->timeout_ms;
    clock_gettime(CLOCK_MONOTONIC, &st->last);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers_stream);
    set_plain_options(h, c, st, true);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_stream);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stream_progress);
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, stream_debug);
    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, stream_sockopt);
}

/* Restores the handle and judges the body: one that ended before or ran past
 * its Content-Length is a transport error (CURLE_PARTIAL_FILE / _RECV_ERROR). */
CURLcode lp_http_stream_end(lp_http *h, CURL *c, struct lp_http_xfer *st, CURLcode rc)
{
    curl_off_t length = -1;

    if (rc == CURLE_OK && st->mode == 1) {
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        if (st->excess || (length >= 0 && (uint64_t)length != st->s->received)) {
            snprintf(st->why, sizeof st->why,
                     "the body (%llu bytes or more) runs past its Content-Length (%lld)",
                     (unsigned long long)st->s->received, (long long)length);
            rc = CURLE_RECV_ERROR;
        }
    } else if (rc == CURLE_PARTIAL_FILE) {
        snprintf(st->why, sizeof st->why, "the body ended after %llu bytes, before its %s",
                 (unsigned long long)st->s->received, "Content-Length");
    } else if (rc == CURLE_WRITE_ERROR && st->s->write_error) {
        char e[128]; /* strerror's buffer may be shared between threads; this one is not */
        snprintf(st->why, sizeof st->why, "the download could not be stored: %s",
                 strerror_r(-st->s->write_error, e, sizeof e));
    } else if (rc != CURLE_ABORTED_BY_CALLBACK) {
        st->why[0] = '\0';
    }
    set_plain_options(h, c, st, false);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, lp_http_write_body);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, NULL);
    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, NULL);
    return rc;
}
