#!/usr/bin/env python3
"""PyTorch side of bench/train.ts: the same models, trained on one CPU thread.

One persistent process, started by bench/train.ts, so the cost of importing torch is paid once. It
answers line-based JSON on stdin/stdout:

  first line out:  {"ready": true, "torch": "<version>", "threads": 1, "blas": "<library>"}
  in:   {"model": "logreg" | "mlp" | "cnn" | "cnnbn" | "cnn3d" | "unet", "steps": N, "batch": B, "rows": R, "seed": S}
  out:  {"samples_per_s": ..., "seconds": ..., "steps": N, "samples": N*B, "loss": <mean loss>}
  in:   {"quit": true} (or end of input) -> exits

A run mirrors one fbm trainLocal call: build the model and optimizer (seeded), then N mini-batch steps
over a shuffled permutation of the rows (gather the batch, forward, loss, backward, optimizer step,
read the loss back as a Python float); the clock covers all of that. The synthetic data are made once per
model with the recipe bench/lib/train-models.ts uses (not bit-identical: another RNG).
"""
import json
import os
import sys
import time

# The thread variables must be set before torch (and its BLAS/OpenMP) load; bench/train.ts sets them too.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass


def blas_library():
    """The BLAS shared library this process loaded (torch's Linear layers run on it; convs on oneDNN)."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    try:
        with open("/proc/self/maps") as maps:
            paths = {os.path.realpath(line.split()[-1]) for line in maps if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    # An optimized library (OpenBLAS, BLIS, MKL) behind the libblas.so.3 name wins over the name itself.
    for hint in ("openblas", "blis", "mkl"):
        named = sorted(p for p in paths if hint in os.path.basename(p).lower())
        if named:
            return named[0]
    return sorted(paths)[0] if paths else "none loaded (built in)"


def separable(rows, features, gen):
    """logreg data: x uniform in [-1, 1]; label 1 when sum_c (c+1) * x_c > 0."""
    x = torch.rand(rows, features, generator=gen) * 2 - 1
    w = torch.arange(1, features + 1, dtype=torch.float32)
    y = ((x * w).sum(1) > 0).float().unsqueeze(1)
    return x, y


def banded_images(rows, gen):
    """mlp/cnn data: 28x28 noise in [0, 0.5), plus 0.5 on image rows 2k+4..2k+6 for class k = row % 10."""
    y = torch.arange(rows) % 10
    x = torch.rand(rows, 28, 28, generator=gen) * 0.5
    for k in range(10):
        x[y == k, 2 * k + 4 : 2 * k + 7, :] += 0.5
    return x, y


def banded_volumes(rows, gen):
    """cnn3d data: 16^3 noise in [0, 0.5), plus 0.5 on depth slices k+2..k+4 for class k = row % 10 (NCDHW)."""
    y = torch.arange(rows) % 10
    x = torch.rand(rows, 1, 16, 16, 16, generator=gen) * 0.5
    for k in range(10):
        x[y == k, :, k + 2 : k + 5] += 0.5
    return x, y


def disc_masks(rows, gen):
    """unet data: 32x32 noise in [0, 0.5), plus 0.5 on a disc (centre in [8, 24)^2, radius in [3, 8)); the mask is the label (NCHW)."""
    params = torch.rand(rows, 3, generator=gen)
    cy, cx, radius = 8 + params[:, 0] * 16, 8 + params[:, 1] * 16, 3 + params[:, 2] * 5
    grid = torch.arange(32, dtype=torch.float32)
    d2 = (grid.view(1, 32, 1) - cy.view(-1, 1, 1)) ** 2 + (grid.view(1, 1, 32) - cx.view(-1, 1, 1)) ** 2
    mask = (d2 < (radius ** 2).view(-1, 1, 1)).float().unsqueeze(1)
    x = torch.rand(rows, 1, 32, 32, generator=gen) * 0.5 + 0.5 * mask
    return x, mask


class UNet(nn.Module):
    """fbm's bench U-Net: two levels, nearest upsampling, concatenated skips (channels: upsampled first)."""

    def __init__(self):
        super().__init__()
        conv = lambda cin, cout: nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())  # noqa: E731
        self.enc1, self.enc2, self.mid = conv(1, 8), conv(8, 16), conv(16, 32)
        self.dec2, self.dec1 = conv(32 + 16, 16), conv(16 + 8, 8)
        self.out = nn.Conv2d(8, 1, 1)
        self.pool, self.up = nn.MaxPool2d(2), nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], 1))
        return torch.sigmoid(self.out(d1))


def dice_bce(p, y):
    """fbm's diceCrossentropy: soft Dice over the batch, smoothed by 1, plus the voxels' mean BCE."""
    overlap = (p * y).sum()
    dice = 1 - (2 * overlap + 1) / (p.sum() + y.sum() + 1)
    return dice + nn.functional.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), y)


def build(name):
    if name == "logreg":
        model = nn.Sequential(nn.Linear(30, 1), nn.Sigmoid())
        return model, nn.BCELoss(), torch.optim.SGD(model.parameters(), lr=0.05)
    if name == "mlp":
        # Softmax is folded into CrossEntropyLoss (fbm: a softmax layer, then the log in the loss).
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        return model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.05)
    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 5 * 5, 10),
        )
        return model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3)
    if name == "cnnbn":
        # Keras's batch normalization defaults: momentum 0.99 (torch counts 1 - that), epsilon 1e-3.
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3), nn.ReLU(), nn.BatchNorm2d(16, eps=1e-3, momentum=0.01), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 5 * 5, 10),
        )
        return model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3)
    if name == "cnn3d":
        model = nn.Sequential(
            nn.Conv3d(1, 8, 3), nn.ReLU(), nn.MaxPool3d(2),
            nn.Conv3d(8, 16, 3), nn.ReLU(), nn.MaxPool3d(2),
            nn.Flatten(), nn.Linear(16 * 2 * 2 * 2, 10),
        )
        return model, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3)
    if name == "unet":
        model = UNet()
        return model, dice_bce, torch.optim.Adam(model.parameters(), lr=1e-3)
    raise ValueError(f'unknown model "{name}" (logreg, mlp, cnn, cnnbn, cnn3d, unet)')


_data = {}


def dataset(name, rows, seed):
    key = (name, rows, seed)
    if key not in _data:
        gen = torch.Generator().manual_seed(seed)
        if name == "logreg":
            _data[key] = separable(rows, 30, gen)
        elif name == "cnn3d":
            _data[key] = banded_volumes(rows, gen)
        elif name == "unet":
            _data[key] = disc_masks(rows, gen)
        else:
            x, y = banded_images(rows, gen)
            _data[key] = (x.reshape(rows, 784) if name == "mlp" else x.reshape(rows, 1, 28, 28)), y  # NCHW
    return _data[key]


def run(name, steps, batch, rows, seed):
    x, y = dataset(name, rows, seed)
    started = time.perf_counter()
    torch.manual_seed(seed)
    model, loss_fn, optimizer = build(name)
    model.train()
    gen = torch.Generator().manual_seed(seed + 1)
    order = torch.randperm(rows, generator=gen)
    position = 0
    total = 0.0
    samples = 0
    for _ in range(steps):
        if position >= rows:
            order = torch.randperm(rows, generator=gen)
            position = 0
        idx = order[position : position + batch]
        position += batch
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item()
        samples += len(idx)
    seconds = time.perf_counter() - started
    return {"samples_per_s": samples / seconds, "seconds": seconds, "steps": steps, "samples": samples, "loss": total / max(steps, 1)}


def main():
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library()}), flush=True)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            command = json.loads(line)
            if command.get("quit"):
                break
            reply = run(command["model"], int(command["steps"]), int(command.get("batch", 32)),
                        int(command.get("rows", 4096)), int(command.get("seed", 1)))
        except Exception as error:  # noqa: BLE001 - reported to the caller, which prints it
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
