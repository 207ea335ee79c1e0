/*
 * error.h: errors are values. A failing library function records one line of detail in a
 * thread-local buffer (fr_error_message() reads it) and returns the status; only the CLI
 * prints. fr_fail() does both in one statement: `return fr_fail(FR_E_IO, "%s: %s", ...)`.
 */
#ifndef FR_CORE_ERROR_H
#define FR_CORE_ERROR_H

#include "facerec.h"

#if defined(__GNUC__)
#define FR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define FR_PRINTF(f, a)
#endif

fr_status fr_fail(fr_status status, const char *format, ...) FR_PRINTF(2, 3);

/* Prefixes the current message with "prefix: " (e.g. a file name added by a caller). */
void fr_error_prefix(const char *prefix);

/* Saves and restores the message, for cleanup code that may itself fail. */
void fr_error_save(char *buffer, size_t size);
void fr_error_restore(const char *buffer);

#endif
