"""Model code for the explainer. Nothing in this package imports streamlit."""
