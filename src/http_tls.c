/* http_tls.c - tells which certificate problem ended an exchange.
 *
 * curl reports an untrusted issuer, an expired certificate and a wrong host
 * name with one code (CURLE_PEER_FAILED_VERIFICATION); only its error buffer,
 * the TLS library's words, tells them apart. The user needs to know which:
 * the fix differs (trust a CA, renew, correct base_url).
 */
#include <curl/curl.h>
#include <string.h>

#include "http.h"
#include "http_int.h"

/* Substrings of OpenSSL's (and GnuTLS's) verification messages, as curl
 * passes them on, e.g. "SSL certificate problem: certificate has expired". */
static bool says(const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strstr(text, *words))
            return true;
    return false;
}

enum lp_cert_problem lp_http_cert_problem(CURLcode rc, const char *errbuf)
{
    static const char *const expired[] = {"expired", "not yet valid", "not activated", NULL};
    static const char *const host[] = {"subject name", "host name", "hostname", NULL};
    static const char *const issuer[] = {
        "issuer", "self-signed", "self signed", "first certificate", "not trusted", NULL};

    if (rc == CURLE_SSL_CACERT_BADFILE)
        return LP_CERT_CAFILE;
    if (rc != CURLE_PEER_FAILED_VERIFICATION)
        return LP_CERT_NONE;
    const char *text = errbuf ? errbuf : "";
    /* Host first: curl's host-name message can quote a name holding "expired". */
    if (says(text, host))
        return LP_CERT_WRONG_HOST;
    if (says(text, expired))
        return LP_CERT_EXPIRED;
    if (says(text, issuer))
        return LP_CERT_UNKNOWN_CA;
    return LP_CERT_OTHER;
}

const char *lp_http_cert_words(enum lp_cert_problem p)
{
    switch (p) {
    case LP_CERT_UNKNOWN_CA:
        return "it is not signed by a certificate authority trusted here";
    case LP_CERT_EXPIRED:
        return "it has expired or is not valid yet";
    case LP_CERT_WRONG_HOST:
        return "it is made out for another host name";
    case LP_CERT_OTHER:
        return "it was refused";
    case LP_CERT_CAFILE:
        return "the CA certificates to trust cannot be used";
    case LP_CERT_NONE:
        break;
    }
    return "";
}
