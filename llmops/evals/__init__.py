"""Evaluation: datasets, evaluators, runs of a release over a dataset, comparison, CI gate.

- ``datasets``: versioned evaluation cases; import/export JSONL and CSV; cases from traces.
- ``evaluators``: the registry (``@evaluator``) and the built-in heuristic, embedding, RAG and
  operational evaluators; ``judge``: LLM-as-judge evaluators for a configured real model.
- ``runner``: runs the real chat pipeline of a release over a dataset version.
- ``compare`` and ``gate``: paired comparison of two runs and the CI gate.
- ``online``: scores a sample of live traffic in the background.
"""
