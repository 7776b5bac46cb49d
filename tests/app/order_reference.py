"""Reference curves for the word-order demo (a text against its word reversal), computed here independently of
models/positions.py and models/similarity.py: the models' own forward passes, positions switched off by other
means (SmolLM2: ``position_ids`` all 0; a learned table: a fresh copy of the model with that table zeroed), tokens
matched as the tokens whose id appears exactly once in each text (special tokens left out)."""
from __future__ import annotations

import numpy as np
import torch

from tests.unit.conftest import last_block_output


def _hidden(model, ids: list[int], **kwargs) -> np.ndarray:
    ids_t = torch.tensor([ids])
    # layer L is the last block's own output (transformers' last entry is after a decoder's final norm)
    with last_block_output(model) as last, torch.inference_mode():
        out = model(input_ids=ids_t, attention_mask=torch.ones_like(ids_t), output_hidden_states=True, **kwargs)
        return torch.stack(out.hidden_states[:-1] + (last["last"],))[:, 0].double().numpy()  # [L+1, T, d]


_ZEROED: dict = {}


def _zeroed(lm):
    """A copy of the model whose position table is all zeros (made once per model)."""
    if lm.spec.id not in _ZEROED:
        # a fresh, plain transformers copy from the model's folder (the app's shared copy is never edited)
        from transformers import AutoModel

        from models.loading import bundled_path

        model = AutoModel.from_pretrained(bundled_path(lm.spec)).eval()
        for name, module in model.named_modules():
            if name.endswith(("position_embeddings", "wpe")) and isinstance(module, torch.nn.Embedding):
                module.weight.data.zero_()
        _ZEROED[lm.spec.id] = model
    return _ZEROED[lm.spec.id]


def order_reference(lm, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(with positions [L+1], without positions [L+1], the matched tokens) for ``text`` vs its word reversal."""
    other = " ".join(reversed(text.split()))
    encs = [lm.tokenizer(t, return_special_tokens_mask=True) for t in (text, other)]
    ids = [e["input_ids"] for e in encs]
    special = [set(np.flatnonzero(e["special_tokens_mask"]).tolist()) for e in encs]
    shared = [t for t in ids[0] if ids[0].count(t) == 1 and ids[1].count(t) == 1
              and ids[0].index(t) not in special[0]]
    pairs = [(ids[0].index(t), ids[1].index(t)) for t in shared]
    if lm.facts.positions == "rope":
        off = [_hidden(lm.model, x, position_ids=torch.zeros(1, len(x), dtype=torch.long)) for x in ids]
    else:
        off = [_hidden(_zeroed(lm), x) for x in ids]
    on = [_hidden(lm.model, x) for x in ids]

    def curve(h):
        a, b = h
        return np.mean([[a[l, i] @ b[l, j] / np.linalg.norm(a[l, i]) / np.linalg.norm(b[l, j])
                         for l in range(a.shape[0])] for i, j in pairs], axis=0)

    return curve(on), curve(off), lm.tokenizer.convert_ids_to_tokens(shared)
