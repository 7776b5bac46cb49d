"""serving/attention_layers.py: the heatmap's layers, fetched by the browser over HTTP. What a handle answers is the
layer's float32 weights exactly as the component's own payload carries them (token and word level); nothing is kept
alive for it; anything that is not exactly its path shape goes to the app behind it."""
from __future__ import annotations

import gc

import numpy as np
import pytest

from components import attention_redraw as ar
from models import attention as att
from serving import attention_layers as al
from serving.attention_layers import AttentionLayers
from tests.unit.test_static_assets import call, run


class Behind:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope, receive, send):
        self.seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})


@pytest.fixture
def attn():
    rng = np.random.default_rng(0)
    a = rng.random((4, 3, 6, 6), dtype=np.float32)
    return a / a.sum(-1, keepdims=True)


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.setattr(al, "installed", al.installed)  # AttentionLayers() sets it; later tests run without the route
    al._forget_all()
    yield
    al._forget_all()


def test_a_layer_is_the_payloads_bytes_of_that_layer(attn):
    handle = al.register("view-1", attn, None, 6)
    for layer in range(4):
        got = np.frombuffer(al.layer_bytes(handle, layer), "<f4").reshape(3, 6, 6)
        # what the component would have been sent for that layer (payload's "layer" scope), bit for bit
        sent = ar.payload(attn, layer, 0, budget=1, layer_budget=3 * 6 * 6 * 4)
        assert sent.scope == "layer"
        np.testing.assert_array_equal(got, np.frombuffer(sent.data, "<f4").reshape(3, 6, 6))
        np.testing.assert_array_equal(got, attn[layer])


def test_a_masked_view_sends_only_the_cells_not_masked(attn):
    """A decoder's future is 0 by construction and the browser has the mask: those cells are not sent (half the
    bytes); what is sent is every other cell, row by row, exactly."""
    masked = np.triu(np.ones((6, 6), bool), 1)
    causal = np.where(masked, np.float32(0), attn)
    handle = al.register("causal", causal, None, 6, masked)
    got = np.frombuffer(al.layer_bytes(handle, 1), "<f4").reshape(3, 21)  # 6 * 7 / 2 cells per head
    np.testing.assert_array_equal(got, causal[1][:, ~masked])
    # the browser's unpacking (redraw.js: NaN where masked, the next value elsewhere) gives the payload's weights
    full = np.full((3, 6, 6), np.nan, np.float32)
    full[:, ~masked] = got
    sent = ar.payload(causal, 1, 0, masked, budget=1, layer_budget=3 * 6 * 6 * 4)
    np.testing.assert_array_equal(full, np.where(masked, np.nan, np.stack([sent.weights(1, h) for h in range(3)])))
    unmasked = al.register("unmasked", causal, None, 6, np.zeros((6, 6), bool))
    assert len(al.layer_bytes(unmasked, 1)) == 3 * 36 * 4  # nothing masked: every cell
    with pytest.raises(ValueError):  # a mask that is not a decoder's future is never packed (the page sends it)
        al.register("odd mask", causal, None, 6, np.eye(6, dtype=bool))


def test_word_level_layers_go_through_the_views_transform(attn):
    words = [0, 0, 1, 2, 2, 3]  # token -> word
    transform = lambda block: att.word_attention(block, words)  # noqa: E731  (as app_pages/attention.py does)
    handle = al.register("view-words", attn, transform, 4)
    got = np.frombuffer(al.layer_bytes(handle, 2), "<f4").reshape(3, 4, 4)
    sent = ar.payload(attn, 2, 1, budget=1, layer_budget=3 * 4 * 4 * 4, transform=transform, size=4)
    np.testing.assert_array_equal(got, np.frombuffer(sent.data, "<f4").reshape(3, 4, 4))
    np.testing.assert_allclose(got.sum(-1), 1, atol=1e-5)


def test_the_same_view_gets_the_same_unguessable_handle(attn, monkeypatch):
    a, b = al.register("same", attn, None, 6), al.register("same", attn, None, 6)
    assert a == b and len(a) == 32 and a != al.register("other", attn, None, 6)
    assert al.layer_bytes("0" * 32, 0) is None  # a handle never registered
    # the handle is keyed with this process's secret: knowing the view is not enough to name it
    monkeypatch.setattr(al, "_SECRET", b"another process" * 2)
    assert al.handle_for("same") != a


def test_nothing_is_kept_alive_for_the_browser():
    attn = np.full((2, 3, 6, 6), 1 / 6, np.float32)  # held here only (a fixture's value is held by pytest)
    handle = al.register("dropped", attn, None, 6)
    assert al.layer_bytes(handle, 0) is not None
    del attn
    gc.collect()
    assert al.layer_bytes(handle, 0) is None  # the trace cache dropped it: the browser asks the page instead


def test_out_of_range_layers_and_the_bound_on_views(attn):
    handle = al.register("v", attn, None, 6)
    assert al.layer_bytes(handle, 4) is None and al.layer_bytes(handle, -1) is None
    for i in range(al.MAX_ENTRIES + 5):
        al.register(f"many-{i}", attn, None, 6)
    assert al.registered() == al.MAX_ENTRIES and al.layer_bytes(handle, 0) is None  # the oldest went first


@pytest.mark.parametrize("base", ["", "class/explainer"])
def test_the_route_answers_its_path_and_passes_everything_else_on(attn, base):
    handle = al.register("route", attn, None, 6)
    behind = Behind()
    app = AttentionLayers(behind, base)
    prefix = f"/{base}" if base else ""
    status, headers, body = run(call(app, f"{prefix}/_tx/attention/{handle}/3"))
    assert status == 200 and body == attn[3].astype("<f4").tobytes()
    assert headers[b"content-type"] == b"application/octet-stream" and headers[b"cache-control"] == b"no-store"
    assert headers[b"content-length"] == str(len(body)).encode()
    status, headers, body = run(call(app, f"{prefix}/_tx/attention/{handle}/3", method="HEAD"))
    assert status == 200 and body == b"" and headers[b"content-length"] == str(attn[3].nbytes).encode()
    assert run(call(app, f"{prefix}/_tx/attention/{'f' * 32}/0"))[0] == 404  # unknown: the browser asks the page
    assert run(call(app, f"{prefix}/_tx/attention/{handle}/9"))[0] == 404
    passed = [f"{prefix}/_tx/attention/{handle}", f"{prefix}/_tx/attention/{handle}/x",
              f"{prefix}/_tx/attention/{handle}/\u00b2", f"{prefix}/_tx/attention/{handle.upper()}/0",
              f"{prefix}/_tx/attention/{handle[:-1]}z/0", f"{prefix}/_tx/attention/{handle}/0/1",
              f"{prefix}/_tx/attention/../static/x/0", "/_stcore/health", f"{prefix}/tokens"]
    for path in passed:
        assert run(call(app, path))[0] == 299, path
    assert run(call(app, f"{prefix}/_tx/attention/{handle}/0", method="POST"))[0] == 299
    assert behind.seen == passed + [f"{prefix}/_tx/attention/{handle}/0"]


def test_fetching_is_offered_only_where_the_route_is_installed_and_a_layer_fits(monkeypatch):
    monkeypatch.setattr(al, "installed", False)
    assert not ar.fetchable(30, 9, 512)  # `streamlit run` without serve.py, AppTest: the round trip
    monkeypatch.setattr(al, "installed", True)
    assert ar.fetchable(30, 9, 512)  # SmolLM2 at 512 tokens: a layer is 9 MiB
    assert not ar.fetchable(30, 9, 16)  # every layer is sent: nothing to fetch
    assert not ar.fetchable(30, 9, 512, layer_budget=9 * 512 * 512 * 4 - 1)  # a layer does not fit
