#!/usr/bin/python3
"""PyTorch autograd as the independent reference of facerec's training arithmetic
(tests/test_learn.c). Everything in float64; inputs and outputs are float32 .npy files in
DIR (integers such as triplet indices as exact float32 values; results flattened to one
dimension).

  learn_ref.py triplet DIR   rows.npy (B, D), triplets.npy (T, 3), alpha.npy (1)
                             -> loss.npy (1), grad.npy (B, D): d sum_t max(|a-p|^2-|a-n|^2+alpha, 0)
  learn_ref.py head DIR      features.npy (B, I), kernel.npy (I, O), beta.npy (O) or absent,
                             upstream.npy (B, O), epsilon.npy (1)
                             -> embeddings.npy (B, O), grad_kernel.npy, grad_beta.npy:
                             e = l2_normalize(batch_norm_train(f W) + beta) (or of f W), and
                             the gradients of sum(e * upstream)
  learn_ref.py optim DIR     params.npy (N), grads.npy (S, N), config.npy [kind, lr, momentum,
                             beta1, beta2, eps, weight_decay] (kind 0 adam, 1 sgd)
                             -> params_after.npy (N): S steps of torch.optim.Adam / SGD
"""
import os
import sys

import numpy as np
import torch


def load(d, name):
    return np.load(os.path.join(d, name))


def save(d, name, x):
    # float32: what facerec's .npy reader takes (float64 references rounded to 6e-8)
    np.save(os.path.join(d, name), np.asarray(x, dtype=np.float32).reshape(-1))


def triplet(d):
    rows = torch.tensor(load(d, "rows.npy"), dtype=torch.float64, requires_grad=True)
    t = torch.tensor(load(d, "triplets.npy").astype(np.int64))
    alpha = float(load(d, "alpha.npy")[0])
    a, p, n = rows[t[:, 0]], rows[t[:, 1]], rows[t[:, 2]]
    loss = torch.clamp(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + alpha, min=0).sum()
    loss.backward()
    save(d, "loss.npy", loss.detach().numpy())
    save(d, "grad.npy", rows.grad.numpy())


def head(d):
    f = torch.tensor(load(d, "features.npy"), dtype=torch.float64)
    w = torch.tensor(load(d, "kernel.npy"), dtype=torch.float64, requires_grad=True)
    has_bn = os.path.exists(os.path.join(d, "beta.npy"))
    z = f @ w
    beta = None
    if has_bn:
        beta = torch.tensor(load(d, "beta.npy"), dtype=torch.float64, requires_grad=True)
        eps = float(load(d, "epsilon.npy")[0])
        z = torch.nn.functional.batch_norm(z, None, None, weight=None, bias=beta,
                                           training=True, eps=eps)
    norm = torch.sqrt(torch.clamp((z * z).sum(1, keepdim=True), min=1e-10))
    e = z / norm
    up = torch.tensor(load(d, "upstream.npy"), dtype=torch.float64)
    (e * up).sum().backward()
    save(d, "embeddings.npy", e.detach().numpy())
    save(d, "grad_kernel.npy", w.grad.numpy())
    if has_bn:
        save(d, "grad_beta.npy", beta.grad.numpy())


def optim(d):
    p = torch.nn.Parameter(torch.tensor(load(d, "params.npy"), dtype=torch.float64))
    grads = load(d, "grads.npy")
    kind, lr, momentum, beta1, beta2, eps, wd = [float(x) for x in load(d, "config.npy")]
    if kind == 0:
        opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
    else:
        opt = torch.optim.SGD([p], lr=lr, momentum=momentum, weight_decay=wd)
    for g in grads:
        opt.zero_grad()
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    save(d, "params_after.npy", p.detach().numpy())


if __name__ == "__main__":
    {"triplet": triplet, "head": head, "optim": optim}[sys.argv[1]](sys.argv[2])
