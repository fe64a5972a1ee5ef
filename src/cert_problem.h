/* cert_problem.h - why the server's TLS certificate was refused, in words the
 * layers above http.c can act on without knowing curl (http.c tells, api.c
 * puts it in its message, main.c adds the way out). */
#ifndef LEADPIPEFS_CERT_PROBLEM_H
#define LEADPIPEFS_CERT_PROBLEM_H

enum lp_cert_problem {
    LP_CERT_NONE = 0,   /* no certificate problem (or not one that is known) */
    LP_CERT_UNKNOWN_CA, /* not signed by a CA trusted here: self-signed, a re-signing proxy */
    LP_CERT_EXPIRED,    /* expired, or not valid yet */
    LP_CERT_WRONG_HOST, /* made out for another host name */
    LP_CERT_OTHER,      /* refused for another reason (revoked, bad signature...) */
    LP_CERT_CAFILE,     /* the CA certificates we were told to trust cannot be used */
};

#endif
