"""Key rotation: re-encrypt every PII column under a new primary key."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import LargeBinary, Table, select, type_coerce, update

from siyu.core.crypto import Keyring
from siyu.core.db import Database
from siyu.core.pii import EncryptedString
from siyu.core.registry import metadata

BATCH = 500


def encrypted_columns() -> Iterator[tuple[Table, list[str]]]:
    """Every table with encrypted columns, and those columns."""
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, EncryptedString)]
        if names:
            yield table, names


def rotate(
    db: Database, ring: Keyring, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Add a new primary key, re-encrypt all PII under it, then retire the old keys."""
    ring.add_primary()
    ring.save()  # both keys are on disk before any row changes, so a crash loses nothing
    done: dict[str, int] = {}
    for table, names in encrypted_columns():
        contexts = {n: table.c[n].type.context for n in names}  # type: ignore[attr-defined]
        raw = [type_coerce(table.c[n], LargeBinary).label(n) for n in names]
        last = 0
        while True:
            with db.transaction() as session:
                rows = session.execute(
                    select(table.c.id, *raw)
                    .where(table.c.id > last)
                    .order_by(table.c.id)
                    .limit(BATCH)
                ).all()
                for row in rows:
                    values = {
                        n: ring.encrypt(
                            ring.decrypt(bytes(getattr(row, n)), contexts[n]), contexts[n]
                        )
                        for n in names
                        if getattr(row, n) is not None
                    }
                    if values:
                        session.execute(
                            update(table)
                            .where(table.c.id == row.id)
                            .values({n: type_coerce(v, LargeBinary) for n, v in values.items()})
                        )
            if not rows:
                break
            last = rows[-1].id
            done[table.name] = done.get(table.name, 0) + len(rows)
            if progress:
                progress(len(rows))
    ring.retire_old()
    ring.save()
    return done
