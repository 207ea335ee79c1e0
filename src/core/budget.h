/*
 * budget.h: a memory budget shared by threads: bytes are taken before a piece of work that
 * needs them and given back after, and a taker waits while the budget has no room. The decode
 * workers of the pipeline (engine/embedder.c) take what a group of images will cost decoded,
 * so that several large images wait for each other instead of all being decoded at once.
 *
 * A thread takes everything it needs in one call and holds nothing while it waits (no
 * hold-and-wait, hence no deadlock between takers). A request larger than the whole budget is
 * granted once nothing else is taken: a single image over the budget still decodes, alone.
 */
#ifndef FR_CORE_BUDGET_H
#define FR_CORE_BUDGET_H

#include <stddef.h>

#include "facerec.h"

typedef struct fr_budget fr_budget;

fr_status fr_budget_new(size_t capacity, fr_budget **out);
void fr_budget_free(fr_budget *budget);
size_t fr_budget_capacity(const fr_budget *budget);
/* Whether `bytes` fits beside what is taken now (a hint: another thread may take it first). */
int fr_budget_fits(fr_budget *budget, size_t bytes);
/* Waits until `bytes` fits (or nothing is taken), then takes it. */
void fr_budget_take(fr_budget *budget, size_t bytes);
void fr_budget_give(fr_budget *budget, size_t bytes);
/* The most taken at once since fr_budget_new (tests, statistics). */
size_t fr_budget_peak(fr_budget *budget);

/* The decode budget's size: FACEREC_DECODE_MEMORY (MiB, a positive integer) when set, else
 * a quarter of physical memory capped at 1 GiB. An unusable value is FR_E_INVALID naming the
 * variable. */
fr_status fr_budget_default_capacity(size_t *bytes);

#endif
