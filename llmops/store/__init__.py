"""The shared store: models, engine/session scope, migrations, queries."""

from llmops.store.db import Database
from llmops.store.migrate import downgrade, upgrade

__all__ = ["Database", "downgrade", "upgrade"]
