"""The temperature / top-k / top-p component (components/sampling_redraw.py) in real Chromium against serve.py:

* its sliders redraw the bars, the counts, the top-p curve and the table in the browser: they keep working while
  the server process is stopped (SIGSTOP), and the numbers on screen are adjust()'s on the model's own logits;
* the address bar equals the view on screen after fast repeated moves of all three sliders, and that link opened
  cold (a new browser context) shows the same view;
* token labels are escaped once (no ``&quot;`` on a bar);
* /generate shows the next step's distribution beside its sampling sliders, and Generate uses their setting.
The maths over a grid of settings is compared with adjust() in tests/e2e/test_sampling_maths_e2e.py."""
from __future__ import annotations

import contextlib
import os
import signal
import urllib.parse

import numpy as np
import psutil
import pytest
import torch
from playwright.sync_api import expect

from models.sampling import adjust
from tests.e2e.sampling_frame import frame, press, settled, setting, texts

pytestmark = pytest.mark.e2e

FRANCE = "The capital of France is"


def model_logits(lm, text: str) -> np.ndarray:
    ids = lm.tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return lm.model(input_ids=ids).logits[0, -1].float().numpy()


def server_pid(port: int) -> int:
    [pid] = {c.pid for c in psutil.net_connections(kind="tcp")
             if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN}
    return pid


@contextlib.contextmanager
def server_stopped(port: int):
    """The server process frozen (SIGSTOP): nothing it could compute reaches the browser meanwhile."""
    pid = server_pid(port)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def check_numbers(f, logits: np.ndarray, t: float, k: int, p: float) -> None:
    """The component's counts and table are adjust()'s numbers for this setting."""
    adj = adjust(logits, t, k, p)
    shown = texts(f)
    assert shown["metrics"][0] == f"{adj.n_kept:,}"
    assert shown["metrics"][1] == f"{adj.entropy_original:.2f} bits"
    assert shown["metrics"][2] == f"{adj.entropy_final:.2f} bits"
    ids = [int(row[1]) for row in shown["table"]]
    assert ids == np.argsort(-logits, kind="stable")[:10].tolist()
    final = np.array([float(row[-1]) for row in shown["table"]])
    np.testing.assert_allclose(final, adj.probs[ids], atol=2e-6)  # printed with 6 decimals
    assert [row[-2] for row in shown["table"]] == ["kept" if adj.kept[i] else "cut" for i in ids]


def test_sliders_redraw_in_the_browser_while_the_server_is_stopped(app, server, smollm2):
    page = app.open("/next-token", model="smollm2-135m", text=FRANCE, temperature="1.5", top_p="0.95")
    f = frame(page)
    app.wait_idle()
    logits = model_logits(smollm2, FRANCE)
    assert settled(f) == [1.5, 0, 0.95]
    check_numbers(f, logits, 1.5, 0, 0.95)
    expect(f.locator("#bars")).to_contain_text("Adjusted: T = 1.5, top-p = 0.95")
    app.screenshot("next-token-sampling-component")
    with server_stopped(server.port):
        press(f, "temperature", "ArrowLeft", 10)  # 1.5 -> 1.4
        press(f, "top_k", "ArrowRight", 5)  # 0 -> 5
        f.wait_for_function("() => document.body.dataset.setting === '[1.4,5,0.95]'", timeout=30_000)
        expect(f.locator("#bars")).to_contain_text("Adjusted: T = 1.4, top-k = 5, top-p = 0.95")
        check_numbers(f, logits, 1.4, 5, 0.95)
        press(f, "temperature", "Home")  # greedy
        f.wait_for_function("() => document.body.dataset.setting === '[0,5,0.95]'", timeout=30_000)
        assert texts(f)["greedy"] and texts(f)["metrics"][0] == "1"
        check_numbers(f, logits, 0.0, 5, 0.95)
        assert page.evaluate("location.search").find("temperature=1.5") >= 0  # the URL waits for the server
    app.wait_for_query(temperature="0", top_k="5", top_p="0.95")  # ...which writes it once it runs again
    app.wait_idle()
    assert app.exceptions().count() == 0


def test_the_address_bar_equals_the_view_after_fast_moves_and_a_cold_link_shows_it(app, browser):
    page = app.open("/next-token", model="smollm2-135m", text=FRANCE)
    f = frame(page)
    app.wait_idle()
    for _ in range(3):  # bursts in quick succession, the debounce and the server runs overlapping
        press(f, "temperature", "ArrowRight", 7)
        press(f, "top_p", "ArrowLeft", 4)
        press(f, "top_k", "ArrowRight", 3)
        press(f, "temperature", "ArrowLeft", 2)
    shown = settled(f)
    assert shown == [1.15, 9, 0.88]
    app.wait_for_query(temperature="1.15", top_k="9", top_p="0.88")
    app.wait_idle()
    page.wait_for_timeout(1_000)  # nothing left in flight may move the address bar again
    q = app.query()
    assert [float(q["temperature"][0]), int(q["top_k"][0]), float(q["top_p"][0])] == setting(f) == shown
    view = texts(f)
    # the link, opened cold in a new browser context (a new session), shows the same view
    cold = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        other = cold.new_page()
        other.goto(page.url.split("?")[0] + page.evaluate("location.search"))
        g = frame(other)
        assert setting(g) == shown
        again = texts(g)
        for key in ("values", "metrics", "bars", "table"):
            assert again[key] == view[key], key
    finally:
        cold.close()


def test_token_labels_are_escaped_once(app, smollm2):
    text = 'print("Hello'  # quotes and brackets among the most likely next tokens
    page = app.open("/next-token", model="smollm2-135m", text=text)
    f = frame(page)
    logits = model_logits(smollm2, text)
    top = np.argsort(-logits, kind="stable")[:20]
    pieces = [smollm2.tokenizer.decode([int(i)]).replace(" ", "␣") for i in top]
    assert any('"' in p or "<" in p or "&" in p for p in pieces), pieces  # the text does what it is for
    bars = texts(f)["bars"]
    for label in ("&quot;", "&amp;", "&lt;", "&#"):
        assert label not in bars
    for rank, piece in enumerate(pieces[:5], start=1):
        assert f"{rank}. {piece}" in bars
    assert [row[0] for row in texts(f)["table"]] == pieces[:10]


def test_generate_shows_the_next_step_and_generates_with_its_setting(app, smollm2):
    page = app.open("/generate", model="smollm2-135m", text=FRANCE, mode="sample", temperature="1.1", seed="3",
                    max_new_tokens="5")
    f = frame(page)
    app.wait_idle()
    logits = model_logits(smollm2, FRANCE)
    assert settled(f) == [1.1, 50, 1.0]  # generate's default top-k is 50
    shown = texts(f)
    adj = adjust(logits, 1.1, 50, 1.0)
    assert shown["metrics"][0] == f"{adj.n_kept:,}" == "50"
    press(f, "temperature", "Home")
    assert settled(f) == [0, 50, 1.0] and texts(f)["greedy"]
    app.wait_for_query(temperature="0")
    app.wait_idle()
    page.locator(".st-key-gen_go button").click()
    output = page.locator('[data-testid="tx-generated"]')
    expect(output.last).to_be_attached(timeout=120_000)
    expect(page.locator(".tx-cursor")).to_have_count(0, timeout=120_000)
    app.wait_idle(timeout=120_000)
    # T = 0 samples greedily: the model's own greedy continuation
    ids = smollm2.tokenizer(FRANCE, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = smollm2.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=5)
    want = smollm2.tokenizer.decode(out[0, ids.shape[1]:])
    assert "".join(output.last.locator(".tx-tok").all_text_contents()) == want
    assert urllib.parse.parse_qs(page.evaluate("location.search").lstrip("?"))["temperature"] == ["0"]
    assert app.exceptions().count() == 0
