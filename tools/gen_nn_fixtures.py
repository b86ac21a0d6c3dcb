#!/usr/bin/python3
"""Generates the PyTorch golden values that tests/test_nn_golden.cpp checks nabla::nn against.

Run from anywhere with Debian's Python and PyTorch:

    /usr/bin/python3 tools/gen_nn_fixtures.py

It rewrites tests/fixtures/nn_<family>.txt. Like tools/gen_fixtures.py (whose Rng and `away` it
reuses), the output is deterministic: every case draws its inputs, parameters and upstream gradient
from generators seeded with the case's name. Everything is computed in float64.

The files use the format of tools/gen_fixtures.py (count / case / op / gradcheck / requires_grad /
tensor / end records, values written with repr()). What differs is the meaning of `op` and the
tensor roles.

`op` is a layer, loss or optimiser with its settings, written without spaces:

    Kind(key=value,...)     value: an integer, a float (repr), a tuple "(a,b)" of integers, or a
                            word (mean, train, ...); booleans are 1/0.

    Layers:   Linear(in,out,bias) Maxout(in,out,pieces) Conv2d(in,out,kernel,stride,padding,
              dilation,bias) ConvTranspose2d(in,out,kernel,stride,padding,output_padding,dilation,
              bias) MaxPool2d(kernel,stride,padding) Upsample(scale) Flatten(start,end)
              View(shape) Reshape(shape) ReLU() LeakyReLU(slope) Sigmoid() Tanh() Dropout(p,mode)
              AvgPool2d(kernel,stride,padding,count_include_pad) AdaptiveAvgPool2d(size)
              ELU(alpha) SiLU() GELU(approximate) Softplus(beta,threshold) Softmax(dim)
              LogSoftmax(dim)
              LayerNorm(shape,eps,affine) InstanceNorm2d(features,eps,affine)
              GroupNorm(groups,channels,eps,affine)
              BatchNorm1d/BatchNorm2d(features,eps,momentum,affine,
              track,mode)                                            mode: train or eval
              Embedding(num,dim[,padding])  (in0: the indices as float64 integers)
    Losses:   MSELoss(reduction) BCELoss(reduction) BCEWithLogitsLoss(reduction)
              CrossEntropyLoss(reduction,ignore,smoothing,weighted,probs)
              NLLLoss(reduction,ignore,weighted)
              (class-index targets are in1 as float64 integers; with weighted=1 the class
              weights are in2; probs=1: in1 holds class probabilities)
    Optimisers (nn_optim.txt): SGD(lr,momentum,dampening,weight_decay,nesterov)
              Adam(lr,beta1,beta2,eps,weight_decay,amsgrad)
              AdamW(lr,beta1,beta2,eps,weight_decay,amsgrad)
              RMSprop(lr,alpha,eps,weight_decay,momentum,centered)
    The GAN iteration (nn_gan.txt): GANRow3(zdim,hidden,image,slope,lr)

Tensor roles of a layer or loss case (nn_layers.txt, nn_norm.txt, nn_loss.txt):

    in0 [in1]              the call's inputs (a loss: in0 the input, in1 the target)
    param.<name>           a parameter, set in the layer before the call (<name> as PyTorch's
                           named_parameters(): weight, bias)
    buffer.<name>          a buffer (BatchNorm's running_mean, running_var), set before the call
    out, gout              the forward result and the upstream gradient
    grad<k>                the gradient of sum(out * gout) with respect to in<k> (k listed in
                           requires_grad)
    grad.<name>            the gradient of sum(out * gout) with respect to parameter <name>
    buffer_after1.<name>   the buffer after the call
    next_in0               (BatchNorm in training) a second input, passed through the layer after
                           the first call without recording a graph
    buffer_after2.<name>   the buffer after that second call

Tensor roles of an optimiser case (nn_optim.txt). Two parameters, 0 ([2, 3]) and 1 ([4]), take 20
steps with fixed gradients (the gradients do not depend on the parameters, so the case checks
the optimiser alone):

    lr                     [20]: the learning rate set (set_lr / param_groups) before each step
    param.<i>              the initial value of parameter i
    grad@<t>.<i>           the gradient of parameter i at step t (1-based); absent: the parameter
                           has no gradient at that step and the optimiser skips it (a
                           zero gradient is written out: the optimiser steps)
    param@<t>.<i>          parameter i after step t
    state.<i>.<name>       the optimiser's state for parameter i after the last step: SGD's
                           momentum_buffer; Adam's exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
                           and step (i64)

Tensor roles of the GAN case (nn_gan.txt): one iteration of row 3 of GAN_VARIANTS.md as the
document's code runs it: D.train(real, 1) (a D step), D.train(G(z_fake).detach(), 0) (a second D
step), G.train(D, z_gen, 1) (a G step), all BCE and Adam(lr). Parameter names are those of
nn.Sequential: G.0 = Linear(zdim, hidden), G.2 = LayerNorm(hidden), G.3 = Linear(hidden, image);
D.0 = Linear(image, hidden), D.2 = LayerNorm(hidden), D.3 = Linear(hidden, 1). The weights of
this size do not fit in a text fixture, so:

    init.<param>           i64 [seed, e]: the Linear parameter's initial values are
                           k * 2^(e - 22) for the k of splitmix64(seed) in turn (k = the top 23
                           bits of each output minus 2^22; exact in float and double; see
                           splitmix_values below). LayerNorm parameters start at ones and zeros.
    real, z_fake, z_gen    the real image and the two noise vectors
    fake                   G(z_fake) before the G step
    loss_d_real, loss_d_fake, loss_g
    final.<param>          PyTorch's value after the iteration, for every parameter except the
                           three large weight matrices G.0.weight, G.3.weight and D.0.weight
    gradu@<s>.<param>,     for those three: the gradient at optimiser step s of the network (D: 1
    gradv@<s>.<param>      and 2, G: 1) is the outer product gradu x gradv (batch 1), so the
                           test rebuilds PyTorch's updated matrix by applying PyTorch's Adam
                           formula to these gradients; this script checks that the rebuild gives
                           PyTorch's updated matrix to within 1e-15 before writing it
    spot_index.<param>,    for those three: PyTorch's updated values at 64 fixed positions (flat
    spot.<param>           indices), a direct check of the rebuild
"""
import math
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import FIXTURE_DIR, Rng, away  # noqa: E402  (also sets float64, 1 thread)

MAX_VALUES = 1000  # per tensor record, to keep the fixtures readable


# ---------------------------------------------------------------------------------------------
# Output

def fmt_tensor(role, t):
    """One `tensor` record, in the format of tools/gen_fixtures.py."""
    assert " " not in role, role
    t = t.detach()
    if t.dtype == torch.int64:
        dtype, values = "i64", [str(int(v)) for v in t.reshape(-1).tolist()]
    else:
        assert t.dtype == torch.float64, (role, t.dtype)
        dtype, values = "f64", [repr(float(v)) for v in t.reshape(-1).tolist()]
    assert t.numel() <= MAX_VALUES, (role, t.shape)
    dims = [str(d) for d in t.shape]
    return " ".join(["tensor", role, dtype, str(t.dim())] + dims + [":"] + values)


def spec(kind, **args):
    def fmt(v):
        if isinstance(v, bool):
            return "1" if v else "0"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, tuple):
            return "(" + ",".join(fmt(x) for x in v) + ")"
        assert isinstance(v, str) and v.isidentifier(), v
        return v
    return kind + "(" + ",".join("%s=%s" % (k, fmt(v)) for k, v in args.items()) + ")"


class Case:
    def __init__(self, name, op, gradcheck, requires_grad, tensors):
        self.name, self.op, self.gradcheck = name, op, gradcheck
        self.requires_grad, self.tensors = requires_grad, tensors

    def text(self):
        lines = ["case " + self.name, "op " + self.op, "gradcheck %d" % int(self.gradcheck),
                 " ".join(["requires_grad"] + [str(k) for k in self.requires_grad])]
        lines += [fmt_tensor(role, t) for role, t in self.tensors]
        lines.append("end")
        return "\n".join(lines) + "\n"


FILES = {}  # family -> [Case]


def add(family, case):
    FILES.setdefault(family, []).append(case)


# ---------------------------------------------------------------------------------------------
# Layers and losses: forward, backward(gout), buffers

def layer_case(family, name, op, module, inputs, requires_grad=(0,), gradcheck=True,
               next_input=None):
    """module: a torch module whose parameters and buffers are already set (float64), in the
    mode the op names."""
    tensors = []
    xs = []
    for k, x in enumerate(inputs):
        tensors.append(("in%d" % k, x))
        xs.append(x.detach().clone().requires_grad_(k in requires_grad))
    params = [(n, p) for n, p in module.named_parameters()]
    buffers = [(n, b) for n, b in module.named_buffers() if n != "num_batches_tracked"]
    for n, p in params:
        tensors.append(("param." + n, p))
    for n, b in buffers:
        tensors.append(("buffer." + n, b.clone()))
    out = module(*xs)
    tensors.append(("out", out))
    gout = Rng(name + "/gout").randn(*out.shape)
    tensors.append(("gout", gout))
    torch.sum(out * gout).backward()
    for k in requires_grad:
        tensors.append(("grad%d" % k, xs[k].grad))
    for n, p in params:
        tensors.append(("grad." + n, p.grad))
    for n, b in buffers:
        tensors.append(("buffer_after1." + n, b.clone()))
    if next_input is not None:
        tensors.append(("next_in0", next_input))
        with torch.no_grad():
            module(next_input)
        for n, b in buffers:
            tensors.append(("buffer_after2." + n, b.clone()))
    add(family, Case(name, op, gradcheck, list(requires_grad), tensors))


def set_params(module, r, scale=None):
    """Uniform(-b, b) weights and biases with b = 1/sqrt(fan_in) (PyTorch's default bound), or
    N(0, scale^2) when scale is given."""
    with torch.no_grad():
        for n, p in module.named_parameters():
            if scale is not None:
                p.copy_(r.randn(*p.shape, scale=scale))
            else:
                w = module.weight
                fan_in = w[0].numel() if not isinstance(module, nn.ConvTranspose2d) else \
                    w.shape[1] * w[0, 0].numel()
                b = 1.0 / math.sqrt(fan_in)
                p.copy_(r.uniform(-b, b, *p.shape))
    return module


def linears():
    f = "layers"
    for name, fin, fout, bias, shape in (("linear_batch1", 5, 3, True, (1, 5)),
                                         ("linear_batch4", 5, 3, True, (4, 5)),
                                         ("linear_nobias_batch4", 5, 3, False, (4, 5)),
                                         ("linear_nobias_batch1", 4, 6, False, (1, 4)),
                                         ("linear_1d_input", 5, 3, True, (5,)),
                                         ("linear_nobias_1d_input", 6, 2, False, (6,))):
        r = Rng(name)
        m = set_params(nn.Linear(fin, fout, bias=bias), r)
        layer_case(f, name, spec("Linear", **{"in": fin, "out": fout, "bias": bias}), m,
                   [r.randn(*shape)])


class TorchMaxout(nn.Module):
    """nabla's Maxout: z = x W^T + b viewed [N, out, pieces], max over the pieces."""

    def __init__(self, fin, fout, pieces):
        super().__init__()
        self.fout, self.pieces = fout, pieces
        self.weight = nn.Parameter(torch.empty(fout * pieces, fin))
        self.bias = nn.Parameter(torch.empty(fout * pieces))

    def forward(self, x):
        z = F.linear(x, self.weight, self.bias)
        return z.view(x.shape[0], self.fout, self.pieces).max(dim=2).values


def maxouts():
    f = "layers"
    for name, fin, fout, pieces, batch in (("maxout_batch1", 4, 3, 3, 1),
                                           ("maxout_batch4", 4, 3, 3, 4),
                                           ("maxout_2_pieces", 5, 2, 2, 3)):
        r = Rng(name)
        m = TorchMaxout(fin, fout, pieces)
        while True:  # no two pieces of a unit within 0.05 of each other: no ties, clean gradcheck
            set_params(m, r)
            x = r.randn(batch, fin)
            with torch.no_grad():
                z = F.linear(x, m.weight, m.bias).view(batch, fout, pieces)
                top2 = z.topk(2, dim=2).values
            if (top2[..., 0] - top2[..., 1]).min() > 0.05:
                break
        layer_case(f, name, spec("Maxout", **{"in": fin, "out": fout, "pieces": pieces}), m, [x])


def convs():
    f = "layers"
    # name, in, out, kernel, stride, padding, dilation, bias, input [N, H, W]
    for (name, ci, co, k, s, p, d, bias, (n, h, w)) in (
            ("conv_1to2_k3", 1, 2, (3, 3), (1, 1), (0, 0), (1, 1), True, (1, 5, 6)),
            ("conv_3to4_k3_p1_batch3", 3, 4, (3, 3), (1, 1), (1, 1), (1, 1), True, (3, 4, 5)),
            ("conv_3to4_k3_s2_p1", 3, 4, (3, 3), (2, 2), (1, 1), (1, 1), True, (1, 7, 9)),
            ("conv_3to4_k2x3_s2x1_p1x0_nobias_batch3", 3, 4, (2, 3), (2, 1), (1, 0), (1, 1),
             False, (3, 5, 6)),
            ("conv_3to4_k2x3_s2x1_p1x0_nobias", 3, 4, (2, 3), (2, 1), (1, 0), (1, 1),
             False, (1, 7, 9)),
            ("conv_1to2_k3_p2_batch3", 1, 2, (3, 3), (1, 1), (2, 2), (1, 1), True, (3, 5, 5)),
            ("conv_3to4_k3_d2_p2", 3, 4, (3, 3), (1, 1), (2, 2), (2, 2), True, (1, 7, 9)),
            ("conv_1to2_k3x2_d2x1_s1x2_nobias", 1, 2, (3, 2), (1, 2), (1, 0), (2, 1), False,
             (1, 7, 9)),
            ("conv_3to4_k3_s2_p0_batch3", 3, 4, (3, 3), (2, 2), (0, 0), (1, 1), True, (3, 5, 6)),
            ("conv_2to3_k1", 2, 3, (1, 1), (1, 1), (0, 0), (1, 1), True, (2, 4, 3)),
            # GAN_VARIANTS.md row 7's Conv(c, c', 4, 2, 1) and row 8's Conv(c, c', 5, 1, 2)
            ("conv_dcgan_k4_s2_p1", 1, 3, (4, 4), (2, 2), (1, 1), (1, 1), True, (2, 8, 8)),
            ("conv_keras_k5_s1_p2", 2, 3, (5, 5), (1, 1), (2, 2), (1, 1), True, (1, 7, 7))):
        r = Rng(name)
        m = set_params(nn.Conv2d(ci, co, k, s, p, d, bias=bias), r)
        op = spec("Conv2d", **{"in": ci, "out": co, "kernel": k, "stride": s, "padding": p,
                               "dilation": d, "bias": bias})
        layer_case(f, name, op, m, [r.randn(n, ci, h, w)])


def conv_transposes():
    f = "layers"
    # name, in, out, kernel, stride, padding, output_padding, dilation, bias, input [N, H, W]
    for (name, ci, co, k, s, p, op_, d, bias, (n, h, w)) in (
            ("convt_1to2_k3", 1, 2, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), True, (1, 4, 5)),
            ("convt_3to2_k3_s2_p1_op1_batch3", 3, 2, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1),
             True, (3, 4, 5)),
            ("convt_2to3_k3_s2_nobias", 2, 3, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), False,
             (1, 3, 4)),
            ("convt_2to3_k3_s1_p1_batch3", 2, 3, (3, 3), (1, 1), (1, 1), (0, 0), (1, 1), True,
             (3, 4, 3)),
            ("convt_2to3_k2x3_s2x1_p0x1_op1x0", 2, 3, (2, 3), (2, 1), (0, 1), (1, 0), (1, 1),
             True, (2, 3, 4)),
            ("convt_3to2_k3_s2_p0_op1_nobias_batch3", 3, 2, (3, 3), (2, 2), (0, 0), (1, 1),
             (1, 1), False, (3, 3, 4)),
            ("convt_2to2_k3_d2", 2, 2, (3, 3), (1, 1), (1, 1), (0, 0), (2, 2), True, (1, 4, 5)),
            # GAN_VARIANTS.md row 7's ConvT(c, c', 4, 2, 1), with small channel counts
            ("convt_dcgan_4to2_k4_s2_p1", 4, 2, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), True,
             (2, 3, 3)),
            ("convt_dcgan_2to1_k4_s2_p1_batch1", 2, 1, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1),
             True, (1, 4, 4))):
        r = Rng(name)
        m = set_params(nn.ConvTranspose2d(ci, co, k, s, p, op_, bias=bias, dilation=d), r)
        op = spec("ConvTranspose2d", **{"in": ci, "out": co, "kernel": k, "stride": s,
                                        "padding": p, "output_padding": op_, "dilation": d,
                                        "bias": bias})
        layer_case(f, name, op, m, [r.randn(n, ci, h, w)])


def pools_and_shapes():
    f = "layers"
    for name, k, s, p, shape in (("maxpool_k2_s2", 2, 2, 0, (2, 3, 6, 8)),
                                 ("maxpool_k2_s2_odd", 2, 2, 0, (1, 2, 5, 7)),
                                 ("maxpool_k3_s2_p1", 3, 2, 1, (2, 2, 7, 9)),
                                 ("maxpool_k3_s1_p1", 3, 1, 1, (1, 1, 5, 6))):
        r = Rng(name)
        layer_case(f, name, spec("MaxPool2d", kernel=k, stride=s, padding=p),
                   nn.MaxPool2d(k, s, p), [r.distinct(*shape)])
    for name, k, s_, p, inc, shape in (("avgpool_k2_s2", 2, 2, 0, True, (2, 3, 6, 8)),
                                      ("avgpool_k3_s2_p1", 3, 2, 1, True, (2, 2, 7, 9)),
                                      ("avgpool_k3_s2_p1_exclude_pad", 3, 2, 1, False, (1, 2, 7, 8)),
                                      ("avgpool_k3_s1_p1_overlap", 3, 1, 1, True, (1, 1, 5, 6))):
        r = Rng(name)
        layer_case(f, name, spec("AvgPool2d", kernel=k, stride=s_, padding=p, count_include_pad=inc),
                   nn.AvgPool2d(k, s_, p, count_include_pad=inc), [r.randn(*shape)])
    for name, size, shape in (("adaptive_avgpool_1", (1, 1), (2, 3, 5, 7)),
                              ("adaptive_avgpool_3x2_uneven", (3, 2), (1, 2, 7, 5)),
                              ("adaptive_avgpool_4_up", (4, 4), (1, 1, 3, 3))):
        layer_case(f, name, spec("AdaptiveAvgPool2d", size=size), nn.AdaptiveAvgPool2d(size),
                   [Rng(name).randn(*shape)])
    for name, scale, shape in (("upsample_x2", 2, (2, 3, 3, 4)), ("upsample_x3", 3, (1, 2, 2, 3))):
        layer_case(f, name, spec("Upsample", scale=scale),
                   nn.Upsample(scale_factor=scale, mode="nearest"), [Rng(name).randn(*shape)])
    layer_case(f, "flatten_default", spec("Flatten", start=1, end=-1), nn.Flatten(),
               [Rng("flatten_default").randn(2, 3, 2, 4)])
    layer_case(f, "flatten_2_3", spec("Flatten", start=2, end=3), nn.Flatten(2, 3),
               [Rng("flatten_2_3").randn(2, 3, 2, 4)])

    class ViewAs(nn.Module):
        def __init__(self, shape, copy):
            super().__init__()
            self.shape, self.copy = shape, copy

        def forward(self, x):
            return x.reshape(self.shape) if self.copy else x.view(self.shape)

    layer_case(f, "view", spec("View", shape=(2, -1)), ViewAs((2, -1), False),
               [Rng("view").randn(2, 3, 4)])
    layer_case(f, "view_chw", spec("View", shape=(-1, 2, 3, 2)), ViewAs((-1, 2, 3, 2), False),
               [Rng("view_chw").randn(2, 12)])
    layer_case(f, "reshape", spec("Reshape", shape=(4, 6)), ViewAs((4, 6), True),
               [Rng("reshape").randn(2, 3, 4)])


def activations():
    f = "layers"
    layer_case(f, "relu_module", spec("ReLU"), nn.ReLU(),
               [away(Rng("relu_module").randn(3, 4), [0.0])])
    layer_case(f, "leaky_relu_module_0.02", spec("LeakyReLU", slope=0.02), nn.LeakyReLU(0.02),
               [away(Rng("leaky_relu_module_0.02").randn(3, 4), [0.0])])
    layer_case(f, "leaky_relu_module_default", spec("LeakyReLU", slope=0.01), nn.LeakyReLU(),
               [away(Rng("leaky_relu_module_default").randn(3, 4), [0.0])])
    layer_case(f, "sigmoid_module", spec("Sigmoid"), nn.Sigmoid(),
               [Rng("sigmoid_module").randn(3, 4, scale=2.0)])
    layer_case(f, "tanh_module", spec("Tanh"), nn.Tanh(), [Rng("tanh_module").randn(3, 4)])
    for name, op, module, x in (
            ("elu_module", spec("ELU", alpha=1.0), nn.ELU(), away(Rng("elu").randn(3, 4, scale=2.0), [0.0])),
            ("elu_module_alpha_0.5", spec("ELU", alpha=0.5), nn.ELU(0.5),
             away(Rng("elu_0.5").randn(2, 5, scale=2.0), [0.0])),
            ("silu_module", spec("SiLU"), nn.SiLU(), Rng("silu").randn(3, 4, scale=3.0)),
            ("gelu_module", spec("GELU", approximate="none"), nn.GELU(), Rng("gelu").randn(3, 4, scale=2.0)),
            ("gelu_module_tanh", spec("GELU", approximate="tanh"), nn.GELU(approximate="tanh"),
             Rng("gelu_tanh").randn(3, 4, scale=2.0)),
            ("softplus_module", spec("Softplus", beta=1.0, threshold=20.0), nn.Softplus(),
             Rng("softplus").randn(3, 4, scale=3.0)),
            # beta x crosses the threshold in some elements (kept away from it: the switch is a kink).
            ("softplus_module_beta_2_threshold_3", spec("Softplus", beta=2.0, threshold=3.0),
             nn.Softplus(2.0, 3.0), away(Rng("softplus_2_3").randn(3, 5, scale=2.0), [1.5])),
            ("softmax_module_dim1", spec("Softmax", dim=1), nn.Softmax(dim=1), Rng("softmax_m").randn(3, 4)),
            ("log_softmax_module_dim0", spec("LogSoftmax", dim=0), nn.LogSoftmax(dim=0),
             Rng("log_softmax_m").randn(3, 4, 2))):
        layer_case(f, name, op, module, [x])
    layer_case(f, "dropout_eval", spec("Dropout", p=0.3, mode="eval"), nn.Dropout(0.3).eval(),
               [Rng("dropout_eval").randn(3, 4)])
    layer_case(f, "dropout_p0_train", spec("Dropout", p=0.0, mode="train"), nn.Dropout(0.0),
               [Rng("dropout_p0_train").randn(3, 4)])


# ---------------------------------------------------------------------------------------------
# Normalisation

def layer_norms():
    f = "norm"
    for name, shape, eps, affine, xshape in (("ln_last1", (6,), 1e-5, True, (4, 6)),
                                             ("ln_last2", (3, 4), 1e-5, True, (2, 3, 4)),
                                             ("ln_last1_noaffine", (5,), 1e-5, False, (3, 5)),
                                             ("ln_last2_noaffine", (3, 4), 1e-5, False, (2, 3, 4)),
                                             ("ln_1d_input", (8,), 1e-5, True, (8,)),
                                             ("ln_eps_0.1", (6,), 0.1, True, (3, 6)),
                                             ("ln_last2_eps_1e-3_3d", (2, 5), 1e-3, True,
                                              (3, 2, 2, 5))):
        r = Rng(name)
        m = nn.LayerNorm(shape, eps=eps, elementwise_affine=affine)
        if affine:
            with torch.no_grad():
                m.weight.copy_(1 + r.randn(*shape, scale=0.3))
                m.bias.copy_(r.randn(*shape, scale=0.2))
        # Small values make eps matter in the eps_0.1 case.
        x = r.randn(*xshape, scale=0.3 if eps >= 0.1 else 1.0) + 0.5
        layer_case(f, name, spec("LayerNorm", shape=shape, eps=eps, affine=affine), m, [x])
    for name, c, eps, affine, xshape in (("in2d", 3, 1e-5, False, (2, 3, 4, 5)),
                                         ("in2d_affine", 4, 1e-5, True, (2, 4, 3, 3)),
                                         ("in2d_affine_eps_0.1", 2, 0.1, True, (1, 2, 2, 3))):
        r = Rng(name)
        m = nn.InstanceNorm2d(c, eps=eps, affine=affine)
        if affine:
            with torch.no_grad():
                m.weight.copy_(1 + r.randn(c, scale=0.3))
                m.bias.copy_(r.randn(c, scale=0.2))
        x = r.randn(*xshape, scale=0.3 if eps >= 0.1 else 1.0) + 0.5
        layer_case(f, name, spec("InstanceNorm2d", features=c, eps=eps, affine=affine), m, [x])
    for name, g, c, eps, affine, xshape in (("gn_2_groups", 2, 4, 1e-5, True, (2, 4, 3, 3)),
                                            ("gn_1_group_noaffine", 1, 3, 1e-5, False, (2, 3, 2, 2)),
                                            ("gn_per_channel", 3, 3, 1e-5, True, (1, 3, 4, 2)),
                                            ("gn_2d_input", 2, 6, 1e-3, True, (3, 6))):
        r = Rng(name)
        m = nn.GroupNorm(g, c, eps=eps, affine=affine)
        if affine:
            with torch.no_grad():
                m.weight.copy_(1 + r.randn(c, scale=0.3))
                m.bias.copy_(r.randn(c, scale=0.2))
        x = r.randn(*xshape) + 0.5
        layer_case(f, name, spec("GroupNorm", groups=g, channels=c, eps=eps, affine=affine), m, [x])


def batch_norms():
    f = "norm"
    # name, 1d/2d, features, eps, momentum, affine, track, mode, input shape
    for (name, kind, c, eps, momentum, affine, track, mode, shape) in (
            ("bn1d_nc_train", "BatchNorm1d", 4, 1e-5, 0.1, True, True, "train", (5, 4)),
            ("bn1d_ncl_train", "BatchNorm1d", 3, 1e-5, 0.1, True, True, "train", (2, 3, 5)),
            ("bn1d_nc_train_momentum_0.3", "BatchNorm1d", 4, 1e-5, 0.3, True, True, "train",
             (6, 4)),
            ("bn1d_nc_train_noaffine", "BatchNorm1d", 3, 1e-5, 0.1, False, True, "train", (4, 3)),
            ("bn2d_train", "BatchNorm2d", 3, 1e-5, 0.1, True, True, "train", (2, 3, 4, 5)),
            ("bn2d_train_momentum_0.25_eps_1e-3", "BatchNorm2d", 2, 1e-3, 0.25, True, True,
             "train", (3, 2, 3, 3)),
            ("bn2d_train_noaffine", "BatchNorm2d", 3, 1e-5, 0.1, False, True, "train",
             (2, 3, 2, 3)),
            ("bn2d_train_batch1", "BatchNorm2d", 2, 1e-5, 0.1, True, True, "train", (1, 2, 3, 4)),
            ("bn1d_nc_eval", "BatchNorm1d", 4, 1e-5, 0.1, True, True, "eval", (5, 4)),
            ("bn1d_ncl_eval", "BatchNorm1d", 3, 1e-5, 0.1, True, True, "eval", (2, 3, 5)),
            ("bn2d_eval", "BatchNorm2d", 3, 1e-5, 0.1, True, True, "eval", (2, 3, 4, 5)),
            ("bn2d_eval_noaffine_batch1", "BatchNorm2d", 2, 1e-3, 0.1, False, True, "eval",
             (1, 2, 3, 3)),
            ("bn2d_untracked_eval", "BatchNorm2d", 2, 1e-5, 0.1, True, False, "eval",
             (2, 2, 3, 3))):
        r = Rng(name)
        cls = nn.BatchNorm1d if kind == "BatchNorm1d" else nn.BatchNorm2d
        m = cls(c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track)
        with torch.no_grad():
            if affine:
                m.weight.copy_(1 + r.randn(c, scale=0.3))
                m.bias.copy_(r.randn(c, scale=0.2))
            if track:
                m.running_mean.copy_(r.randn(c, scale=0.5))
                m.running_var.copy_(r.uniform(0.5, 2.0, c))
        m.train(mode == "train")
        x = r.randn(*shape) * r.uniform(0.5, 2.0, *([1, c] + [1] * (len(shape) - 2))) + 0.3
        nxt = r.randn(*shape) + 1.0 if mode == "train" and track else None
        op = spec(kind, features=c, eps=eps, momentum=momentum, affine=affine, track=track,
                  mode=mode)
        layer_case(f, name, op, m, [x], next_input=nxt)


# ---------------------------------------------------------------------------------------------
# Losses

def losses():
    f = "loss"
    for red in ("mean", "sum", "none"):
        name = "mse_" + red
        r = Rng(name)
        layer_case(f, name, spec("MSELoss", reduction=red), nn.MSELoss(reduction=red),
                   [r.randn(3, 4), r.randn(3, 4)], requires_grad=(0, 1))
        name = "bce_soft_" + red
        r = Rng(name)
        layer_case(f, name, spec("BCELoss", reduction=red), nn.BCELoss(reduction=red),
                   [r.uniform(0.05, 0.95, 3, 4), r.uniform(0.0, 1.0, 3, 4)])
        name = "bce_with_logits_soft_" + red
        r = Rng(name)
        layer_case(f, name, spec("BCEWithLogitsLoss", reduction=red),
                   nn.BCEWithLogitsLoss(reduction=red),
                   [r.randn(3, 4, scale=3.0), r.uniform(0.0, 1.0, 3, 4)], requires_grad=(0, 1))
    r = Rng("bce_hard_targets")
    layer_case(f, "bce_hard_targets", spec("BCELoss", reduction="mean"), nn.BCELoss(),
               [r.uniform(0.05, 0.95, 2, 5), r.mask(2, 5)])
    r = Rng("bce_batch1")
    layer_case(f, "bce_batch1", spec("BCELoss", reduction="mean"), nn.BCELoss(),
               [r.uniform(0.05, 0.95, 1), torch.ones(1)])
    r = Rng("mse_batch1")
    layer_case(f, "mse_batch1", spec("MSELoss", reduction="mean"), nn.MSELoss(),
               [r.uniform(0.05, 0.95, 1), torch.zeros(1)], requires_grad=(0,))
    # Inputs exactly 0 and 1: PyTorch clamps each log at -100 and divides the gradient by
    # max(p (1 - p), 1e-12). Golden values only: a finite difference cannot step outside [0, 1].
    p = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 0.5, 0.25]])
    t = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.3, 0.7, 0.5, 1.0]])
    for red in ("mean", "sum", "none"):
        layer_case(f, "bce_at_0_and_1_" + red, spec("BCELoss", reduction=red),
                   nn.BCELoss(reduction=red), [p, t], gradcheck=False)
    # Large logits: the stable form gives finite losses and gradients.
    r = Rng("bce_with_logits_large")
    x = torch.tensor([[50.0, -50.0, 50.0, -50.0], [48.5, -49.25, 0.5, -1.5]])
    layer_case(f, "bce_with_logits_large", spec("BCEWithLogitsLoss", reduction="mean"),
               nn.BCEWithLogitsLoss(), [x, r.uniform(0.0, 1.0, 2, 4)], requires_grad=(0, 1))
    r = Rng("bce_with_logits_large_sum")
    layer_case(f, "bce_with_logits_large_sum", spec("BCEWithLogitsLoss", reduction="sum"),
               nn.BCEWithLogitsLoss(reduction="sum"),
               [torch.tensor([50.0, -50.0, 50.0, -50.0]), torch.tensor([1.0, 0.0, 0.0, 1.0])],
               requires_grad=(0,))


class ClassLoss(nn.Module):
    """F.cross_entropy or F.nll_loss with the target as float64 class indices (in1) and the class
    weights as an input (in2), so that the fixture's inputs are all float64 tensors."""

    def __init__(self, nll, reduction, ignore, smoothing=0.0, probs=False):
        super().__init__()
        self.nll, self.reduction, self.ignore = nll, reduction, ignore
        self.smoothing, self.probs = smoothing, probs

    def forward(self, x, t, w=None):
        if self.nll:
            return F.nll_loss(x, t.long(), weight=w, ignore_index=self.ignore,
                              reduction=self.reduction)
        return F.cross_entropy(x, t if self.probs else t.long(), weight=w,
                               ignore_index=self.ignore, reduction=self.reduction,
                               label_smoothing=self.smoothing)


class TorchEmbedding(nn.Embedding):
    """nn.Embedding fed the fixture's float64 indices."""

    def forward(self, x):
        return super().forward(x.long())


def embeddings():
    f = "layers"
    for name, num, dim, padding, idx in (
            ("embedding_labels", 10, 10, None, [3.0, 7.0, 3.0, 0.0, 9.0]),  # a cGAN's label embedding
            ("embedding_2d_repeats", 6, 4, None, [[1.0, 5.0, 1.0], [0.0, 1.0, 2.0]]),
            ("embedding_padding", 5, 3, 2, [[2.0, 4.0], [2.0, 0.0], [1.0, 2.0]]),
            ("embedding_negative_padding", 5, 3, -1, [4.0, 0.0, 4.0, 3.0]),
            ("embedding_scalar_index", 4, 6, None, 2.0)):
        r = Rng(name)
        m = TorchEmbedding(num, dim, padding_idx=padding)
        with torch.no_grad():
            m.weight.copy_(r.randn(num, dim))
        args = {"num": num, "dim": dim}
        if padding is not None:
            args["padding"] = padding
        # padding_idx withholds that row's gradient on purpose (PyTorch's rule), so a finite
        # difference disagrees there: golden values only for those cases.
        layer_case(f, name, spec("Embedding", **args), m, [torch.tensor(idx)], requires_grad=(),
                   gradcheck=padding is None)


def class_losses():
    f = "loss"

    def case(name, x, t, w=None, red="mean", ignore=-100, smoothing=0.0, nll=False, probs=False):
        inputs = [x, t] + ([w] if w is not None else [])
        if nll:
            op = spec("NLLLoss", reduction=red, ignore=ignore, weighted=w is not None)
        else:
            op = spec("CrossEntropyLoss", reduction=red, ignore=ignore, smoothing=smoothing,
                      weighted=w is not None, probs=probs)
        layer_case(f, name, op, ClassLoss(nll, red, ignore, smoothing, probs), inputs,
                   requires_grad=(0, 1) if probs else (0,))

    def labels(r, classes, *shape):
        return r.randint(0, classes, *shape).double()

    for red in ("mean", "sum", "none"):
        r = Rng("cross_entropy_" + red)
        case("cross_entropy_" + red, r.randn(4, 5, scale=2.0), labels(r, 5, 4), red=red)
        r = Rng("cross_entropy_weighted_ignored_smoothed_" + red)
        # Class 2 is ignore_index: a valid class whose rows count for nothing.
        case("cross_entropy_weighted_ignored_smoothed_" + red, r.randn(6, 4),
             torch.tensor([0.0, 2.0, 3.0, 1.0, 2.0, 3.0]), r.uniform(0.5, 2.0, 4), red=red,
             ignore=2, smoothing=0.2)
        r = Rng("nll_loss_" + red)
        case("nll_loss_" + red, torch.log_softmax(r.randn(4, 5), 1), labels(r, 5, 4), red=red,
             nll=True)
        r = Rng("cross_entropy_probs_" + red)
        case("cross_entropy_probs_" + red, r.randn(3, 4),
             torch.softmax(r.randn(3, 4, scale=2.0), 1), r.uniform(0.5, 2.0, 4), red=red,
             smoothing=0.1, probs=True)
    r = Rng("cross_entropy_weighted")
    case("cross_entropy_weighted", r.randn(5, 3), labels(r, 3, 5), r.uniform(0.5, 2.0, 3))
    r = Rng("cross_entropy_ignored")  # the default ignore_index, -100, in two rows
    case("cross_entropy_ignored", r.randn(4, 3), torch.tensor([1.0, -100.0, 0.0, -100.0]))
    r = Rng("cross_entropy_smoothed")
    case("cross_entropy_smoothed", r.randn(3, 6), labels(r, 6, 3), smoothing=0.1)
    r = Rng("cross_entropy_batch1")
    case("cross_entropy_batch1", r.randn(1, 10, scale=3.0), labels(r, 10, 1))
    r = Rng("cross_entropy_unbatched")  # input [C], target []
    case("cross_entropy_unbatched", r.randn(5), torch.tensor(3.0), smoothing=0.05)
    r = Rng("cross_entropy_spatial")  # input [N, C, H, W], target [N, H, W]
    case("cross_entropy_spatial", r.randn(2, 3, 2, 3), labels(r, 3, 2, 2, 3),
         r.uniform(0.5, 2.0, 3), smoothing=0.1)
    r = Rng("cross_entropy_spatial_none")
    case("cross_entropy_spatial_none", r.randn(2, 4, 3), labels(r, 4, 2, 3), red="none")
    r = Rng("cross_entropy_large_logits")  # log-sum-exp keeps these finite
    case("cross_entropy_large_logits", torch.tensor([[500.0, -500.0, 0.0], [-800.0, 700.0, 699.0]]),
         torch.tensor([1.0, 2.0]))
    r = Rng("nll_loss_weighted_ignored")
    case("nll_loss_weighted_ignored", torch.log_softmax(r.randn(5, 4), 1),
         torch.tensor([3.0, -100.0, 0.0, 3.0, 1.0]), r.uniform(0.5, 2.0, 4), nll=True)
    r = Rng("nll_loss_spatial")
    case("nll_loss_spatial", torch.log_softmax(r.randn(2, 3, 4), 1), labels(r, 3, 2, 4), nll=True)


# ---------------------------------------------------------------------------------------------
# Optimisers: 20 steps with fixed gradients

STEPS = 20
PARAM_SHAPES = ((2, 3), (4,))


def optim_case(name, op, make, lrs, skip=(), zero=()):
    """make(params) -> torch optimiser; lrs: the learning rate of each step; skip: (step, i) pairs
    at which parameter i has no gradient; zero: pairs at which its gradient is zero (the
    optimiser still steps: momentum carries on)."""
    r = Rng(name)
    params = [r.randn(*s).requires_grad_() for s in PARAM_SHAPES]
    tensors = [("lr", torch.tensor(lrs))]
    tensors += [("param.%d" % i, p.detach().clone()) for i, p in enumerate(params)]
    opt = make(params)
    for t in range(1, STEPS + 1):
        for g in opt.param_groups:
            g["lr"] = lrs[t - 1]
        for i, p in enumerate(params):
            if (t, i) in skip:
                p.grad = None
                continue
            # Scales vary between the parameters and over time; signs change.
            g = r.randn(*p.shape) * (1.0 if i == 0 else 0.05) * (1 + 0.5 * math.sin(t))
            if (t, i) in zero:
                g = torch.zeros_like(g)
            p.grad = g
            tensors.append(("grad@%d.%d" % (t, i), g))
        opt.step()
        tensors += [("param@%d.%d" % (t, i), p.detach().clone()) for i, p in enumerate(params)]
    for i, p in enumerate(params):
        for key, value in opt.state[p].items():
            if value is None:  # plain SGD's momentum_buffer
                continue
            if key == "step":
                value = torch.tensor(int(value))
            tensors.append(("state.%d.%s" % (i, key), value))
    add("optim", Case(name, op, False, [], tensors))


def optimisers():
    def sgd(name, lr=0.05, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            lrs=None, skip=(), zero=()):
        op = spec("SGD", lr=lr, momentum=momentum, dampening=dampening,
                  weight_decay=weight_decay, nesterov=nesterov)
        optim_case(name, op, lambda ps: torch.optim.SGD(
            ps, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov), lrs or [lr] * STEPS, skip, zero)

    def adam(name, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             lrs=None, skip=(), zero=()):
        op = spec("Adam", lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                  weight_decay=weight_decay, amsgrad=amsgrad)
        optim_case(name, op, lambda ps: torch.optim.Adam(
            ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad),
            lrs or [lr] * STEPS, skip, zero)

    sgd("sgd_plain", lr=0.1)
    sgd("sgd_momentum", momentum=0.9)
    sgd("sgd_momentum_dampening", momentum=0.9, dampening=0.1)
    sgd("sgd_nesterov", momentum=0.9, nesterov=True)
    sgd("sgd_weight_decay", lr=0.1, weight_decay=0.01)
    sgd("sgd_momentum_weight_decay_nesterov", momentum=0.5, weight_decay=0.01, nesterov=True)
    sgd("sgd_momentum_set_lr", momentum=0.9,
        lrs=[0.05] * 7 + [0.02] * 6 + [0.1] * 7)
    sgd("sgd_momentum_skipped_grads", momentum=0.9, skip={(6, 1), (7, 1), (8, 1), (1, 0)},
        zero={(10, 0), (11, 1)})
    adam("adam_default")
    adam("adam_betas_0.5_0.999", lr=2e-4, betas=(0.5, 0.999))
    adam("adam_weight_decay", lr=1e-2, weight_decay=0.01)
    adam("adam_amsgrad", lr=1e-2, amsgrad=True)
    adam("adam_amsgrad_weight_decay_eps", lr=1e-2, eps=1e-3, weight_decay=0.1, amsgrad=True)
    adam("adam_set_lr", lr=1e-2, lrs=[1e-2] * 8 + [3e-3] * 7 + [2e-2] * 5)
    adam("adam_skipped_grads", lr=1e-2, skip={(3, 1), (4, 1), (1, 0), (20, 0)},
         zero={(5, 0), (12, 1), (13, 1)})
    adam("adam_amsgrad_zero_grads", lr=1e-2, amsgrad=True, zero={(4, 0), (5, 0), (6, 1)})

    def adamw(name, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
              lrs=None, skip=(), zero=()):
        op = spec("AdamW", lr=lr, beta1=betas[0], beta2=betas[1], eps=eps,
                  weight_decay=weight_decay, amsgrad=amsgrad)
        optim_case(name, op, lambda ps: torch.optim.AdamW(
            ps, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad),
            lrs or [lr] * STEPS, skip, zero)

    def rmsprop(name, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, lrs=None, skip=(), zero=()):
        op = spec("RMSprop", lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                  momentum=momentum, centered=centered)
        optim_case(name, op, lambda ps: torch.optim.RMSprop(
            ps, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered), lrs or [lr] * STEPS, skip, zero)

    adamw("adamw_default")
    adamw("adamw_betas_0.5_0.999_decay_0.1", lr=2e-3, betas=(0.5, 0.999), weight_decay=0.1)
    adamw("adamw_amsgrad_set_lr", lr=1e-2, amsgrad=True, lrs=[1e-2] * 10 + [2e-3] * 10)
    adamw("adamw_skipped_grads", lr=1e-2, skip={(2, 1), (3, 1), (9, 0)}, zero={(5, 0)})
    rmsprop("rmsprop_default")
    rmsprop("rmsprop_wgan_5e-5", lr=5e-5)  # the WGAN paper's setting
    rmsprop("rmsprop_momentum_weight_decay", lr=1e-3, momentum=0.9, weight_decay=0.01)
    rmsprop("rmsprop_centered", lr=1e-3, alpha=0.9, eps=1e-6, centered=True)
    rmsprop("rmsprop_centered_momentum_set_lr", lr=1e-3, momentum=0.5, centered=True,
            lrs=[1e-3] * 7 + [3e-4] * 13)
    rmsprop("rmsprop_skipped_grads", lr=1e-3, momentum=0.9, skip={(4, 0), (5, 1)},
            zero={(8, 1)})


# ---------------------------------------------------------------------------------------------
# One iteration of GAN_VARIANTS.md row 3

MASK64 = (1 << 64) - 1


def splitmix_values(seed, n):
    """The integers k in [-2^22, 2^22) that the C++ test draws with the same recurrence."""
    out = []
    state = seed & MASK64
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        out.append((z >> 41) - (1 << 22))
    return out


def adam_rebuild(p0, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """PyTorch's single-tensor Adam (1.13) applied to p0 with the given gradients, step by step;
    the C++ test does the same per element."""
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    for step, g in enumerate(grads, start=1):
        m = m * beta1 + g * (1 - beta1)
        v = v * beta2 + (1 - beta2) * g * g
        bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
        p = p - (lr / bc1) * (m / (v.sqrt() / math.sqrt(bc2) + eps))
    return p


def gan_row3():
    name = "gan_row3"
    zdim, hidden, image, slope, lr = 100, 200, 784, 0.02, 1e-4
    r = Rng(name)

    def net(sizes):
        a, b, c = sizes
        return nn.Sequential(nn.Linear(a, b), nn.LeakyReLU(slope), nn.LayerNorm(b),
                             nn.Linear(b, c), nn.Sigmoid())

    G, D = net((zdim, hidden, image)), net((image, hidden, 1))
    tensors = []
    exponents = {(zdim, hidden): -3, (hidden, image): -4, (image, hidden): -5, (hidden, 1): -4}
    nets = (("G", G), ("D", D))
    with torch.no_grad():
        for prefix, model in nets:
            for idx in (0, 3):
                lin = model[idx]
                e = exponents[(lin.in_features, lin.out_features)]
                for pname in ("weight", "bias"):
                    key = "%s.%d.%s" % (prefix, idx, pname)
                    seed = zlib.crc32((name + "/" + key).encode())
                    p = getattr(lin, pname)
                    ks = splitmix_values(seed, p.numel())
                    p.copy_(torch.tensor(ks, dtype=torch.float64).reshape(p.shape) * 2.0 ** (e - 22))
                    tensors.append(("init." + key, torch.tensor([seed, e])))
    initial = {"%s.%s" % (prefix, n): p.detach().clone()
               for prefix, model in nets for n, p in model.named_parameters()}

    # An MNIST-like image: mostly background zeros, the rest multiples of 1/255.
    real = torch.where(r.uniform(0, 1, image) < 0.8, torch.zeros(image),
                       r.randint(1, 256, image).double() / 255)
    z_fake, z_gen = r.randn(zdim), r.randn(zdim)
    tensors += [("real", real), ("z_fake", z_fake), ("z_gen", z_gen)]

    def forward(model, x):
        """The model's output and, for each Linear, its input and its output (retaining grad)."""
        linear_io = {}
        for idx, layer in enumerate(model):
            y = layer(x)
            if isinstance(layer, nn.Linear):
                y.retain_grad()
                linear_io[idx] = (x, y)
            x = y
        return x, linear_io

    big = {"G.0.weight", "G.3.weight", "D.0.weight"}
    factors = {k: [] for k in big}
    bce = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=lr)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr)

    def record_factors(prefix, model, linear_io):
        for idx, (x, y) in linear_io.items():
            key = "%s.%d.weight" % (prefix, idx)
            if key in big:
                u, v = y.grad.detach().clone(), x.detach().clone()
                assert torch.equal(torch.outer(u, v), model[idx].weight.grad), key
                factors[key].append((u, v))

    def d_train(x, target):
        out, io = forward(D, x)
        loss = bce(out, torch.tensor([target]))
        opt_d.zero_grad()
        loss.backward()
        record_factors("D", D, io)
        opt_d.step()
        return loss

    loss_d_real = d_train(real, 1.0)
    fake = G(z_fake).detach()
    loss_d_fake = d_train(fake, 0.0)
    out, io = forward(G, z_gen)
    loss_g = bce(D(out), torch.tensor([1.0]))
    opt_g.zero_grad()
    loss_g.backward()
    record_factors("G", G, io)
    opt_g.step()

    tensors += [("fake", fake), ("loss_d_real", loss_d_real), ("loss_d_fake", loss_d_fake),
                ("loss_g", loss_g)]
    for prefix, model in nets:
        for n, p in model.named_parameters():
            key = "%s.%s" % (prefix, n)
            if key not in big:
                tensors.append(("final." + key, p))
                continue
            rebuilt = adam_rebuild(initial[key], [torch.outer(u, v) for u, v in factors[key]], lr)
            err = (rebuilt - p).abs().max().item()
            assert err <= 1e-15, (key, err)
            for s, (u, v) in enumerate(factors[key], start=1):
                tensors += [("gradu@%d.%s" % (s, key), u), ("gradv@%d.%s" % (s, key), v)]
            spots = torch.randperm(p.numel(), generator=Rng(name + "/" + key).gen)[:64]
            spots = spots.sort().values
            tensors += [("spot_index." + key, spots),
                        ("spot." + key, p.detach().reshape(-1)[spots])]
    op = spec("GANRow3", zdim=zdim, hidden=hidden, image=image, slope=slope, lr=lr)
    add("gan", Case(name, op, False, [], tensors))


# ---------------------------------------------------------------------------------------------

def main():
    linears()
    maxouts()
    convs()
    conv_transposes()
    pools_and_shapes()
    activations()
    layer_norms()
    batch_norms()
    embeddings()
    losses()
    class_losses()
    optimisers()
    gan_row3()
    names = [c.name for cases in FILES.values() for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    for n in names:
        assert " " not in n, n
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    for family, cases in FILES.items():
        path = os.path.join(FIXTURE_DIR, "nn_%s.txt" % family)
        with open(path, "w", newline="\n") as out:
            out.write("# Generated by tools/gen_nn_fixtures.py from PyTorch %s; do not edit.\n"
                      % torch.__version__)
            out.write("# Format: see the docstring of tools/gen_nn_fixtures.py.\n")
            out.write("count %d\n" % len(cases))
            for c in cases:
                out.write(c.text())
        print("%-40s %3d cases" % (os.path.relpath(path), len(cases)))
    print("total %d cases" % len(names))


if __name__ == "__main__":
    main()
