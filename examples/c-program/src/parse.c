#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "numstat.h"

size_t numstat_read(FILE *in, double **values, size_t *bad_line) {
    size_t n = 0, capacity = 0, line_no = 0;
    char line[4096];
    *values = NULL;
    while (fgets(line, sizeof line, in) != NULL) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        char *cursor = line;
        for (;;) {
            while (isspace((unsigned char)*cursor) || *cursor == ',') {
                cursor++;
            }
            if (*cursor == '\0') {
                break;
            }
            char *end;
            double value = strtod(cursor, &end);
            if (end == cursor) {
                *bad_line = line_no;
                free(*values);
                *values = NULL;
                return (size_t)-1;
            }
            if (n == capacity) {
                capacity = capacity ? capacity * 2 : 64;
                double *grown = realloc(*values, capacity * sizeof *grown);
                if (grown == NULL) {
                    free(*values);
                    *values = NULL;
                    return (size_t)-1;
                }
                *values = grown;
            }
            (*values)[n++] = value;
            cursor = end;
        }
    }
    return n;
}
