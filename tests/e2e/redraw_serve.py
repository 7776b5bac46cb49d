"""redraw_app.py behind serve.py's ASGI layers (the browser fetches the heatmap's layers from
serving/attention_layers.py): ``python tests/e2e/redraw_serve.py [streamlit options]``."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import serve  # noqa: E402

serve.serve_frontend_from_memory()
from streamlit.web import cli  # noqa: E402

sys.argv = ["streamlit", "run", str(REPO / "tests" / "e2e" / "redraw_app.py"), *sys.argv[1:]]
cli.main()
