/* cfgini: the INI reader shared by gateway.ini, the policy file and the m2m
 * clients file. (Not "ini.h": that name is libinih's header, which this
 * reader uses underneath.)
 *
 * Reads an INI file line by line with line numbers and no line-length limit
 * that could truncate silently: lines longer than GW_INI_MAX_LINE (bytes) are
 * an error. The handler gets the 1-based line number. Section names are given
 * without brackets. Errors are "FILE:LINE: message" in the sink (errs.h). */
#ifndef GW_CFGINI_H
#define GW_CFGINI_H

#include "errs.h"

/* Called for each key line, and for each new section header too (name ==
 * value == NULL), so that empty sections and duplicate sections can be
 * detected. */
typedef int (*gw_ini_handler)(void *user, const char *section, const char *name,
                              const char *value, int lineno);
/* Longest line config_ini_parse accepts, in bytes without the '\n'. Longer
 * lines are an error "FILE:LINE: line too long (N bytes, max M)", never cut.
 * Details of the reader:
 * - The handler returns nonzero when the line was fine, 0 when it reported a
 *   problem itself (through its user pointer); config_ini_parse then
 *   returns -1 as well.
 * - section is the full name between the brackets, as written (not
 *   trimmed); "" for keys before the first header. name and value are
 *   trimmed, inline " ; comment" removed; value may be "".
 * - Comment lines start with ';' or '#' (after blanks). Only '=' separates
 *   name from value. Lines without one, headers without ']', text after
 *   ']', empty "[]", NUL bytes: errors with FILE:LINE. Keys after a
 *   malformed header are skipped (not given to the handler).
 * - Leading blanks never continue the previous value (no multi-line values);
 *   a UTF-8 BOM at the start of the file is skipped.
 * - Sets libinih's process-wide options on every call: call from one thread
 *   at a time. */
#define GW_INI_MAX_LINE 16384
/* Returns 0, or -1 (errors already added to errs: the reader's own, or the
 * handler's). The file cannot be opened or read: "FILE: cannot ...". */
int config_ini_parse(const char *path, gw_ini_handler h, void *user, gw_errors_t *errs);

#endif
