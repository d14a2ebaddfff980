/* numstat [FILE]: print count, min, max, mean, median and sample standard deviation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numstat.h"

int main(int argc, char **argv) {
    FILE *in = stdin;
    if (argc > 2) {
        fprintf(stderr, "usage: %s [FILE]\n", argv[0]);
        return 2;
    }
    if (argc == 2 && (in = fopen(argv[1], "r")) == NULL) {
        fprintf(stderr, "numstat: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    double *values;
    size_t bad_line = 0;
    size_t n = numstat_read(in, &values, &bad_line);
    if (in != stdin) {
        fclose(in);
    }
    if (n == (size_t)-1) {
        fprintf(stderr, "numstat: line %zu: not a number\n", bad_line);
        return 1;
    }
    numstat_summary s;
    if (numstat_summarise(values, n, &s) != 0) {
        fprintf(stderr, "numstat: no numbers\n");
        free(values);
        return 1;
    }
    printf("count  %zu\nmin    %g\nmax    %g\nmean   %g\nmedian %g\nstddev %g\n", s.count, s.min,
           s.max, s.mean, s.median, s.stddev);
    free(values);
    return 0;
}
