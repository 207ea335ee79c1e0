/* sha256.c: SHA-256 through OpenSSL's EVP interface, streaming files in 1 MiB pieces. */
#include "core/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"

void fr_sha256_to_hex(const unsigned char digest[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = 0;
}

void fr_sha256_hex(const void *data, size_t size, char hex[65])
{
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_Digest(data, size, digest, &len, EVP_sha256(), NULL);
    fr_sha256_to_hex(digest, hex);
}

fr_status fr_sha256_fd(int fd, const char *what, char hex[65], size_t *size)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buffer = malloc(1 << 20);
    if (!ctx || !buffer) {
        EVP_MD_CTX_free(ctx);
        free(buffer);
        return fr_fail(FR_E_NOMEM, "out of memory hashing %s", what);
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    off_t at = 0;
    ssize_t n;
    while ((n = pread(fd, buffer, 1 << 20, at)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        EVP_DigestUpdate(ctx, buffer, (size_t)n);
        at += n;
    }
    int e = n < 0 ? errno : 0;
    free(buffer);
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, digest, &len);
    EVP_MD_CTX_free(ctx);
    if (e)
        return fr_fail(FR_E_IO, "%s: read error: %s", what, strerror(e));
    fr_sha256_to_hex(digest, hex);
    if (size)
        *size = (size_t)at;
    return FR_OK;
}

fr_status fr_sha256_file(const char *path, char hex[65])
{
    int fd;
    struct stat st;
    fr_status status = fr_file_open_regular(path, &fd, &st);
    if (status)
        return status;
    status = fr_sha256_fd(fd, path, hex, NULL);
    close(fd);
    return status;
}

struct fr_sha256 {
    EVP_MD_CTX *ctx;
};

fr_status fr_sha256_new(fr_sha256 **out)
{
    fr_sha256 *s = malloc(sizeof *s);
    EVP_MD_CTX *ctx = s ? EVP_MD_CTX_new() : NULL;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        free(s);
        return fr_fail(FR_E_NOMEM, "out of memory for a digest");
    }
    s->ctx = ctx;
    *out = s;
    return FR_OK;
}

void fr_sha256_update(fr_sha256 *s, const void *data, size_t size)
{
    if (size)
        EVP_DigestUpdate(s->ctx, data, size);
}

void fr_sha256_finish_bytes(fr_sha256 *s, unsigned char digest[32])
{
    unsigned int len = 0;
    EVP_DigestFinal_ex(s->ctx, digest, &len);
    fr_sha256_free(s);
}

void fr_sha256_finish(fr_sha256 *s, char hex[65])
{
    unsigned char digest[32];
    fr_sha256_finish_bytes(s, digest);
    fr_sha256_to_hex(digest, hex);
}

void fr_sha256_free(fr_sha256 *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

fr_status fr_sha256_list_add(fr_sha256_list *l, const char hex[65], const char *name)
{
    size_t n = 64 + 2 + strlen(name) + 1;
    char *grown = realloc(l->text, l->size + n + 1);
    if (!grown)
        return fr_fail(FR_E_NOMEM, "out of memory for a file digest");
    l->text = grown;
    l->size += (size_t)snprintf(l->text + l->size, n + 1, "%s  %s\n", hex, name);
    return FR_OK;
}

void fr_sha256_list_finish(fr_sha256_list *l, char hex[65])
{
    fr_sha256_hex(l->text ? l->text : "", l->size, hex);
    free(l->text);
    l->text = NULL;
    l->size = 0;
}
