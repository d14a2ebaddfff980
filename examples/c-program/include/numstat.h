/* numstat: summary statistics of a column of numbers. */
#ifndef NUMSTAT_H
#define NUMSTAT_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    size_t count;
    double min, max, mean, median, stddev;
} numstat_summary;

/* Read every number in `in` (one or more per line; '#' starts a comment) into a growing array.
   Returns the count, or (size_t)-1 on a malformed token, with its line in *bad_line. */
size_t numstat_read(FILE *in, double **values, size_t *bad_line);

/* Summarise `n` values (sorts them in place). Returns 0, or -1 when n == 0. */
int numstat_summarise(double *values, size_t n, numstat_summary *out);

#endif
