/* sha256.h: SHA-256 of files, for the provenance recorded in weights files and the checks of
 * shard manifests (OpenSSL). */
#ifndef FR_CORE_SHA256_H
#define FR_CORE_SHA256_H

#include <stddef.h>

#include "facerec.h"

/* hex receives 64 lowercase hex digits and a NUL. */
void fr_sha256_hex(const void *data, size_t size, char hex[65]);
void fr_sha256_to_hex(const unsigned char digest[32], char hex[65]);
fr_status fr_sha256_file(const char *path, char hex[65]);
/* The SHA-256 of an open file from its first byte (pread: the offset is not moved) and its
 * size in bytes; what names it goes into an error. */
fr_status fr_sha256_fd(int fd, const char *what, char hex[65], size_t *size);

/* A digest fed piece by piece (a stream being copied, a list being built). */
typedef struct fr_sha256 fr_sha256;

fr_status fr_sha256_new(fr_sha256 **out);
void fr_sha256_update(fr_sha256 *sha, const void *data, size_t size);
/* The digest of everything fed in; frees sha. */
void fr_sha256_finish(fr_sha256 *sha, char hex[65]);
/* The same as 32 bytes (a checksum stored in a file); frees sha. */
void fr_sha256_finish_bytes(fr_sha256 *sha, unsigned char digest[32]);
/* Frees sha without a digest (safe on NULL). */
void fr_sha256_free(fr_sha256 *sha);

/* The digest of a set of files, as `sha256sum FILE... | sha256sum` computes it: lines
 * "<hex>  <name>\n" added in order, then the SHA-256 of those lines. */
typedef struct fr_sha256_list {
    char *text;
    size_t size;
} fr_sha256_list;

fr_status fr_sha256_list_add(fr_sha256_list *list, const char hex[65], const char *name);
/* The digest of the lines so far; frees the list. */
void fr_sha256_list_finish(fr_sha256_list *list, char hex[65]);

#endif
