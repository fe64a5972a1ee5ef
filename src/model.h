/* model.h - the Leadpipe audience model, one include for all of it: the
 * audience struct and API answers (audience.h), error bodies and their errno
 * (api_error.h), status words (status.h), config.json (config.h),
 * directory-name encoding (names.h), and the control directory's texts
 * (control_text.h).
 *
 * Pure functions, no I/O, no FUSE, no curl. Ownership (each header says it
 * again): every char * in a struct lp_audience is malloc'd and owned by the
 * struct; lp_audience_clear frees them. Functions that return char * return
 * malloc'd memory the caller frees. Parsing never crashes on hostile input:
 * wrong types are an error.
 *
 * The JSON plumbing under these (json_read.h, json_print.h, json_scan.h) and
 * the util layer (sbuf.h, textutil.h) are not included here: include them
 * where they are used.
 */
#ifndef LEADPIPEFS_MODEL_H
#define LEADPIPEFS_MODEL_H

#include "api_error.h"
#include "audience.h"
#include "config.h"
#include "control_text.h"
#include "names.h"
#include "status.h"

#endif
