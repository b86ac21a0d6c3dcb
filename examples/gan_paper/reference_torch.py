#!/usr/bin/python3
"""Row 5 (document 001, the GAN paper's MLPs) in PyTorch, written the way the document writes it.

A reference, not part of the build or the tests: it answers "is a result the recipe or nabla?".
It trains the document's G (with the `final` stage's BatchNorm1d) and D with BCE, batches of 64
(shuffled, drop_last), one-sided label smoothing (real targets uniform in [0.9, 1], drawn once),
z = sqrt(0.1) * randn, G on Adam and D on SGD momentum 0.9 (or Adam with --opt-d adam), both at
lr 2e-4, then writes --count samples (G in eval mode) as an IDX file that `nabla-eval` judges:

    /usr/bin/python3 examples/gan_paper/reference_torch.py --maxout document --out /tmp/r5.idx
    build/release/examples/nabla-eval /tmp/r5.idx

--maxout picks D's activation after each hidden Linear:
  standard  the maxout unit of Goodfellow et al. 2013 (what nabla's gan_paper uses): the hidden
            Linear(a, b) becomes Linear(a, b*k) and each output is the max of its k pieces;
  document  the document's own Maxout class: one scalar function max_j(w_j x + b_j) with k = 3
            lines drawn from randn, applied to every element and never trained (the document
            creates the six numbers outside the module's parameters).
Needs python3-torch (Debian; `scripts/bootstrap.sh --fixtures` installs it).
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from idx_io import read_idx_images, write_idx_images  # noqa: E402


class DocumentMaxout(nn.Module):
    """The document's Maxout: k random lines shared by every element, not parameters."""

    def __init__(self, k=3):
        super().__init__()
        self.k = k
        self.register_buffer("weight", torch.randn(k).unsqueeze(1))
        self.register_buffer("bias", torch.randn(k).unsqueeze(0))

    def forward(self, x):
        y = nn.functional.linear(x.flatten().unsqueeze(1), self.weight, self.bias)
        return nn.functional.max_pool1d(y, self.k).reshape(*x.shape)


class StandardMaxout(nn.Module):
    def __init__(self, inputs, outputs, k=3):
        super().__init__()
        self.outputs, self.k = outputs, k
        self.linear = nn.Linear(inputs, outputs * k)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.outputs, self.k).max(dim=2).values


def make_discriminator(kind, k):
    if kind == "document":
        return nn.Sequential(nn.Linear(784, 512), DocumentMaxout(k), nn.Dropout(0.5),
                             nn.Linear(512, 256), DocumentMaxout(k), nn.Linear(256, 1),
                             nn.Sigmoid())
    return nn.Sequential(StandardMaxout(784, 512, k), nn.Dropout(0.5), StandardMaxout(512, 256, k),
                         nn.Linear(256, 1), nn.Sigmoid())


def make_generator():
    return nn.Sequential(nn.Linear(100, 256), nn.BatchNorm1d(256), nn.ReLU(),
                         nn.Linear(256, 512), nn.BatchNorm1d(512), nn.ReLU(),
                         nn.Linear(512, 784), nn.Sigmoid())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/mnist/train-images-idx3-ubyte.gz")
    p.add_argument("--maxout", choices=["standard", "document"], default="document")
    p.add_argument("--pieces", type=int, default=3)
    p.add_argument("--opt-d", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--dump-every", type=int, default=0,
                   help="also write <out>.e<epoch>.idx every this many epochs")
    p.add_argument("--out", required=True, help="IDX file for the generated images")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    images = read_idx_images(a.data)
    G, D = make_generator(), make_discriminator(a.maxout, a.pieces)
    opt_g = torch.optim.Adam(G.parameters(), lr=a.lr)
    opt_d = (torch.optim.SGD(D.parameters(), lr=a.lr, momentum=0.9) if a.opt_d == "sgd"
             else torch.optim.Adam(D.parameters(), lr=a.lr))
    bce = nn.BCELoss()
    ones = torch.rand(a.batch, 1) * 0.1 + 0.9  # one-sided smoothing, drawn once as the document
    targets_g = torch.ones(a.batch, 1)
    zeros = torch.zeros(a.batch, 1)
    per_epoch = images.shape[0] // a.batch

    def dump(path):
        G.eval()
        with torch.no_grad():
            write_idx_images(path, G(0.1 ** 0.5 * torch.randn(a.count, 100)))
        G.train()

    start = time.time()
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(images.shape[0])
        for i in range(per_epoch):
            real = images[order[i * a.batch:(i + 1) * a.batch]]
            z = 0.1 ** 0.5 * torch.randn(a.batch, 100)
            fake = G(z)
            real_out, fake_out = D(real), D(fake.detach())
            d_loss = (bce(real_out, ones) + bce(fake_out, zeros)) / 2
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = bce(D(fake), targets_g)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
        print(f"epoch {epoch}/{a.epochs}: d_loss {d_loss.item():.4f} g_loss {g_loss.item():.4f} "
              f"D(x) {real_out.mean().item():.2f} D(G(z)) {fake_out.mean().item():.2f} "
              f"({time.time() - start:.0f} s)", flush=True)
        if a.dump_every and epoch % a.dump_every == 0 and epoch != a.epochs:
            dump(f"{a.out}.e{epoch}.idx")
    dump(a.out)
    print(f"wrote {a.count} samples to {a.out}")


if __name__ == "__main__":
    main()
