"""The statements behind runs and run steps in the SQL store (see `sql_runs.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Double,
    Integer,
    Select,
    Text,
    Update,
    and_,
    bindparam,
    case,
    literal_column,
    or_,
    select,
    union_all,
    update,
)

from threadline.store import schema

__all__ = [
    "Writable",
    "active_run",
    "claim",
    "claim_next",
    "claimable",
    "due",
    "history",
    "lock_thread",
    "release",
    "renew",
    "thread_state",
]

_runs, _steps = schema.runs, schema.run_steps


def lock_thread() -> Select[Any]:
    t = schema.threads.c
    return select(t.id).where(t.id == bindparam("p_thread_id")).with_for_update(key_share=True)


def active_run(thread_id: Any) -> Select[Any]:
    r = _runs.c
    active = schema.status_in(r.status, schema.ACTIVE_STATUSES)
    return select(r.id).where(r.thread_id == thread_id, active).limit(1)


def thread_state() -> Select[Any]:
    """The thread's id (nothing when it does not exist) and its active run's id."""
    t = schema.threads.c
    active = active_run(t.id).scalar_subquery()
    return select(t.id, active).where(t.id == bindparam("p_thread_id"))


def claimable(c: Any) -> list[Any]:
    """Runs needing an executor: queued or cancelling with no live lease, or in_progress
    whose lease lapsed."""
    now = bindparam("p_now", type_=Double)
    return [
        # Word for word the condition of the index on active runs, so that it serves here.
        schema.status_in(c.status, schema.ACTIVE_STATUSES),
        c.status != "requires_action",
        or_(c.lease_until <= now, and_(c.lease_owner.is_(None), c.status != "in_progress")),
    ]


def claim(*conditions: Any) -> Update:
    r = _runs.c
    recovered = case((r.status == "in_progress", 1), else_=0)
    return (
        update(_runs)
        .where(*conditions)
        .values(
            lease_owner=bindparam("p_owner"),
            lease_until=bindparam("p_until"),
            recoveries=r.recoveries + recovered,
        )
        .returning(r.data, r.recoveries)
    )


def claim_next() -> Update:
    # SKIP LOCKED (PostgreSQL): concurrent claimers each take a different run at once.
    candidate = _runs.alias("candidate")
    picked = (
        select(candidate.c.id)
        .where(*claimable(candidate.c))
        .order_by(candidate.c.seq)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return claim(_runs.c.id == picked)


def renew() -> Update:
    r = _runs.c
    held = [r.lease_owner == bindparam("p_owner"), r.id.in_(bindparam("p_ids", expanding=True))]
    return update(_runs).where(*held).values(lease_until=bindparam("p_until")).returning(r.id)


def release() -> Update:
    r = _runs.c
    held = [r.id == bindparam("p_id"), r.lease_owner == bindparam("p_owner")]
    return update(_runs).where(*held).values(lease_owner=None, lease_until=0)


def due() -> Select[Any]:
    """Active runs past their expiry, oldest first (the caller adds the limit)."""
    r = _runs.c
    active = schema.status_in(r.status, schema.ACTIVE_STATUSES)
    return select(r.data).where(active, r.expires_at <= bindparam("p_now")).order_by(r.seq)


def history(*, limited: bool = False, after: bool = False) -> CompoundSelect[Any]:
    """The keys of a thread's messages and tool_calls steps in order, `(seq, is_step, id,
    rev)`, from the indexes alone: with `after`, those past `p_after` (a seq); `limited`,
    the first `p_limit` of them."""
    m, s = schema.messages.c, _steps.c
    thread_id = bindparam("p_thread_id", type_=Text)
    in_messages, in_steps = [m.thread_id == thread_id], [s.thread_id == thread_id]
    if after:
        in_messages.append(m.seq > bindparam("p_after", type_=BigInteger))
        in_steps.append(s.seq > bindparam("p_after", type_=BigInteger))
    statement = union_all(
        select(m.seq, literal_column("0").label("is_step"), m.id, m.rev).where(*in_messages),
        select(s.seq, literal_column("1"), s.id, s.rev).where(*in_steps, s.type == "tool_calls"),
    ).order_by(literal_column("seq"))
    return statement.limit(bindparam("p_limit", type_=Integer)) if limited else statement


def run_items() -> CompoundSelect[Any]:
    """`(is_message, seq, data)` of the run `p_run_id`'s steps, then of its messages, each
    in order: what ending a run closes, in one statement."""
    s, m = _steps.c, schema.messages.c
    run_id = bindparam("p_run_id", type_=Text)
    return union_all(
        select(literal_column("0").label("is_message"), s.seq, s.data).where(s.run_id == run_id),
        select(literal_column("1"), m.seq, m.data).where(m.run_id == run_id),
    ).order_by(literal_column("is_message"), literal_column("seq"))


def history_items(table: Any) -> Select[Any]:
    """`(id, rev, data)` of the rows of `table` whose ids are `p_ids`."""
    c = table.c
    return select(c.id, c.rev, c.data).where(c.id.in_(bindparam("p_ids", expanding=True)))


class Writable:
    """Statements that read a row for update (locked on PostgreSQL) and write it back."""

    def __init__(self, table: Any, **columns: Any) -> None:
        c = table.c
        self.lock = select(c.data).where(c.id == bindparam("p_id")).with_for_update(key_share=True)
        values: dict[str, Any] = schema.data_values(table) | {
            name: bindparam(f"p_{name}") for name in columns
        }
        self.write = update(table).where(c.id == bindparam("p_id")).values(**values)
