"""Import every domain's tables so the metadata (and Alembic) sees all of them."""

from siyu.catalog import models as catalog_models  # noqa: F401
from siyu.channels import models as channels_models  # noqa: F401
from siyu.core import audit, idempotency, outbox  # noqa: F401
from siyu.core.db import Base
from siyu.customers import models as customers_models  # noqa: F401
from siyu.distribution import models as distribution_models  # noqa: F401
from siyu.ingest import models as ingest_models  # noqa: F401
from siyu.journeys import models as journeys_models  # noqa: F401
from siyu.lifecycle import models as lifecycle_models  # noqa: F401
from siyu.loyalty import models as loyalty_models  # noqa: F401
from siyu.promotions import models as promotions_models  # noqa: F401
from siyu.promotions.groupbuy import models as groupbuy_models  # noqa: F401
from siyu.promotions.invites import models as invites_models  # noqa: F401
from siyu.segments import models as segments_models  # noqa: F401
from siyu.tags import models as tags_models  # noqa: F401
from siyu.workspaces import models as workspaces_models  # noqa: F401

metadata = Base.metadata
