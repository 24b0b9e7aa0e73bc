#!/usr/bin/python3
"""The torch side of bench/ckpt_bench.cc (docs/benchmarks.md section 7). Run with /usr/bin/python3
(Debian's python3-torch and numpy).

  train     Trains a small byte-level language model (causal convolutions) on the texts in /usr/share/common-licenses
            (fixed seed, fixed number of steps, Adam) and writes its checkpoint state -- the
            model's weights and Adam's moments (exp_avg, exp_avg_sq) -- as raw little-endian
            tensors, one file each, with an index.json, in OUT/f32, OUT/bf16 and OUT/f16 (the
            same tensors cast). This is the "real float weights" the compression part of
            ckpt_bench reads.
  saveload  The torch.save / torch.load peer: reads the tensors of INDEX (untimed), then times
            torch.save of the {name: tensor} dict to OUT, file flushed and fsynced and its folder
            fsynced (durable, as every save in the benchmark), and torch.load of it (after
            dropping the page cache when --drop-caches, as ckpt_bench does for every load).
            Prints one JSON object on stdout.

index.json: {"tensors": [{"name": str, "dtype": "f32"|"bf16"|"f16"|"i64", "shape": [int],
"file": "NNNN.bin", "group": "model"|"optimizer"}]}; ckpt_bench writes the same format for its
synthetic state.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "i64": torch.int64}
NUMPY_VIEW = {"f32": np.float32, "bf16": np.int16, "f16": np.float16, "i64": np.int64}


assert sys.byteorder == "little", "the raw files are little-endian, as the host writes them"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class CausalConvBlock(torch.nn.Module):
    """x + W2 gelu(W1 * x), W1 a causal dilated convolution over time (kernel 3), W2 pointwise;
    layer norm over channels first. Convolutions, not linear layers: Debian's torch 1.13 runs
    matrix products on the reference BLAS (~1 GFLOPS here) but convolutions on oneDNN (~14)."""

    def __init__(self, d, dilation):
        super().__init__()
        self.ln = torch.nn.LayerNorm(d)
        self.pad = 2 * dilation
        self.conv = torch.nn.Conv1d(d, d, 3, dilation=dilation)
        self.mix = torch.nn.Conv1d(d, d, 1)

    def forward(self, x):  # x: (batch, channels, time)
        h = self.ln(x.transpose(1, 2)).transpose(1, 2)
        h = torch.nn.functional.pad(h, (self.pad, 0))
        return x + self.mix(torch.nn.functional.gelu(self.conv(h)))


class ByteConvLM(torch.nn.Module):
    """Predicts the next byte from the ones before it (a small ByteNet-style stack)."""

    def __init__(self, d, layers):
        super().__init__()
        self.tok = torch.nn.Embedding(256, d)
        self.blocks = torch.nn.ModuleList([CausalConvBlock(d, 2 ** (i % 4)) for i in range(layers)])
        self.ln = torch.nn.LayerNorm(d)
        self.head = torch.nn.Conv1d(d, 256, 1)

    def forward(self, idx):  # idx: (batch, time) -> logits (batch, 256, time)
        x = self.tok(idx).transpose(1, 2)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x.transpose(1, 2)).transpose(1, 2))


def corpus():
    root = "/usr/share/common-licenses"
    data = b""
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f:
                data += f.read()
    return torch.tensor(list(data), dtype=torch.long)


def write_state(tensors, out, dtype_name):
    """tensors: list of (name, group, tensor); writes OUT/<dtype_name>/ with index.json."""
    folder = os.path.join(out, dtype_name)
    os.makedirs(folder, exist_ok=True)
    index = []
    for i, (name, group, t) in enumerate(tensors):
        t = t.detach().contiguous()
        if t.is_floating_point():
            t = t.to(DTYPES[dtype_name])
            dt = dtype_name
        else:
            t = t.to(torch.int64)
            dt = "i64"
        file = "%04d.bin" % i
        raw = t.view(torch.int16) if dt == "bf16" else t  # numpy has no bfloat16
        raw.numpy().tofile(os.path.join(folder, file))
        index.append({"name": name, "dtype": dt, "shape": list(t.shape), "file": file, "group": group})
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump({"tensors": index}, f, indent=1)
    return folder


def train(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = corpus()
    log("train: corpus %d bytes from /usr/share/common-licenses" % len(data))
    model = ByteConvLM(args.d_model, args.layers)
    params = sum(p.numel() for p in model.parameters())
    log("train: %d parameters, %d steps, batch %d x %d" % (params, args.steps, args.batch, args.context))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    first = last = None
    for step in range(args.steps):
        ix = torch.randint(0, len(data) - args.context - 1, (args.batch,), generator=gen)
        x = torch.stack([data[i : i + args.context] for i in ix])
        y = torch.stack([data[i + 1 : i + 1 + args.context] for i in ix])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        last = loss.item()
        first = last if first is None else first
        if step % 50 == 0 or step == args.steps - 1:
            log("train: step %d loss %.3f (%.0f s)" % (step, last, time.perf_counter() - start))
    tensors = [("model." + n, "model", t) for n, t in model.state_dict().items()]
    names = {id(p): n for n, p in model.named_parameters()}
    for p in model.parameters():
        for k, v in opt.state[p].items():
            tensors.append(("optimizer.%s.%s" % (names[id(p)], k), "optimizer", v))
    for dt in ("f32", "bf16", "f16"):
        folder = write_state(tensors, args.out, dt)
        log("train: wrote %s" % folder)
    with open(os.path.join(args.out, "train.json"), "w") as f:
        json.dump({"parameters": params, "steps": args.steps, "seed": args.seed,
                   "loss_first": first, "loss_last": last,
                   "seconds": time.perf_counter() - start, "tensors": len(tensors),
                   "d_model": args.d_model, "layers": args.layers, "context": args.context,
                   "batch": args.batch, "lr": args.lr}, f)


def read_index(path):
    folder = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        index = json.load(f)["tensors"]
    state = {}
    for e in index:
        t = torch.from_numpy(np.fromfile(os.path.join(folder, e["file"]), dtype=NUMPY_VIEW[e["dtype"]]))
        if e["dtype"] == "bf16":
            t = t.view(torch.bfloat16)
        state[e["name"]] = t.reshape(e["shape"])
    return state


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def saveload(args):
    state = read_index(args.index)
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    if os.path.exists(args.out):
        os.remove(args.out)
    os.sync()
    start = time.perf_counter()
    with open(args.out, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(os.path.dirname(os.path.abspath(args.out)))
    save_s = time.perf_counter() - start
    del state
    if args.drop_caches:
        drop_caches()
    start = time.perf_counter()
    loaded = torch.load(args.out)
    load_s = time.perf_counter() - start
    assert sum(t.numel() * t.element_size() for t in loaded.values()) == nbytes
    print(json.dumps({"save_s": save_s, "load_s": load_s, "bytes": nbytes,
                      "file_bytes": os.path.getsize(args.out), "torch": torch.__version__}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    t.add_argument("--seed", type=int, default=20261127)
    t.add_argument("--steps", type=int, default=100)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--context", type=int, default=128)
    t.add_argument("--d-model", type=int, default=192)
    t.add_argument("--layers", type=int, default=6)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("saveload")
    s.add_argument("--index", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--drop-caches", action="store_true")
    args = p.parse_args()
    if args.cmd == "train":
        train(args)
    else:
        saveload(args)


if __name__ == "__main__":
    main()
