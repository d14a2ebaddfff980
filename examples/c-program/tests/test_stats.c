/* fmemopen is POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

/* Unit tests of the library part (no main.c): exits non-zero on the first failed check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "numstat.h"

static int failures = 0;

#define CHECK_NEAR(actual, expected)                                                         \
    do {                                                                                     \
        double a_ = (actual), e_ = (expected);                                               \
        if (fabs(a_ - e_) > 1e-9) {                                                          \
            fprintf(stderr, "%s:%d: error: %s is %g, expected %g\n", __FILE__, __LINE__,     \
                    #actual, a_, e_);                                                        \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static void test_summary_of_odd_count(void) {
    double v[] = {5, 1, 3};
    numstat_summary s;
    CHECK_NEAR(numstat_summarise(v, 3, &s), 0);
    CHECK_NEAR(s.min, 1);
    CHECK_NEAR(s.max, 5);
    CHECK_NEAR(s.mean, 3);
    CHECK_NEAR(s.median, 3);
    CHECK_NEAR(s.stddev, 2);
}

static void test_median_of_even_count(void) {
    double v[] = {4, 1, 3, 2};
    numstat_summary s;
    numstat_summarise(v, 4, &s);
    CHECK_NEAR(s.median, 2.5);
}

static void test_empty_input_is_an_error(void) {
    numstat_summary s;
    CHECK_NEAR(numstat_summarise(NULL, 0, &s), -1);
}

static void test_reads_commas_comments_and_spaces(void) {
    const char *text = "1, 2 3  # a comment 99\n\n4.5\n";
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    double *values;
    size_t bad = 0;
    size_t n = numstat_read(in, &values, &bad);
    fclose(in);
    CHECK_NEAR((double)n, 4);
    CHECK_NEAR(values[3], 4.5);
    free(values);
}

static void test_reports_the_line_of_a_bad_token(void) {
    const char *text = "1\n2\nthree\n";
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    double *values;
    size_t bad = 0;
    size_t n = numstat_read(in, &values, &bad);
    fclose(in);
    CHECK_NEAR((double)(n == (size_t)-1), 1);
    CHECK_NEAR((double)bad, 3);
}

int main(void) {
    test_summary_of_odd_count();
    test_median_of_even_count();
    test_empty_input_is_an_error();
    test_reads_commas_comments_and_spaces();
    test_reports_the_line_of_a_bad_token();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
