/* error.c: the thread-local "why did it fail" line behind fr_error_message(). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_line[1024];

const char *fr_status_name(fr_status status)
{
    switch (status) {
    case FR_OK: return "ok";
    case FR_E_INVALID: return "invalid argument";
    case FR_E_IO: return "i/o error";
    case FR_E_FORMAT: return "bad format";
    case FR_E_UNSUPPORTED: return "unsupported";
    case FR_E_TOO_LARGE: return "too large";
    case FR_E_NOMEM: return "out of memory";
    case FR_E_MODEL_MISMATCH: return "model mismatch";
    case FR_E_NOT_FOUND: return "not found";
    case FR_E_DEVICE: return "device error";
    case FR_E_NO_FACE: return "no face";
    case FR_E_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *fr_error_message(void)
{
    return error_line;
}

fr_status fr_fail(fr_status status, const char *format, ...)
{
    /* formatted aside first: an argument may be fr_error_message() itself (a cause wrapped
     * in context), and vsnprintf's output must not overlap its input */
    char line[sizeof error_line];
    va_list args;
    va_start(args, format);
    if (vsnprintf(line, sizeof line, format, args) < 0)
        line[0] = 0;
    va_end(args);
    memcpy(error_line, line, sizeof line);
    return status;
}

void fr_error_prefix(const char *prefix)
{
    char old[sizeof error_line];
    memcpy(old, error_line, sizeof old);
    /* a long prefix may push the end of the message out: keep what fits */
    if (snprintf(error_line, sizeof error_line, "%s: %s", prefix, old) < 0)
        error_line[0] = 0;
}

void fr_error_save(char *buffer, size_t size)
{
    snprintf(buffer, size, "%s", error_line);
}

void fr_error_restore(const char *buffer)
{
    snprintf(error_line, sizeof error_line, "%s", buffer);
}
