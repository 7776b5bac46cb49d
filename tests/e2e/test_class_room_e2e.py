"""Class mode in two real browsers: the teacher creates a room and sends a view; the student's page, open on
/class, switches to it (page, model and text) on its own within a few seconds; a poll answered in the student's
sidebar reaches the teacher's count. Screenshots of both sides for the README."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT, App, allowed_url

pytestmark = pytest.mark.e2e
TEXT = "The capital of France is"


@pytest.fixture
def student(browser, server):
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield App(pg, server)
    finally:
        context.close()
    assert not [u for u in requests if not allowed_url(u, server.port)]
    assert not errors


def test_teacher_pushes_and_the_student_follows(app, student):
    teacher = app
    teacher.open("/class")
    teacher.wait_idle()
    teacher.page.get_by_role("button", name="Create a room").click()
    code_block = teacher.page.locator('[data-testid="stCode"]').first
    expect(code_block).to_contain_text("/class?room=")
    code = re.search(r"room=([A-Z0-9]{6})", code_block.inner_text()).group(1)
    teacher.wait_idle()
    qr = teacher.page.locator('[data-testid="stImage"] img')  # the QR code, drawn on the server as SVG
    expect(qr).to_have_count(1)
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert "teacher" not in teacher.query()  # the token is not on the projected address bar

    student.open("/class", room=code)
    student.wait_idle()
    student.page.get_by_role("button", name="Join").click()
    expect(student.page.locator('[data-testid="stSidebar"]').get_by_text("Follow the teacher")).to_be_visible()
    student.wait_idle()
    student.screenshot("class-student-joined")

    # the teacher goes to the Tokens page in the same session, types a text, and sends the view
    teacher.page.locator('[data-testid="stSidebarNav"] a', has_text="Tokens").click()
    teacher.wait_for_chips()
    teacher.sidebar_text().fill(TEXT)
    teacher.sidebar_text().press("Control+Enter")
    teacher.wait_for_query(text=TEXT)
    teacher.wait_idle()
    teacher.page.get_by_role("button", name="Send this view to the class").click()
    expect(teacher.page.get_by_text("Sent to the class (push 1).")).to_be_visible()

    # the student's page switches by itself: the server's room watcher runs the pushed view in the student's
    # session (nothing polls in this browser); generous functional wait
    student.page.wait_for_function("() => location.pathname === '/tokens'", timeout=20_000)
    student.wait_for_query(text=TEXT, timeout=20_000)
    student.wait_for_chips()
    expect(student.sidebar_text()).to_have_value(TEXT)
    assert not student.exceptions().count()
    student.wait_idle()
    assert "preset" not in student.query()  # the address bar holds the view's own link, ready to share
    assert student.page.evaluate("() => location.pathname") == "/tokens"  # and it stays there

    # predict, then reveal: the teacher asks; the answer box appears in the student's sidebar by itself
    teacher.page.locator('[data-testid="stSidebarNav"] a', has_text="Class").click()
    teacher.page.get_by_role("button", name="Ask the class: what comes next?").click()
    teacher.wait_idle()
    guess = student.page.get_by_label("Your guess (a word or a few)")
    expect(guess).to_be_visible(timeout=20_000)
    guess.fill("Paris")
    guess.press("Enter")  # Enter in a form's text input submits the form
    expect(student.page.get_by_text("(counted)")).to_be_visible()
    answers = teacher.page.locator('[data-testid="stMetric"]').filter(has_text="Answers to the current question")
    expect(answers).to_contain_text("1", timeout=20_000)
    teacher.page.get_by_role("button", name="Reveal").click()
    expect(teacher.page.locator(".js-plotly-plot")).to_have_count(1, timeout=60_000)
    teacher.screenshot("class-teacher-revealed", canonical="class-teacher")
    student.wait_idle()
    student.screenshot("class-student-follows", canonical="class-student")
