"""User ids as they are stored: the id itself, or a keyed hash of it.

A user id can be personal data itself (OIDC sign-in makes it an e-mail address). With
``LLMOPS_USER_ID_MODE=auto`` (the default) an id that redaction would change (an e-mail, a
phone number, ...) is stored as ``u_<hmac>``; ``hash`` does that for every id and ``raw`` for
none. The hash is HMAC-SHA256 under a key of the deployment's own (``LLMOPS_USER_ID_KEY``, or
a random key created once in ``$LLMOPS_HOME/user-id.key``), so the same person keeps one id
across sessions and processes while the id cannot be recovered by hashing guesses without
the key. Replicas that share a store must share the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from llmops.config import Settings

HASH_PREFIX = "u_"
KEY_FILE = "user-id.key"
_HASHED = re.compile(r"u_[0-9a-f]{32}")


def is_hashed(user_id: str) -> bool:
    return _HASHED.fullmatch(user_id) is not None


def load_key(settings: Settings) -> bytes:
    """The hash key: the configured one, else the home's key file (created on first use)."""
    if settings.user_id_key:
        return settings.user_id_key.encode()
    path = Path(settings.home) / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def hash_user_id(key: bytes, user_id: str) -> str:
    digest = hmac.new(key, user_id.strip().casefold().encode("utf-8", "replace"), hashlib.sha256)
    return HASH_PREFIX + digest.hexdigest()[:32]


def user_id_mapper(settings: Settings) -> Callable[[str], str] | None:
    """What the store keeps of a user id under the configured mode (None: keep it)."""
    mode = settings.user_id_mode
    if mode == "raw":
        return None
    key = load_key(settings)

    if mode == "hash":

        @lru_cache(maxsize=4096)
        def always(user_id: str) -> str:
            return user_id if is_hashed(user_id) else hash_user_id(key, user_id)

        return always

    from llmops.redaction import redact

    @lru_cache(maxsize=4096)
    def personal_only(user_id: str) -> str:
        if is_hashed(user_id) or redact(user_id) == user_id:
            return user_id
        return hash_user_id(key, user_id)

    return personal_only


@lru_cache(maxsize=8)
def _mapper_for(mode: str, key: str | None, home: str) -> Callable[[str], str] | None:
    return user_id_mapper(Settings(home=Path(home), user_id_mode=mode, user_id_key=key))  # type: ignore[arg-type]


def stored_user_id(user_id: str | None, settings: Settings | None = None) -> str | None:
    """``user_id`` as the store keeps it (for writes outside the trace writer: feedback)."""
    if user_id is None:
        return None
    from llmops.config import get_settings
    from llmops.tracing.render import fit_id, sanitize

    s = settings or get_settings()
    mapper = _mapper_for(s.user_id_mode, s.user_id_key, str(s.home))
    text = sanitize(user_id)
    return fit_id(mapper(text) if mapper is not None else text, 200)
