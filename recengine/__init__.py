"""recengine: generate-then-retrieve fashion recommendation.

Generators design candidate items for a (user, query item) pair, the designs are embedded and searched with
FAISS to find real catalogue items, and a personalised compatibility model re-ranks them.
"""

from recengine.config import Settings

__all__ = ["Settings", "__version__"]
__version__ = "0.1.0"
