/*
 * device.h: where a computation runs. Every part that has a CPU reference and a CUDA twin
 * (the network runner, the distance engine, the training backend) resolves --device here, so
 * that auto means the same thing for all of them and a refusal reads the same.
 */
#ifndef FR_RUNTIME_DEVICE_H
#define FR_RUNTIME_DEVICE_H

#include "facerec.h"

/* cpu stays cpu; auto is cuda where this build has the CUDA backend and a usable GPU is
 * present, else cpu; cuda without both fails, saying which is missing. *out is then
 * FR_DEVICE_CPU or FR_DEVICE_CUDA, never FR_DEVICE_AUTO. */
fr_status fr_device_resolve(fr_device requested, fr_device *out);

#endif
