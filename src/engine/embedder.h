/*
 * embedder.h: the batch engine: image files in, embeddings out, in input order.
 *
 *   decode threads (libjpeg-turbo / libpng) -> preprocessing to the model's input (uint8)
 *   -> a ring of batch buffers -> the runner (CPU or CUDA) -> L2 normalization -> the sink
 *
 * Decoding runs ahead of the network by up to FR_EMBED_BUFFERS batches, so the network
 * never waits for a batch the CPUs could have had ready. An image that cannot be decoded is
 * reported to the sink with its error and the batch goes on without it.
 */
#ifndef FR_ENGINE_EMBEDDER_H
#define FR_ENGINE_EMBEDDER_H

#include <stddef.h>

#include "facerec.h"

#define FR_EMBED_BUFFERS 3

typedef struct fr_embed_result {
    size_t index;           /* position in the input list */
    const char *path;
    fr_status status;       /* FR_OK, or why this input has no embedding */
    const char *error;      /* one line when status != FR_OK */
    const float *embedding; /* embedding_size floats when status == FR_OK */
} fr_embed_result;

/* Called in input order for every input; a nonzero return stops the run (FR_E_INVALID). */
typedef int (*fr_embed_sink)(void *ctx, const fr_embed_result *result);

typedef struct fr_embedder_options {
    fr_runner_options runner;
    int decode_threads; /* 0: one per core */
    int raw;            /* 1: the network's output as is; 0: L2-normalized */
    int full_decode;    /* 1: never use JPEG DCT scaling */
    int progress;       /* 1: images/s and ETA on stderr */
} fr_embedder_options;

typedef struct fr_embedder fr_embedder;

fr_status fr_embedder_new(const fr_model *model, const fr_embedder_options *options,
                          fr_embedder **out);
void fr_embedder_free(fr_embedder *embedder);
const fr_runner *fr_embedder_runner(const fr_embedder *embedder);

/* Embeds the files in order. Returns FR_OK when the run completed (some inputs may have
 * failed: the sink saw each), or the fatal error that stopped it. */
fr_status fr_embed_files(fr_embedder *embedder, const char *const *paths, size_t count,
                         fr_embed_sink sink, void *ctx);

#endif
