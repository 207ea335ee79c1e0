/* cmd_convert.c: `facerec convert --from tfjs|keras-h5|onnx|mtcnn-npy|frw SRC -o OUT.frw`. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "detect/mtcnn.h"
#include "model/convert.h"

static void help(FILE *out)
{
    fprintf(out,
            "usage: facerec convert --from tfjs|keras-h5|onnx|mtcnn-npy|frw SRC -o OUT.frw [options]\n\n"
            "Imports published weights into facerec's weights format.\n"
            "  --from tfjs        SRC is a TensorFlow.js weights manifest (.bin beside it):\n"
            "                     face-api's face_recognition_model (the dlib ResNet) or\n"
            "                     face_landmark_68_model (landmark68, the 68-point alignment),\n"
            "                     or a TF.js graph model.json: human's faceres.json (the\n"
            "                     faceres network; Conv2D, depthwise, Add/Sub/Mul, Relu,\n"
            "                     Minimum/Maximum by a scalar, Mean, MatMul; others refused)\n"
            "  --from keras-h5    SRC is a Keras 2.x .h5 of FaceNet Inception-ResNet-v1\n"
            "                     (model.save or model.save_weights): the irv1 network\n"
            "  --from onnx        SRC is an ONNX recognition model taking 3 x 112 x 112 RGB\n"
            "                     (InsightFace's iresnet / MobileFaceNet: Conv, BatchNorm,\n"
            "                     PRelu, Relu, Add, Sub/Mul/Div by constants, Flatten/Reshape,\n"
            "                     Gemm/MatMul, GlobalAveragePool, Dropout; Shape/Gather/\n"
            "                     Unsqueeze/Concat computing a flatten's shape): the arcface\n"
            "                     network; other ops are refused naming the node\n"
            "  --from mtcnn-npy   SRC is a folder of MTCNN tensors, det1-3/<layer>/<name>.npy\n"
            "                     (facenet's det1-3.npy split per tensor): the face detector\n"
            "  --from frw         SRC is a facerec weights file: rewritten in this version's\n"
            "                     format (a format-1 file gains the checksum it lacks; what\n"
            "                     it holds now is what the checksum then vouches for), with\n"
            "                     --preprocess and --threshold changed where given\n"
            "  -o, --output FILE  where to write (written to a temporary name, then renamed)\n"
            "  --preprocess MODE  default preprocessing stored in the file (irv1: seed|facenet;\n"
            "                     onnx: arcface, (x - 127.5) / 128, or raw, 0..255, the default\n"
            "                     when the graph begins by subtracting/multiplying constants)\n"
            "  --threshold D      default verification threshold stored in the file\n"
            "  -h, --help\n");
}

int fr_cmd_convert(int argc, char **argv)
{
    static const struct option options[] = {
        {"from", required_argument, NULL, 'f'},  {"output", required_argument, NULL, 'o'},
        {"preprocess", required_argument, NULL, 'p'}, {"threshold", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *from = NULL, *output = NULL;
    fr_convert_options copt = {NULL, 0};
    int c;
    fr_cli_options_begin(options);
    while ((c = getopt_long(argc, argv, "f:o:h", options, NULL)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 'o': output = optarg; break;
        case 'p': copt.preprocess = optarg; break;
        case 't': {
            char *end;
            copt.threshold = strtod(optarg, &end);
            if (*end || !(copt.threshold > 0)) {
                fr_cli_error("convert", "--threshold %s: give a positive distance", optarg);
                return FR_EXIT_USAGE;
            }
            break;
        }
        case 'h': help(stdout); return FR_EXIT_OK;
        default: fr_cli_bad_option(); return FR_EXIT_USAGE;
        }
    }
    if (!from || !output || optind != argc - 1) {
        help(stderr);
        return FR_EXIT_USAGE;
    }
    fr_status st;
    if (strcmp(from, "tfjs") == 0)
        st = fr_convert_tfjs(argv[optind], output, &copt);
    else if (strcmp(from, "keras-h5") == 0)
        st = fr_convert_keras_h5(argv[optind], output, &copt);
    else if (strcmp(from, "onnx") == 0)
        st = fr_convert_onnx(argv[optind], output, &copt);
    else if (strcmp(from, "mtcnn-npy") == 0)
        st = fr_mtcnn_convert(argv[optind], output);
    else if (strcmp(from, "frw") == 0)
        st = fr_convert_frw(argv[optind], output, &copt);
    else {
        fr_cli_error("convert", "--from %s: choose tfjs, keras-h5, onnx, mtcnn-npy or frw", from);
        return FR_EXIT_USAGE;
    }
    if (st)
        return fr_cli_fail("convert", st);
    fprintf(stderr, "wrote %s\n", output);
    return FR_EXIT_OK;
}
