"""Linear layers on oneDNN's packed weights: the same float32 products, faster on CPU; nn.Linear's meaning kept.

``nn.Linear`` calls MKL on the row-major [out, in] weight, whose matrix-vector kernels on a small CPU read that
layout well below the machine's memory bandwidth. oneDNN (bundled with torch) can keep a weight in its own
blocked layout ("packed" for a batch size) and then reaches close to the bandwidth; a decode step, which reads
every weight once per token, gets faster by about the same factor, and so does a page's forward pass
(`make bench`, sections trace and generation, measure both paths).

The sums are the same float32 arithmetic in another order: outputs agree with ``nn.Linear`` within ~2e-6.
:func:`pack_linears` gives each ``nn.Linear`` of a loaded model a packed copy of its weight and routes its
forward through :class:`PackedForward`, which keeps the module's meaning: the module keeps its dense ``weight``
and ``bias`` (``parameters()``, hooks, ``state_dict`` and every page that reads a weight see the model as
transformers built it), and before each product it checks that the copy is still the weight's: a weight or bias
changed in place (``with torch.no_grad(): w.zero_()``, ``load_state_dict``) or replaced by another tensor is
packed again, so changing a parameter changes what the layer computes, as with a stock ``nn.Linear``. (A write
through ``w.data`` bypasses torch's version counter and is not seen: write to the parameter itself.)

Why here and not in models/: the teaching core is the model exactly as transformers builds it; this package is
what the app applies on top to serve a class fast (serving/__init__.py, switched off with ``TX_ENGINE=hf``).
transformers memory-maps the dense weights from the safetensors file; packing reads them once, and
:func:`release_dense` then tells the kernel their pages need not stay resident (they come back from the file if
anything reads a ``weight`` again), so the process holds one copy of each layer, the packed one. Without oneDNN
(another torch build) nothing changes.
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
    """``x @ W.T + b`` for x [..., in] -> [..., out], W [out, in] held in oneDNN's blocked layout. ``source``
    records which tensors (and which versions of them) it was made from."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        w = weight.detach().to(torch.float32).contiguous()
        self.out_features, self.in_features = w.shape
        self.pack = AVAILABLE
        self.weight = torch.ops.mkldnn._reorder_linear_weight(w, BATCH_HINT) if self.pack else w
        self.bias = None if bias is None else bias.detach().to(torch.float32).contiguous()
        self.source = _identity(weight, bias)

    def __deepcopy__(self, memo: dict) -> "Packed":
        """oneDNN's blocked tensors cannot be copied: the copy is marked stale (no source) and is packed again
        from the copied module's own weight at its first product (``current``)."""
        stale = Packed.__new__(Packed)
        stale.out_features, stale.in_features, stale.pack = self.out_features, self.in_features, self.pack
        stale.weight = stale.bias = None
        stale.source = None
        return stale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pack:
            return F.linear(x, self.weight, self.bias)
        return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.weight, self.bias, "none", [], "")


def _identity(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple:
    """Which tensors, at which in-place version: equal as long as nobody replaced or modified them."""
    return (id(weight), weight._version, None if bias is None else (id(bias), bias._version))


class PackedForward:
    """A linear module's forward on its packed copy, packed again when its weight or bias changed."""

    def __init__(self, module: torch.nn.Linear):
        # a plain reference (a cycle with the module, which lives as long as the model): copy.deepcopy of the
        # model then gives the copy a forward bound to the copied module, as with a bound method
        self.module = module

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return current(self.module)(x)


def current(linear: torch.nn.Linear) -> Packed:
    """The module's packed copy, made again if its weight or bias was replaced or changed in place since."""
    p = getattr(linear, "packed", None)
    if p is None or p.source != _identity(linear.weight, linear.bias):
        p = Packed(linear.weight, linear.bias)
        if hasattr(linear, "packed"):
            linear.packed = p
    return p


def pack_linears(model: torch.nn.Module) -> int:
    """Route every float32 ``nn.Linear`` of ``model`` through a packed copy of its weight (kept as the module's
    ``packed`` attribute, renewed when the weight changes); returns how many. Idempotent."""
    if not AVAILABLE:
        return 0
    n = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.weight.dtype == torch.float32 and not hasattr(module, "packed"):
            module.packed = Packed(module.weight, module.bias)
            module.forward = PackedForward(module)  # an instance attribute: nn.Module.__call__ (and hooks) use it
            n += 1
    return n


def is_packed(model: torch.nn.Module) -> bool:
    return any(hasattr(m, "packed") for m in model.modules())


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
    """The module's current packed copy, or a new one (a model that pack_linears did not see)."""
    return current(linear)
