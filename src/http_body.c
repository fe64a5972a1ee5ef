/* http_body.c - what both kinds of exchange (http.c's requests, and
 * http_stream.c's streamed downloads) use: the answer buffer curl fills, and
 * the clock that times an exchange. */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

size_t lp_http_write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct lp_http_body *b = userdata;
    size_t n = size * nmemb;

    if (n > LP_HTTP_MAX_BODY - b->len) {
        b->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->no_memory = true;
            return 0;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

double lp_http_elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}
