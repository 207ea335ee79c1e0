/*
 * conv.c: convolution plans on cuDNN (see conv.h for the four paths and why).
 *
 * Graph API: tensors are described in cuDNN's logical NCHW order with NHWC strides, so a view
 * (a channel slice of a wider root) is just strides (n: h*w*ld, c: 1, h: w*ld, w: ld). The
 * fused graph's intermediates are virtual fp32 tensors: the convolution accumulates in fp32
 * and bias, residual and ReLU are applied before the single fp16 (or fp32) store. Heuristics
 * (mode A, then the fallback list) rank engine configurations; the first whose notes we
 * accept, that finalizes and fits the workspace limit is kept. Everything is built at plan
 * time; the variant pack (device pointers) is built on the first run and reused.
 */
#include "conv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan_cache.h"
#include "core/alloc.h"
#include "core/error.h"

#define MAX_OWNED 40
#define MAX_UIDS 6

enum { UID_X = 1, UID_W, UID_B, UID_Z, UID_Y, UID_VIRTUAL = 100 };

struct fr_conv_plan {
    fr_conv_spec spec;
    fr_conv_path path;
    size_t workspace;
    fr_plan_cache *cache;             /* NULL: no plan cache */
    char key[FR_PLAN_MAX_KEY];        /* the cache key (graph paths) */
    int from_cache;                   /* the plan was rebuilt from a cache record */
    /* graph API */
    cudnnBackendDescriptor_t owned[MAX_OWNED]; /* everything created, destroyed in reverse */
    int owned_count;
    cudnnBackendDescriptor_t plan;
    cudnnBackendDescriptor_t variant; /* built on first run */
    void *variant_workspace, *variant_packed;
    int64_t uids[MAX_UIDS];
    int uid_count;
    /* legacy API */
    cudnnTensorDescriptor_t x_desc, y_desc, bias_desc, packed_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    cudnnActivationDescriptor_t act_desc;
    cudnnConvolutionFwdAlgo_t algo;
};

const char *fr_conv_path_name(fr_conv_path path)
{
    switch (path) {
    case FR_CONV_GRAPH_FUSED: return "graph-fused";
    case FR_CONV_GRAPH: return "graph+epilogue";
    case FR_CONV_LEGACY_FUSED: return "legacy-fused";
    case FR_CONV_LEGACY: return "legacy+epilogue";
    case FR_CONV_PATHS: break;
    }
    return "?";
}

static cudnnDataType_t storage_type(const fr_conv_spec *s)
{
    return s->dtype == FR_CU_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

/* ---- graph API ------------------------------------------------------------------------------ */

static fr_status create(fr_conv_plan *p, cudnnBackendDescriptorType_t type,
                        cudnnBackendDescriptor_t *out)
{
    if (p->owned_count == MAX_OWNED)
        return fr_fail(FR_E_INTERNAL, "conv plan: too many cuDNN descriptors");
    FR_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, out));
    p->owned[p->owned_count++] = *out;
    return FR_OK;
}

#define TRY(expr)                                                                              \
    do {                                                                                       \
        fr_status try_status_ = (expr);                                                        \
        if (try_status_ != FR_OK)                                                              \
            return try_status_;                                                                \
    } while (0)

/* The largest power of two (up to 16) dividing the address: what cuDNN may assume. */
static int64_t alignment_of(const void *ptr)
{
    uintptr_t a = (uintptr_t)ptr;
    int64_t align = 16;
    while (align > 1 && a % (uintptr_t)align)
        align /= 2;
    return align;
}

/* A tensor of cuDNN's logical NCHW dimensions with the given strides. */
static fr_status tensor_strided(fr_conv_plan *p, int64_t uid, cudnnDataType_t type,
                                const int64_t dims[4], const int64_t strides[4],
                                int64_t alignment, bool is_virtual, cudnnBackendDescriptor_t *out)
{
    TRY(create(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR, out));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_DATA_TYPE,
                                            CUDNN_TYPE_DATA_TYPE, 1, &type));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64,
                                            4, dims));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4,
                                            strides));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64,
                                            1, &uid));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT,
                                            CUDNN_TYPE_INT64, 1, &alignment));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*out, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN,
                                            1, &is_virtual));
    FR_CUDNN_CHECK(cudnnBackendFinalize(*out));
    if (!is_virtual) {
        if (p->uid_count == MAX_UIDS)
            return fr_fail(FR_E_INTERNAL, "conv plan: too many tensors");
        p->uids[p->uid_count++] = uid;
    }
    return FR_OK;
}

/* NCHW dimensions with NHWC strides over a root of `ld` channels. */
static fr_status tensor(fr_conv_plan *p, int64_t uid, cudnnDataType_t type, int64_t n, int64_t c,
                        int64_t h, int64_t w, int64_t ld, int64_t alignment, bool is_virtual,
                        cudnnBackendDescriptor_t *out)
{
    int64_t dims[4] = {n, c, h, w}, strides[4] = {h * w * ld, 1, w * ld, ld};
    return tensor_strided(p, uid, type, dims, strides, alignment, is_virtual, out);
}

/* y = mode(x [, b]) as a pointwise operation in fp32. */
static fr_status pointwise(fr_conv_plan *p, cudnnPointwiseMode_t mode,
                           cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                           cudnnBackendDescriptor_t y, cudnnBackendDescriptor_t *op)
{
    cudnnBackendDescriptor_t pw;
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    TRY(create(p, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE,
                                            CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC,
                                            CUDNN_TYPE_DATA_TYPE, 1, &prec));
    FR_CUDNN_CHECK(cudnnBackendFinalize(pw));
    TRY(create(p, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, op));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    if (b)
        FR_CUDNN_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    FR_CUDNN_CHECK(cudnnBackendFinalize(*op));
    return FR_OK;
}

/* Whether an engine's numerical and behaviour notes fit the precision asked for. */
static fr_status engine_acceptable(fr_conv_plan *p, cudnnBackendDescriptor_t cfg,
                                   int allow_runtime_compilation, int *ok)
{
    cudnnBackendDescriptor_t engine;
    TRY(create(p, CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
    int64_t count = 0;
    FR_CUDNN_CHECK(cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &engine));
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t note_count = 0;
    FR_CUDNN_CHECK(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                            CUDNN_TYPE_NUMERICAL_NOTE,
                                            CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &note_count, notes));
    cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    int64_t behavior_count = 0;
    FR_CUDNN_CHECK(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                            CUDNN_TYPE_BEHAVIOR_NOTE,
                                            CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &behavior_count,
                                            behavior));
    *ok = 1;
    int compiled_at_run_time = 0;
    for (int64_t i = 0; i < note_count && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; i++) {
        cudnnBackendNumericalNote_t note = notes[i];
        if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
            note == CUDNN_NUMERICAL_NOTE_FFT || note == CUDNN_NUMERICAL_NOTE_WINOGRAD ||
            note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4 ||
            note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6 ||
            note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13)
            *ok = 0;
        /* fp32 means fp32 arithmetic: no TF32 tensor cores */
        if (p->spec.precision == FR_PRECISION_FP32 &&
            (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE ||
             note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS))
            *ok = 0;
    }
    for (int64_t i = 0; i < behavior_count && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; i++)
        if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION)
            compiled_at_run_time = 1;
    /* first the precompiled engines; in the later passes only those compiled at run time */
    if (compiled_at_run_time != allow_runtime_compilation)
        *ok = 0;
    return FR_OK;
}

/* ---- the plan cache (plan_cache.h) ---------------------------------------------------------- */

/* Engines compiled at run time (NVRTC) are admitted unless FACEREC_CUDNN_NVRTC=0. */
static int runtime_compilation_allowed(void)
{
    const char *nvrtc = getenv("FACEREC_CUDNN_NVRTC");
    return !(nvrtc && strcmp(nvrtc, "0") == 0);
}

void fr_conv_plan_key(const fr_conv_spec *s, fr_conv_path path, size_t workspace_limit,
                      int runtime_compilation, char *key, size_t size)
{
    snprintf(key, size,
             "conv1 %s n=%d dtype=%d precision=%d x=%dx%dx%d/%d@%lld y=%dx%dx%d/%d@%lld "
             "w@%lld bias@%lld kernel=%dx%d stride=%dx%d pad=%d,%d,%d,%d act=%d accumulate=%d "
             "workspace=%zu nvrtc=%d",
             fr_conv_path_name(path), s->n, (int)s->dtype, (int)s->precision, s->x.h, s->x.w,
             s->x.c, s->x.ld, (long long)alignment_of(s->x.data), s->y.h, s->y.w, s->y.c, s->y.ld,
             (long long)alignment_of(s->y.data), (long long)alignment_of(s->w),
             (long long)alignment_of(s->bias), s->kh, s->kw, s->sh, s->sw, s->pt, s->pl, s->pb,
             s->pr, (int)s->act, s->accumulate, workspace_limit, runtime_compilation);
}

/* The chosen configuration's engine and knobs, and the finalized plan as JSON where cuDNN
 * serializes it, into the cache. Nothing here is required: a value that cannot be read
 * leaves the node uncached. */
static void remember(fr_conv_plan *p, cudnnBackendDescriptor_t cfg)
{
    fr_plan_record rec;
    memset(&rec, 0, sizeof rec);
    cudnnBackendDescriptor_t engine = NULL, knobs[FR_PLAN_MAX_KNOBS];
    int created = 0;
    int64_t count = 0;
    int ok = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) ==
                 CUDNN_STATUS_SUCCESS &&
             cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                                      &engine) == CUDNN_STATUS_SUCCESS &&
             cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                      &count, &rec.engine) == CUDNN_STATUS_SUCCESS;
    for (; ok && created < FR_PLAN_MAX_KNOBS; created++)
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &knobs[created]) !=
            CUDNN_STATUS_SUCCESS)
            ok = 0;
    int64_t returned = 0;
    ok = ok && cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, FR_PLAN_MAX_KNOBS,
                                        &returned, knobs) == CUDNN_STATUS_SUCCESS &&
         returned >= 0 && returned <= FR_PLAN_MAX_KNOBS;
    for (int64_t i = 0; ok && i < returned; i++) {
        cudnnBackendKnobType_t type;
        int64_t value = 0;
        ok = cudnnBackendGetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                      CUDNN_TYPE_KNOB_TYPE, 1, &count, &type) ==
                 CUDNN_STATUS_SUCCESS &&
             cudnnBackendGetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                      CUDNN_TYPE_INT64, 1, &count, &value) == CUDNN_STATUS_SUCCESS;
        rec.knobs[i][0] = (int64_t)type;
        rec.knobs[i][1] = value;
    }
    rec.knob_count = ok ? (int)returned : 0;
    /* Serialization: cuDNN supports it for runtime-compiled engines (the ones worth it);
     * for the others the call fails and the engine and knobs are what is kept. */
    int64_t json_size = 0;
    char *json = NULL;
    if (ok && cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                       CUDNN_TYPE_CHAR, 0, &json_size, NULL) ==
                  CUDNN_STATUS_SUCCESS &&
        json_size > 0 && (size_t)json_size <= FR_PLAN_MAX_JSON &&
        (json = malloc((size_t)json_size)) != NULL &&
        cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                 CUDNN_TYPE_CHAR, json_size, &json_size, json) ==
            CUDNN_STATUS_SUCCESS) {
        while (json_size > 0 && json[json_size - 1] == 0)
            json_size--;
        rec.json = json;
        rec.json_size = (size_t)json_size;
    }
    if (ok)
        fr_plan_cache_put(p->cache, p->key, &rec); /* out of memory: the node stays uncached */
    free(json);
    for (int i = 0; i < created; i++)
        cudnnBackendDestroyDescriptor(knobs[i]);
    if (engine)
        cudnnBackendDestroyDescriptor(engine);
}

/* The plan from its serialized JSON: no heuristics, no candidates, no NVRTC. */
static int plan_from_json(fr_conv_plan *p, cudnnHandle_t handle, const fr_plan_record *rec,
                          size_t workspace_limit)
{
    int mark = p->owned_count;
    cudnnBackendDescriptor_t plan;
    int64_t workspace = -1, got = 0;
    if (create(p, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) == FR_OK &&
        cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                 &handle) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_JSON_REPRESENTATION,
                                 CUDNN_TYPE_CHAR, (int64_t)rec->json_size,
                                 rec->json) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                 1, &got, &workspace) == CUDNN_STATUS_SUCCESS &&
        workspace >= 0 && (size_t)workspace <= workspace_limit) {
        p->plan = plan;
        p->workspace = (size_t)workspace;
        return 1;
    }
    while (p->owned_count > mark)
        cudnnBackendDestroyDescriptor(p->owned[--p->owned_count]);
    return 0;
}

/* The plan from the recorded engine and knobs on this node's operation graph: the
 * heuristics and every rejected candidate are skipped. The engine's notes are checked
 * again, as if the heuristics had offered it. */
static int plan_from_engine(fr_conv_plan *p, cudnnHandle_t handle, cudnnBackendDescriptor_t graph,
                            const fr_plan_record *rec, size_t workspace_limit, int nvrtc)
{
    int mark = p->owned_count;
    cudnnBackendDescriptor_t engine, cfg, plan, knobs[FR_PLAN_MAX_KNOBS];
    int ok = create(p, CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) == FR_OK &&
             cudnnBackendSetAttribute(engine, CUDNN_ATTR_ENGINE_OPERATION_GRAPH,
                                      CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph) ==
                 CUDNN_STATUS_SUCCESS &&
             cudnnBackendSetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                      &rec->engine) == CUDNN_STATUS_SUCCESS &&
             cudnnBackendFinalize(engine) == CUDNN_STATUS_SUCCESS;
    for (int i = 0; ok && i < rec->knob_count; i++) {
        cudnnBackendKnobType_t type = (cudnnBackendKnobType_t)rec->knobs[i][0];
        ok = create(p, CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &knobs[i]) == FR_OK &&
             cudnnBackendSetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                      CUDNN_TYPE_KNOB_TYPE, 1, &type) == CUDNN_STATUS_SUCCESS &&
             cudnnBackendSetAttribute(knobs[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                      CUDNN_TYPE_INT64, 1, &rec->knobs[i][1]) ==
                 CUDNN_STATUS_SUCCESS &&
             cudnnBackendFinalize(knobs[i]) == CUDNN_STATUS_SUCCESS;
    }
    ok = ok && create(p, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg) == FR_OK &&
         cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                  1, &engine) == CUDNN_STATUS_SUCCESS &&
         (rec->knob_count == 0 ||
          cudnnBackendSetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, rec->knob_count, knobs) ==
              CUDNN_STATUS_SUCCESS) &&
         cudnnBackendFinalize(cfg) == CUDNN_STATUS_SUCCESS;
    int acceptable = 0;
    for (int pass = 0; ok && pass <= nvrtc && !acceptable; pass++)
        if (engine_acceptable(p, cfg, pass, &acceptable) != FR_OK)
            ok = 0;
    int64_t workspace = -1, got = 0;
    ok = ok && acceptable && create(p, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) == FR_OK &&
         cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                  &handle) == CUDNN_STATUS_SUCCESS &&
         cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg) == CUDNN_STATUS_SUCCESS &&
         cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS &&
         cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                  1, &got, &workspace) == CUDNN_STATUS_SUCCESS &&
         workspace >= 0 && (size_t)workspace <= workspace_limit;
    if (ok) {
        p->plan = plan;
        p->workspace = (size_t)workspace;
        return 1;
    }
    while (p->owned_count > mark)
        cudnnBackendDestroyDescriptor(p->owned[--p->owned_count]);
    return 0;
}

/* Ranks engine configurations for the finalized operation graph and keeps the first usable. */
static fr_status choose_engine(fr_conv_plan *p, cudnnHandle_t handle,
                               cudnnBackendDescriptor_t graph, size_t workspace_limit)
{
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    char last[512] = "no engine configuration offered";
    /* Precompiled engines first; engines compiled at run time (NVRTC) only when none of those
     * is offered. On an H200 with cuDNN 9.19 no precompiled engine fuses conv + bias +
     * residual + ReLU (the residual convolutions of both networks): the runtime-fusion engine
     * does, for 1.2 s more planning (irv1: 4.1 s instead of 2.9) and 2.7 % more images/s
     * (bench/RESULTS.md). FACEREC_CUDNN_NVRTC=0 keeps to precompiled engines; where NVRTC
     * is missing such nodes fall back to convolution + epilogue as before. */
    int passes = runtime_compilation_allowed() ? 4 : 2;
    for (int m = 0; m < passes; m++) {
        int allow_runtime_compilation = m >= 2;
        cudnnBackendDescriptor_t heur;
        TRY(create(p, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
        FR_CUDNN_CHECK(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph));
        FR_CUDNN_CHECK(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE,
                                                CUDNN_TYPE_HEUR_MODE, 1, &modes[m % 2]));
        if (cudnnBackendFinalize(heur) != CUDNN_STATUS_SUCCESS)
            continue;
        int64_t count = 0;
        FR_CUDNN_CHECK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL));
        if (count <= 0)
            continue;
        if (count > 64)
            count = 64;
        cudnnBackendDescriptor_t cfgs[64];
        int created = 0;
        fr_status st = FR_OK;
        for (; created < count; created++)
            if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR,
                                             &cfgs[created]) != CUDNN_STATUS_SUCCESS) {
                st = fr_fail(FR_E_DEVICE, "cuDNN: cannot create engine configurations");
                break;
            }
        int64_t returned = 0;
        if (!st && cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned,
                                            cfgs) != CUDNN_STATUS_SUCCESS)
            st = fr_fail(FR_E_DEVICE, "cuDNN: cannot read the heuristics' results");
        int chosen = -1;
        for (int64_t i = 0; !st && i < returned && chosen < 0; i++) {
            int ok = 0;
            int mark = p->owned_count;
            cudnnBackendDescriptor_t plan;
            st = engine_acceptable(p, cfgs[i], allow_runtime_compilation, &ok);
            if (st) { /* an engine whose notes cannot be read is passed over */
                snprintf(last, sizeof last, "%s", fr_error_message());
                st = FR_OK;
                ok = 0;
            }
            if (ok)
                st = create(p, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan);
            int64_t workspace = 0, got = 0;
            if (!st && ok &&
                cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE,
                                         1, &handle) == CUDNN_STATUS_SUCCESS &&
                cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                         &cfgs[i]) == CUDNN_STATUS_SUCCESS &&
                cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS &&
                cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                         CUDNN_TYPE_INT64, 1, &got,
                                         &workspace) == CUDNN_STATUS_SUCCESS &&
                workspace >= 0 && (size_t)workspace <= workspace_limit) {
                chosen = (int)i;
                p->plan = plan;
                p->workspace = (size_t)workspace;
                if (p->cache)
                    remember(p, cfgs[i]);
            } else {
                if (!st && ok && workspace > 0 && (size_t)workspace > workspace_limit)
                    snprintf(last, sizeof last, "needs %lld bytes of workspace",
                             (long long)workspace);
                else if (!st && ok)
                    cudnnGetLastErrorString(last, sizeof last);
                /* drop this candidate's descriptors (engine, plan) */
                while (p->owned_count > mark)
                    cudnnBackendDestroyDescriptor(p->owned[--p->owned_count]);
            }
        }
        /* the chosen configuration stays alive as long as its plan */
        for (int i = 0; i < created; i++) {
            if (i == chosen && p->owned_count < MAX_OWNED)
                p->owned[p->owned_count++] = cfgs[i];
            else
                cudnnBackendDestroyDescriptor(cfgs[i]);
        }
        if (st)
            return st;
        if (chosen >= 0)
            return FR_OK;
    }
    return fr_fail(FR_E_UNSUPPORTED, "no cuDNN engine accepted (%s)", last[0] ? last : "-");
}

static fr_status build_graph(fr_conv_plan *p, cudnnHandle_t handle, size_t workspace_limit)
{
    const fr_conv_spec *s = &p->spec;
    cudnnDataType_t t = storage_type(s), f32 = CUDNN_DATA_FLOAT;
    int fused = p->path == FR_CONV_GRAPH_FUSED;
    if (fused && s->act == FR_ACT_PRELU)
        return fr_fail(FR_E_UNSUPPORTED, "PReLU is not fused");
    int64_t n = s->n, k = s->y.c, c = s->x.c;
    cudnnBackendDescriptor_t x, w, conv_out;
    TRY(tensor(p, UID_X, t, n, c, s->x.h, s->x.w, s->x.ld, alignment_of(s->x.data), false, &x));
    /* filters (k, c, kh, kw) stored KRSC: cuDNN's NHWC filter layout */
    int64_t w_dims[4] = {k, c, s->kh, s->kw};
    int64_t w_strides[4] = {s->kh * s->kw * c, 1, s->kw * c, c};
    TRY(tensor_strided(p, UID_W, t, w_dims, w_strides, alignment_of(s->w), false, &w));
    int64_t uid_virtual = UID_VIRTUAL;
    if (fused)
        TRY(tensor(p, uid_virtual++, f32, n, k, s->y.h, s->y.w, k, 16, true, &conv_out));
    else /* the packed scratch: a 256-byte aligned allocation */
        TRY(tensor(p, UID_Y, t, n, k, s->y.h, s->y.w, k, 16, false, &conv_out));

    cudnnBackendDescriptor_t cd;
    TRY(create(p, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd));
    int64_t dims = 2, dilation[2] = {1, 1}, stride[2] = {s->sh, s->sw};
    int64_t pre[2] = {s->pt, s->pl}, post[2] = {s->pb, s->pr};
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE,
                                            CUDNN_TYPE_DATA_TYPE, 1, &f32));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                            CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS,
                                            CUDNN_TYPE_INT64, 1, &dims));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS,
                                            CUDNN_TYPE_INT64, 2, dilation));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
                                            CUDNN_TYPE_INT64, 2, stride));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS,
                                            CUDNN_TYPE_INT64, 2, pre));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS,
                                            CUDNN_TYPE_INT64, 2, post));
    FR_CUDNN_CHECK(cudnnBackendFinalize(cd));

    cudnnBackendDescriptor_t ops[4];
    int op_count = 0;
    float one = 1.0f, zero = 0.0f;
    TRY(create(p, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, &ops[0]));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(ops[0],
                                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                            CUDNN_TYPE_FLOAT, 1, &one));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(ops[0], CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                            CUDNN_TYPE_FLOAT, 1, &zero));
    FR_CUDNN_CHECK(cudnnBackendFinalize(ops[0]));
    op_count = 1;

    if (fused) {
        /* conv -> + bias -> [+ z] -> [relu] -> y; the last operation writes the real output */
        int steps_after_bias = (s->accumulate ? 1 : 0) + (s->act == FR_ACT_RELU ? 1 : 0);
        cudnnBackendDescriptor_t bias, y_view, cur = conv_out, next;
        TRY(tensor(p, UID_B, t, 1, k, 1, 1, k, alignment_of(s->bias), false, &bias));
        TRY(tensor(p, UID_Y, t, n, k, s->y.h, s->y.w, s->y.ld, alignment_of(s->y.data), false,
                   &y_view));
        if (steps_after_bias == 0)
            next = y_view;
        else
            TRY(tensor(p, uid_virtual++, f32, n, k, s->y.h, s->y.w, k, 16, true, &next));
        TRY(pointwise(p, CUDNN_POINTWISE_ADD, cur, bias, next, &ops[op_count++]));
        cur = next;
        if (s->accumulate) {
            /* z is y itself (the residual, updated in place): same memory, its own uid */
            cudnnBackendDescriptor_t z;
            TRY(tensor(p, UID_Z, t, n, k, s->y.h, s->y.w, s->y.ld, alignment_of(s->y.data), false,
                       &z));
            if (s->act == FR_ACT_RELU)
                TRY(tensor(p, uid_virtual++, f32, n, k, s->y.h, s->y.w, k, 16, true, &next));
            else
                next = y_view;
            TRY(pointwise(p, CUDNN_POINTWISE_ADD, cur, z, next, &ops[op_count++]));
            cur = next;
        }
        if (s->act == FR_ACT_RELU)
            TRY(pointwise(p, CUDNN_POINTWISE_RELU_FWD, cur, NULL, y_view, &ops[op_count++]));
    }

    cudnnBackendDescriptor_t graph;
    TRY(create(p, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &graph));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, op_count, ops));
    FR_CUDNN_CHECK(cudnnBackendSetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE,
                                            CUDNN_TYPE_HANDLE, 1, &handle));
    FR_CUDNN_CHECK(cudnnBackendFinalize(graph));
    if (p->cache) {
        int nvrtc = runtime_compilation_allowed();
        fr_conv_plan_key(s, p->path, workspace_limit, nvrtc, p->key, sizeof p->key);
        const fr_plan_record *rec = fr_plan_cache_find(p->cache, p->key);
        if (rec && ((rec->json_size && plan_from_json(p, handle, rec, workspace_limit)) ||
                    plan_from_engine(p, handle, graph, rec, workspace_limit, nvrtc))) {
            p->from_cache = 1;
            return FR_OK;
        }
        if (rec) /* stale: planned afresh below, and the new choice recorded */
            fr_plan_cache_forget(p->cache, p->key);
    }
    return choose_engine(p, handle, graph, workspace_limit);
}

static fr_status run_graph(fr_conv_plan *p, cudnnHandle_t handle, void *workspace, void *packed)
{
    const fr_conv_spec *s = &p->spec;
    if (!p->variant || p->variant_workspace != workspace || p->variant_packed != packed) {
        if (p->variant)
            cudnnBackendDestroyDescriptor(p->variant);
        p->variant = NULL;
        void *pointers[MAX_UIDS];
        for (int i = 0; i < p->uid_count; i++) {
            switch (p->uids[i]) {
            case UID_X: pointers[i] = s->x.data; break;
            case UID_W: pointers[i] = (void *)s->w; break;
            case UID_B: pointers[i] = (void *)s->bias; break;
            case UID_Z: pointers[i] = s->y.data; break;
            default: pointers[i] = p->path == FR_CONV_GRAPH_FUSED ? s->y.data : packed; break;
            }
        }
        FR_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR,
                                                    &p->variant));
        FR_CUDNN_CHECK(cudnnBackendSetAttribute(p->variant, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                                CUDNN_TYPE_INT64, p->uid_count, p->uids));
        FR_CUDNN_CHECK(cudnnBackendSetAttribute(p->variant, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                                CUDNN_TYPE_VOID_PTR, p->uid_count, pointers));
        FR_CUDNN_CHECK(cudnnBackendSetAttribute(p->variant, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                                CUDNN_TYPE_VOID_PTR, 1, &workspace));
        FR_CUDNN_CHECK(cudnnBackendFinalize(p->variant));
        p->variant_workspace = workspace;
        p->variant_packed = packed;
    }
    FR_CUDNN_CHECK(cudnnBackendExecute(handle, p->plan, p->variant));
    return FR_OK;
}

/* ---- legacy API ------------------------------------------------------------------------------ */

static fr_status legacy_tensor(cudnnTensorDescriptor_t *desc, cudnnDataType_t t, int n,
                               const fr_cu_view *v)
{
    FR_CUDNN_CHECK(cudnnCreateTensorDescriptor(desc));
    FR_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(*desc, t, n, v->c, v->h, v->w,
                                                v->h * v->w * v->ld, 1, v->w * v->ld, v->ld));
    return FR_OK;
}

static fr_status build_legacy(fr_conv_plan *p, cudnnHandle_t handle, size_t workspace_limit)
{
    const fr_conv_spec *s = &p->spec;
    int fused = p->path == FR_CONV_LEGACY_FUSED;
    if (s->pt != s->pb || s->pl != s->pr)
        return fr_fail(FR_E_UNSUPPORTED, "the legacy API has no asymmetric padding");
    if (fused && s->act == FR_ACT_PRELU)
        return fr_fail(FR_E_UNSUPPORTED, "PReLU is not fused");
    cudnnDataType_t t = storage_type(s);
    fr_cu_view packed = {NULL, s->y.h, s->y.w, s->y.c, s->y.c};
    TRY(legacy_tensor(&p->x_desc, t, s->n, &s->x));
    TRY(legacy_tensor(&p->y_desc, t, s->n, fused ? &s->y : &packed));
    FR_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w_desc));
    FR_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w_desc, t, CUDNN_TENSOR_NHWC, s->y.c, s->x.c,
                                              s->kh, s->kw));
    FR_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv_desc));
    FR_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv_desc, s->pt, s->pl, s->sh, s->sw, 1,
                                                   1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    cudnnMathType_t math = s->precision == FR_PRECISION_FP32 ? CUDNN_FMA_MATH
                                                             : CUDNN_TENSOR_OP_MATH;
    FR_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, math));
    if (fused) {
        fr_cu_view bias = {NULL, 1, 1, s->y.c, s->y.c};
        TRY(legacy_tensor(&p->bias_desc, t, 1, &bias));
        FR_CUDNN_CHECK(cudnnCreateActivationDescriptor(&p->act_desc));
        FR_CUDNN_CHECK(cudnnSetActivationDescriptor(
            p->act_desc, s->act == FR_ACT_RELU ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
            CUDNN_NOT_PROPAGATE_NAN, 0.0));
    }
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    FR_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x_desc, p->w_desc,
                                                          p->conv_desc, p->y_desc,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                          &returned, perf));
    for (int i = 0; i < returned; i++) {
        cudnnConvolutionFwdAlgo_t a = perf[i].algo;
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > workspace_limit ||
            a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
            a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
            a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED)
            continue;
        if (s->precision == FR_PRECISION_FP32 && perf[i].mathType != CUDNN_FMA_MATH)
            continue;
        /* identity activation is fused by this one algorithm only */
        if (fused && s->act != FR_ACT_RELU && a != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
            continue;
        p->algo = a;
        p->workspace = perf[i].memory;
        FR_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv_desc, perf[i].mathType));
        return FR_OK;
    }
    if (fused && s->act != FR_ACT_RELU) {
        /* the heuristics may leave it unranked: ask for its workspace directly */
        size_t need = 0;
        p->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
        FR_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p->x_desc, p->w_desc,
                                                               p->conv_desc, p->y_desc, p->algo,
                                                               &need));
        if (need <= workspace_limit) {
            p->workspace = need;
            return FR_OK;
        }
    }
    return fr_fail(FR_E_UNSUPPORTED, "no legacy cuDNN algorithm for this convolution");
}

static fr_status run_legacy(fr_conv_plan *p, cudnnHandle_t handle, void *workspace, void *packed)
{
    const fr_conv_spec *s = &p->spec;
    float one = 1.0f, zero = 0.0f, alpha2 = s->accumulate ? 1.0f : 0.0f;
    if (p->path == FR_CONV_LEGACY_FUSED)
        FR_CUDNN_CHECK(cudnnConvolutionBiasActivationForward(
            handle, &one, p->x_desc, s->x.data, p->w_desc, s->w, p->conv_desc, p->algo, workspace,
            p->workspace, &alpha2, p->y_desc, s->y.data, p->bias_desc, s->bias, p->act_desc,
            p->y_desc, s->y.data));
    else
        FR_CUDNN_CHECK(cudnnConvolutionForward(handle, &one, p->x_desc, s->x.data, p->w_desc, s->w,
                                               p->conv_desc, p->algo, workspace, p->workspace,
                                               &zero, p->y_desc, packed));
    return FR_OK;
}

/* ---- the plan ------------------------------------------------------------------------------- */

fr_status fr_conv_plan_new(cudnnHandle_t handle, const fr_conv_spec *spec, fr_conv_path path,
                           size_t workspace_limit, fr_plan_cache *cache, fr_conv_plan **out)
{
    fr_conv_plan *p = fr_calloc(1, sizeof *p, "a convolution plan");
    if (!p)
        return FR_E_NOMEM;
    p->spec = *spec;
    p->path = path;
    p->cache = cache;
    fr_status st = path == FR_CONV_GRAPH_FUSED || path == FR_CONV_GRAPH
                       ? build_graph(p, handle, workspace_limit)
                       : build_legacy(p, handle, workspace_limit);
    if (st) {
        fr_conv_plan_free(p);
        return st;
    }
    *out = p;
    return FR_OK;
}

void fr_conv_plan_free(fr_conv_plan *p)
{
    if (!p)
        return;
    if (p->variant)
        cudnnBackendDestroyDescriptor(p->variant);
    while (p->owned_count > 0)
        cudnnBackendDestroyDescriptor(p->owned[--p->owned_count]);
    if (p->x_desc)
        cudnnDestroyTensorDescriptor(p->x_desc);
    if (p->y_desc)
        cudnnDestroyTensorDescriptor(p->y_desc);
    if (p->bias_desc)
        cudnnDestroyTensorDescriptor(p->bias_desc);
    if (p->w_desc)
        cudnnDestroyFilterDescriptor(p->w_desc);
    if (p->conv_desc)
        cudnnDestroyConvolutionDescriptor(p->conv_desc);
    if (p->act_desc)
        cudnnDestroyActivationDescriptor(p->act_desc);
    free(p);
}

size_t fr_conv_plan_workspace(const fr_conv_plan *p)
{
    return p->workspace;
}

int fr_conv_plan_needs_packed(const fr_conv_plan *p)
{
    return p->path == FR_CONV_GRAPH || p->path == FR_CONV_LEGACY;
}

fr_conv_path fr_conv_plan_path(const fr_conv_plan *p)
{
    return p->path;
}

int fr_conv_plan_from_cache(const fr_conv_plan *p)
{
    return p->from_cache;
}

void fr_conv_plan_uncache(fr_conv_plan *p)
{
    if (p->cache && p->key[0])
        fr_plan_cache_forget(p->cache, p->key);
}

fr_status fr_conv_plan_run(fr_conv_plan *p, cudnnHandle_t handle, cudaStream_t stream,
                           void *workspace, void *packed)
{
    const fr_conv_spec *s = &p->spec;
    if (p->path == FR_CONV_GRAPH_FUSED || p->path == FR_CONV_GRAPH)
        TRY(run_graph(p, handle, workspace, packed));
    else
        TRY(run_legacy(p, handle, workspace, packed));
    if (fr_conv_plan_needs_packed(p))
        return fr_cu_epilogue(stream, s->dtype, s->act, s->accumulate, packed, s->bias, s->alpha,
                              &s->y, s->n);
    return FR_OK;
}
