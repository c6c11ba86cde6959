"""The metadata migrations compare against: every package's models, imported in one place."""

from __future__ import annotations

import billing.models  # noqa: F401  (registers payments, refunds, notifications, the ledger and the outbox)
import billing.reconciliation.models  # noqa: F401  (registers reconciliation runs and discrepancies)
import chat.models  # noqa: F401  (registers chat messages, followers and menus)
import city_services.car_move.models  # noqa: F401  (registers the car-move tables)
import city_services.figures.models  # noqa: F401  (registers the hourly service figures)
import city_services.housing_fund.models  # noqa: F401  (registers the fund lookup log and answers)
import city_services.models  # noqa: F401  (registers the catalogue tables)
import city_services.outpatient.models  # noqa: F401  (registers appointments)
import database.idempotency  # noqa: F401  (registers idempotency keys)
import identity.models  # noqa: F401  (registers staff, tokens and audit tables)
from database import Base

target_metadata = Base.metadata
