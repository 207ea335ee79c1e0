/* sha256.h: SHA-256 of files, for the provenance recorded in weights files (OpenSSL). */
#ifndef FR_CORE_SHA256_H
#define FR_CORE_SHA256_H

#include <stddef.h>

#include "facerec.h"

/* hex receives 64 lowercase hex digits and a NUL. */
void fr_sha256_hex(const void *data, size_t size, char hex[65]);
fr_status fr_sha256_file(const char *path, char hex[65]);

#endif
