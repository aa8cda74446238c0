/*
 * exec.h: the executor runs a plan over a wave on a backend: it resolves
 * every step's tensors (wave inputs, arena activations, each slice's
 * constants, plan-time constants) and hands the step to the backend.
 */
#ifndef CV_EXEC_H
#define CV_EXEC_H

#include "backend/backend.h"

typedef struct cv_executor cv_executor_t;

cv_status cv_exec_create(cv_backend_t *backend, cv_executor_t **out, cv_err_t *err);
void cv_exec_destroy(cv_executor_t *ex);

/* Runs `plan` over a wave. slice_inputs[s]: slice s's host tensors, one
 * per graph input (its rows; the plan's input shapes are the slices' rows
 * stacked). slice_outputs[s]: one host tensor per graph output, allocated
 * by the caller with the slice's share of the plan's output shape (its rows
 * of a batched output, the whole tensor otherwise). slices: the row runs and
 * each tenant's constants (backend pointers); one slice = ordinary
 * inference. precision: the family's (every slice's tenant has it). */
cv_status cv_exec_wave(cv_executor_t *ex, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                       int nslices, cv_precision_t precision, const cv_tensor_t *const *slice_inputs,
                       cv_tensor_t *const *slice_outputs, cv_err_t *err);

/* The step profile: while on, waves run their steps eagerly (never a
 * replayed graph) and the time of each step is kept. cv_exec_step_profile
 * gives the last wave's (ms per step of its plan, *n steps; NULL before a
 * profiled wave). */
void cv_exec_set_profile(cv_executor_t *ex, bool on);
const double *cv_exec_step_profile(const cv_executor_t *ex, int *n);

/* Host time of the last wave until all its work was launched (uploads,
 * tables, steps or the replayed graph, downloads queued), in ns: what a
 * wave costs the host before it waits for the device. */
uint64_t cv_exec_last_launch_ns(const cv_executor_t *ex);
/* Of that, the time placing the wave's inputs (their copies enqueued). */
uint64_t cv_exec_last_inputs_ns(const cv_executor_t *ex);
/* Of it, the time in the backend's wave_begin: on CUDA the super-kernel
 * cache (its lookup, a rebind's table refresh and copy, the graph launch
 * of a replayed wave). */
uint64_t cv_exec_last_begin_ns(const cv_executor_t *ex);

/* Whether the last wave paid its shape's one-off costs (the super-kernel
 * cache sized or captured its graph): its time says nothing of what the
 * next waves of that shape take. */
bool cv_exec_last_wave_first(const cv_executor_t *ex);

#endif /* CV_EXEC_H */
