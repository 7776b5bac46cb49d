"""Linear layers on oneDNN's packed weights: the same float32 products, two to four times faster on this CPU.

``nn.Linear`` calls MKL on the row-major [out, in] weight. On this 2-core CPU its matrix-vector kernels read
that layout at ~12 GB/s, a third of the machine's copy bandwidth, and its small-batch kernels are no better.
oneDNN (bundled with torch) can keep a weight in its own blocked layout ("packed" for a batch size) and then
reaches close to the bandwidth. Measured here, all 30 SmolLM2-135M layers + the output layer, weights
streamed from memory:

============  =====================  ======================
rows           ``nn.Linear`` (MKL)    packed (oneDNN)
============  =====================  ======================
1 (decode)     43 ms                  15 ms
8              64 ms                  21 ms
30             100 ms                 31 ms
512 (prompt)   one [1536, 576] layer 4.9 ms, packed 2.1 ms
============  =====================  ======================

The sums are the same float32 arithmetic in another order: outputs agree with ``nn.Linear`` within ~2e-6.
:func:`pack_linears` gives each ``nn.Linear`` of a loaded model a packed copy of its weight and routes its
forward through it; the module keeps its dense ``weight`` (``parameters()``, hooks, ``state_dict`` and every
page that reads a weight see the model as transformers built it). transformers memory-maps the dense weights
from the safetensors file; packing reads them once, and :func:`release_dense` then tells the kernel their pages
need not stay resident (they come back from the file if anything reads a ``weight`` again), so the process
holds one copy of each layer, the packed one. Without oneDNN (another torch build) nothing changes.
"""
from __future__ import annotations

import ctypes
import mmap
import sys

import torch
import torch.nn.functional as F

AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
BATCH_HINT = 8  # oneDNN picks its blocking for this many rows; any number of rows works


class Packed:
    """``x @ W.T + b`` for x [..., in] -> [..., out], W [out, in] held in oneDNN's blocked layout."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        w = weight.detach().to(torch.float32).contiguous()
        self.out_features, self.in_features = w.shape
        self.pack = AVAILABLE
        self.weight = torch.ops.mkldnn._reorder_linear_weight(w, BATCH_HINT) if self.pack else w
        self.bias = None if bias is None else bias.detach().to(torch.float32).contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pack:
            return F.linear(x, self.weight, self.bias)
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.weight, self.bias, "none", [], "")


def pack_linears(model: torch.nn.Module) -> int:
    """Route every float32 ``nn.Linear`` of ``model`` through a :class:`Packed` copy of its weight (kept as the
    module's ``packed`` attribute); returns how many. Idempotent. A module whose weight is later replaced
    (``load_state_dict``) would keep the old copy: call this on a model that is loaded for good."""
    if not AVAILABLE:
        return 0
    n = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.weight.dtype == torch.float32 and not hasattr(module, "packed"):
            module.packed = Packed(module.weight, module.bias)
            module.forward = module.packed  # an instance attribute: nn.Module.__call__ (and its hooks) use it
            n += 1
    return n


def _file_mappings() -> list[tuple[int, int]]:
    """(start, end) of this process's memory mappings backed by a file (Linux /proc/self/maps)."""
    spans = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5].startswith("/"):
                start, end = (int(x, 16) for x in parts[0].split("-"))
                spans.append((start, end))
    return spans


def release_dense(model: torch.nn.Module) -> int:
    """For every packed layer whose dense weight lies in a file mapping (transformers' safetensors mmap), drop
    the whole pages inside that weight from this process's memory (``madvise(MADV_DONTNEED)``): nothing reads
    them once the products run on the packed copy, and if something does, the page is read back from the file,
    unchanged (the weights are never written). Returns the bytes released; 0 where this does not apply."""
    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_DONTNEED"):
        return 0
    spans = _file_mappings()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    page = mmap.PAGESIZE
    released = 0
    for module in model.modules():
        if not hasattr(module, "packed") or not module.packed.pack:
            continue
        w = module.weight
        lo, hi = w.data_ptr(), w.data_ptr() + w.numel() * w.element_size()
        if not any(s <= lo and hi <= e for s, e in spans):
            continue  # anonymous memory (a model built in memory): dropping it would lose the data
        first, last = -(-lo // page) * page, hi // page * page  # whole pages inside the weight only
        if last > first and libc.madvise(first, last - first, mmap.MADV_DONTNEED) == 0:
            released += last - first
    return released


def packed(linear: torch.nn.Linear) -> Packed:
    """The module's packed copy, or a new one (a model that was not loaded through models.loading)."""
    return getattr(linear, "packed", None) or Packed(linear.weight, linear.bias)
