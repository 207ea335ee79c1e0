/* table.c: writing CSV and JSON Lines fields, reading CSV. */
#include "match/table.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"

#define MAX_CSV_FILE ((size_t)4 << 30)

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

fr_table_format fr_table_format_for(const char *path, int json)
{
    if (!path || strcmp(path, "-") == 0)
        return json ? FR_TABLE_JSONL : FR_TABLE_CSV;
    return ends_with(path, ".jsonl") || ends_with(path, ".ndjson") || ends_with(path, ".json")
               ? FR_TABLE_JSONL
               : FR_TABLE_CSV;
}

void fr_csv_field(FILE *out, const char *text)
{
    if (!text)
        return;
    /* a spreadsheet runs a cell starting with = + - @ (or a tab or CR, OWASP's list) as a
     * formula: such text goes quoted with an apostrophe first, which shows it as text */
    int formula = strchr("=+-@\t\r", text[0]) && text[0];
    if (!formula && !strpbrk(text, ",\"\r\n")) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    if (formula)
        fputc('\'', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static int utf8_length(const unsigned char *p)
{
    int n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
                          : (p[0] & 0xf8) == 0xf0   ? 4 : 0;
    if (n == 2 && p[0] < 0xc2)
        return 0; /* overlong */
    if (n == 4 && p[0] > 0xf4)
        return 0; /* beyond U+10FFFF */
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    /* the second byte's narrower ranges (RFC 3629): no overlong 3- and 4-byte forms, no
     * UTF-16 surrogates, nothing past U+10FFFF */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
        return 0;
    return n;
}

void fr_json_string(FILE *out, const char *text)
{
    if (!text) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        int n = utf8_length(p);
        if (n == 0) {
            fputs("\\ufffd", out);
            p++;
            continue;
        }
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fwrite(p, 1, (size_t)n, out);
        p += n;
    }
    fputc('"', out);
}

fr_status fr_csv_open(const char *path, fr_csv *out)
{
    memset(out, 0, sizeof *out);
    void *data;
    size_t size;
    fr_status st = fr_file_read(path, MAX_CSV_FILE, &data, &size);
    if (st)
        return st;
    out->data = data;
    out->size = size;
    return FR_OK;
}

int fr_csv_next(fr_csv *c, char **fields, size_t max, size_t *count, fr_status *st)
{
    /* skip blank lines */
    while (c->pos < c->size && (c->data[c->pos] == '\n' || c->data[c->pos] == '\r')) {
        c->line += c->data[c->pos] == '\n';
        c->pos++;
    }
    if (c->pos >= c->size)
        return 0;
    c->line++;
    size_t n = 0;
    for (;;) {
        if (n == max) {
            *st = fr_fail(FR_E_FORMAT, "line %zu: more than %zu fields", c->line, max);
            return -1;
        }
        char *start = c->data + c->pos, *w = start;
        if (c->pos < c->size && c->data[c->pos] == '"') {
            c->pos++;
            for (;;) {
                if (c->pos >= c->size) {
                    *st = fr_fail(FR_E_FORMAT, "line %zu: unterminated quoted field", c->line);
                    return -1;
                }
                char ch = c->data[c->pos++];
                if (ch == '"') {
                    if (c->pos < c->size && c->data[c->pos] == '"')
                        c->pos++;
                    else
                        break;
                }
                *w++ = ch;
            }
        } else {
            while (c->pos < c->size && c->data[c->pos] != ',' && c->data[c->pos] != '\n' &&
                   c->data[c->pos] != '\r')
                w++, c->pos++;
        }
        char end = c->pos < c->size ? c->data[c->pos] : '\n';
        if (end != ',' && end != '\n' && end != '\r') {
            *st = fr_fail(FR_E_FORMAT, "line %zu: text after a quoted field", c->line);
            return -1;
        }
        if (c->pos < c->size)
            c->pos++;
        if (end == '\r' && c->pos < c->size && c->data[c->pos] == '\n')
            c->pos++;
        *w = 0; /* the separator (or the buffer's final NUL) is past w */
        fields[n++] = start;
        if (end != ',')
            break;
    }
    *count = n;
    return 1;
}

void fr_csv_close(fr_csv *c)
{
    free(c->data);
    c->data = NULL;
}
