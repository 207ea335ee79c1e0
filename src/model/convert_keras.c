/*
 * convert_keras.c: a Keras 2.x HDF5 file of the FaceNet Inception-ResNet-v1 to .frw.
 *
 * Keras writes, per layer, a group <layer> whose attribute "weight_names" lists datasets
 * relative to it ("Conv2d_1a_3x3/kernel:0"); the root (model.save_weights) or the group
 * "/model_weights" (model.save) lists the layers in the attribute "layer_names". Strings are
 * fixed-length or variable-length depending on the Keras/h5py version; both are read. Each
 * weight becomes the tensor "<layer>/<weight>" ("Conv2d_1a_3x3/kernel"), shape unchanged.
 *
 * libhdf5 itself crashes on some damaged files (docs/fuzzing.md: a global-heap object whose
 * damaged length is near 2^64, copied by H5HG_read before any value reaches facerec), and its
 * API offers no way to check such a length first. So fr_convert_keras_h5 runs the whole
 * conversion in a child process: a crash there becomes one line of error in the caller, and
 * since the output is written (beside OUTPUT, then renamed) only after the HDF5 walk ends,
 * nothing is left behind.
 */
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "model/convert.h"
#include "model/weights.h"

typedef struct string_list {
    char **items;
    size_t count;
} string_list;

static void strings_free(string_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

/* Reads a 1-d string attribute (fixed- or variable-length). An attribute that is present but
 * not a string array (Keras writes an empty float64 array for weightless layers) is empty. */
static fr_status read_strings(const char *path, hid_t object, const char *attr_name,
                              string_list *out)
{
    out->items = NULL;
    out->count = 0;
    if (H5Aexists(object, attr_name) <= 0)
        return fr_fail(FR_E_FORMAT, "%s: attribute %s is missing: not a Keras HDF5 weights file",
                       path, attr_name);
    hid_t attr = H5Aopen(object, attr_name, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : -1;
    hid_t space = attr >= 0 ? H5Aget_space(attr) : -1;
    fr_status st = FR_OK;
    if (attr < 0 || type < 0 || space < 0) {
        st = fr_fail(FR_E_FORMAT, "%s: cannot read attribute %s", path, attr_name);
        goto done;
    }
    if (H5Tget_class(type) != H5T_STRING)
        goto done; /* no strings: an empty list */
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 0 || n > 100000) {
        st = fr_fail(FR_E_FORMAT, "%s: attribute %s has %lld entries", path, attr_name,
                     (long long)n);
        goto done;
    }
    out->items = fr_calloc((size_t)n + 1, sizeof *out->items, "attribute strings");
    if (!out->items) {
        st = FR_E_NOMEM;
        goto done;
    }
    if (H5Tis_variable_str(type) > 0) {
        char **raw = fr_calloc((size_t)n + 1, sizeof *raw, "attribute strings");
        hid_t mem = H5Tcopy(H5T_C_S1);
        H5Tset_size(mem, H5T_VARIABLE);
        H5Tset_cset(mem, H5Tget_cset(type));
        if (!raw || H5Aread(attr, mem, raw) < 0) {
            st = raw ? fr_fail(FR_E_FORMAT, "%s: cannot read attribute %s", path, attr_name)
                     : FR_E_NOMEM;
        } else {
            for (hssize_t i = 0; i < n && !st; i++) {
                out->items[i] = fr_strdup(raw[i] ? raw[i] : "");
                if (!out->items[i])
                    st = FR_E_NOMEM;
                out->count++;
            }
            H5Dvlen_reclaim(mem, space, H5P_DEFAULT, raw);
        }
        H5Tclose(mem);
        free(raw);
    } else {
        size_t len = H5Tget_size(type);
        char *raw = fr_calloc((size_t)n, len + 1, "attribute strings");
        hid_t mem = H5Tcopy(type);
        if (!raw || H5Aread(attr, mem, raw) < 0) {
            st = raw ? fr_fail(FR_E_FORMAT, "%s: cannot read attribute %s", path, attr_name)
                     : FR_E_NOMEM;
        } else {
            for (hssize_t i = 0; i < n && !st; i++) {
                char *s = fr_malloc(len + 1, "a string");
                if (!s) {
                    st = FR_E_NOMEM;
                    break;
                }
                memcpy(s, raw + (size_t)i * len, len);
                s[len] = 0; /* NULPAD / NULTERM / SPACEPAD: trim trailing padding */
                for (size_t k = len; k > 0 && (s[k - 1] == ' ' || s[k - 1] == 0); k--)
                    s[k - 1] = 0;
                out->items[out->count++] = s;
            }
        }
        H5Tclose(mem);
        free(raw);
    }
done:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (attr >= 0)
        H5Aclose(attr);
    if (st)
        strings_free(out);
    return st;
}

static fr_status read_dataset(const char *path, hid_t layer_group, const char *layer,
                              const char *weight, fr_weights_writer *writer)
{
    hid_t ds = H5Dopen2(layer_group, weight, H5P_DEFAULT);
    if (ds < 0)
        return fr_fail(FR_E_FORMAT, "%s: layer %s lists weight %s, which is not in the file", path,
                       layer, weight);
    hid_t space = H5Dget_space(ds);
    int ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    fr_status st = FR_OK;
    float *values = NULL;
    if (ndim < 0 || ndim > FR_WEIGHTS_MAX_DIMS) {
        st = fr_fail(FR_E_UNSUPPORTED, "%s: weight %s/%s has %d dimensions", path, layer, weight,
                     ndim);
        goto done;
    }
    hsize_t hd[FR_WEIGHTS_MAX_DIMS];
    H5Sget_simple_extent_dims(space, hd, NULL);
    int64_t dims[FR_WEIGHTS_MAX_DIMS];
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = (int64_t)hd[i];
        if (hd[i] > ((hsize_t)1 << 32) || !fr_mul_size(count, (size_t)hd[i], &count) ||
            count > FR_WEIGHTS_MAX_ELEMENTS) {
            st = fr_fail(FR_E_FORMAT, "%s: weight %s/%s is too large", path, layer, weight);
            goto done;
        }
    }
    values = fr_malloc(count * sizeof(float), weight);
    if (!values) {
        st = FR_E_NOMEM;
        goto done;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
        st = fr_fail(FR_E_FORMAT, "%s: cannot read weight %s/%s as float32", path, layer, weight);
        goto done;
    }
    /* "Conv2d_1a_3x3/kernel:0" -> "<layer>/kernel" */
    const char *base = strrchr(weight, '/');
    base = base ? base + 1 : weight;
    char name[512];
    snprintf(name, sizeof name, "%s/%s", layer, base);
    char *colon = strrchr(name, ':');
    if (colon)
        *colon = 0;
    st = fr_weights_writer_tensor(writer, name, ndim, dims, values);
done:
    free(values);
    if (space >= 0)
        H5Sclose(space);
    H5Dclose(ds);
    return st;
}

/* Keras splits an attribute over 64512 bytes into "<name>0", "<name>1", ...: read either. */
static fr_status read_string_attribute(const char *path, hid_t object, const char *name,
                                       string_list *out)
{
    if (H5Aexists(object, name) > 0)
        return read_strings(path, object, name, out);
    out->items = NULL;
    out->count = 0;
    char chunk_name[256];
    fr_status st = FR_OK;
    for (int chunk = 0; !st; chunk++) {
        snprintf(chunk_name, sizeof chunk_name, "%s%d", name, chunk);
        if (H5Aexists(object, chunk_name) <= 0) {
            if (chunk == 0)
                st = read_strings(path, object, name, out); /* reports the missing attribute */
            break;
        }
        string_list part;
        st = read_strings(path, object, chunk_name, &part);
        if (st)
            break;
        char **grown = realloc(out->items, (out->count + part.count + 1) * sizeof *grown);
        if (!grown) {
            strings_free(&part);
            st = fr_fail(FR_E_NOMEM, "out of memory reading %s", name);
            break;
        }
        out->items = grown;
        memcpy(out->items + out->count, part.items, part.count * sizeof *part.items);
        out->count += part.count;
        free(part.items);
    }
    if (st)
        strings_free(out);
    return st;
}

fr_status fr_convert_keras_h5_here(const char *h5_path, const char *output_path,
                                   const fr_convert_options *options)
{
    /* The library reports through fr_fail; HDF5's own stack printing would duplicate it. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
#if H5_VERSION_GE(1, 12, 0)
    htri_t is_hdf5 = H5Fis_accessible(h5_path, H5P_DEFAULT);
#else
    htri_t is_hdf5 = H5Fis_hdf5(h5_path);
#endif
    if (is_hdf5 <= 0) {
        FILE *f = fopen(h5_path, "rb");
        if (!f)
            return fr_fail(FR_E_IO, "%s: cannot open", h5_path);
        fclose(f);
        return fr_fail(FR_E_FORMAT, "%s: not an HDF5 file", h5_path);
    }
    hid_t file = H5Fopen(h5_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return fr_fail(FR_E_FORMAT, "%s: cannot open as HDF5", h5_path);
    hid_t root = H5Lexists(file, "model_weights", H5P_DEFAULT) > 0
                     ? H5Gopen2(file, "model_weights", H5P_DEFAULT)
                     : H5Gopen2(file, "/", H5P_DEFAULT);
    fr_weights_writer *writer = fr_weights_writer_new();
    string_list layers = {0};
    fr_status st = root < 0 ? fr_fail(FR_E_FORMAT, "%s: no weights group", h5_path)
                            : !writer ? FR_E_NOMEM
                                      : read_string_attribute(h5_path, root, "layer_names", &layers);
    size_t tensors = 0;
    for (size_t i = 0; i < layers.count && !st; i++) {
        hid_t group = H5Gopen2(root, layers.items[i], H5P_DEFAULT);
        if (group < 0) {
            st = fr_fail(FR_E_FORMAT, "%s: layer %s is listed but has no group", h5_path,
                         layers.items[i]);
            break;
        }
        string_list weights;
        st = read_string_attribute(h5_path, group, "weight_names", &weights);
        for (size_t k = 0; k < weights.count && !st; k++, tensors++)
            st = read_dataset(h5_path, group, layers.items[i], weights.items[k], writer);
        strings_free(&weights);
        H5Gclose(group);
    }
    if (!st && tensors == 0)
        st = fr_fail(FR_E_FORMAT, "%s: no weights in the file", h5_path);
    if (!st && H5Aexists(file, "keras_version") > 0) {
        string_list version;
        if (read_strings(h5_path, file, "keras_version", &version) == FR_OK && version.count)
            st = fr_weights_writer_string(writer, "keras_version", version.items[0]);
        strings_free(&version);
    }
    strings_free(&layers);
    if (root >= 0)
        H5Gclose(root);
    H5Fclose(file);
    if (!st)
        st = fr_convert_finish(writer, "irv1", h5_path, NULL, "facerec convert --from keras-h5",
                               output_path, options);
    fr_weights_writer_free(writer);
    return st;
}

/* Writes all of SIZE bytes (a pipe may take them in parts); false when the reader is gone. */
static int write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        size -= (size_t)n;
    }
    return 1;
}

fr_status fr_convert_keras_h5(const char *h5_path, const char *output_path,
                              const fr_convert_options *options)
{
    /* The child's answer: its status (int32), then its message without the terminator. */
    int fds[2];
    if (pipe(fds) != 0)
        return fr_fail(FR_E_IO, "%s: cannot create a pipe for the HDF5 reader: %s", h5_path,
                       strerror(errno));
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return fr_fail(FR_E_NOMEM, "%s: cannot start the HDF5 reader process: %s", h5_path,
                       strerror(e));
    }
    if (child == 0) {
        close(fds[0]);
        int32_t status = (int32_t)fr_convert_keras_h5_here(h5_path, output_path, options);
        const char *message = status ? fr_error_message() : "";
        int ok = write_all(fds[1], &status, sizeof status) &&
                 write_all(fds[1], message, strlen(message));
        _exit(ok ? 0 : 1); /* no atexit handlers, no stdio flush of the parent's buffers */
    }
    close(fds[1]);
    char answer[4 + 1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fds[0], answer + got, sizeof answer - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof answer - 1) { /* a longer message is cut; drain the rest */
            char rest[256];
            ssize_t r;
            while ((r = read(fds[0], rest, sizeof rest)) > 0 || (r < 0 && errno == EINTR)) {
            }
            break;
        }
    }
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(child, &wstatus, 0) < 0) {
        if (errno != EINTR)
            return fr_fail(FR_E_INTERNAL, "%s: lost the HDF5 reader process: %s", h5_path,
                           strerror(errno));
    }
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && got >= 4) {
        int32_t status;
        memcpy(&status, answer, sizeof status);
        answer[got] = '\0';
        if (status == FR_OK)
            return FR_OK;
        return fr_fail((fr_status)status, "%s", answer + 4);
    }
    if (WIFSIGNALED(wstatus) &&
        (WTERMSIG(wstatus) == SIGINT || WTERMSIG(wstatus) == SIGTERM))
        return fr_fail(FR_E_IO, "%s: interrupted (signal %d); nothing written", h5_path,
                       WTERMSIG(wstatus));
    if (WIFSIGNALED(wstatus))
        return fr_fail(FR_E_FORMAT,
                       "%s: damaged: the HDF5 library crashed reading it (signal %d, %s); "
                       "nothing written",
                       h5_path, WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    return fr_fail(FR_E_FORMAT,
                   "%s: damaged: the HDF5 library failed reading it (its reader process "
                   "exited with status %d); nothing written",
                   h5_path, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}
