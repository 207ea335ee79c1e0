/* sha256.c: SHA-256 through OpenSSL's EVP interface, streaming files in 1 MiB pieces. */
#include "core/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void to_hex(const unsigned char digest[32], char hex[65])
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
    to_hex(digest, hex);
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

void fr_sha256_finish(fr_sha256 *s, char hex[65])
{
    unsigned char digest[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(s->ctx, digest, &len);
    to_hex(digest, hex);
    fr_sha256_free(s);
}

void fr_sha256_free(fr_sha256 *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

fr_status fr_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fr_fail(FR_E_IO, "%s: %s", path, strerror(errno));
    fr_sha256 *sha = NULL;
    unsigned char *buffer = malloc(1 << 20);
    if (!buffer || fr_sha256_new(&sha) != FR_OK) {
        free(buffer);
        fclose(f);
        return fr_fail(FR_E_NOMEM, "out of memory hashing %s", path);
    }
    size_t n;
    while ((n = fread(buffer, 1, 1 << 20, f)) > 0)
        fr_sha256_update(sha, buffer, n);
    int failed = ferror(f);
    fclose(f);
    free(buffer);
    if (failed) {
        fr_sha256_free(sha);
        return fr_fail(FR_E_IO, "%s: read error", path);
    }
    fr_sha256_finish(sha, hex);
    return FR_OK;
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
