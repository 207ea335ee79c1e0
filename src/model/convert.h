/*
 * convert.h: importing published weights into the facerec weights format (.frw).
 *
 *   tfjs      a TensorFlow.js weights manifest + .bin shards (face-api's face_recognition_model
 *             or face_landmark_68_model, uint8-quantized per tensor with scale/min, some
 *             float32): architecture dlib or landmark68; or a TF.js graph model (model.json
 *             with modelTopology, float16 or float32 weights) that it knows: @vladmandic/
 *             human's faceres (architecture faceres), lowered to the program of onnx.h
 *   onnx      an ONNX model (protobuf) of InsightFace's recognition networks (iresnet,
 *             MobileFaceNet): architecture arcface, its graph stored as a program (onnx.h)
 *   keras-h5  a Keras 2.x HDF5 file, full model (model.save) or weights only (save_weights),
 *             of the FaceNet Inception-ResNet-v1 graph: architecture irv1
 *
 * A converter copies tensors under their source names and shapes, records provenance (the
 * source file's name and SHA-256; for tfjs the SHA-256 of `sha256sum MANIFEST SHARD...`
 * output, so the weights themselves are covered), then loads the result once to prove it
 * builds.
 */
#ifndef FR_MODEL_CONVERT_H
#define FR_MODEL_CONVERT_H

#include "facerec.h"

typedef struct fr_convert_options {
    const char *preprocess; /* NULL: the architecture's default */
    double threshold;       /* <= 0: the architecture's default */
} fr_convert_options;

fr_status fr_convert_tfjs(const char *manifest_path, const char *output_path,
                          const fr_convert_options *options);
/* Runs in a child process: a file on which libhdf5 itself crashes is refused with one line
 * (FR_E_FORMAT) instead of killing the caller. POSIX fork(); call it before starting threads
 * of your own or from a process whose other threads hold no locks the converter needs. */
fr_status fr_convert_keras_h5(const char *h5_path, const char *output_path,
                              const fr_convert_options *options);
/* The same conversion in this process (the fuzz harness: its coverage counters live here). */
fr_status fr_convert_keras_h5_here(const char *h5_path, const char *output_path,
                                   const fr_convert_options *options);
/* An ONNX model of InsightFace's recognition op set (model/onnx.h): architecture arcface. */
fr_status fr_convert_onnx(const char *onnx_path, const char *output_path,
                          const fr_convert_options *options);

/* A .frw file rewritten in the current format (version 1 files gain their checksum), its
 * metadata and tensors as they are but for the options' preprocessing and threshold. */
fr_status fr_convert_frw(const char *frw_path, const char *output_path,
                         const fr_convert_options *options);

/* Shared by both: provenance metadata, save, then a test load. */
typedef struct fr_weights_writer fr_weights_writer;
/* SOURCE_SHA256: the provenance digest where the source is more than one file, or NULL for
 * the SHA-256 of SOURCE_PATH. */
fr_status fr_convert_finish(fr_weights_writer *writer, const char *arch, const char *source_path,
                            const char *source_sha256, const char *converter,
                            const char *output_path, const fr_convert_options *options);

/* Saves WRITER to OUTPUT only once the file has proved to load: it is written beside OUTPUT
 * under a temporary name, CHECK loads it, and only then is it renamed over OUTPUT, so a failed
 * conversion leaves whatever OUTPUT held before. WHAT names the network for the message
 * ("a dlib network"), SOURCE the input. OUTPUT must be a file (not "-"). */
fr_status fr_convert_save_checked(fr_weights_writer *writer, const char *output,
                                  fr_status (*check)(const char *path), const char *what,
                                  const char *source);

#endif
