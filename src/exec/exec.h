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

/* Runs `plan` over a wave. inputs: one host tensor per graph input, the
 * slices' rows stacked along dim 0 (shapes = plan->input_shapes). outputs:
 * one host tensor per graph output, already allocated with the plan's
 * output shapes. slices: the row runs and each tenant's constants
 * (backend pointers); one slice = ordinary inference. precision: the
 * family's (every slice's tenant has it). */
cv_status cv_exec_wave(cv_executor_t *ex, const cv_plan_t *plan, const cv_wave_slice_t *slices,
                       int nslices, cv_precision_t precision, const cv_tensor_t *inputs,
                       cv_tensor_t *outputs, cv_err_t *err);

#endif /* CV_EXEC_H */
