/*
 * mtcnn.h: the three MTCNN networks (Zhang et al. 2016, as published with FaceNet by
 * davidsandberg/facenet: det1.npy P-Net, det2.npy R-Net, det3.npy O-Net) as graphs of the
 * engine's network description, so every backend runs them.
 *
 * The weights file (.frw, arch "mtcnn") keeps the source tensor names and shapes:
 * "det<N>/<layer>/{weights,biases,alpha}", convolutions (kh, kw, c_in, c_out), dense layers
 * (inputs, outputs) over the NHWC-flattened activation, PReLU slopes per channel.
 *
 * The nets were converted from Caffe models trained on MATLAB's column-major images: every
 * graph's normalize node transposes its input ((x - 127.5) / 128, rows and columns swapped),
 * so the tensors inside are the reference's. Each graph ends in one convolution holding all
 * of its heads, so a backend returns one block per image (per P-Net cell):
 *   [0, 2)  class logits (background, face): face probability = 1 / (1 + exp(l0 - l1))
 *   [2, 6)  box regression dx1, dy1, dx2, dy2 (in units of the box side)
 *   [6, 16) O-Net only: landmarks x0..x4, y0..y4 (fractions of the box)
 * P-Net's output is (w', h', 6): cell (x, y) of the image at [x][y], the transposed layout.
 */
#ifndef FR_DETECT_MTCNN_H
#define FR_DETECT_MTCNN_H

#include "facerec.h"
#include "model/graph.h"

#define FR_MTCNN_LOGITS 0
#define FR_MTCNN_REG 2
#define FR_MTCNN_POINTS 6
#define FR_MTCNN_PNET_OUT 6
#define FR_MTCNN_RNET_OUT 6
#define FR_MTCNN_ONET_OUT 16
#define FR_MTCNN_RNET_SIZE 24
#define FR_MTCNN_ONET_SIZE 48
#define FR_MTCNN_PNET_MIN 12 /* the smallest P-Net input side (one output cell) */
#define FR_MTCNN_PNET_MAX 16384 /* the largest P-Net input side planned */

typedef struct fr_mtcnn fr_mtcnn;

/* Opens (maps) an MTCNN weights file and checks that all three networks build. */
fr_status fr_mtcnn_load(const char *path, fr_mtcnn **out);
void fr_mtcnn_free(fr_mtcnn *mtcnn);
const char *fr_mtcnn_path(const fr_mtcnn *mtcnn);

/* P-Net for an (h, w) image (both >= FR_MTCNN_PNET_MIN), R-Net, O-Net. The graphs are
 * finalized and own their parameters (a copy): free with fr_graph_free. */
fr_status fr_mtcnn_pnet(const fr_mtcnn *mtcnn, int h, int w, fr_graph **out);
/* P-Net's output cells for an (h, w) input: the output is (xcells, ycells, 6). */
void fr_mtcnn_pnet_cells(int h, int w, int *xcells, int *ycells);
fr_status fr_mtcnn_rnet(const fr_mtcnn *mtcnn, fr_graph **out);
fr_status fr_mtcnn_onet(const fr_mtcnn *mtcnn, fr_graph **out);

/* `facerec convert --from mtcnn-npy DIR`: DIR/det<N>/<layer>/<name>.npy (float32) -> .frw. */
fr_status fr_mtcnn_convert(const char *npy_dir, const char *output_path);

#endif
