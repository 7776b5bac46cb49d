"""What a class's sessions share when they open one view at once: a trace's derived results are made once even
when many sessions ask together (Trace.derived), a shared figure is never restyled in place for a projector
(widgets.show_chart copies it), and a custom component is declared once per server under a lock."""
from __future__ import annotations

import threading
import time

import numpy as np
import plotly.graph_objects as go

from models.trace import Trace


def at_once(target, n: int) -> None:
    """``n`` threads running ``target`` (each waits on the test's barrier), all joined; the first exception a
    thread raised (an assert in ``target``) is raised here, where it fails the test."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as e:  # noqa: BLE001 (handed to the test's thread)
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _trace() -> Trace:
    z = np.zeros((1, 1), dtype=np.float32)
    return Trace(model_id="m", text="t", tokens=["t"], ids=np.array([1]), offsets=np.zeros((1, 2), dtype=int),
                 special=np.array([False]), n_total=1, token_embeddings=z, position_embeddings=None,
                 hidden_states=z[None], attentions=np.zeros((1, 1, 1, 1), dtype=np.float32), last_logits=None)


def test_derived_is_made_once_when_many_ask_at_once():
    trace, calls, start = _trace(), [], threading.Barrier(12)

    def make():
        calls.append(1)
        time.sleep(0.05)  # long enough for every other thread to arrive while it is being made
        return object()

    got = []

    def ask():
        start.wait()
        got.append(trace.derived("thing", make))

    at_once(ask, 12)
    assert len(calls) == 1
    assert len(got) == 12 and all(g is got[0] for g in got)


def test_derived_results_may_be_made_from_each_other():
    trace = _trace()
    inner = trace.derived("a", lambda: 2)
    assert trace.derived("b", lambda: trace.derived("a", lambda: 99) * 10) == inner * 10 == 20


def test_the_logit_lens_and_the_loss_are_kept_on_the_trace(smollm2):
    from models.lens import logit_lens
    from models.loss import next_token_scores
    from models.trace import compute_trace

    trace = compute_trace(smollm2, "The capital of France is")
    lens, scores = logit_lens(smollm2, trace, k=5), next_token_scores(smollm2, trace)
    assert logit_lens(smollm2, trace, k=5) is lens and next_token_scores(smollm2, trace) is scores
    assert logit_lens(smollm2, trace, k=3) is not lens  # another k is another result
    assert lens.top_ids.shape[1] == 5


def test_a_shared_figure_is_copied_before_a_projector_restyles_it(monkeypatch):
    import streamlit as st

    from components import present, widgets

    shown = []
    monkeypatch.setattr(present, "active", lambda: True)
    monkeypatch.setattr(st, "plotly_chart", lambda fig, **kw: shown.append(fig))
    fig = go.Figure(go.Bar(x=[1, 2], y=[3, 4]))
    before = fig.to_json()
    widgets.show_chart(fig, "test")
    assert shown and shown[0] is not fig
    assert fig.to_json() == before  # the shared one is as it was
    assert shown[0].to_json() != before  # the copy got the projector's style


def test_a_component_is_declared_once_per_server_even_from_many_threads(monkeypatch):
    from streamlit import runtime

    from components import attention_redraw as ar

    server = object()
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: server)
    monkeypatch.setattr(ar, "_DECLARED", {})
    calls, start = [], threading.Barrier(8)

    def declare():
        calls.append(1)
        time.sleep(0.02)
        return "component"

    def use():
        start.wait()
        assert ar.declared_once("x", declare) == "component"

    at_once(use, 8)
    assert len(calls) == 1


def test_without_a_server_every_call_declares(monkeypatch):
    from streamlit import runtime

    from components import attention_redraw as ar

    monkeypatch.setattr(runtime, "exists", lambda: False)
    calls = []
    ar.declared_once("y", lambda: calls.append(1))
    ar.declared_once("y", lambda: calls.append(1))
    assert len(calls) == 2
