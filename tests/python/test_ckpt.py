"""gpool_ckpt from Python: round trips of numpy arrays (every dtype, 0-d, empty) and torch tensors
(bf16, f16; skipped without torch) loaded in another process and compared bit for bit; an
asynchronous save that copies before it returns; checkpoint on request (SIGUSR1 -> exit 75);
`gpool ckpt export` read back by a stdlib-only safetensors parser; errors.

Run by CTest (python_ckpt) with PYTHONPATH=build/python, GPOOL_BINARY=build/gpool and
GPOOL_PYTHON=/usr/bin/python3:
    PYTHONPATH=build/python GPOOL_BINARY=build/gpool /usr/bin/python3 -m unittest -v test_ckpt
"""

import base64
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import gpool_ckpt

try:
    import torch
except ImportError:
    torch = None

PYTHON = os.environ.get("GPOOL_PYTHON") or sys.executable
GPOOL_BINARY = os.environ.get("GPOOL_BINARY")

# Loads a checkpoint in a fresh interpreter and prints every entry as
# [kind, dtype, shape, base64 of its bytes] and the metadata, as JSON.
LOAD_AND_DUMP = r"""
import base64, json, sys
import numpy as np
import gpool_ckpt
store, name, mode = sys.argv[1:4]
as_torch = {"auto": None, "torch": True, "numpy": False}[mode]
state, meta = gpool_ckpt.load(name, store=store, as_torch=as_torch)
out = {}
for key, v in state.items():
    if isinstance(v, bytes):
        out[key] = ["bytes", "blob", [], base64.b64encode(v).decode()]
    elif isinstance(v, np.ndarray):
        out[key] = ["numpy", v.dtype.str, list(v.shape), base64.b64encode(v.tobytes()).decode()]
    else:
        import torch
        raw = (v.view(torch.int16) if v.dtype == torch.bfloat16 else v).numpy().tobytes()
        out[key] = ["torch", str(v.dtype), list(v.shape), base64.b64encode(raw).decode()]
print(json.dumps({"state": out, "meta": meta}))
"""

# A training loop that checkpoints on request and exits 75; prints "ready" once the handler is in.
TRAINING_LOOP = r"""
import sys
import numpy as np
import gpool_ckpt
gpool_ckpt.install_checkpoint_handler()
writer = gpool_ckpt.Writer(sys.argv[1])
state = {"w": np.zeros(16, np.float32), "step": np.zeros((), np.int64)}
print("ready", flush=True)
for step in range(1, 10**10):
    state["w"] += 1.0
    state["step"][()] = step
    writer.maybe_checkpoint(lambda: state, step, {"phase": "train"}, exit=True)
sys.exit(0)
"""


def load_elsewhere(store, name="latest", mode="auto"):
    """gpool_ckpt.load in another process: {"state": {key: [kind, dtype, shape, bytes]}, meta}."""
    done = subprocess.run(
        [PYTHON, "-c", LOAD_AND_DUMP, store, name, mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise AssertionError(f"the loading process failed ({done.returncode}):\n{done.stderr}")
    result = json.loads(done.stdout)
    for entry in result["state"].values():
        entry[3] = base64.b64decode(entry[3])
    return result


def le_bytes(array):
    """The bytes the store keeps for a numpy array: C order, little-endian."""
    a = np.ascontiguousarray(array)
    if a.dtype.itemsize > 1:
        a = a.astype(a.dtype.newbyteorder("<"))
    return a.tobytes()


def read_safetensors(path):
    """A safetensors reader that is not gpool's: 8-byte little-endian header length, the JSON
    header, then each tensor's bytes at its data_offsets in the buffer after the header."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    buffer = data[8 + header_len :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        assert 0 <= begin <= end <= len(buffer), (name, begin, end, len(buffer))
        tensors[name] = (entry["dtype"], entry["shape"], buffer[begin:end])
    return tensors, header.get("__metadata__", {})


SAFETENSORS_TO_NUMPY = {
    "F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4",
    "I64": "<i8", "U8": "u1", "BOOL": "?", "BF16": "<u2",
}


def every_numpy_dtype():
    rng = np.random.default_rng(7)
    f32 = rng.standard_normal((3, 4)).astype(np.float32)
    f32[0, 0], f32[0, 1], f32[0, 2] = np.nan, -0.0, np.inf
    return {
        "f32": f32,
        "f16": rng.standard_normal(5).astype(np.float16),
        "f64.scalar": np.array(np.pi),  # 0-d
        "i8": np.array([-128, 0, 127], np.int8),
        "i16": np.array([[-32768, 1], [2, 32767]], np.int16),
        "i32": rng.integers(-(2**31), 2**31 - 1, (2, 3, 2), dtype=np.int32),
        "i64": np.array([-(2**63), 2**63 - 1, 0], np.int64),
        "u8": rng.integers(0, 256, (4, 4), dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "bool.scalar": np.array(True),
        "empty.f32": np.zeros((0, 3), np.float32),
        "empty.i64": np.zeros((0,), np.int64),
        "big_endian.i32": np.array([1, -2, 3], dtype=">i4"),  # saved little-endian
        "numpy_scalar": np.float32(1.5),  # loaded as a 0-d array
        "blob": b"\x00\x01opaque\xff",
        "bytearray": bytearray(b"rng-state"),
    }


def expected_dtype(value):
    if isinstance(value, (bytes, bytearray)):
        return "blob"
    a = np.asarray(value)
    return a.dtype.newbyteorder("<").str if a.dtype.itemsize > 1 else a.dtype.str


class Store(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix="gpool-py-")
        self.store = os.path.join(self._dir.name, "store")

    def tearDown(self):
        self._dir.cleanup()


class NumpyRoundTrip(Store):
    def test_every_dtype_loads_bit_identical_in_another_process(self):
        state = every_numpy_dtype()
        meta = {"lr": 3e-4, "arch": "mlp", "layers": [4, 4], "warm": True, "none": None,
                "nan": float("nan")}
        name = gpool_ckpt.save(state, 10, meta, store=self.store, epoch=2,
                               loader_position="shard-1:77")
        self.assertEqual(name, "step-10")

        loaded = load_elsewhere(self.store)
        self.assertEqual(list(loaded["state"]), list(state))  # saved order is kept
        for key, value in state.items():
            kind, dtype, shape, raw = loaded["state"][key]
            if isinstance(value, (bytes, bytearray)):
                self.assertEqual((kind, raw), ("bytes", bytes(value)), key)
                continue
            self.assertEqual(kind, "numpy", key)
            self.assertEqual(dtype, expected_dtype(value), key)
            self.assertEqual(tuple(shape), np.shape(value), key)
            self.assertTrue(
                np.array_equal(np.frombuffer(raw, np.uint8),
                               np.frombuffer(le_bytes(value), np.uint8)), key)
        got = loaded["meta"]
        self.assertTrue(np.isnan(got.pop("nan")))
        self.assertEqual(got, {"step": 10, "epoch": 2, "loader_position": "shard-1:77",
                               "lr": 3e-4, "arch": "mlp", "layers": [4, 4], "warm": True,
                               "none": None})

    def test_loaded_arrays_are_writable_and_meta_goes_back_into_save(self):
        gpool_ckpt.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, 1,
                        {"lr": "0.1"}, store=self.store, epoch=4, loader_position="p")
        state, meta = gpool_ckpt.load(store=self.store)
        state["w"] += 1  # writable, owns its memory
        gpool_ckpt.save(state, meta["step"] + 1, meta, store=self.store)
        state2, meta2 = gpool_ckpt.load("step-2", store=self.store)
        np.testing.assert_array_equal(state2["w"], np.arange(1, 7, dtype=np.float32).reshape(2, 3))
        self.assertEqual(meta2, {"step": 2, "epoch": 4, "loader_position": "p", "lr": "0.1"})

    def test_store_from_the_environment(self):
        old = os.environ.get(gpool_ckpt.STORE_ENV)
        try:
            os.environ[gpool_ckpt.STORE_ENV] = self.store
            gpool_ckpt.save({"x": np.ones(2)}, 3)
            self.assertEqual(gpool_ckpt.load()[1]["step"], 3)
            del os.environ[gpool_ckpt.STORE_ENV]
            with self.assertRaisesRegex(ValueError, "GPOOL_CKPT_STORE"):
                gpool_ckpt.load()
        finally:
            if old is not None:
                os.environ[gpool_ckpt.STORE_ENV] = old


@unittest.skipIf(torch is None, "torch is not importable")
class TorchRoundTrip(Store):
    def test_torch_tensors_load_bit_identical_in_another_process(self):
        g = torch.Generator().manual_seed(3)
        state = {
            "bf16": torch.randn(3, 5, generator=g).to(torch.bfloat16),
            "f16": torch.randn(4, generator=g).to(torch.float16),
            "param": torch.nn.Parameter(torch.randn(2, 2, generator=g)),  # requires_grad
            "transposed": torch.randn(3, 2, generator=g).t(),  # not contiguous
            "i64": torch.tensor([-(2**63), 2**63 - 1]),
            "bool": torch.tensor([True, False]),
            "u8": torch.tensor([0, 255], dtype=torch.uint8),
            "bf16.scalar": torch.tensor(1.25, dtype=torch.bfloat16),
            "empty.f16": torch.zeros(0, dtype=torch.float16),
            "numpy": np.arange(3, dtype=np.int32),  # stays numpy
        }
        state["bf16"][0, 0] = float("nan")
        gpool_ckpt.save(state, 5, store=self.store)

        def torch_bytes(t):
            t = t.detach().contiguous()
            return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()

        loaded = load_elsewhere(self.store)["state"]
        for key, value in state.items():
            kind, dtype, shape, raw = loaded[key]
            if key == "numpy":
                self.assertEqual((kind, raw), ("numpy", value.tobytes()))
                continue
            self.assertEqual((kind, dtype, tuple(shape)),
                             ("torch", str(value.dtype), tuple(value.shape)), key)
            self.assertEqual(raw, torch_bytes(value), key)

        as_numpy = load_elsewhere(self.store, mode="numpy")["state"]
        kind, dtype, shape, raw = as_numpy["bf16"]
        self.assertEqual((kind, dtype, shape), ("numpy", "<u2", [3, 5]))  # the bit patterns
        self.assertEqual(raw, torch_bytes(state["bf16"]))

        forced, _ = gpool_ckpt.load(store=self.store, as_torch=True)
        self.assertTrue(torch.equal(forced["numpy"], torch.arange(3, dtype=torch.int32)))
        self.assertTrue(torch.equal(forced["bf16"].view(torch.int16),
                                    state["bf16"].view(torch.int16)))

    def test_unsupported_torch_dtype_names_the_key(self):
        with self.assertRaisesRegex(TypeError, "'z'.*complex64"):
            gpool_ckpt.save({"z": torch.zeros(2, dtype=torch.complex64)}, 1, store=self.store)


class AsyncSave(Store):
    def test_async_save_copies_before_it_returns(self):
        with gpool_ckpt.Writer(self.store, staging_bytes=64 << 20) as writer:
            self.assertEqual(writer.staging_bytes, 64 << 20)
            weights = np.random.default_rng(1).standard_normal(2 << 20).astype(np.float32)
            at_call = weights.copy()  # 8 MiB: the background save takes a while
            self.assertTrue(writer.save_async({"w": weights}, 1, {"k": "v"}))
            weights[:] = 7.0  # at once
            self.assertTrue(writer.save_async({"w": weights}, 2))
            writer.wait()
        first, meta = gpool_ckpt.load("step-1", store=self.store)
        self.assertEqual(first["w"].tobytes(), at_call.tobytes())
        self.assertEqual(meta["k"], "v")
        second, meta = gpool_ckpt.load(store=self.store)
        self.assertEqual(meta["step"], 2)
        self.assertTrue((second["w"] == 7.0).all())

    def test_larger_than_the_staging_bound_saves_synchronously(self):
        with gpool_ckpt.Writer(self.store, staging_bytes=1024) as writer:
            self.assertFalse(writer.save_async({"w": np.zeros(1024, np.float32)}, 1))
        self.assertEqual(gpool_ckpt.load(store=self.store)[1]["step"], 1)


class CheckpointOnRequest(Store):
    def test_maybe_checkpoint_saves_only_when_requested(self):
        gpool_ckpt.clear_checkpoint_request()
        calls = []

        def state():
            calls.append(1)
            return {"w": np.ones(3)}

        with gpool_ckpt.Writer(self.store) as writer:
            self.assertFalse(writer.maybe_checkpoint(state, 1))
            self.assertEqual(calls, [])  # not even asked for the state
            gpool_ckpt.request_checkpoint()
            self.assertTrue(writer.maybe_checkpoint(state, 2))
            self.assertFalse(gpool_ckpt.checkpoint_requested())
        self.assertEqual(gpool_ckpt.load(store=self.store)[1]["step"], 2)

    def test_sigusr1_makes_the_training_loop_save_and_exit_75(self):
        with subprocess.Popen([PYTHON, "-c", TRAINING_LOOP, self.store],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
            try:
                self.assertEqual(child.stdout.readline().strip(), "ready")
                child.send_signal(signal.SIGUSR1)
                code = child.wait(timeout=120)
            finally:
                if child.poll() is None:
                    child.kill()
            errors = child.stderr.read()
        self.assertEqual(code, gpool_ckpt.CHECKPOINTED_EXIT_CODE, errors)
        self.assertEqual(gpool_ckpt.CHECKPOINTED_EXIT_CODE, 75)
        state, meta = gpool_ckpt.load(store=self.store)
        step = int(state["step"])
        self.assertGreater(step, 0)
        self.assertEqual(meta["step"], step)
        self.assertEqual(meta["phase"], "train")
        self.assertTrue((state["w"] == float(step)).all())


@unittest.skipUnless(GPOOL_BINARY, "GPOOL_BINARY (the gpool binary) is not set")
class SafetensorsExport(Store):
    def test_export_reads_back_with_a_stdlib_parser(self):
        state = every_numpy_dtype()
        del state["blob"], state["bytearray"]  # blobs export as U8; checked below
        state["blob"] = b"abc"
        gpool_ckpt.save(state, 12, {"lr": "0.5"}, store=self.store, epoch=1)
        out = os.path.join(self._dir.name, "model.safetensors")
        done = subprocess.run([GPOOL_BINARY, "ckpt", "export", "--store", self.store,
                               "--out", out], capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

        tensors, metadata = read_safetensors(out)
        self.assertEqual(set(tensors), set(state))
        for key, value in state.items():
            st_dtype, shape, raw = tensors[key]
            if isinstance(value, bytes):
                self.assertEqual((st_dtype, shape, raw), ("U8", [len(value)], value))
                continue
            array = np.frombuffer(raw, SAFETENSORS_TO_NUMPY[st_dtype]).reshape(shape)
            self.assertEqual(array.dtype.str, expected_dtype(value), key)
            self.assertEqual(array.shape, np.shape(value), key)
            self.assertTrue(np.array_equal(array.reshape(-1).view(np.uint8),
                                           np.frombuffer(le_bytes(value), np.uint8)), key)
        self.assertEqual(metadata["gpool.step"], "12")
        self.assertEqual(metadata["gpool.epoch"], "1")
        self.assertEqual(metadata["lr"], "0.5")


class Errors(Store):
    def test_unknown_checkpoint_names_it(self):
        gpool_ckpt.save({"x": np.zeros(1)}, 1, store=self.store)
        with self.assertRaisesRegex(FileNotFoundError, "step-404"):
            gpool_ckpt.load("step-404", store=self.store)
        missing = os.path.join(self._dir.name, "absent")
        with self.assertRaisesRegex(FileNotFoundError, "absent"):
            gpool_ckpt.load(store=missing)
        self.assertFalse(os.path.exists(missing))  # loading creates nothing

    def _chunk_path(self, tensor):
        with open(os.path.join(self.store, "manifests", "step-1.json")) as f:
            manifest = json.load(f)
        entry = next(t for t in manifest["tensors"] if t["name"] == tensor)
        digest = entry["chunks"][0]["hash"]
        return os.path.join(self.store, "chunks", digest[:2], digest)

    def test_a_damaged_chunk_file_is_an_error_naming_the_tensor(self):
        gpool_ckpt.save({"w": np.arange(4096, dtype=np.float32)}, 1, store=self.store)
        path = self._chunk_path("w")
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0x10
            f.seek(0)
            f.write(data)
        for sha256 in (False, True):
            with self.assertRaisesRegex(RuntimeError, "tensor 'w' chunk 0"):
                gpool_ckpt.load(store=self.store, sha256=sha256)

    def test_sha256_finds_a_whole_chunk_file_holding_other_bytes(self):
        # Two tensors of one chunk each, same size; a's file copied over b's: an undamaged file
        # under the wrong name, which only the SHA-256 check can see.
        a, b = np.zeros(1024, np.float32), np.ones(1024, np.float32)
        gpool_ckpt.save({"a": a, "b": b}, 1, store=self.store)
        with open(self._chunk_path("a"), "rb") as f:
            a_file = f.read()
        with open(self._chunk_path("b"), "wb") as f:
            f.write(a_file)
        state, _ = gpool_ckpt.load(store=self.store)  # the content checksum holds
        self.assertTrue(np.array_equal(state["b"], a))
        with self.assertRaisesRegex(RuntimeError, "tensor 'b' chunk 0.*sha-256 mismatch"):
            gpool_ckpt.load(store=self.store, sha256=True)

    def test_no_checkpoint_yet(self):
        os.makedirs(self.store)
        with self.assertRaises(FileNotFoundError):
            gpool_ckpt.load(store=self.store)

    def test_non_contiguous_arrays_are_saved_from_a_contiguous_copy(self):
        base = np.arange(24, dtype=np.int16).reshape(4, 6)
        state = {"cols": base[:, ::2], "t": base.T, "fortran": np.asfortranarray(base)}
        gpool_ckpt.save(state, 1, store=self.store)
        loaded, _ = gpool_ckpt.load(store=self.store)
        for key, value in state.items():
            np.testing.assert_array_equal(loaded[key], value)
            self.assertTrue(loaded[key].flags.c_contiguous)

    def test_unsupported_values_name_the_key(self):
        with self.assertRaisesRegex(TypeError, "'z'.*complex64"):
            gpool_ckpt.save({"z": np.zeros(2, np.complex64)}, 1, store=self.store)
        with self.assertRaisesRegex(TypeError, "'u16'.*uint16"):
            gpool_ckpt.save({"u16": np.zeros(2, np.uint16)}, 1, store=self.store)
        with self.assertRaisesRegex(TypeError, "'n'.*int"):
            gpool_ckpt.save({"n": 3}, 1, store=self.store)
        with self.assertRaisesRegex(TypeError, "'f'.*JSON"):
            gpool_ckpt.save({"x": np.zeros(1)}, 1, {"f": object()}, store=self.store)
        with self.assertRaisesRegex(ValueError, "reserved"):
            gpool_ckpt.save({"x": np.zeros(1)}, 1, {"gpool.python.torch": "[]"},
                            store=self.store)
        with self.assertRaisesRegex(ValueError, "no/slash"):
            gpool_ckpt.save({"x": np.zeros(1)}, 1, store=self.store, name="no/slash")

    def test_closed_writer(self):
        writer = gpool_ckpt.Writer(self.store)
        writer.close()
        writer.close()  # harmless
        with self.assertRaisesRegex(ValueError, "closed"):
            writer.save({"x": np.zeros(1)}, 1)

    def test_close_from_another_thread_while_saving(self):
        # A thread saving in a loop while the main thread closes the writer: every call either
        # completes or raises "closed"; nothing crashes, and what was saved loads.
        import threading
        writer = gpool_ckpt.Writer(self.store, staging_bytes=1 << 20)
        outcomes = []

        def save_forever():
            step = 0
            while True:
                step += 1
                try:
                    writer.save_async({"x": np.full(4096, step, dtype=np.float32)}, step)
                except ValueError as e:
                    outcomes.append(str(e))
                    return

        t = threading.Thread(target=save_forever)
        t.start()
        while not os.path.exists(os.path.join(self.store, "latest")):
            pass
        writer.close()
        t.join(timeout=30)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(outcomes), 1)
        self.assertIn("closed", outcomes[0])
        state, meta = gpool_ckpt.load(store=self.store)
        self.assertTrue(np.all(state["x"] == meta["step"]))


if __name__ == "__main__":
    unittest.main()
