#!/usr/bin/env python3
"""make_models.py: ONNX recognition models with random weights, exported by torch.onnx, and
PyTorch's own outputs for them: the reference facerec's ONNX import is tested against.

usage: make_models.py OUT_DIR [--cases a,b,...]

For each case it writes OUT_DIR/<case>.onnx, <case>_input.npy (uint8 N x 112 x 112 x 3 RGB)
and <case>_output.npy (float32 N x D: the network's raw output, computed by PyTorch in
float64 (iresnet50: float32) on (x - 127.5) / 128, NCHW). Networks:

  iresnet50     InsightFace's arcface_torch iresnet (IBasicBlock, layers 3-4-14-3: ArcFace
                R50), 512-d; written from insightface/recognition/arcface_torch/backbones/
                iresnet.py
  mobilefacenet InsightFace's arcface_torch MobileFaceNet (blocks 1-4-6-2, scale 2, 512-d,
                its grouped 64-group convolution included); from backbones/mobilefacenet.py

and op-by-op cases, each a few ops then Flatten and Gemm to 16 values: BN folded into a
convolution (conv_bn_prelu), BN before a padded convolution (bn_before_conv), PReLU after a
residual add (add_prelu), a grouped convolution (grouped), constant Sub/Mul normalization
on the input (sub_mul_input: ONNX's input then takes pixels 0..255), BatchNorm1d after a
Gemm (gemm_bn1d), MatMul by a constant (matmul), a flatten whose shape the graph computes
(view_flatten), and Relu, Div by a constant and Dropout (relu_div_dropout: torch.onnx drops an
eval-mode Dropout, so the script inserts the Dropout node an MXNet-exported model carries, with
its optional mask output, into the exported graph). Bad inputs (bad_*.onnx) for the error tests.

Weights are random but not arbitrary: BN statistics and affine parameters are drawn so that
folding is exercised (means and variances far from 0 and 1), PReLU slopes in (0, 0.5).
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

SIZE = 112


# ---- InsightFace arcface_torch iresnet ------------------------------------------------------

def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.bn1(x)
        out = self.conv1(out)
        out = self.bn2(out)
        out = self.prelu(out)
        out = self.conv2(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    fc_scale = 7 * 7

    def __init__(self, layers, num_features=512):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-05)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._make_layer(64, layers[0], 2)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.bn2 = nn.BatchNorm2d(512, eps=1e-05)
        self.dropout = nn.Dropout(p=0.0, inplace=True)
        self.fc = nn.Linear(512 * self.fc_scale, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-05)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes, eps=1e-05))
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [IBasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.bn2(x)
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        return self.features(x)


# ---- InsightFace arcface_torch MobileFaceNet --------------------------------------------------

class ConvBlock(nn.Module):
    def __init__(self, cin, cout, kernel=(1, 1), stride=(1, 1), padding=(0, 0), groups=1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, groups=groups, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):
    def __init__(self, cin, cout, kernel=(1, 1), stride=(1, 1), padding=(0, 0), groups=1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, cin, cout, residual=False, kernel=(3, 3), stride=(2, 2), padding=(1, 1),
                 groups=1):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(
            ConvBlock(cin, groups, (1, 1)),
            ConvBlock(groups, groups, kernel, stride, padding, groups=groups),
            LinearBlock(groups, cout, (1, 1)))

    def forward(self, x):
        out = self.layers(x)
        return x + out if self.residual else out


class Residual(nn.Module):
    def __init__(self, c, num_block, groups, kernel=(3, 3), stride=(1, 1), padding=(1, 1)):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, kernel, stride, padding, groups)
                                      for _ in range(num_block)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, embedding_size):
        super().__init__()
        self.layers = nn.Sequential(
            LinearBlock(512, 512, (7, 7), (1, 1), (0, 0), groups=512),
            nn.Flatten(),
            nn.Linear(512, embedding_size, bias=False),
            nn.BatchNorm1d(embedding_size))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, num_features=512, blocks=(1, 4, 6, 2), scale=2):
        super().__init__()
        s = scale
        self.layers = nn.Sequential(
            ConvBlock(3, 64 * s, (3, 3), (2, 2), (1, 1)),
            ConvBlock(64 * s, 64 * s, (3, 3), (1, 1), (1, 1), groups=64),
            DepthWise(64 * s, 64 * s, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=128),
            Residual(64 * s, blocks[1], 128),
            DepthWise(64 * s, 128 * s, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=256),
            Residual(128 * s, blocks[2], 256),
            DepthWise(128 * s, 128 * s, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=512),
            Residual(128 * s, blocks[3], 256))
        self.conv_sep = ConvBlock(128 * s, 512, (1, 1))
        self.features = GDC(num_features)

    def forward(self, x):
        return self.features(self.conv_sep(self.layers(x)))


# ---- op-by-op cases ----------------------------------------------------------------------------

class Head(nn.Module):
    """Flatten and a Gemm to 16 values, so each case ends in a vector."""

    def __init__(self, c, h, w):
        super().__init__()
        self.fc = nn.Linear(c * h * w, 16)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))


class ConvBnPrelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2, 1, bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.prelu = nn.PReLU(8)
        self.head = Head(8, 56, 56)

    def forward(self, x):
        return self.head(self.prelu(self.bn(self.conv(x))))


class BnBeforeConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, 4, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.conv = nn.Conv2d(8, 8, 3, 1, 1, bias=False)
        self.head = Head(8, 28, 28)

    def forward(self, x):
        y = self.conv0(x)
        return self.head(self.conv(self.bn(y)) + y)


class AddPrelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, 4, 1)
        self.b = nn.Conv2d(3, 8, 3, 4, 1)
        self.prelu = nn.PReLU(8)
        self.head = Head(8, 28, 28)

    def forward(self, x):
        return self.head(self.prelu(self.a(x) + self.b(x)))


class Grouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 16, 3, 4, 1)
        self.grouped = nn.Conv2d(16, 24, 3, 2, 1, groups=4)
        self.head = Head(24, 14, 14)

    def forward(self, x):
        return self.head(self.grouped(self.conv0(x)))


class SubMulInput(nn.Module):
    """MXNet-style: the graph normalizes raw pixels itself."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 4, 1)
        self.head = Head(8, 28, 28)

    def forward(self, x):
        return self.head(self.conv((x - 127.5) * 0.0078125))


class GemmBn1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 8, 1)
        self.fc = nn.Linear(4 * 14 * 14, 32)
        self.bn = nn.BatchNorm1d(32)

    def forward(self, x):
        return self.bn(self.fc(torch.flatten(self.conv(x), 1)))


class MatMul(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 8, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.w = nn.Parameter(torch.randn(4, 12))

    def forward(self, x):
        return torch.matmul(torch.flatten(self.pool(self.conv(x)), 1), self.w)


class ViewFlatten(nn.Module):
    """x.view(x.size(0), -1), as InsightFace's own Flatten module writes it (reshape here: the
    input is a permuted view): with a symbolic batch torch.onnx computes the shape in the
    graph (Shape, Gather, Unsqueeze, Concat)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 8, 1)
        self.fc = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        y = self.conv(x)
        return self.fc(y.reshape(y.size(0), -1))


class ReluDivDropout(nn.Module):
    """conv -> Relu -> / 3 -> (Dropout, inserted after export by insert_dropout) -> head"""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 4, 1)
        self.relu = nn.ReLU()
        self.head = Head(8, 28, 28)

    def forward(self, x):
        return self.head(self.relu(self.conv(x)) / 3.0)


def insert_dropout(path):
    """Put an inference-mode Dropout (ratio 0.4, opset 11, with its mask output) on the Div's
    output: it must run as the identity."""
    import onnx
    from onnx import helper
    model = onnx.load(path)
    nodes = list(model.graph.node)
    div = [i for i, n in enumerate(nodes) if n.op_type == "Div"]
    if len(div) != 1:
        raise SystemExit("relu_div_dropout: expected one Div node, found %d" % len(div))
    out = nodes[div[0]].output[0]
    for n in nodes[div[0] + 1:]:
        for k, name in enumerate(n.input):
            if name == out:
                n.input[k] = "dropped"
    drop = helper.make_node("Dropout", [out], ["dropped", "dropped_mask"], name="dropout0",
                            ratio=0.4)
    nodes.insert(div[0] + 1, drop)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, path)


CASES = {
    "iresnet50": lambda: IResNet([3, 4, 14, 3]),
    "mobilefacenet": lambda: MobileFaceNet(),
    "conv_bn_prelu": ConvBnPrelu,
    "bn_before_conv": BnBeforeConv,
    "add_prelu": AddPrelu,
    "grouped": Grouped,
    "sub_mul_input": SubMulInput,
    "gemm_bn1d": GemmBn1d,
    "matmul": MatMul,
    "view_flatten": ViewFlatten,
    "relu_div_dropout": ReluDivDropout,
}
POST_EDIT = {"relu_div_dropout": insert_dropout}
BATCH = {"iresnet50": 3, "mobilefacenet": 4}
FP32_REFERENCE = {"iresnet50"}


def randomize(model, gen):
    """Random weights, BN statistics far from the identity, PReLU slopes in (0, 0.5)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.5)
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        for name, p in model.named_parameters(recurse=False):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def export(name, out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    model = CASES[name]()
    randomize(model, gen)
    model.eval()
    n = BATCH.get(name, 2)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    raw = name == "sub_mul_input"
    x = torch.from_numpy(images.astype(np.float64)).permute(0, 3, 1, 2)
    if not raw:
        x = (x - 127.5) / 128.0
    # float64 where it is cheap; the 12.6-GFLOP R50 in PyTorch's own fp32 (float64 took 40 s of
    # the CI budget on 2 shared cores)
    dtype = torch.float32 if name in FP32_REFERENCE else torch.float64
    with torch.no_grad():
        y = model.to(dtype)(x.to(dtype)).numpy().astype(np.float32)
    model.float()
    dummy = torch.zeros(1, 3, SIZE, SIZE)
    path = os.path.join(out_dir, name + ".onnx")
    torch.onnx.export(model, dummy, path, input_names=["input.1"], output_names=["embedding"],
                      dynamic_axes={"input.1": {0: "batch"}, "embedding": {0: "batch"}},
                      opset_version=11, do_constant_folding=True)
    if name in POST_EDIT:
        POST_EDIT[name](path)
    np.save(os.path.join(out_dir, name + "_input.npy"), images)
    np.save(os.path.join(out_dir, name + "_output.npy"), y)


def bad_models(out_dir):
    """ONNX files facerec must refuse, each with the reason in its name."""
    import onnx
    from onnx import TensorProto, helper

    def save(name, graph):
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]),
                  os.path.join(out_dir, "bad_" + name + ".onnx"))

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.zeros(108, np.float32))

    def graph(nodes, inputs, inits):
        out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        return helper.make_graph(nodes, "bad", inputs, [out], inits)

    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])
    conv = helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1])
    save("unsupported_op", graph([conv, helper.make_node("Sigmoid", ["c"], ["y"], name="sig0")],
                                 [image], [w]))
    dyn = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "height", "width"])
    save("dynamic_shape", graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv0")],
                                [dyn], [w]))
    big = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 128, 128])
    save("wrong_size", graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv0")],
                             [big], [w]))
    huge = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.zeros(108, np.float32))
    huge.dims[:] = [1 << 20, 1 << 20, 3, 3]
    save("huge_tensor", graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv0")],
                              [image], [huge]))
    short = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.zeros(108, np.float32))
    short.raw_data = np.zeros(100, np.float32).tobytes()
    del short.float_data[:]
    save("short_tensor", graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv0")],
                               [image], [short]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for i, name in enumerate(args.cases.split(",")):
        export(name, args.out_dir, args.seed + i)
    bad_models(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
