"""Why the page scripts live in app_pages/ and not in the design card's pages/ (issue #21 asked for pages/ unless a
test shows a real problem): in Streamlit 1.67 a folder named ``pages`` next to the main script switches the first
script run of the process into the legacy multipage mode (``PagesManager.uses_pages_directory``,
``script_runner._mpa_v1``). That run routes ANY script in the folder, listed in st.navigation or not, and runs it
WITHOUT the main script: no sidebar, no model, none of app.py's checks. On a fresh server that is the first student
of the class who opens a page link. Any other folder name is only what st.navigation lists."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import components.pages as pages

MAIN = """
import streamlit as st
st.session_state["main_ran"] = True
st.navigation([st.Page("{folder}/a.py", url_path="a", default=True)]).run()
"""


def _app(root: Path, folder: str) -> Path:
    (root / folder).mkdir()
    (root / folder / "a.py").write_text('import streamlit as st\nst.write("page A")\n')
    (root / folder / "b.py").write_text('import streamlit as st\nst.write("page B, not in the navigation")\n')
    main = root / "app.py"
    main.write_text(MAIN.format(folder=folder))
    return main


@pytest.mark.parametrize("folder", ["pages", "app_pages"])
def test_an_unlisted_script_in_the_folder_is_run_without_the_main_script(tmp_path, folder):
    at = AppTest.from_file(str(_app(tmp_path, folder)))
    at.switch_page(f"{folder}/b.py").run()
    shown = [m.value for m in at.markdown]
    if folder == "pages":  # the problem: B runs on its own, app.py never ran
        assert shown == ["page B, not in the navigation"]
        assert "main_ran" not in at.session_state
    else:  # what the app relies on: app.py runs and its navigation decides (B is not a page: the default, A)
        assert shown == ["page A"]
        assert at.session_state["main_ran"] is True


def test_the_app_has_no_pages_folder():
    root = Path(__file__).resolve().parents[2]
    assert not (root / "pages").exists()
    assert {Path(p.file).parent.name for p in pages.TABLE} == {"app_pages"}
