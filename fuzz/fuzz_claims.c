/*
 * fuzz_claims.c: the claims list of `facerec verify --claims` (image<TAB>name lines, an
 * optional header), read by cmd_verify.c's own claims_load: the harness includes that file
 * to reach its static reader. Every claim has a path and a name; a refusal is one line naming
 * the file.
 */
#include "fuzz_util.h"

#include "cli/cmd_verify.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, "claims.tsv", data, size);
    claims c;
    fr_status status = claims_load(path, size % 2 ? fuzz_dir() : NULL, &c);
    if (status != FR_OK) {
        fuzz_check_error(status, path);
        return 0;
    }
    if (c.count == 0)
        abort();
    for (size_t i = 0; i < c.count; i++)
        if (!c.paths[i] || !c.names[i] || !*c.paths[i] || !*c.names[i])
            abort();
    claims_free(&c);
    return 0;
}
