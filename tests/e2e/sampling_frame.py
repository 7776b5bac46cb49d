"""Helpers for the temperature / top-k / top-p component (components/sampling_redraw.py) in a real browser: its
iframe, its sliders, what it has drawn (the frontend writes the setting on screen into ``body[data-setting]`` once
every figure has been redrawn, and ``window.txView`` holds its state)."""
from __future__ import annotations

import json

IFRAME = 'iframe[src*="sampling_redraw"]'


def frame(page, timeout: float = 120_000):
    """The component's frame, once it has drawn its figures."""
    page.locator(IFRAME).first.wait_for(timeout=timeout)
    f = page.locator(IFRAME).first.element_handle().content_frame()
    f.wait_for_function("() => Number(document.body.dataset.draws || 0) >= 1", timeout=timeout)
    return f


def setting(f) -> list:
    """[temperature, top_k, top_p] the figures show now."""
    return json.loads(f.evaluate("() => document.body.dataset.setting"))


def settled(f, timeout: float = 30_000) -> list:
    """Wait until the figures show the sliders' setting and the component has reported it; return it."""
    f.wait_for_function(
        """() => { const s = window.txView.state(), c = s.current;
                   return s.drawn === JSON.stringify([c.temperature, c.top_k, c.top_p])
                          && s.reported === JSON.stringify(c); }""", timeout=timeout)
    return setting(f)


def press(f, slider: str, key: str, times: int = 1) -> None:
    """Keyboard on one of the component's sliders ("temperature", "top_k", "top_p"), as fast as it goes."""
    thumb = f.locator(f"#{slider}")
    thumb.focus()
    for _ in range(times):
        thumb.press(key)


def texts(f) -> dict:
    """What the component shows, as text: the sliders' values, the metrics, the bars, the table."""
    return f.evaluate("""() => ({
        values: ['temperature', 'top_k', 'top_p'].map(n => document.getElementById(n + '-value').textContent),
        metrics: [...document.querySelectorAll('.metric')].map(m => m.querySelector('.m-value').textContent),
        bars: document.getElementById('bars').textContent,
        table: [...document.querySelectorAll('#steps tbody tr')].map(r => [...r.cells].map(c => c.textContent)),
        greedy: !document.getElementById('greedy').classList.contains('hidden'),
        body: document.body.innerText,
    })""")
