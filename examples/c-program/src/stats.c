#include <math.h>
#include <stdlib.h>

#include "numstat.h"

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int numstat_summarise(double *values, size_t n, numstat_summary *out) {
    if (n == 0) {
        return -1;
    }
    qsort(values, n, sizeof *values, compare);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += values[i];
    }
    double mean = sum / (double)n;
    double squares = 0.0;
    for (size_t i = 0; i < n; i++) {
        squares += (values[i] - mean) * (values[i] - mean);
    }
    out->count = n;
    out->min = values[0];
    out->max = values[n - 1];
    out->mean = mean;
    out->median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
    out->stddev = n > 1 ? sqrt(squares / (double)(n - 1)) : 0.0;
    return 0;
}
