/* source.c: decoding for detection, with the DCT scale read from the JPEG header. */
#include "detect/source.h"

#include <stdlib.h>
#include <turbojpeg.h>

#include "core/error.h"
#include "core/file.h"
#include "image/decode.h"

/* The size the JPEG header declares; 0 x 0 when it is not a readable JPEG (the decoder then
 * gives the reason). */
static void jpeg_size(const unsigned char *data, size_t size, int *w, int *h)
{
    *w = *h = 0;
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF)
        return;
    tjhandle tj = tjInitDecompress();
    int subsamp, colorspace;
    if (tj && tjDecompressHeader3(tj, data, (unsigned long)size, w, h, &subsamp, &colorspace) != 0)
        *w = *h = 0;
    if (tj)
        tjDestroy(tj);
}

fr_status fr_source_load(const char *path, const fr_decode_options *options, fr_image *out,
                         fr_source_scale *scale)
{
    void *data;
    size_t size;
    fr_status st = fr_file_read(path, FR_MAX_FILE_BYTES, &data, &size);
    if (st)
        return st;
    int w = 0, h = 0;
    if (options && options->min_side > 0)
        jpeg_size(data, size, &w, &h);
    st = fr_image_decode(data, size, path, options, out);
    free(data);
    if (st)
        return st;
    scale->x = w > 0 ? (double)w / out->width : 1.0;
    scale->y = h > 0 ? (double)h / out->height : 1.0;
    return FR_OK;
}

void fr_source_face(fr_face *face, const fr_source_scale *s)
{
    if (s->x == 1.0 && s->y == 1.0)
        return;
    face->box[0] = (float)(face->box[0] * s->x);
    face->box[1] = (float)(face->box[1] * s->y);
    face->box[2] = (float)(face->box[2] * s->x);
    face->box[3] = (float)(face->box[3] * s->y);
    for (int k = 0; k < 5; k++) {
        face->landmarks[k][0] = (float)((face->landmarks[k][0] + 0.5) * s->x - 0.5);
        face->landmarks[k][1] = (float)((face->landmarks[k][1] + 0.5) * s->y - 0.5);
    }
}
