/*
 * plan_cache.h: cuDNN convolution plans kept across runs, so that a job's start-up is not
 * its planning (irv1 at batch 1024: 4.1 s of heuristics, candidate finalization and NVRTC
 * compilation on an H200, bench/RESULTS.md).
 *
 * One file per GPU model and library set, named after the device key (below), holding one
 * record per convolution plan: the key text of the convolution (every shape, stride, padding,
 * alignment, data type, precision, path, workspace limit and engine policy that decides which
 * plan cuDNN builds), the engine that was chosen (its global index and knob choices) and, where
 * cuDNN can serialize it, the finalized plan itself as cuDNN's JSON (runtime-compiled engines:
 * their kernels come back without NVRTC).
 *
 * Never trusted: the file carries a SHA-256 of everything before it, a format version and the
 * device key (cuDNN and CUDA runtime versions, driver version, GPU name, compute capability,
 * multiprocessor count); a file that fails any of these, or any bound while being read, is
 * dropped whole and rebuilt from scratch, with the reason in fr_plan_cache_note(). A record
 * is only a suggestion: conv.c still finalizes the plan, checks its workspace and runs it
 * once (cuda_backend.c), and a record that fails any of that is forgotten and the node planned
 * from the heuristics as if there were no cache.
 *
 * Where it lives: $FACEREC_PLAN_CACHE (a directory) when set, else $XDG_CACHE_HOME/facerec,
 * else ~/.cache/facerec; FACEREC_PLAN_CACHE=off disables it. Deleting the directory clears it.
 * Writers replace the file atomically (core/file.h), so concurrent runs never see a half
 * file; the last to save wins, and what it lacked is planned again next time.
 *
 * Plain C with no CUDA types: the format, the key matching and the corruption handling are
 * tested without a GPU (tests/test_plan_cache.c).
 */
#ifndef FR_CUDA_PLAN_CACHE_H
#define FR_CUDA_PLAN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "facerec.h"

#define FR_PLAN_CACHE_VERSION 1
#define FR_PLAN_MAX_KNOBS 32
#define FR_PLAN_MAX_KEY 1024                     /* bytes of a record's or the device's key */
#define FR_PLAN_MAX_JSON ((size_t)16 << 20)      /* bytes of one serialized plan */
#define FR_PLAN_MAX_FILE ((size_t)256 << 20)     /* the whole cache file */

typedef struct fr_plan_record {
    int64_t engine;                       /* CUDNN_ATTR_ENGINE_GLOBAL_INDEX */
    int knob_count;
    int64_t knobs[FR_PLAN_MAX_KNOBS][2];  /* (cudnnBackendKnobType_t, value) */
    size_t json_size;                     /* 0: the plan did not serialize */
    char *json;                           /* cuDNN's JSON of the finalized plan, not 0-ended */
} fr_plan_record;

typedef struct fr_plan_cache fr_plan_cache;

/* The device key: what a plan built on one machine needs to hold on another. */
void fr_plan_device_key(const char *gpu_name, int cc_major, int cc_minor, int multiprocessors,
                        int driver_version, int runtime_version, size_t cudnn_version,
                        char *key, size_t size);

/* The cache file for a device key under the directory the environment names (see the top);
 * FR_E_UNSUPPORTED when FACEREC_PLAN_CACHE=off or no directory can be named. */
fr_status fr_plan_cache_default_path(const char *device_key, char *path, size_t size);

/* Reads `path` if it exists and belongs to `device_key`. A missing, stale or corrupt file
 * is not an error: the cache starts empty and fr_plan_cache_note() says why. Fails only for
 * invalid arguments or memory. */
fr_status fr_plan_cache_open(const char *path, const char *device_key, fr_plan_cache **out);
void fr_plan_cache_free(fr_plan_cache *cache);

/* What opening found: "12 plans from PATH", "PATH: no cache yet", "PATH: corrupt
 * (checksum mismatch), rebuilt", "PATH: another device or library version, rebuilt". */
const char *fr_plan_cache_note(const fr_plan_cache *cache);
/* 1 when the file was there but could not be trusted (corrupt: not merely absent or stale). */
int fr_plan_cache_was_corrupt(const fr_plan_cache *cache);
size_t fr_plan_cache_count(const fr_plan_cache *cache);

/* The record for a convolution's key, or NULL; valid until the next put/forget/free. */
const fr_plan_record *fr_plan_cache_find(const fr_plan_cache *cache, const char *key);
/* Adds or replaces the record of `key` (copied, json included). */
fr_status fr_plan_cache_put(fr_plan_cache *cache, const char *key, const fr_plan_record *record);
/* Drops the record of `key` (it did not plan or run). */
void fr_plan_cache_forget(fr_plan_cache *cache, const char *key);

/* Writes the file (creating its directory) when anything changed since it was opened or last
 * saved; atomic replacement. */
fr_status fr_plan_cache_save(fr_plan_cache *cache);

#endif
