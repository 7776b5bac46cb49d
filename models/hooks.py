"""One place where hooks go onto a model's modules and come off again (TransformerLens's HookPoint idea).

A hook is a function PyTorch calls when a module runs: a *pre* hook sees (and may replace) the module's inputs,
a *post* hook sees (and may replace) its output. Pages share one loaded model, so a hook left behind would
change every later forward pass of every session: :func:`hooked` registers a list of hooks and removes all of
them in ``finally``, whatever happens inside the block (an exception, a hook that stops the pass early).
Run it under ``lm.lock``, so that no other session's forward pass runs while the hooks are on.

    with hooked([(layer.mlp.down_proj, "pre", save_input), (layer.mlp.down_proj, "post", zero_output)]):
        model(input_ids=ids)

Kinds: ``"pre"`` fn(module, args) -> None | new args; ``"pre_kwargs"`` fn(module, args, kwargs) -> None |
(new args, new kwargs); ``"post"`` fn(module, args, output) -> None | new output.

One loaded model serves every session (and the generation engine reads its weight tensors), so no intervention
here edits a weight: each replaces an input or an output for the one run its hooks live in.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

Hook = tuple[Any, str, Callable]  # (module, "pre" | "pre_kwargs" | "post", function)


@contextlib.contextmanager
def hooked(hooks: Iterable[Hook]) -> Iterator[None]:
    """Register every hook (in order), run the block, remove them all (even those of a failed registration)."""
    handles = []
    try:
        for module, kind, fn in hooks:
            if kind == "pre":
                handles.append(module.register_forward_pre_hook(fn))
            elif kind == "pre_kwargs":
                handles.append(module.register_forward_pre_hook(fn, with_kwargs=True))
            elif kind == "post":
                handles.append(module.register_forward_hook(fn))
            else:
                raise ValueError(f"unknown hook kind {kind!r}")
        yield
    finally:
        for handle in handles:
            handle.remove()


def first_input(args: tuple, kwargs: dict | None = None, name: str = "hidden_states"):
    """The tensor a module was called with: its first positional argument, or the keyword ``name``."""
    if args:
        return args[0]
    return (kwargs or {}).get(name)


def first_output(output):
    """A block's output tensor: some architectures return it alone, others a tuple whose first item it is."""
    return output[0] if isinstance(output, (tuple, list)) else output
