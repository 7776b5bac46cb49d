"""models/checkpoint.py, the one place that finds a model's files and reads their headers (and models/filelock.py,
models/scripts.py, the other pieces shared by several modules): checked against what transformers recorded when
it loaded the model (``name_or_path``), safetensors' own reader, and the Unicode ranges' edges."""
from __future__ import annotations

import fcntl
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from models.checkpoint import (
    NSP_HEAD,
    checkpoint_files,
    keys_ending,
    model_folder,
    nsp_keys,
    read_headers,
)
from models.filelock import file_lock
from models.registry import ModelSpec
from models.scripts import HAN, KANA, THAI, char_class


# ------------------------------------------------------------------------------------------ folders
def test_the_bundled_models_folders_are_the_ones_transformers_read(smollm2, minilm):
    for lm in (smollm2, minilm):
        folder = model_folder(lm.spec)  # from the spec alone
        assert folder == Path(lm.model.name_or_path)  # where from_pretrained read the weights
        assert checkpoint_files(lm.spec) == sorted(folder.glob("*.safetensors"))


def test_a_local_folder_and_an_in_memory_model(tiny_gpt2):
    local = ModelSpec(id="x", label="x", family="decoder", source="local", path=str(tiny_gpt2.dir), head="causal-lm")
    assert model_folder(local) == tiny_gpt2.dir
    assert [f.name for f in checkpoint_files(local)] == ["model.safetensors"]
    memory = ModelSpec(id="m", label="m", family="decoder", source="local", head="causal-lm")  # no folder
    assert model_folder(memory) is None and checkpoint_files(memory) is None
    assert model_folder(memory, tiny_gpt2.model) is None  # built in memory: name_or_path is not a folder
    reloaded = type(tiny_gpt2.model).from_pretrained(tiny_gpt2.dir)
    assert model_folder(memory, reloaded) == tiny_gpt2.dir  # the folder the model says it was read from


# ------------------------------------------------------------------------------------------ headers
def test_headers_agree_with_safetensors_and_name_the_most_common_dtype(tmp_path):
    save_file({"a": torch.zeros(2, dtype=torch.bfloat16), "b": torch.zeros(3)}, str(tmp_path / "one.safetensors"))
    save_file({"c": torch.zeros(1, dtype=torch.bfloat16)}, str(tmp_path / "two.safetensors"))
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    files = sorted(tmp_path.glob("*.safetensors"))
    h = read_headers(files)
    expected = {}
    for f in files[1:]:  # broken.safetensors sorts first
        with safe_open(str(f), framework="pt") as s:
            expected |= {k: (f, str(s.get_slice(k).get_dtype())) for k in s.keys()}
    assert {k: (h.files[k], h.dtypes[k]) for k in h.keys} == expected
    assert h.stored_dtype == "BF16" and h.unreadable == (tmp_path / "broken.safetensors",)
    assert read_headers(None).stored_dtype == "F32" and read_headers([]).keys == []


def test_nsp_keys_need_each_of_the_four_tensors_once():
    full = ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "cls.seq_relationship.weight",
            "cls.seq_relationship.bias", "cls.predictions.bias"]
    assert nsp_keys(full) == dict(zip(NSP_HEAD, full[:4]))
    assert nsp_keys(full[1:]) is None  # no pooler weight
    assert nsp_keys(full + ["other.pooler.dense.weight"]) is None  # ambiguous
    assert keys_ending(["xcls.seq_relationship.weight"], "cls.seq_relationship.weight") == []  # a whole name part


def test_an_unreadable_checkpoint_file_leaves_the_nsp_head_unknown(tmp_path):
    from models.pairs import find_nsp_head

    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert find_nsp_head([bad], 32) == ("unknown", None)  # not "absent": what the file holds is unknown


# --------------------------------------------------------------------------------- shared small pieces
def test_file_lock_excludes_another_open_of_the_same_file(tmp_path):
    lock = tmp_path / "sub" / "x.lock"
    with file_lock(lock):
        with open(lock, "w") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock, "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released at the end of the block


@pytest.mark.parametrize("ranges", [HAN, KANA, THAI, HAN + KANA + THAI])
def test_char_class_matches_exactly_its_ranges(ranges):
    pattern = re.compile(char_class(ranges))
    inside = lambda cp: any(lo <= cp <= hi for lo, hi in ranges)  # noqa: E731
    for lo, hi in ranges:
        for cp in (lo - 1, lo, (lo + hi) // 2, hi, hi + 1):
            assert bool(pattern.fullmatch(chr(cp))) == inside(cp), hex(cp)
    assert pattern.search("首都") if HAN[0] in ranges else not pattern.search("abc")
