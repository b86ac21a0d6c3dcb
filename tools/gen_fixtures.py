#!/usr/bin/python3
"""Generates the PyTorch golden values that tests/test_ops_golden.cpp checks nabla against.

Run from anywhere with Debian's Python and PyTorch:

    /usr/bin/python3 tools/gen_fixtures.py

It rewrites tests/fixtures/ops_<family>.txt. The output is deterministic: every case draws its
inputs from its own torch.Generator seeded from the case's name, so the same script gives the same
bytes, and adding a case never changes another case's values. The tests never need PyTorch.

Each case applies one op (or a small composition) to its inputs in float64, then backpropagates
an upstream gradient `gout` of the output's shape: the gradients are those of sum(out * gout)
with respect to every differentiable input.

Fixture format (text, one record per line, tokens separated by single spaces):

    # ...                                  a comment (only before the first case)
    count <N>                              the number of cases in the file
    case <name>                            starts a case; names are unique across all files
    op <description>                       the op; the C++ test maps this exact string to a lambda
    gradcheck <0|1>                        0 for tie cases and forward-only ops
    requires_grad [<k> ...]                indices of the inputs that are differentiable
    tensor <role> <dtype> <ndim> [<d0> ...] : [<v0> ...]
    end                                    closes the case

  role:   in<k> (input k, in call order), out (forward result), indices (int64 indices of
          max/min along a dim, or argmax), gout (upstream gradient), grad<k> (gradient of in<k>)
  dtype:  f64 (values written with repr(), which round-trips a double exactly) or i64
  values: row-major; a 0-dim tensor has ndim 0, no dims and one value.

Inputs stay away from kinks (relu/abs at 0, clamp bounds, ties, log/sqrt/div near 0) so that the
gradients are well defined and a finite-difference gradcheck agrees with them. The cases named
*_ties / *_at_bounds deliberately sit on a kink to pin PyTorch's convention there; they are
checked against the golden values only (gradcheck 0). Tie values are multiples of 1/4, so that
they stay ties after conversion to float.
"""
import os
import zlib

import torch

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)


class Rng:
    """Random inputs for one case, seeded from the case's name."""

    def __init__(self, name):
        self.gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.gen) * scale

    def uniform(self, lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(shape, generator=self.gen)

    def nonzero(self, lo, hi, *shape):
        """Magnitude in [lo, hi), random sign."""
        sign = torch.randint(0, 2, shape, generator=self.gen) * 2.0 - 1.0
        return sign * self.uniform(lo, hi, *shape)

    def randint(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.gen)

    def quarters(self, lo, hi, *shape):
        """Multiples of 1/4 in [lo, hi): exact in float, and often equal to each other."""
        return torch.randint(int(lo * 4), int(hi * 4), shape, generator=self.gen).double() / 4

    def distinct(self, *shape):
        """Values at least 0.2 apart (no ties), in random order."""
        n = 1
        for d in shape:
            n *= d
        base = torch.randperm(n, generator=self.gen).double() * 0.25 - 0.125 * n
        return (base + self.uniform(0.0, 0.05, n)).reshape(shape)

    def mask(self, *shape):
        return torch.randint(0, 2, shape, generator=self.gen).double()


def away(x, points, margin=0.05):
    """Moves values closer than `margin` to any of `points` out to that distance."""
    x = x.clone()
    for p in points:
        d = x - p
        near = d.abs() < margin
        x[near] = p + torch.where(d[near] >= 0, margin, -margin)
    return x


# ---------------------------------------------------------------------------------------------
# Ops. Keys are the descriptions written to the fixtures; the C++ test has the same keys.

OPS = {
    # binary arithmetic (broadcasting)
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: torch.pow(a, b),
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    # with a scalar
    "pow(x,2)": lambda x: torch.pow(x, 2),
    "pow(x,0.5)": lambda x: torch.pow(x, 0.5),
    "pow(x,3)": lambda x: torch.pow(x, 3),
    "pow(x,-1.5)": lambda x: torch.pow(x, -1.5),
    "x+2.5": lambda x: x + 2.5,
    "2.5+x": lambda x: 2.5 + x,
    "2.5-x": lambda x: 2.5 - x,
    "x-1": lambda x: x - 1,
    "x*3": lambda x: x * 3,
    "3*x": lambda x: 3 * x,
    "1/x": lambda x: 1 / x,
    "x/4": lambda x: x / 4,
    # unary math
    "neg": lambda x: -x,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "clamp(x,-0.5,0.6)": lambda x: torch.clamp(x, -0.5, 0.6),
    "clamp(x,-0.5,0.75)": lambda x: torch.clamp(x, -0.5, 0.75),
    "clamp_min(x,-0.25)": lambda x: torch.clamp_min(x, -0.25),
    "clamp_max(x,0.5)": lambda x: torch.clamp_max(x, 0.5),
    # comparisons (forward only; nabla returns 1/0 in the input's type)
    "gt": lambda a, b: torch.gt(a, b).double(),
    "lt": lambda a, b: torch.lt(a, b).double(),
    "ge": lambda a, b: torch.ge(a, b).double(),
    "le": lambda a, b: torch.le(a, b).double(),
    "eq": lambda a, b: torch.eq(a, b).double(),
    "ne": lambda a, b: torch.ne(a, b).double(),
    "gt(x,0.5)": lambda x: torch.gt(x, 0.5).double(),
    "lt(x,0.5)": lambda x: torch.lt(x, 0.5).double(),
    "ge(x,0.5)": lambda x: torch.ge(x, 0.5).double(),
    "le(x,0.5)": lambda x: torch.le(x, 0.5).double(),
    "eq(x,0.5)": lambda x: torch.eq(x, 0.5).double(),
    "ne(x,0.5)": lambda x: torch.ne(x, 0.5).double(),
    # selection (the condition/mask is 0/1 data, not differentiable)
    "where": lambda c, a, b: torch.where(c != 0, a, b),
    "masked_fill(x,mask,-2)": lambda x, m: x.masked_fill(m != 0, -2.0),
    # reductions
    "sum": torch.sum,
    "sum(x,0)": lambda x: torch.sum(x, 0),
    "sum(x,1)": lambda x: torch.sum(x, 1),
    "sum(x,1,keepdim)": lambda x: torch.sum(x, 1, keepdim=True),
    "sum(x,-1)": lambda x: torch.sum(x, -1),
    "sum(x,{0,2})": lambda x: torch.sum(x, (0, 2)),
    "sum(x,{0,2},keepdim)": lambda x: torch.sum(x, (0, 2), keepdim=True),
    "sum(x,{-1,-3},keepdim)": lambda x: torch.sum(x, (-1, -3), keepdim=True),
    "sum(x,{0,1,2})": lambda x: torch.sum(x, (0, 1, 2)),
    "mean": torch.mean,
    "mean(x,0)": lambda x: torch.mean(x, 0),
    "mean(x,1)": lambda x: torch.mean(x, 1),
    "mean(x,1,keepdim)": lambda x: torch.mean(x, 1, keepdim=True),
    "mean(x,-1)": lambda x: torch.mean(x, -1),
    "mean(x,{0,2})": lambda x: torch.mean(x, (0, 2)),
    "mean(x,{0,2},keepdim)": lambda x: torch.mean(x, (0, 2), keepdim=True),
    "mean(x,{-1,-3},keepdim)": lambda x: torch.mean(x, (-1, -3), keepdim=True),
    "max": torch.max,
    "min": torch.min,
    "max(x,0)": lambda x: tuple(torch.max(x, 0)),
    "max(x,1)": lambda x: tuple(torch.max(x, 1)),
    "max(x,-1)": lambda x: tuple(torch.max(x, -1)),
    "max(x,0,keepdim)": lambda x: tuple(torch.max(x, 0, keepdim=True)),
    "max(x,1,keepdim)": lambda x: tuple(torch.max(x, 1, keepdim=True)),
    "min(x,0)": lambda x: tuple(torch.min(x, 0)),
    "min(x,1)": lambda x: tuple(torch.min(x, 1)),
    "min(x,-1)": lambda x: tuple(torch.min(x, -1)),
    "min(x,1,keepdim)": lambda x: tuple(torch.min(x, 1, keepdim=True)),
    "argmax(x,0)": lambda x: torch.argmax(x, 0),
    "argmax(x,1)": lambda x: torch.argmax(x, 1),
    "argmax(x,-1,keepdim)": lambda x: torch.argmax(x, -1, keepdim=True),
    # activations
    "relu": torch.relu,
    "leaky_relu": torch.nn.functional.leaky_relu,
    "leaky_relu(x,0.2)": lambda x: torch.nn.functional.leaky_relu(x, 0.2),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax(x,-1)": lambda x: torch.softmax(x, -1),
    "softmax(x,0)": lambda x: torch.softmax(x, 0),
    "softmax(x,1)": lambda x: torch.softmax(x, 1),
    "log_softmax(x,-1)": lambda x: torch.log_softmax(x, -1),
    "log_softmax(x,0)": lambda x: torch.log_softmax(x, 0),
    "log_softmax(x,1)": lambda x: torch.log_softmax(x, 1),
    # matmul
    "matmul": torch.matmul,
    "matmul(a.t(),b)": lambda a, b: torch.matmul(a.t(), b),
    "matmul(a,b.t())": lambda a, b: torch.matmul(a, b.t()),
    # shape
    "cat({a,b},0)": lambda a, b: torch.cat([a, b], 0),
    "cat({a,b},1)": lambda a, b: torch.cat([a, b], 1),
    "cat({a,b,c},1)": lambda a, b, c: torch.cat([a, b, c], 1),
    "cat({a,b,c},0)": lambda a, b, c: torch.cat([a, b, c], 0),
    "cat({a,b},-1)": lambda a, b: torch.cat([a, b], -1),
    "stack({a,b,c},0)": lambda a, b, c: torch.stack([a, b, c], 0),
    "stack({a,b,c},1)": lambda a, b, c: torch.stack([a, b, c], 1),
    "stack({a,b,c},-1)": lambda a, b, c: torch.stack([a, b, c], -1),
    "flatten": torch.flatten,
    "flatten(x,1,2)": lambda x: torch.flatten(x, 1, 2),
    "flatten(x,0,1)": lambda x: torch.flatten(x, 0, 1),
    "flatten(x,-2,-1)": lambda x: torch.flatten(x, -2, -1),
    "reshape(x,{-1,4})": lambda x: x.reshape(-1, 4),
    "reshape(x,{3,-1})": lambda x: x.reshape(3, -1),
    "reshape(x.t(),{-1})": lambda x: x.t().reshape(-1),
    "view(x,{4,6})": lambda x: x.view(4, 6),
    "view(x,{-1})": lambda x: x.view(-1),
    "view(x,{2,-1,2})": lambda x: x.view(2, -1, 2),
    "transpose(x,0,2)": lambda x: x.transpose(0, 2),
    "transpose(x,-1,-2)": lambda x: x.transpose(-1, -2),
    "permute(x,{2,0,1})": lambda x: x.permute(2, 0, 1),
    "permute(x,{-1,0,-2})": lambda x: x.permute(-1, 0, -2),
    "narrow(x,1,1,2)": lambda x: x.narrow(1, 1, 2),
    "narrow(x,-1,0,2)": lambda x: x.narrow(-1, 0, 2),
    "narrow(x,0,2,2)*y": lambda x, y: x.narrow(0, 2, 2) * y,
    "select(x,0,1)": lambda x: x.select(0, 1),
    "select(x,-1,2)": lambda x: x.select(-1, 2),
    "select(x,1,-1)": lambda x: x.select(1, -1),
    "expand(x,{2,3,4})*y": lambda x, y: x.expand(2, 3, 4) * y,
    "expand(x,{3,-1})": lambda x: x.expand(3, -1),
    "exp(expand(x,{2,4,3}))": lambda x: torch.exp(x.expand(2, 4, 3)),
    "squeeze(x,1)": lambda x: x.squeeze(1),
    "squeeze(x,-1)": lambda x: x.squeeze(-1),
    "squeeze(x,0)": lambda x: x.squeeze(0),
    "unsqueeze(x,0)": lambda x: x.unsqueeze(0),
    "unsqueeze(x,1)": lambda x: x.unsqueeze(1),
    "unsqueeze(x,-1)": lambda x: x.unsqueeze(-1),
    "t": lambda x: x.t(),
    "t(x)*y": lambda x, y: x.t() * y,
    "contiguous(t(x))": lambda x: x.t().contiguous(),
    "view(contiguous(transpose(x,0,1)),{-1})": lambda x: x.transpose(0, 1).contiguous().view(-1),
    "clone": lambda x: x.clone(),
    "clone(x)*x": lambda x: x.clone() * x,
    "one_hot(labels,5)": lambda l: torch.nn.functional.one_hot(l, 5).double(),
    "one_hot(labels,4)": lambda l: torch.nn.functional.one_hot(l, 4).double(),
    # compositions
    "mlp": lambda x, w1, b1, w2, b2: torch.sigmoid(
        torch.nn.functional.leaky_relu(x @ w1 + b1, 0.02) @ w2 + b2),
    "x*x+x": lambda x: x * x + x,
    "x*sigmoid(x)": lambda x: x * torch.sigmoid(x),
    "mean((a-b)^2)": lambda a, b: torch.mean(torch.pow(a - b, 2)),
    "bce(sigmoid(x),t)": lambda x, t: -torch.mean(
        t * torch.log(torch.sigmoid(x)) + (1 - t) * torch.log(1 - torch.sigmoid(x))),
    "nll(log_softmax(x,1),onehot)": lambda x, y: -torch.mean(
        torch.sum(torch.log_softmax(x, 1) * y, 1)),
    "tanh(x@w)*sum(x,1,keepdim)": lambda x, w: torch.tanh(x @ w) * torch.sum(x, 1, keepdim=True),
}


class Case:
    def __init__(self, family, name, op, inputs, grad, gradcheck):
        self.family, self.name, self.op = family, name, op
        self.inputs, self.grad, self.gradcheck = inputs, grad, gradcheck


CASES = []


def case(family, name, op, inputs, grad=None, gradcheck=True):
    """inputs: tensors (float64, or int64 for labels); grad: which inputs are differentiable
    (default: every float64 input)."""
    assert op in OPS, op
    if grad is None:
        grad = [x.dtype == torch.float64 for x in inputs]
    CASES.append(Case(family, name, op, inputs, grad, gradcheck))


def forward_only(family, name, op, inputs):
    case(family, name, op, inputs, grad=[False] * len(inputs), gradcheck=False)


# ---------------------------------------------------------------------------------------------
# Elementwise

def elementwise():
    f = "elementwise"

    def binary(name, op, shape_a, shape_b, make_a=None, make_b=None):
        r = Rng(name)
        a = make_a(r, shape_a) if make_a else r.randn(*shape_a)
        b = make_b(r, shape_b) if make_b else r.randn(*shape_b)
        case(f, name, op, [a, b])

    denominator = lambda r, s: r.nonzero(0.5, 2.0, *s)
    base = lambda r, s: r.uniform(0.5, 2.0, *s)
    exponent = lambda r, s: r.uniform(-1.5, 2.0, *s)

    binary("add_same", "add", (3, 4), (3, 4))
    binary("add_bcast_row", "add", (3, 4), (4,))
    binary("add_bcast_both", "add", (3, 1), (1, 4))
    binary("add_bcast_rank", "add", (2, 1, 3), (4, 1))
    binary("add_bcast_0dim", "add", (3, 4), ())
    binary("sub_same", "sub", (3, 4), (3, 4))
    binary("sub_bcast", "sub", (2, 3, 4), (3, 1))
    binary("sub_bcast_lhs", "sub", (4,), (3, 4))
    binary("mul_same", "mul", (3, 4), (3, 4))
    binary("mul_bcast", "mul", (4, 1), (3,))
    binary("mul_bcast_0dim", "mul", (), (3, 4))
    binary("div_same", "div", (3, 4), (3, 4), make_b=denominator)
    binary("div_bcast", "div", (2, 3), (4, 1, 3), make_b=denominator)
    binary("div_bcast_col", "div", (3, 4), (3, 1), make_b=denominator)
    binary("pow_same", "pow", (3, 4), (3, 4), make_a=base, make_b=exponent)
    binary("pow_bcast_exponent", "pow", (3, 4), (4,), make_a=base, make_b=exponent)
    binary("pow_bcast_base", "pow", (3, 1), (1, 5), make_a=base, make_b=exponent)
    binary("maximum_same", "maximum", (3, 4), (3, 4))
    binary("maximum_bcast", "maximum", (3, 4), (4,))
    binary("minimum_same", "minimum", (3, 4), (3, 4))
    binary("minimum_bcast", "minimum", (2, 1, 4), (3, 1))

    # Ties: PyTorch gives each operand half the gradient where they are equal.
    for op in ("maximum", "minimum"):
        r = Rng(op + "_ties")
        a = r.randn(3, 4)
        b = torch.where(r.mask(3, 4) != 0, a, r.randn(3, 4))
        case(f, op + "_ties", op, [a, b], gradcheck=False)
        r = Rng(op + "_ties_bcast")
        b = r.randn(4)
        a = torch.where(r.mask(3, 4) != 0, b.expand(3, 4), r.randn(3, 4))
        case(f, op + "_ties_bcast", op, [a, b], gradcheck=False)

    def unary(name, op, make):
        case(f, name, op, [make(Rng(name))])

    unary("pow_scalar_2", "pow(x,2)", lambda r: r.randn(3, 4))
    unary("pow_scalar_0.5", "pow(x,0.5)", lambda r: r.uniform(0.3, 2.0, 3, 4))
    unary("pow_scalar_3", "pow(x,3)", lambda r: r.randn(3, 4))
    unary("pow_scalar_-1.5", "pow(x,-1.5)", lambda r: r.uniform(0.5, 2.0, 2, 5))
    unary("add_scalar", "x+2.5", lambda r: r.randn(3, 4))
    unary("scalar_add", "2.5+x", lambda r: r.randn(3, 4))
    unary("scalar_sub", "2.5-x", lambda r: r.randn(3, 4))
    unary("sub_scalar", "x-1", lambda r: r.randn(2, 3))
    unary("mul_scalar", "x*3", lambda r: r.randn(3, 4))
    unary("scalar_mul", "3*x", lambda r: r.randn(5))
    unary("scalar_div", "1/x", lambda r: r.nonzero(0.5, 2.0, 3, 4))
    unary("div_scalar", "x/4", lambda r: r.randn(3, 4))
    unary("neg", "neg", lambda r: r.randn(3, 4))
    unary("exp", "exp", lambda r: r.randn(3, 4))
    unary("log", "log", lambda r: r.uniform(0.2, 3.0, 3, 4))
    unary("sqrt", "sqrt", lambda r: r.uniform(0.2, 3.0, 3, 4))
    unary("abs", "abs", lambda r: away(r.randn(3, 4), [0.0]))
    unary("clamp", "clamp(x,-0.5,0.6)", lambda r: away(r.randn(4, 5), [-0.5, 0.6]))
    unary("clamp_min", "clamp_min(x,-0.25)", lambda r: away(r.randn(4, 5), [-0.25]))
    unary("clamp_max", "clamp_max(x,0.5)", lambda r: away(r.randn(4, 5), [0.5]))

    # At exactly the bounds PyTorch passes the gradient through.
    at_bounds = torch.tensor([[-1.0, -0.5, 0.0, 0.75], [1.0, 0.75, -0.5, 0.25]])
    case(f, "clamp_at_bounds", "clamp(x,-0.5,0.75)", [at_bounds], gradcheck=False)
    case(f, "clamp_min_at_bound", "clamp_min(x,-0.25)",
         [torch.tensor([-1.0, -0.25, 0.0, -0.25, 2.0])], gradcheck=False)
    case(f, "clamp_max_at_bound", "clamp_max(x,0.5)",
         [torch.tensor([-1.0, 0.5, 0.25, 0.5, 2.0])], gradcheck=False)

    # Comparisons: quarters make equal elements common.
    for op in ("gt", "lt", "ge", "le", "eq", "ne"):
        r = Rng(op)
        forward_only(f, op, op, [r.quarters(-1, 1, 3, 4), r.quarters(-1, 1, 3, 4)])
        r = Rng(op + "_bcast")
        forward_only(f, op + "_bcast", op, [r.quarters(-1, 1, 3, 4), r.quarters(-1, 1, 4)])
        r = Rng(op + "_scalar")
        forward_only(f, op + "_scalar", op + "(x,0.5)", [r.quarters(-1, 2, 3, 4)])

    r = Rng("where")
    case(f, "where", "where", [r.mask(3, 4), r.randn(3, 4), r.randn(3, 4)],
         grad=[False, True, True])
    r = Rng("where_bcast")
    case(f, "where_bcast", "where", [r.mask(3, 1), r.randn(1, 4), r.randn(4)],
         grad=[False, True, True])
    r = Rng("where_bcast_cond")
    case(f, "where_bcast_cond", "where", [r.mask(2, 3, 1), r.randn(3, 4), r.randn(1)],
         grad=[False, True, True])
    r = Rng("masked_fill")
    case(f, "masked_fill", "masked_fill(x,mask,-2)", [r.randn(3, 4), r.mask(3, 4)],
         grad=[True, False])
    r = Rng("masked_fill_bcast")
    case(f, "masked_fill_bcast", "masked_fill(x,mask,-2)", [r.randn(2, 3, 4), r.mask(3, 1)],
         grad=[True, False])


# ---------------------------------------------------------------------------------------------
# Reductions

def reductions():
    f = "reduce"

    def unary(name, op, make):
        case(f, name, op, [make(Rng(name))])

    unary("sum_all", "sum", lambda r: r.randn(3, 4, 5))
    unary("sum_all_1d", "sum", lambda r: r.randn(7))
    unary("sum_dim0", "sum(x,0)", lambda r: r.randn(3, 4))
    unary("sum_dim1", "sum(x,1)", lambda r: r.randn(3, 4))
    unary("sum_dim1_keepdim", "sum(x,1,keepdim)", lambda r: r.randn(2, 3, 4))
    unary("sum_dim_neg1", "sum(x,-1)", lambda r: r.randn(2, 3, 4))
    unary("sum_dims_0_2", "sum(x,{0,2})", lambda r: r.randn(2, 3, 4))
    unary("sum_dims_0_2_keepdim", "sum(x,{0,2},keepdim)", lambda r: r.randn(2, 3, 4))
    unary("sum_dims_neg_keepdim", "sum(x,{-1,-3},keepdim)", lambda r: r.randn(2, 3, 4))
    unary("sum_dims_all", "sum(x,{0,1,2})", lambda r: r.randn(2, 3, 4))
    unary("mean_all", "mean", lambda r: r.randn(3, 4, 5))
    unary("mean_dim0", "mean(x,0)", lambda r: r.randn(3, 4))
    unary("mean_dim1", "mean(x,1)", lambda r: r.randn(3, 4))
    unary("mean_dim1_keepdim", "mean(x,1,keepdim)", lambda r: r.randn(2, 3, 4))
    unary("mean_dim_neg1", "mean(x,-1)", lambda r: r.randn(2, 3, 4))
    unary("mean_dims_0_2", "mean(x,{0,2})", lambda r: r.randn(2, 3, 4))
    unary("mean_dims_0_2_keepdim", "mean(x,{0,2},keepdim)", lambda r: r.randn(2, 3, 4))
    unary("mean_dims_neg_keepdim", "mean(x,{-1,-3},keepdim)", lambda r: r.randn(2, 3, 4))

    unary("max_all", "max", lambda r: r.distinct(3, 5))
    unary("min_all", "min", lambda r: r.distinct(3, 5))
    unary("max_dim0", "max(x,0)", lambda r: r.distinct(4, 3))
    unary("max_dim1", "max(x,1)", lambda r: r.distinct(3, 5))
    unary("max_dim_neg1_3d", "max(x,-1)", lambda r: r.distinct(2, 3, 4))
    unary("max_dim0_keepdim", "max(x,0,keepdim)", lambda r: r.distinct(4, 3))
    unary("max_dim1_keepdim_3d", "max(x,1,keepdim)", lambda r: r.distinct(2, 3, 4))
    unary("max_dim1_3d", "max(x,1)", lambda r: r.distinct(2, 3, 4))
    unary("min_dim0", "min(x,0)", lambda r: r.distinct(4, 3))
    unary("min_dim1", "min(x,1)", lambda r: r.distinct(3, 5))
    unary("min_dim_neg1_3d", "min(x,-1)", lambda r: r.distinct(2, 3, 4))
    unary("min_dim1_keepdim_3d", "min(x,1,keepdim)", lambda r: r.distinct(2, 3, 4))
    for name, op, shape in (("argmax_dim0", "argmax(x,0)", (4, 3)),
                            ("argmax_dim1", "argmax(x,1)", (3, 5)),
                            ("argmax_dim_neg1_keepdim", "argmax(x,-1,keepdim)", (2, 3, 4))):
        forward_only(f, name, op, [Rng(name).distinct(*shape)])

    # Ties: max()/min() over everything share the gradient evenly among the tied elements;
    # along a dim the value and the whole gradient go to the first index that attains it.
    ties = torch.tensor([[1.0, 3.0, 3.0, -2.0], [3.0, 0.5, 3.0, 1.0], [-2.0, -2.0, 0.25, 3.0]])
    case(f, "max_all_ties", "max", [ties], gradcheck=False)
    case(f, "min_all_ties", "min", [ties], gradcheck=False)
    case(f, "max_dim1_ties", "max(x,1)", [ties], gradcheck=False)
    case(f, "max_dim0_ties", "max(x,0)", [ties], gradcheck=False)
    case(f, "min_dim1_ties", "min(x,1)", [ties], gradcheck=False)
    case(f, "min_dim0_ties", "min(x,0)", [ties], gradcheck=False)
    forward_only(f, "argmax_dim1_ties", "argmax(x,1)", [ties])
    forward_only(f, "argmax_dim0_ties", "argmax(x,0)", [ties])


# ---------------------------------------------------------------------------------------------
# Activations

def activations():
    f = "activation"

    def unary(name, op, make):
        case(f, name, op, [make(Rng(name))])

    unary("relu", "relu", lambda r: away(r.randn(3, 5), [0.0]))
    unary("leaky_relu", "leaky_relu", lambda r: away(r.randn(3, 5), [0.0]))
    unary("leaky_relu_0.2", "leaky_relu(x,0.2)", lambda r: away(r.randn(3, 5), [0.0]))
    unary("sigmoid", "sigmoid", lambda r: r.randn(3, 5, scale=2.0))
    unary("tanh", "tanh", lambda r: r.randn(3, 5, scale=1.5))
    unary("softmax_last", "softmax(x,-1)", lambda r: r.randn(3, 5))
    unary("softmax_1d", "softmax(x,-1)", lambda r: r.randn(6))
    unary("softmax_dim0", "softmax(x,0)", lambda r: r.randn(4, 3))
    unary("softmax_middle", "softmax(x,1)", lambda r: r.randn(2, 3, 4))
    unary("softmax_large", "softmax(x,-1)", lambda r: r.randn(3, 5, scale=20.0))
    unary("log_softmax_last", "log_softmax(x,-1)", lambda r: r.randn(3, 5))
    unary("log_softmax_dim0", "log_softmax(x,0)", lambda r: r.randn(4, 3))
    unary("log_softmax_middle", "log_softmax(x,1)", lambda r: r.randn(2, 3, 4))
    unary("log_softmax_large", "log_softmax(x,-1)", lambda r: r.randn(3, 5, scale=20.0))


# ---------------------------------------------------------------------------------------------
# matmul

def matmuls():
    f = "matmul"

    def mm(name, op, shape_a, shape_b):
        r = Rng(name)
        case(f, name, op, [r.randn(*shape_a), r.randn(*shape_b)])

    mm("matmul_2d_2d", "matmul", (3, 4), (4, 2))
    mm("matmul_1d_2d", "matmul", (4,), (4, 3))
    mm("matmul_2d_1d", "matmul", (3, 4), (4,))
    mm("matmul_1d_1d", "matmul", (5,), (5,))
    mm("matmul_3d_3d", "matmul", (2, 3, 4), (2, 4, 5))
    mm("matmul_bcast_batch", "matmul", (2, 1, 3, 4), (5, 4, 2))
    mm("matmul_3d_2d", "matmul", (2, 3, 4), (4, 5))
    mm("matmul_2d_3d", "matmul", (3, 4), (2, 4, 5))
    mm("matmul_1d_3d", "matmul", (4,), (2, 4, 3))
    mm("matmul_3d_1d", "matmul", (2, 3, 4), (4,))
    mm("matmul_lhs_transposed", "matmul(a.t(),b)", (4, 3), (4, 5))
    mm("matmul_rhs_transposed", "matmul(a,b.t())", (3, 4), (5, 4))


# ---------------------------------------------------------------------------------------------
# Shape and copy ops

def shapes():
    f = "shape"

    def unary(name, op, shape):
        case(f, name, op, [Rng(name).randn(*shape)])

    def multi(name, op, shapes_):
        r = Rng(name)
        case(f, name, op, [r.randn(*s) for s in shapes_])

    multi("cat_dim0", "cat({a,b},0)", [(2, 3), (4, 3)])
    multi("cat_dim1", "cat({a,b},1)", [(3, 2), (3, 4)])
    multi("cat_three_dim1", "cat({a,b,c},1)", [(2, 1, 3), (2, 3, 3), (2, 2, 3)])
    multi("cat_three_dim0", "cat({a,b,c},0)", [(1, 4), (2, 4), (3, 4)])
    multi("cat_neg_dim", "cat({a,b},-1)", [(2, 3, 2), (2, 3, 3)])
    multi("stack_dim0", "stack({a,b,c},0)", [(2, 3)] * 3)
    multi("stack_dim1", "stack({a,b,c},1)", [(2, 3)] * 3)
    multi("stack_neg_dim", "stack({a,b,c},-1)", [(2, 3)] * 3)
    unary("flatten", "flatten", (2, 3, 4))
    unary("flatten_1_2", "flatten(x,1,2)", (2, 3, 4, 2))
    unary("flatten_0_1", "flatten(x,0,1)", (2, 3, 4))
    unary("flatten_neg", "flatten(x,-2,-1)", (2, 3, 4))
    unary("reshape_infer_first", "reshape(x,{-1,4})", (2, 3, 4))
    unary("reshape_infer_last", "reshape(x,{3,-1})", (2, 3, 4))
    unary("reshape_noncontiguous", "reshape(x.t(),{-1})", (3, 4))
    unary("view", "view(x,{4,6})", (2, 3, 4))
    unary("view_flat", "view(x,{-1})", (2, 3, 4))
    unary("view_infer_middle", "view(x,{2,-1,2})", (2, 3, 4))
    unary("transpose", "transpose(x,0,2)", (2, 3, 4))
    unary("transpose_neg", "transpose(x,-1,-2)", (2, 3, 4))
    unary("permute", "permute(x,{2,0,1})", (2, 3, 4))
    unary("permute_neg", "permute(x,{-1,0,-2})", (2, 3, 4))
    unary("narrow", "narrow(x,1,1,2)", (3, 5))
    unary("narrow_neg_dim", "narrow(x,-1,0,2)", (2, 3, 4))
    multi("narrow_then_mul", "narrow(x,0,2,2)*y", [(5, 3), (2, 3)])
    unary("select", "select(x,0,1)", (3, 4))
    unary("select_neg_dim", "select(x,-1,2)", (2, 3, 4))
    unary("select_neg_index", "select(x,1,-1)", (2, 3, 4))
    multi("expand_then_mul", "expand(x,{2,3,4})*y", [(3, 1), (2, 3, 4)])
    unary("expand_infer", "expand(x,{3,-1})", (1, 4))
    unary("expand_then_exp", "exp(expand(x,{2,4,3}))", (4, 1))
    unary("squeeze", "squeeze(x,1)", (3, 1, 4))
    unary("squeeze_neg", "squeeze(x,-1)", (3, 4, 1))
    unary("squeeze_not_one", "squeeze(x,0)", (3, 4))
    unary("unsqueeze_first", "unsqueeze(x,0)", (3, 4))
    unary("unsqueeze_middle", "unsqueeze(x,1)", (3, 4))
    unary("unsqueeze_last", "unsqueeze(x,-1)", (3, 4))
    unary("t", "t", (3, 4))
    unary("t_1d", "t", (5,))
    multi("t_then_mul", "t(x)*y", [(3, 4), (4, 3)])
    unary("contiguous", "contiguous(t(x))", (3, 4))
    unary("contiguous_then_view", "view(contiguous(transpose(x,0,1)),{-1})", (2, 3, 4))
    unary("clone", "clone", (3, 4))
    unary("clone_then_mul", "clone(x)*x", (3, 4))
    forward_only(f, "one_hot_1d", "one_hot(labels,5)",
                 [Rng("one_hot_1d").randint(0, 5, 6)])
    forward_only(f, "one_hot_2d", "one_hot(labels,4)",
                 [Rng("one_hot_2d").randint(0, 4, 2, 3)])


# ---------------------------------------------------------------------------------------------
# Compositions

def compositions():
    f = "composite"

    for batch in (1, 3):
        name = "mlp_batch%d" % batch
        r = Rng(name)
        while True:
            x, w1, b1 = r.randn(batch, 4), r.randn(4, 5, scale=0.5), r.randn(5, scale=0.1)
            w2, b2 = r.randn(5, 3, scale=0.5), r.randn(3, scale=0.1)
            if ((x @ w1 + b1).abs() > 0.01).all():  # stay off leaky_relu's kink
                break
        case(f, name, "mlp", [x, w1, b1, w2, b2])

    r = Rng("reuse_x*x+x")
    case(f, "reuse_x*x+x", "x*x+x", [r.randn(3, 4)])
    r = Rng("swish")
    case(f, "swish", "x*sigmoid(x)", [r.randn(2, 5)])
    r = Rng("mse")
    case(f, "mse", "mean((a-b)^2)", [r.randn(3, 4), r.randn(3, 4)])
    r = Rng("bce")
    case(f, "bce", "bce(sigmoid(x),t)", [r.randn(4, 3), r.mask(4, 3)], grad=[True, False])
    r = Rng("nll")
    labels = r.randint(0, 5, 3)
    case(f, "nll", "nll(log_softmax(x,1),onehot)",
         [r.randn(3, 5), torch.nn.functional.one_hot(labels, 5).double()], grad=[True, False])
    r = Rng("tanh_matmul_reuse")
    case(f, "tanh_matmul_reuse", "tanh(x@w)*sum(x,1,keepdim)", [r.randn(3, 4), r.randn(4, 2)])


# ---------------------------------------------------------------------------------------------
# Evaluation and output

def fmt_tensor(role, t):
    t = t.detach()
    if t.dtype == torch.int64:
        dtype, values = "i64", [str(int(v)) for v in t.reshape(-1).tolist()]
    else:
        assert t.dtype == torch.float64, (role, t.dtype)
        dtype, values = "f64", [repr(float(v)) for v in t.reshape(-1).tolist()]
    assert t.numel() <= 60, (role, t.shape)
    dims = [str(d) for d in t.shape]
    return " ".join(["tensor", role, dtype, str(t.dim())] + dims + [":"] + values)


def evaluate(c):
    lines = ["case " + c.name, "op " + c.op, "gradcheck %d" % int(c.gradcheck),
             " ".join(["requires_grad"] + [str(k) for k, g in enumerate(c.grad) if g])]
    inputs = []
    for k, (x, g) in enumerate(zip(c.inputs, c.grad)):
        lines.append(fmt_tensor("in%d" % k, x))
        inputs.append(x.detach().clone().requires_grad_(g))
    result = OPS[c.op](*inputs)
    values, indices = result if isinstance(result, tuple) else (result, None)
    if values.dtype == torch.int64:
        values, indices = None, values
    if values is not None:
        lines.append(fmt_tensor("out", values))
    if indices is not None:
        lines.append(fmt_tensor("indices", indices))
    if any(c.grad):
        assert values is not None and values.requires_grad, c.name
        gout = Rng(c.name + "/gout").randn(*values.shape)
        lines.append(fmt_tensor("gout", gout))
        torch.sum(values * gout).backward()
        for k, x in enumerate(inputs):
            if c.grad[k]:
                grad = x.grad if x.grad is not None else torch.zeros_like(x)
                lines.append(fmt_tensor("grad%d" % k, grad))
    else:
        assert not c.gradcheck, c.name + ": gradcheck needs a differentiable input"
    lines.append("end")
    return "\n".join(lines) + "\n"


def main():
    elementwise()
    reductions()
    activations()
    matmuls()
    shapes()
    compositions()
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    for name in names:
        assert " " not in name
    families = []
    for c in CASES:
        if c.family not in families:
            families.append(c.family)
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    for family in families:
        cases = [c for c in CASES if c.family == family]
        path = os.path.join(FIXTURE_DIR, "ops_%s.txt" % family)
        with open(path, "w", newline="\n") as out:
            out.write("# Generated by tools/gen_fixtures.py from PyTorch %s; do not edit.\n"
                      % torch.__version__)
            out.write("# Format: see the docstring of tools/gen_fixtures.py.\n")
            out.write("count %d\n" % len(cases))
            for c in cases:
                out.write(evaluate(c))
        print("%-40s %3d cases" % (os.path.relpath(path), len(cases)))
    print("total %d cases" % len(CASES))


if __name__ == "__main__":
    main()
