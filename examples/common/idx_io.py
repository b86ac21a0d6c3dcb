"""IDX image files for the PyTorch reference scripts (examples/*/reference_torch.py): the training
images in, the generated samples out in the layout `nabla-eval` reads."""
import gzip
import struct

import numpy as np
import torch


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803:
            raise SystemExit(f"{path}: not an IDX image file (magic {magic:#x})")
        data = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return torch.from_numpy(data.reshape(n, rows * cols).astype(np.float32) / 255.0)


def write_idx_images(path, images):
    pixels = (images.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, pixels.shape[0], 28, 28))
        f.write(pixels.tobytes())
