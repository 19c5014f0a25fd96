"""Every domain's outbox handlers and signal subscriptions, registered by importing their modules.

`siyu.core.signals.emit` and the outbox load this module on first use, so a reaction is never
missed because the process that stored an order (the API, the CLI, a notebook, a test) happened
not to import the domain that reacts to it.
"""

from siyu.catalog import pull as _catalog_pull  # noqa: F401
from siyu.catalog import service as _catalog_service  # noqa: F401
from siyu.catalog import tasks as _catalog_tasks  # noqa: F401
from siyu.channels import delivery as _channels_delivery  # noqa: F401
from siyu.channels import tasks as _channels_tasks  # noqa: F401
from siyu.distribution import tasks as _distribution_tasks  # noqa: F401
from siyu.ingest import landing as _ingest_landing  # noqa: F401
from siyu.journeys import effects as _journeys_effects  # noqa: F401
from siyu.journeys import tasks as _journeys_tasks  # noqa: F401
from siyu.journeys import triggers as _journeys_triggers  # noqa: F401
from siyu.lifecycle import tasks as _lifecycle_tasks  # noqa: F401
from siyu.loyalty import merging as _loyalty_merging  # noqa: F401
from siyu.loyalty import schedule as _loyalty_schedule  # noqa: F401
from siyu.loyalty import tasks as _loyalty_tasks  # noqa: F401
from siyu.promotions import tasks as _promotions_tasks  # noqa: F401
from siyu.promotions.groupbuy import service as _groupbuy_service  # noqa: F401
from siyu.promotions.invites import tasks as _invites_tasks  # noqa: F401
from siyu.segments import tasks as _segments_tasks  # noqa: F401
