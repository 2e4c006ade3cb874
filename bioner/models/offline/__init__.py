"""Real models built offline from PyPI wheels (one module per model, each an ``OfflineModel`` spec; the
registry, bioner.models.registry, lists them as aliases). ``python -m bioner.models.offline`` pre-builds
them."""
