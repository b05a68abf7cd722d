"""PostgreSQL state: typed ORM, engines and sessions, the embedded default, migrations and images."""

from recengine.store.database import Database, database, make_engine, open_database
from recengine.store.images import ImageInfo, inspect_image, load_image, open_image
from recengine.store.models import (
    Base,
    Image,
    IndexVersion,
    Interaction,
    Item,
    Job,
    ModelVersion,
    Outfit,
    OutfitItem,
    User,
    UserPreference,
)

__all__ = [
    "Base", "Database", "Image", "ImageInfo", "IndexVersion", "Interaction", "Item", "Job", "ModelVersion",
    "Outfit", "OutfitItem", "User", "UserPreference", "database", "inspect_image", "load_image", "make_engine",
    "open_database", "open_image",
]  # fmt: skip
