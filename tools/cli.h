/*
 * cli.h: what the subcommands of the `caravel` command share.
 */
#ifndef CV_CLI_H
#define CV_CLI_H

#include "caravel.h"
#include "repo/repo.h"

#include <stdio.h>

int cv_cmd_run(int argc, char **argv);
int cv_cmd_check(int argc, char **argv);
int cv_cmd_wave(int argc, char **argv);
int cv_cmd_bench(int argc, char **argv);
int cv_cmd_compare(int argc, char **argv);
int cv_cmd_drive(int argc, char **argv);
int cv_cmd_serve(int argc, char **argv);
int cv_cmd_load(int argc, char **argv);
int cv_cmd_families(int argc, char **argv);
int cv_cmd_nginx_conf(int argc, char **argv);
int cv_cmd_table1(int argc, char **argv);

/* Parses "cpu" or "cuda"; prints an error and returns false otherwise. */
bool cv_cli_parse_device(const char *s, cv_device_t *out);
/* Parses fp32, tf32, fp16 or bf16; prints an error and returns false otherwise. */
bool cv_cli_parse_precision(const char *s, cv_precision_t *out);
const char *cv_cli_precision_name(cv_precision_t p);
/* The value of option argv[*i] (the next argument; *i moves past it), or
 * NULL after printing "caravel CMD: OPTION needs a value (see --help)"
 * where there is none. `cmd` is "caravel CMD". */
const char *cv_cli_option_value(const char *cmd, int argc, char **argv, int *i);
/* Parses a positive integer option value; prints an error naming the option. */
bool cv_cli_parse_int(const char *option, const char *s, long min, long *out);
/* Parses "N" or "N1,N2,..." of integers >= min into out[0..max), *n of
 * them; prints one error naming the option (and the bad item) otherwise. */
bool cv_cli_parse_int_list(const char *option, const char *s, long min, long *out, int max, int *n);
/* Whether every name of --load-model is a model of the repository's
 * listing; prints "caravel CMD: --load-model 'NAME': no such model in
 * REPO" for the first that is not. */
bool cv_cli_models_listed(const char *cmd, const char *repo, const cv_repo_names_t *models,
                          const char *const *names, int n);

/* Prints "output 'NAME' FP32 [1,10]: v0 v1 ..." (first `count` values). */
void cv_cli_print_tensor(FILE *f, const char *what, const char *name, const cv_tensor_t *t, int count);

/* Compares a result with a reference: exact for integers and BOOL, for
 * floats max |a-b| <= rtol * max|ref| + atol (NaN must match NaN). Sets the
 * errors and writes a reason when they differ in dtype or shape. */
typedef struct cv_compare {
    double max_abs, max_rel;
    bool pass;
    char why[160];
} cv_compare_t;
void cv_cli_compare(const cv_tensor_t *got, const cv_tensor_t *ref, double rtol, double atol,
                    cv_compare_t *out);

#endif
