#!/usr/bin/python3
"""Row 3's `normal100` stage in PyTorch, written the way documents 000/002 write it.

A reference, not part of the build or the tests: it answers "is a short class count the recipe
or nabla?". It trains the documents' G and D (Linear-LeakyReLU(0.02)-LayerNorm-Linear-Sigmoid),
BCE, Adam lr 1e-4, batch 1, the training images in order, pixels / 255, for --epochs epochs, then
writes --count generated images as an IDX file that `nabla-eval` judges like nabla's own dump:

    /usr/bin/python3 examples/mnist_improved/reference_torch.py --seed 1 --out /tmp/torch_s1.idx
    build/release/examples/nabla-eval /tmp/torch_s1.idx

Needs python3-torch (Debian; `scripts/bootstrap.sh --fixtures` installs it). One core, about an
hour for 4 epochs on a Zen 1 core (7 ms per image).
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from idx_io import read_idx_images, write_idx_images  # noqa: E402


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(784, 200), nn.LeakyReLU(0.02), nn.LayerNorm(200),
                                   nn.Linear(200, 1), nn.Sigmoid())
        self.loss_function = nn.BCELoss()
        self.optimiser = torch.optim.Adam(self.parameters(), lr=0.0001)

    def forward(self, inputs):
        return self.model(inputs)

    def train_step(self, inputs, targets):
        loss = self.loss_function(self.forward(inputs), targets)
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()
        return loss.item()


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(100, 200), nn.LeakyReLU(0.02), nn.LayerNorm(200),
                                   nn.Linear(200, 784), nn.Sigmoid())
        self.optimiser = torch.optim.Adam(self.parameters(), lr=0.0001)

    def forward(self, inputs):
        return self.model(inputs)

    def train_step(self, D, inputs, targets):
        loss = D.loss_function(D.forward(self.forward(inputs)), targets)
        self.optimiser.zero_grad()
        loss.backward()
        self.optimiser.step()
        return loss.item()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/mnist/train-images-idx3-ubyte.gz")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=10000)
    p.add_argument("--out", required=True, help="IDX file for the generated images")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    images = read_idx_images(a.data)
    D, G = Discriminator(), Generator()
    one, zero = torch.FloatTensor([1.0]), torch.FloatTensor([0.0])
    start = time.time()
    for epoch in range(a.epochs):
        for i in range(images.shape[0]):
            D.train_step(images[i], one)
            D.train_step(G.forward(torch.randn(100)).detach(), zero)
            G.train_step(D, torch.randn(100), one)
            if (i + 1) % a.log_every == 0:
                print(f"epoch {epoch + 1} image {i + 1}  {time.time() - start:.0f} s", flush=True)
    with torch.no_grad():
        write_idx_images(a.out, G.forward(torch.randn(a.count, 100)))
    print(f"wrote {a.count} samples to {a.out}")


if __name__ == "__main__":
    main()
