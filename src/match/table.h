/*
 * table.h: result rows as CSV (RFC 4180: fields with commas, quotes or line breaks quoted)
 * or JSON Lines (one object per line), and a CSV reader for the scores `pairs` writes.
 *
 * A text field that starts with = + - @, a tab or a carriage return (a file or person named
 * "=HYPERLINK(...)") is written quoted with an apostrophe before it, "'=HYPERLINK(...)", so
 * that a spreadsheet shows it as text instead of running it as a formula (OWASP's rule for
 * CSV injection); readers of the CSV see the apostrophe.
 */
#ifndef FR_MATCH_TABLE_H
#define FR_MATCH_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "facerec.h"

typedef enum fr_table_format { FR_TABLE_CSV, FR_TABLE_JSONL } fr_table_format;

/* JSON Lines for names ending .jsonl, .ndjson or .json, or for standard output with json
 * set; CSV otherwise. */
fr_table_format fr_table_format_for(const char *path, int json);

void fr_csv_field(FILE *out, const char *text);
/* A JSON string literal; bytes that are not valid UTF-8 are written as U+FFFD. */
void fr_json_string(FILE *out, const char *text);

/* A CSV file read whole and split in place. */
typedef struct fr_csv {
    char *data;
    size_t size, pos;
    size_t line; /* the line the last row started on (1-based) */
} fr_csv;

fr_status fr_csv_open(const char *path, fr_csv *out);
/* The next row's fields (at most max; more is an error), pointers into the buffer. Returns 1
 * with a row, 0 at the end, or -1 with *st set. Blank lines are skipped. */
int fr_csv_next(fr_csv *csv, char **fields, size_t max, size_t *count, fr_status *st);
void fr_csv_close(fr_csv *csv);

#endif
