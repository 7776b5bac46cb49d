"""Everything that imports streamlit (except components.plots, which is pure plotly)."""
