"""Import every domain's tables so the metadata (and Alembic) sees all of them."""

from siyu.core import audit, idempotency, outbox  # noqa: F401
from siyu.core.db import Base
from siyu.customers import models as customers_models  # noqa: F401
from siyu.ingest import models as ingest_models  # noqa: F401
from siyu.lifecycle import models as lifecycle_models  # noqa: F401
from siyu.workspaces import models as workspaces_models  # noqa: F401

metadata = Base.metadata
