/* defaults.h - the one place for leadpipefs's default settings.
 *
 * main.c (option defaults and --help), api.c and http.c (fallbacks when a
 * caller passes 0) all take them from here, so they cannot drift apart.
 */
#ifndef LEADPIPEFS_DEFAULTS_H
#define LEADPIPEFS_DEFAULTS_H

/* The API the mount talks to when neither -o base_url nor $LEADPIPE_BASE_URL says. */
#define LP_DEFAULT_BASE_URL "https://api.aws53.cloud"
/* Limit for one HTTP exchange, in seconds (-o timeout). */
#define LP_DEFAULT_TIMEOUT_S 20
/* HTTP tries per operation (-o tries). */
#define LP_DEFAULT_TRIES 3
/* How long listed data is trusted, in seconds (-o cache_timeout). */
#define LP_DEFAULT_CACHE_TIMEOUT_S 30
/* Limit for setting up a connection, in milliseconds (at most the exchange's timeout). */
#define LP_DEFAULT_CONNECT_MS 10000L

/* The results cache's bound (-o cache_size). */
#define LP_DEFAULT_CACHE_SIZE "2G"
/* The memory editors' scratch files may hold together (-o scratch_size). */
#define LP_DEFAULT_SCRATCH_SIZE "64M"

#endif
