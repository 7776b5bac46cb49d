"""Streaming generation with a KV cache, continuous batching across sessions; greedy / sampling / beam search.

One :class:`Engine` per loaded model serves every session. A background thread runs decode steps on a batch of
requests (continuous batching, the way vLLM and TGI serve many users): new requests are prefilled (the prompts
waiting at that moment together, packed into one pass), their keys and values go into free rows of the shared
cache, and from the next step on each advances together with the others; a finished or stopped request leaves
between steps and the last row moves into its place. Each row has its own position, its own mask over the cache
(rows of different lengths never see each other's padding), its own warpers and its own ``torch.Generator``, so a
request gets the same tokens whether it runs alone or with 29 others (probabilities equal within float rounding,
~1e-6).

Why not transformers' own continuous batching (``generate_batch`` / ``ContinuousBatchingManager``, 5.23)? It
takes one seed for the whole manager (no generator per request, so a seeded run depends on who else is in the
batch), returns only the chosen token's log-probability (we show the top-10 alternatives of every step) and is
built around paged attention and CUDA graphs; on this CPU a compact engine of our own is simpler and faster.

Two ways to run one step (``_Backend``):

* ``LlamaBackend`` (SmolLM2 and other Llama-architecture models): a lean forward written out below, nanoGPT style,
  on the model's own weight tensors (no copy, no hooks, no module calls), with our own preallocated cache. Decoding one token this way skips generate's
  per-step bookkeeping; see bench/generation.py. The prefill is written out below; the decode step is
  serving/lean_step.py, run by TorchScript so that the page threads of a busy class (which hold the GIL between
  torch calls) cannot stall it. From SPLIT_ROWS rows on, a step runs in two halves, one core each
  (``Engine._step``).
* ``HFBackend`` (any other decoder, e.g. GPT-2 with learned positions): the model's own forward with a
  ``DynamicCache`` built from our cache rows, a 2-D attention mask with the holes of each row and explicit
  ``position_ids``; it holds ``lm.lock`` because other pages install hooks on those modules.

Sampling uses ``models.sampling.warp`` (transformers' Temperature -> TopK -> TopP warpers, in generate's order) and
``torch.multinomial`` with the request's generator, so a seeded run equals ``generate(do_sample=True)`` with that generator's stream.
Which backend runs is chosen once per engine (``Engine(backend=...)``, from ``TX_ENGINE`` through config.py):
``fast`` takes the lean forward where the model supports it and says why not otherwise (logged), ``hf`` always
takes the model's own forward. The request settings, the step records and beam search are the teaching side's
(models/generation.py).
"""
from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

import i18n
from i18n import N_
from models.generation import (
    MAX_GROUP, MAX_NEW_TOKENS, MAX_PROMPT_TOKENS, MIN_SAMPLING_TEMPERATURE, TOP_N, Refused, Settings, Step,
)
from models.sampling import warp
from serving import lean_step

log = logging.getLogger(__name__)

BLOCKED_ROWS = 8  # oneDNN chooses the blocked copy's layout for this many rows (any number works)
SPLIT_ROWS = 4  # on MKL's kernel, a step of this many rows or more runs in two halves, one core each (Engine._step)
# From this many rows on (a class generating together), a whole step runs on ONE core; the other cores are left to
# the page runs. Two OpenMP threads wait for each other at every op, and while the page threads keep a core busy
# (a lower-priority engine gets a small share of it) each op waited for the starved one. make load's generate part
# (30 students pressing Generate within 10 s) is the measure: its generations end sooner this way, and one
# generation alone takes as long as on every core (docs/generation.md).
ONE_CORE_ROWS = 2
PREFILL_TOKENS = 1024  # prompt tokens packed into one prefill pass (a 512-token prompt always fits)
# The engine's threads run at this nice value (Linux: per thread). A stream is many short steps and a student
# reads it as it comes, while a page run is one wait the student watches; page runs and streams share the cores,
# so the page runs go first. The decode step runs as TorchScript without the GIL, so a step that waits for a core
# holds no lock a page run needs.
ENGINE_NICE = 10


class EngineClosed(i18n.Error, RuntimeError):
    """The engine was closed (the server is shutting down)."""


# -------------------------------------------------------------------------------------------- requests
class Request:
    """A generation in progress. Thread-safe: the engine appends steps, sessions read and wait."""

    _ids = itertools.count(1)

    def __init__(self, prompt_ids: list[int], settings: Settings, stop_ids: frozenset[int]):
        self.id = next(self._ids)
        self.prompt_ids = list(prompt_ids)
        self.settings = settings
        self.stop_ids = stop_ids
        self.steps: list[Step] = []
        self.state = "queued"  # queued -> running -> done | stopped | error
        self.finish_reason: str | None = None  # "length", "eos", "stopped" or an error message
        self.submitted = time.perf_counter()
        self.first_token_at: float | None = None
        self.finished_at: float | None = None
        self.generator = torch.Generator().manual_seed(int(settings.seed))
        self.group = self.id  # the id of the submit_many call it came with (its own id when submitted alone)
        self._cancel = threading.Event()
        self._cv = threading.Condition()

    # --------------------------------------------------------------- session side
    @property
    def done(self) -> bool:
        return self.state in ("done", "stopped", "error")

    @property
    def token_ids(self) -> list[int]:
        return [s.token_id for s in self.steps]

    @property
    def ttft(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.submitted

    def cancel(self) -> None:
        """Stop: the engine drops this row before its next step."""
        self._cancel.set()
        with self._cv:
            self._cv.notify_all()

    def wait(self, seen: int, timeout: float = 1.0) -> bool:
        """Block until more than ``seen`` steps exist or the request ended; True if something changed."""
        with self._cv:
            return self._cv.wait_for(lambda: len(self.steps) > seen or self.done, timeout)

    def result(self, timeout: float | None = None) -> "Request":
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"request {self.id} not finished after {timeout} s")
            self.wait(len(self.steps), timeout=0.5 if left is None else min(0.5, left))
        return self

    def stream(self, poll: float = 0.5) -> Iterator[list[Step]]:
        """Yield the list of steps each time it grows, until the request ends."""
        seen = -1
        while True:
            self.wait(max(seen, 0), timeout=poll)
            n = len(self.steps)
            if n != seen:
                seen = n
                yield self.steps[:n]
            if self.done and len(self.steps) == seen:
                return

    # --------------------------------------------------------------- engine side
    def _push(self, step: Step) -> None:
        with self._cv:
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            self.steps.append(step)
            self._cv.notify_all()

    def _finish(self, state: str, reason: str) -> None:
        with self._cv:
            self.state, self.finish_reason = state, reason
            self.finished_at = time.perf_counter()
            self._cv.notify_all()


# ------------------------------------------------------------------------------------------ KV storage
class KVCache:
    """Keys and values of every active row: ``k``/``v`` are [L, rows, H_kv, T, D], grown by doubling."""

    def __init__(self, n_layers: int, n_kv: int, head_dim: int, dtype: torch.dtype):
        self.shape = (n_layers, n_kv, head_dim)
        self.dtype = dtype
        self.k = self.v = torch.empty(0)
        self.rows = self.length = 0

    def ensure(self, rows: int, length: int) -> None:
        if rows <= self.rows and length <= self.length:
            return
        R = max(rows, self.rows, 4)
        R = 1 << (R - 1).bit_length()
        # at least 128 positions (fewer regrowths as streams get longer), but that floor alone never takes more
        # than 32 x 128 row-slots: 100 samples of a short prompt get 128 rows of 32 positions, not of 128 (755 MB)
        T = max(length, self.length, 128 if R <= 32 else max(16, 128 * 32 // R))
        T = 1 << (T - 1).bit_length()
        L, H, D = self.shape
        # zeros, not empty: masked positions get weight 0, and 0 * NaN garbage from uninitialised memory is NaN
        k, v = torch.zeros(L, R, H, T, D, dtype=self.dtype), torch.zeros(L, R, H, T, D, dtype=self.dtype)
        if self.rows:
            k[:, : self.rows, :, : self.length] = self.k
            v[:, : self.rows, :, : self.length] = self.v
        self.k, self.v, self.rows, self.length = k, v, R, T

    def move(self, src: int, dst: int, length: int) -> None:
        self.k[:, dst, :, :length] = self.k[:, src, :, :length]
        self.v[:, dst, :, :length] = self.v[:, src, :, :length]

    def release(self) -> None:
        self.k = self.v = torch.empty(0)
        self.rows = self.length = 0


def yield_to_pages(nice: int = ENGINE_NICE) -> None:
    """The calling thread at ``nice``, or lower if it already runs lower (never raised: with CAP_SYS_NICE an
    absolute 10 would put it above the pages of a process started at nice 15). Linux only, where a thread's
    native id is what setpriority takes; elsewhere the thread runs without it. The engine's threads and serve.py's
    warm-up of later pages use it."""
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
    except OSError:  # not allowed here: the same engine, without the priority
        pass


def _helper(n: int) -> None:
    """A pool thread's start: lower priority, ``n`` torch threads."""
    yield_to_pages()
    _threads(n)


def _threads(n: int) -> None:
    """Torch's intra-op threads for the calling thread (OpenMP's setting is per thread: other pages keep theirs)."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch ops of the calling thread on ONE thread inside this block: they start no OpenMP team, which would
    live as long as the thread and make the engine's threads sleep between ops (docs/generation.md)."""
    before = torch.get_num_threads()
    _threads(1)
    try:
        yield
    finally:
        _threads(before)


def _on_one_thread(fn: Callable, *args: Any) -> Any:
    """Run ``fn`` on a pool thread (one torch thread each, set by the pool's initializer) in inference mode."""
    with torch.inference_mode():
        return fn(*args)


def blocked_copy(weight: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(a copy of ``weight`` [out, in] in oneDNN's blocked layout for a few rows at a time, True), or (``weight``,
    False) on a torch without oneDNN's linear kernels. Only the output layer gets one (lean_step.head): the
    transformer blocks' matrices are multiplied on the weights themselves, by MKL or oneDNN (time_kernels), with
    no copy of them in memory."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return weight, False
    with one_thread():  # the calling thread may be a process's main thread, which lives as long as the engine
        w = weight.detach().to(torch.float32).contiguous()
        return torch.ops.mkldnn._reorder_linear_weight(w, BLOCKED_ROWS), True


KERNELS = ("auto", "mkl", "onednn")


def time_kernels(layers: list[list[torch.Tensor]], rounds: int = 3) -> dict[str, float]:
    """Seconds MKL's kernel (the one ``nn.Linear`` calls) and oneDNN's take for one pass over every matrix of
    ``layers`` at 1 row on the calling thread's torch threads and at 8 rows on one thread (as the engine runs one
    stream and a batch, ONE_CORE_ROWS): the best of ``rounds``, the two alternated, after one round that warms
    both up. Why measure: the two libraries rank differently by CPU. On
    an Intel Xeon MKL was as fast or faster; on an AMD EPYC MKL's float32 products take a generic path and
    oneDNN's are faster on the same weights (bench/results.json, ``generation``, says by how much). Both compute
    the same float32 sums in another order (the tests compare either with the model)."""
    from serving import lean_step

    mats = [w for layer in layers for w in layer if w.dim() == 2]
    xs = {(rows, n): torch.randn(rows, n) for rows in (1, 8) for n in {w.shape[1] for w in mats}}
    best = {"mkl": math.inf, "onednn": math.inf}
    with torch.inference_mode():
        for r in range(rounds + 1):
            for name in best:
                t = time.perf_counter()
                for rows in (1, 8):
                    with one_thread() if rows >= ONE_CORE_ROWS else contextlib.nullcontext():
                        for w in mats:
                            lean_step.linear(xs[rows, w.shape[1]], w, name == "onednn")
                if r:
                    best[name] = min(best[name], time.perf_counter() - t)
    return best


class LlamaBackend:
    """A lean Llama forward on the model's own weights (RMSNorm, RoPE, grouped-query attention, SwiGLU)."""

    @staticmethod
    def unsupported(model: Any) -> str | None:
        """Why the lean step cannot run this model, or None when it can."""
        c = model.config
        if c.model_type != "llama":
            return f"the lean step is written for Llama-shaped decoders, this is {c.model_type!r}"
        if getattr(c, "attention_bias", False) or getattr(c, "mlp_bias", False):
            return "the lean step has no biases in attention or MLP"
        if getattr(c, "pretraining_tp", 1) != 1:
            return "the lean step does not split layers for tensor parallelism (pretraining_tp)"
        if c.hidden_act != "silu":
            return f"the lean step's MLP is SwiGLU, this model uses {c.hidden_act!r}"
        return None

    @staticmethod
    def supports(model: Any) -> bool:
        return LlamaBackend.unsupported(model) is None

    def __init__(self, lm: Any):
        model = lm.model
        c = model.config
        m = model.model
        self.d = c.hidden_size
        self.H, self.Hkv = c.num_attention_heads, c.num_key_value_heads
        self.D = getattr(c, "head_dim", None) or self.d // self.H
        self.eps = c.rms_norm_eps
        self.embed = m.embed_tokens.weight  # [V, d]
        self.norm = m.norm.weight  # [d]
        # the model's own weight tensors (no copy): the step computes what its nn.Linear layers compute
        self.unembed = model.lm_head.weight  # [V, d] (tied to embed in SmolLM2)
        self.blocked, self.has_blocked = blocked_copy(self.unembed)  # the engine's own copy, for several rows
        self.weights = [  # per layer, as serving/lean_step.py takes them
            [b.input_layernorm.weight, b.self_attn.q_proj.weight, b.self_attn.k_proj.weight,
             b.self_attn.v_proj.weight, b.self_attn.o_proj.weight, b.post_attention_layernorm.weight,
             b.mlp.gate_proj.weight, b.mlp.up_proj.weight, b.mlp.down_proj.weight]
            for b in m.layers
        ]
        # MKL's kernel (False) until use_kernel() says otherwise
        self.scripted = lean_step.scripted(self.embed, self.norm, self.unembed, self.blocked, self.has_blocked,
                                           self.weights, self.H, self.Hkv, self.D, self.eps, False)
        rope = m.rotary_emb
        self.inv_freq = rope.inv_freq.float()  # [D/2]
        self.rope_scale = float(getattr(rope, "attention_scaling", 1.0))
        self.cos = self.sin = torch.empty(0, self.D)
        self.kv = KVCache(len(self.weights), self.Hkv, self.D, self.embed.dtype)

    @property
    def onednn(self) -> bool:
        """Whether the prefill and the step multiply with oneDNN's kernel (the scripted step's own setting)."""
        return bool(self.scripted.onednn)

    def use_kernel(self, onednn: bool) -> None:
        """Multiply by the weights with oneDNN's kernel (True) or MKL's (False), in the prefill and the step."""
        self.scripted.onednn = bool(onednn) and self.has_blocked

    def _rope(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin for these positions: [..., D], from a table grown on demand (same maths as HF)."""
        need = int(pos.max()) + 1
        if need > self.cos.shape[0]:
            n = 1 << max(need - 1, 255).bit_length()
            freqs = torch.arange(n, dtype=torch.float32)[:, None] * self.inv_freq[None, :]  # [n, D/2]
            emb = torch.cat((freqs, freqs), dim=-1)  # [n, D]
            self.cos, self.sin = emb.cos() * self.rope_scale, emb.sin() * self.rope_scale
        return self.cos[pos], self.sin[pos]

    def prefill(self, slots: list[int], prompts: list[list[int]]) -> torch.Tensor:
        """Run the prompts of several requests in one pass, each into its cache row (``slots``); returns the
        logits of each prompt's last position [n, V]. The pass is serving/lean_step.py's prefill_pass, run by
        TorchScript like the decode step: run eagerly, its ~600 torch calls each waited for the GIL behind a class's
        page threads (docs/generation.md)."""
        lens = [len(p) for p in prompts]
        starts = list(itertools.accumulate(lens, initial=0))  # prompt j is packed rows starts[j]:starts[j+1]
        self.kv.ensure(max(slots) + 1, max(lens) + 1)
        cos, sin = self._rope(torch.cat([torch.arange(n) for n in lens]))  # [N, D], positions restart per prompt
        tokens = torch.tensor([t for p in prompts for t in p])  # [N]
        return self.scripted.prefill(tokens, starts, list(slots), cos, sin, self.kv.k, self.kv.v)  # [n, V]

    def reserve(self, rows: int, lengths: torch.Tensor) -> None:
        """Grow the cache and the RoPE table for a step of ``rows`` rows at these positions: decode() calls on
        disjoint row ranges can then run in parallel threads (each only reads them and writes its own rows)."""
        self.kv.ensure(rows, int(lengths.max()) + 1)
        self._rope(lengths)

    def decode(self, tokens: torch.Tensor, lengths: torch.Tensor, r0: int = 0) -> torch.Tensor:
        """One new token for each cache row r0..r0+B-1 at position ``lengths[b]``; returns logits [B, V].
        The step itself is serving/lean_step.py, run by TorchScript (the GIL released for the whole step)."""
        self.reserve(r0 + tokens.shape[0], lengths)  # no-op when the engine reserved the whole step
        cos, sin = self._rope(lengths)  # [B, D]
        return self.scripted(tokens, lengths, r0, cos, sin, self.kv.k, self.kv.v)


class HFBackend:
    """Any decoder: the model's own forward, fed a DynamicCache made from our rows (holds ``lm.lock``)."""

    def __init__(self, lm: Any):
        self.lm = lm
        self.kv: KVCache | None = None

    def prefill(self, slots: list[int], prompts: list[list[int]]) -> torch.Tensor:
        return torch.stack([self._prefill(slot, ids) for slot, ids in zip(slots, prompts)])  # [n, V]

    def _prefill(self, slot: int, ids: list[int]) -> torch.Tensor:
        n = len(ids)
        with self.lm.lock:
            out = self.lm.model(input_ids=torch.tensor([ids]), use_cache=True)
        layers = out.past_key_values.layers
        if self.kv is None:
            _, H, _, D = layers[0].keys.shape
            self.kv = KVCache(len(layers), H, D, layers[0].keys.dtype)
        self.kv.ensure(slot + 1, n + 1)
        for i, layer in enumerate(layers):
            self.kv.k[i, slot, :, :n] = layer.keys[0]
            self.kv.v[i, slot, :, :n] = layer.values[0]
        return out.logits[0, -1]

    def decode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        from transformers import DynamicCache

        B = tokens.shape[0]
        T = int(lengths.max())  # cached positions the model sees; the new token goes at index T of its cache
        kv = self.kv
        kv.ensure(B, T + 1)
        cache = DynamicCache(ddp_cache_data=[(kv.k[i, :B, :, :T], kv.v[i, :B, :, :T]) for i in range(kv.shape[0])])
        mask = torch.cat([torch.arange(T)[None, :] < lengths[:, None], torch.ones(B, 1, dtype=torch.bool)], 1)
        with self.lm.lock:
            out = self.lm.model(input_ids=tokens[:, None], attention_mask=mask.long(), position_ids=lengths[:, None],
                                past_key_values=cache, use_cache=True)
        rows = torch.arange(B)
        for i, layer in enumerate(out.past_key_values.layers):
            kv.k[i, rows, :, lengths] = layer.keys[:, :, T]
            kv.v[i, rows, :, lengths] = layer.values[:, :, T]
        return out.logits[:, -1]


# ---------------------------------------------------------------------------------------------- engine
@dataclass
class _Row:
    req: Request
    length: int  # tokens already in the cache
    last: int  # token to feed at the next step


@dataclass
class EngineStats:
    steps: int = 0
    tokens: int = 0
    max_batch_seen: int = 0
    prefills: int = 0  # requests prefilled
    prefill_passes: int = 0  # forward passes that did it (several waiting prompts share one)
    errors: list[str] = field(default_factory=list)


class Engine:
    """The process-wide generation server of one model: ``submit`` from any thread, read the Request."""

    def __init__(self, lm: Any, max_batch: int = 32, backend: str = "auto", prefill_budget_s: float = 0.25,
                 threads: int | None = None, linear: str = "auto"):
        self.lm = lm
        self.max_batch = max_batch
        # torch threads of the worker for one row alone and its prefill (None = every core; from ONE_CORE_ROWS
        # rows on a step runs on one). Torch's OpenMP (libgomp) threads are per calling thread: the worker's own
        # team is used only here. A split step runs each half on ONE thread (worker and helper), so the two halves never oversubscribe the cores.
        # Why the process's other teams matter: libgomp lets an idle team thread spin (~300k rounds) only while
        # the process has no more OpenMP threads than cores; beyond that they sleep at once and every one of a
        # step's ~300 small ops pays a futex wake-up, which makes two threads no faster than one (docs/generation.md).
        self.threads = threads or os.cpu_count() or 1
        # between two decode steps, admit (prefill) waiting requests for at most this long (at least one), so
        # running streams keep flowing while a crowd arrives
        self.prefill_budget_s = prefill_budget_s
        # backend: "fast" / "auto" (the lean step where the model allows it), "hf" (always the model's own
        # forward), "lean" (the lean step, required)
        why_not = LlamaBackend.unsupported(lm.model)
        use_lean = backend == "lean" or (backend in ("auto", "fast") and why_not is None)
        if backend in ("auto", "fast") and why_not is not None:
            log.info("%s: generation runs on transformers' forward (%s)", lm.spec.id, why_not)
        self.backend = LlamaBackend(lm) if use_lean else HFBackend(lm)
        # the lean step's kernel (KERNELS): "auto" is decided by time_kernels on the worker's first run (its thread
        # and its torch threads, not the caller's, whose OpenMP team would outlive the call); kernel_seconds says
        # what was measured
        if linear not in KERNELS:
            raise ValueError(f"unknown linear kernel {linear!r}; one of {KERNELS}")
        self.linear = linear
        self.kernel_seconds: dict[str, float] = {}
        if use_lean and linear != "auto":
            self.backend.use_kernel(linear == "onednn")
        cfg = getattr(lm.model, "generation_config", None)
        eos = getattr(cfg, "eos_token_id", None)
        if eos is None:
            eos = lm.model.config.eos_token_id
        self.stop_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        self.stats = EngineStats()
        self._queue: list[Request] = []
        self._rows: list[_Row] = []
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None  # see _workers
        self._stats_lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)  # let the worker leave its step before the interpreter goes away

    @property
    def kind(self) -> str:
        if not isinstance(self.backend, LlamaBackend):
            return "model forward"
        return f"lean Llama forward ({'oneDNN' if self.backend.onednn else 'MKL'})"

    # ------------------------------------------------------------------ public
    def submit(self, prompt_ids: list[int], settings: Settings) -> Request:
        req = self._request(prompt_ids, settings)
        self._enqueue([req])
        return req

    def _request(self, prompt_ids: list[int], settings: Settings) -> Request:
        """A checked request (not queued yet); raises Refused in the caller's thread."""
        if not prompt_ids:
            raise Refused(N_("The prompt has no tokens."))
        if not 1 <= settings.max_new_tokens <= MAX_NEW_TOKENS:
            raise Refused(N_("The number of new tokens must be between 1 and {most}."), most=MAX_NEW_TOKENS)
        if not settings.is_greedy and settings.temperature < MIN_SAMPLING_TEMPERATURE:
            raise Refused(N_("A temperature of {value:g} is too small to sample from: use 0 for greedy decoding."),
                          value=settings.temperature)
        return Request(prompt_ids[-MAX_PROMPT_TOKENS:] if len(prompt_ids) > MAX_PROMPT_TOKENS else prompt_ids,
                       settings, self.stop_ids)

    def _enqueue(self, reqs: list[Request]) -> None:
        with self._cv:
            if self._closed:
                raise EngineClosed(N_("The generation engine has been shut down."))
            self._queue.extend(reqs)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=f"generation-{self.lm.spec.id}",
                                                daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def submit_many(self, prompt_ids: list[int], settings: list[Settings]) -> list[Request]:
        """Several generations of ONE prompt queued together (e.g. 100 seeded samples): the prompt is prefilled once
        (its copies get its keys and values) and, when the engine has no other rows, the whole group runs as one
        batch even past ``max_batch``; beside other users' streams it takes ordinary turns. Each request gets what
        it gets when submitted alone (its own generator, its own row)."""
        if not 1 <= len(settings) <= MAX_GROUP:
            raise Refused(N_("Between 1 and {most} samples can be drawn at once."), most=MAX_GROUP)
        reqs = [self._request(prompt_ids, s) for s in settings]
        for r in reqs:
            r.group = reqs[0].id
        self._enqueue(reqs)
        return reqs

    def generate(self, prompt_ids: list[int], settings: Settings, timeout: float | None = None) -> Request:
        return self.submit(prompt_ids, settings).result(timeout)

    def warm(self) -> None:
        """One tiny generation, so the first user does not pay for first-call kernel setup (~2 s here)."""
        self.generate([int(next(iter(self.stop_ids), 0))] * 3, Settings(max_new_tokens=2), timeout=120)

    def queue_position(self, req: Request) -> int:
        """1-based place in the waiting line; 0 once it runs (or ended)."""
        with self._cv:
            try:
                return self._queue.index(req) + 1
            except ValueError:
                return 0

    def load(self) -> tuple[int, int]:
        """(rows decoding now, requests waiting)."""
        with self._cv:
            return len(self._rows), len(self._queue)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    # ------------------------------------------------------------------ worker
    def _loop(self) -> None:
        yield_to_pages()  # before its first op: the OpenMP threads it starts inherit the priority
        torch.set_grad_enabled(False)
        if (isinstance(self.backend, LlamaBackend) and self.backend.has_blocked and self.linear == "auto"
                and not self.kernel_seconds):
            _threads(self.threads)
            try:
                self.kernel_seconds = time_kernels(self.backend.weights)
            except Exception as e:  # oneDNN refused these weights: MKL's kernel, as nn.Linear (never a dead worker)
                self.linear = "mkl"  # decided, nothing measured: not timed again
                log.warning("%s: oneDNN's kernel failed (%s); the lean step uses MKL's", self.lm.spec.id, e)
            else:
                self.backend.use_kernel(self.kernel_seconds["onednn"] < self.kernel_seconds["mkl"])
                log.info("%s: the lean step multiplies with %s's kernel (%s)", self.lm.spec.id,
                         "oneDNN" if self.backend.onednn else "MKL",
                         ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in self.kernel_seconds.items()))
        while True:
            with self._cv:
                while not self._closed and not self._queue and not self._rows:
                    self._cv.wait(timeout=5.0)
                if self._closed:
                    for r in self._queue + [row.req for row in self._rows]:
                        r._finish("stopped", "stopped")
                    return
            try:
                with torch.inference_mode():
                    # a prefill is one pass over the prompts: every core for a lone student's, one core beside
                    # other streams or for a crowd's (ONE_CORE_ROWS)
                    _threads(self.threads if len(self._rows) + len(self._queue) < ONE_CORE_ROWS else 1)
                    self._admit()
                    if self._rows:
                        self._step()
            except Exception as e:  # never let one bad step kill the server thread: fail the rows, go on
                msg = f"{type(e).__name__}: {e}"
                self.stats.errors.append(msg)
                with self._cv:
                    for row in self._rows:
                        row.req._finish("error", msg)
                    self._rows.clear()
            if not self._rows and self.backend.kv is not None and not self._queue:
                self.backend.kv.release()

    def _admit(self) -> None:
        """Prefill waiting requests into free rows, several prompts per pass (up to PREFILL_TOKENS tokens), at
        least one pass, then more until the prefill budget is spent."""
        t0 = time.perf_counter()
        if not self._rows and self.backend.kv is not None and self.backend.kv.rows:
            self.backend.kv.release()  # nothing in it is needed: the next batch's shape starts afresh (a group's
            # wide cache is not kept for the streams that follow, nor a long stream's length for a group)
        while len(self._rows) < self.max_batch:
            with self._cv:
                for r in [r for r in self._queue if r._cancel.is_set()]:
                    self._queue.remove(r)
                    r._finish("stopped", "stopped")
                take: list[Request] = []
                seen: set[tuple[int, ...]] = set()
                tokens = 0  # distinct prompts' tokens: a repeated prompt is prefilled once
                # a group of samples at the head of an idle engine goes in whole: one batch of up to MAX_GROUP rows
                most = max(self.max_batch, self._head_group()) if not self._rows else self.max_batch
                while self._queue and len(self._rows) + len(take) < most:
                    prompt = tuple(self._queue[0].prompt_ids)
                    cost = 0 if prompt in seen else len(prompt)
                    if take and tokens + cost > PREFILL_TOKENS:
                        break
                    take.append(self._queue.pop(0))
                    seen.add(prompt)
                    tokens += cost
            if not take:
                return
            first = len(self._rows)
            rows = [_Row(req, len(req.prompt_ids), -1) for req in take]
            try:
                for req in take:
                    req.state = "running"
                logits = self._prefill(first, take)  # [n, V]
                self.stats.prefills += len(take)
                self.stats.prefill_passes += 1
                keep = self._emit(rows, logits)  # [n, V] -> each one's first token
            except Exception as e:  # not in _rows yet: the loop's handler would not finish them, so do it here
                for req in take:
                    if not req.done:
                        req._finish("error", f"{type(e).__name__}: {e}")
                raise
            for j, row in enumerate(rows):  # the ones still going take the next free rows, in order
                if keep[j]:
                    if first + j != len(self._rows):
                        self.backend.kv.move(first + j, len(self._rows), row.length)
                    self._rows.append(row)
            if time.perf_counter() - t0 > self.prefill_budget_s:
                return

    def _head_group(self) -> int:
        """How many requests at the head of the queue came from the same submit_many call (1 for a lone one)."""
        if not self._queue:
            return 0
        group = self._queue[0].group
        return sum(1 for _ in itertools.takewhile(lambda r: r.group == group, self._queue))

    def _prefill(self, first: int, take: list[Request]) -> torch.Tensor:
        """Prefill ``take`` into rows first.. in one pass; logits of each one's last position [n, V]. In a class
        many students often send the same prompt at once: each distinct prompt runs once and its copies get its
        keys/values (a row copy) and its logits (exactly the numbers it would get alone)."""
        firsts: dict[tuple[int, ...], int] = {}  # prompt -> index (in take) of the request that runs it
        for j, req in enumerate(take):
            firsts.setdefault(tuple(req.prompt_ids), j)
        order = list(firsts.values())
        if self.backend.kv is not None:  # every row at once: the cache's shape is chosen for the whole batch
            self.backend.kv.ensure(first + len(take), max(len(r.prompt_ids) for r in take) + 1)
        out = self.backend.prefill([first + j for j in order], [take[j].prompt_ids for j in order])  # [u, V]
        src = [firsts[tuple(req.prompt_ids)] for req in take]
        if len(order) < len(take):
            self.backend.kv.ensure(first + len(take), max(len(r.prompt_ids) for r in take) + 1)
            for j, s in enumerate(src):
                if s != j:
                    self.backend.kv.move(first + s, first + j, len(take[j].prompt_ids))
        at = {j: u for u, j in enumerate(order)}
        return out[[at[s] for s in src]]

    def _step(self) -> None:
        """One decode step of every row: one row on every core, ONE_CORE_ROWS rows or more on one core. On MKL's
        kernel, from SPLIT_ROWS rows on (and two cores), the second half of the rows runs its whole step (forward,
        then its tokens) on a helper thread, one core each (MKL on one thread per half was faster than on two for a
        whole batch); the halves read the shared weights and write disjoint cache rows. On oneDNN's kernel a batch
        stays whole on one core: beside a class's page runs that was the fastest (make load, generate part)."""
        rows = self._rows
        tokens = torch.tensor([r.last for r in rows])
        lengths = torch.tensor([r.length for r in rows])
        pool = self._workers()
        B = len(rows)
        if pool is not None and B >= SPLIT_ROWS and isinstance(self.backend, LlamaBackend) and not self.backend.onednn:
            _threads(1)  # one core each half (the helper runs the other half on one thread)
            self.backend.reserve(B, lengths)
            h = B // 2
            other = pool.submit(_on_one_thread, self._advance, h, rows[h:], tokens[h:], lengths[h:], False)
            try:
                mine = self._advance(0, rows[:h], tokens[:h], lengths[:h], False)
            finally:
                theirs = other.result()  # never leave the other half running on these rows
            keep = mine + theirs
        else:
            _threads(self.threads if B < ONE_CORE_ROWS else 1)
            keep = self._advance(0, rows, tokens, lengths, True)
        self.stats.steps += 1
        self.stats.max_batch_seen = max(self.stats.max_batch_seen, B)
        self._compact(keep)

    def _advance(self, r0: int, rows: list[_Row], tokens: torch.Tensor, lengths: torch.Tensor,
                 helpers: bool) -> list[bool]:
        """Rows r0.. (``rows``) take one step: forward, then each one's next token."""
        logits = self.backend.decode(tokens, lengths, r0) if r0 else self.backend.decode(tokens, lengths)  # [B, V]
        for r in rows:
            r.length += 1
        return self._emit(rows, logits, helpers)

    def _compact(self, keep: list[bool]) -> None:
        """Drop finished rows; the last live row moves into each hole (one row copy, no re-padding)."""
        rows = self._rows
        i = 0
        while i < len(rows):
            if keep[i]:
                i += 1
                continue
            last = len(rows) - 1
            if i != last:
                self.backend.kv.move(last, i, rows[last].length)
                rows[i] = rows[last]
                keep[i] = keep[last]
            rows.pop()
            keep.pop()

    def _workers(self) -> ThreadPoolExecutor | None:
        """Threads for the other cores (sampling draws, the second half of a batch); None on one core."""
        cores = os.cpu_count() or 1
        if self._pool is None and cores > 1:
            # one torch thread each, set before their first op: a helper that ran an op on the default two threads
            # would keep an OpenMP team for good and slow every later step of the worker (docs/generation.md)
            self._pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="engine-helper",
                                            initializer=_helper, initargs=(1,))
        return self._pool

    def _draw(self, todo: dict[int, tuple[torch.Tensor, torch.Generator]],
              helpers: bool = True) -> Callable[[], dict[int, int]]:
        """Start one ``torch.multinomial`` draw per sampled row, each with its request's own generator; the
        returned function waits for them. A draw costs ~1 ms whatever top-k/top-p left (it takes one exponential
        per vocabulary entry, which keeps the seeded stream equal to generate's), so with several rows they run
        on a small thread pool (torch releases the GIL) while the step's other reductions run:
        8 rows 10.0 -> 6.9 ms per step here, 30 rows 35 -> 26 ms."""

        def one(b: int) -> int:
            probs, gen = todo[b]
            return int(torch.multinomial(probs, 1, generator=gen)[0, 0])

        pool = self._workers() if helpers else None
        if len(todo) < 2 or pool is None:
            return lambda: {b: one(b) for b in todo}
        futures = {b: pool.submit(one, b) for b in todo}
        return lambda: {b: f.result() for b, f in futures.items()}

    def _emit(self, rows: list[_Row], logits: torch.Tensor, helpers: bool = True) -> list[bool]:
        """Pick each row's next token from its logits [B, V]; push a Step; return which rows continue. Sampling
        draws go to the helper threads when ``helpers`` (not when this already runs beside another half).

        A handful of torch calls per step, whatever the number of rows: each torch call gives the GIL back and must
        win it again, which beside a class's busy page threads can take a switch interval. Reading each row's
        numbers one call at a time (~10 calls a row) made a 30-row step take several times its compute in
        `make load`'s generate part; the numbers are taken out in whole tensors (``tolist``) instead."""
        logits = logits.float()
        finite = torch.isfinite(logits.sum(dim=-1)).tolist()  # [B] a NaN or an inf anywhere makes the sum one
        # sampling distributions, one warp call per group of rows with the same settings (rows are independent)
        groups: dict[tuple, list[int]] = {}
        for b, row in enumerate(rows):
            s = row.req.settings
            if not s.is_greedy and finite[b]:
                groups.setdefault((s.temperature, s.top_k, s.top_p), []).append(b)
        dists = [(idx, torch.softmax(warp(logits[idx], t, k, p), dim=-1)) for (t, k, p), idx in groups.items()]
        drawn = self._draw({b: (probs[j: j + 1], rows[b].req.generator) for idx, probs in dists
                            for j, b in enumerate(idx)}, helpers)
        logp = torch.log_softmax(logits, dim=-1)  # [B, V]
        top_lp, top_ids = logp.topk(TOP_N, dim=-1)  # [B, TOP_N]
        greedy_ids = logits.argmax(dim=-1).tolist()  # [B]
        top_ids_l, top_lp_l = top_ids.tolist(), top_lp.tolist()
        drawn = drawn()
        toks = [drawn.get(b, greedy_ids[b]) for b in range(len(rows))]  # sampled rows drew, the others take argmax
        lps = logp.gather(1, torch.tensor(toks)[:, None])[:, 0].tolist()  # [B] log-probability of each one's token
        sampled: dict[int, tuple[float, list[float]]] = {}  # row -> (its token's probability, its top-N's)
        for idx, probs in dists:
            at = torch.tensor(idx)
            chosen = probs.gather(1, torch.tensor([toks[b] for b in idx])[:, None])[:, 0].tolist()  # [g]
            tops = probs.gather(1, top_ids[at]).tolist()  # [g, TOP_N]
            sampled.update({b: (chosen[j], tops[j]) for j, b in enumerate(idx)})
        keep = []
        for b, row in enumerate(rows):
            req = row.req
            if req._cancel.is_set() or not finite[b]:
                if finite[b]:
                    req._finish("stopped", "stopped")
                else:
                    req._finish("error", "the model's logits are not finite numbers")
                keep.append(False)
                continue
            ids_b, tok, lp = top_ids_l[b], toks[b], lps[b]
            if req.settings.is_greedy:
                chosen, top_chosen = 1.0, [1.0] + [0.0] * (TOP_N - 1)
                if tok != ids_b[0]:  # argmax tie resolved differently: keep the first index, like argmax
                    top_chosen = [float(i == tok) for i in ids_b]
            else:
                chosen, top_chosen = sampled[b]
            req._push(Step(tok, math.exp(lp), lp, chosen, tuple(ids_b), tuple(math.exp(x) for x in top_lp_l[b]),
                           tuple(top_chosen)))
            with self._stats_lock:  # two halves of a step may emit at once
                self.stats.tokens += 1
            row.last = tok
            if tok in req.stop_ids:
                req._finish("done", "eos")
                keep.append(False)
            elif len(req.steps) >= req.settings.max_new_tokens:
                req._finish("done", "length")
                keep.append(False)
            else:
                keep.append(True)
        return keep


