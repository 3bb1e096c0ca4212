"""The only package in llmops/ that imports streamlit: cached dependencies and widgets."""
