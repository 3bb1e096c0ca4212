"""Knowledge: the sources (upload, re-ingest, remove), a source's chunks, retrieval as each
release serves it, the knowledge-base versions (compare, publish) and the knowledge gaps."""

import streamlit as st

from llmops.ui import auth, knowledge

auth.require_page()
st.title("Knowledge")
{
    "Sources": knowledge.sources_section,
    "Chunks": knowledge.chunks_section,
    "Retrieval": knowledge.retrieval_section,
    "Versions": knowledge.versions_section,
    "Gaps": knowledge.gaps_section,
}[knowledge.section_picker()]()
