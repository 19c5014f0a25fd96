"""Enrolling many at once: the same members, consents and audit as one by one; a refusal
refuses the whole batch and writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from siyu.core.audit import AuditEntry
from siyu.core.db import Database
from siyu.core.errors import InvalidField, NotFound
from siyu.customers.models import Consent
from siyu.loyalty import service
from siyu.loyalty.models import Member
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, member, snapshot


def _counts(db: Database, tenant: Tenant) -> tuple[int, int, int]:
    with db.transaction() as session:
        ws = tenant.workspace_id
        consents = select(func.count()).where(Consent.workspace_id == ws)
        audits = select(func.count()).where(
            AuditEntry.workspace_id == ws, AuditEntry.action == "enroll"
        )
        return (
            int(session.scalar(select(func.count()).where(Member.workspace_id == ws)) or 0),
            int(session.scalar(consents.select_from(Consent)) or 0),
            int(session.scalar(audits.select_from(AuditEntry)) or 0),
        )


def test_a_batch_enrolls_each_once_and_answers_existing_members(
    db: Database, tenant: Tenant
) -> None:
    known = member(db, tenant)
    a, b = customer(db, tenant), customer(db, tenant)
    with db.transaction() as session:
        done = service.enroll_many(
            session,
            tenant.principal,
            [(a, "tmall"), (known, "store"), (b, "jd"), (a, "wechat")],
            True,
        )
        got = [(m.customer_id, m.channel, created) for m, created in done]
        assert done[0][0] is done[3][0]
        assert all(m.consent_id is not None and m.card_no.startswith("M") for m, _ in done)
    assert got == [
        (a, "tmall", True),
        (known, "wechat", False),
        (b, "jd", True),
        (a, "tmall", False),
    ]
    assert _counts(db, tenant) == (3, 3, 3)


@pytest.mark.parametrize("bad", ["channel", "consent", "stranger"])
def test_a_refused_batch_writes_nothing(
    db: Database, tenant: Tenant, other_tenant: Tenant, bad: str
) -> None:
    a = customer(db, tenant)
    stranger = customer(db, other_tenant)
    wanted = [
        (a, "tmall"),
        (stranger if bad == "stranger" else a, "mars" if bad == "channel" else "jd"),
    ]
    before, counts = snapshot(db, tenant.workspace_id), _counts(db, tenant)
    error = NotFound if bad == "stranger" else InvalidField
    with pytest.raises(error) as refused, db.transaction() as session:
        service.enroll_many(session, tenant.principal, wanted, bad != "consent")
    if bad != "stranger":
        assert [e["field"] for e in refused.value.detail["errors"]] == [bad]
    assert snapshot(db, tenant.workspace_id) == before
    assert _counts(db, tenant) == counts
