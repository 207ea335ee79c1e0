/*
 * features.h: the frozen features of `facerec train`, kept on disk between runs.
 *
 * Computing the features (decoding, detection, alignment, the network up to its head) is
 * nearly all of a training run's cost, and they do not change while only the head learns, so
 * they are computed once per image and cached. A cache file holds one dataset's images for
 * one key: the base weights' SHA-256 and everything else that shapes a feature (alignment,
 * face rule, preprocessing, device and precision), written by the caller as text. An image's
 * entry is reused while its path, size and modification time are unchanged; an image that
 * failed (unreadable, no face) is remembered with its message, so a run over the same data
 * does not try it again but still reports it.
 *
 * File (little-endian): magic "FRFEATS1", u32 dim, u32 0, u64 count, key (u32 length +
 * bytes), then per entry: path (u32 + bytes), u64 size, i64 mtime seconds, i64 nanoseconds,
 * u32 status (0 = features follow), message (u32 + bytes), 64 hex digits of the image's
 * SHA-256, and dim float32 when status is 0. A file that does not parse, or of another key,
 * is ignored (and replaced when the cache is saved).
 */
#ifndef FR_LEARN_FEATURES_H
#define FR_LEARN_FEATURES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "facerec.h"

typedef struct fr_feature_entry {
    char *path;
    uint64_t size;
    int64_t mtime_sec, mtime_nsec;
    fr_status status;  /* FR_OK: features hold dim floats */
    char *message;     /* why it failed, or NULL */
    char sha256[65];   /* of the image file */
    float *features;
} fr_feature_entry;

typedef struct fr_feature_cache {
    char *file;        /* the cache file (NULL: no cache kept) */
    char *key;
    size_t dim;
    fr_feature_entry *entries; /* sorted by path (loaded ones), then appended ones */
    size_t count, loaded, capacity;
    char warning[512]; /* why an existing file was not used, or "" */
} fr_feature_cache;

/* Opens the cache of KEY for the dataset DATASET (a name: the folder or database) in DIR
 * (created when missing; NULL: no cache, nothing read or written). */
fr_status fr_feature_cache_open(const char *dir, const char *dataset, const char *key,
                                size_t dim, fr_feature_cache *out);
void fr_feature_cache_close(fr_feature_cache *cache);

/* The entry of a loaded file for PATH, when INFO (its stat now) shows it unchanged, or NULL. */
const fr_feature_entry *fr_feature_cache_find(const fr_feature_cache *cache, const char *path,
                                              const struct stat *info);

/* Writes the cache file atomically with exactly these entries (the current dataset's),
 * replacing what it held. */
fr_status fr_feature_cache_save(const fr_feature_cache *cache,
                                const fr_feature_entry *const *entries, size_t count);

#endif
