"""The airspace store contract, run against every implementation (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dronecoop.airspace.model import (
    ConstraintRef,
    EntityID,
    Footprint,
    ManagerID,
    OperationalIntentRef,
    OperationalIntentState,
    Subscription,
    SubscriptionID,
    UssAvailability,
    UssAvailabilityStatus,
)
from dronecoop.store.airspace_sql import SqlAirspaceStore, SqlAirspaceTx

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def store(db_url: str) -> Iterator[SqlAirspaceStore]:
    opened = SqlAirspaceStore.from_url(db_url)
    yield opened
    opened.close()


def fp(
    cells: set[int], start: datetime = T0, hours: float = 1, alt: tuple[float, float] | None = None
) -> Footprint:
    return Footprint(
        cells=frozenset(cells),
        time_start=start,
        time_end=start + hours * HOUR,
        altitude_lower_w84_m=None if alt is None else alt[0],
        altitude_upper_w84_m=None if alt is None else alt[1],
    )


def intent(
    entity_id: str, footprint: Footprint, manager: str = "uss1", **kw: object
) -> OperationalIntentRef:
    ref = OperationalIntentRef(
        id=EntityID(entity_id),
        manager=ManagerID(manager),
        version=1,
        state=OperationalIntentState.ACCEPTED,
        ovn=f"ovn-{entity_id}-0000000000",
        uss_base_url="https://uss1.example",
        subscription_id=None,
        footprint=footprint,
        updated_at=T0,
    )
    return replace(ref, **kw)  # type: ignore[arg-type]


def subscription(
    sub_id: str, footprint: Footprint, *, for_ops: bool = True, for_cr: bool = False
) -> Subscription:
    return Subscription(
        id=SubscriptionID(sub_id),
        manager=ManagerID("uss1"),
        version="v1",
        uss_base_url=f"https://{sub_id}.example",
        notification_index=0,
        notify_for_operational_intents=for_ops,
        notify_for_constraints=for_cr,
        implicit=False,
        footprint=footprint,
        updated_at=T0,
    )


def test_an_intent_reads_back_exactly_as_written(store: SqlAirspaceStore) -> None:
    ref = intent("a", fp({1, -2, 2**62}, alt=(10.5, 120.0)))
    store.write(lambda tx: tx.put_operational_intent(ref, None))
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("a"))) == ref


def test_search_meets_cells_time_and_altitude_inclusively(store: SqlAirspaceStore) -> None:
    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent("in", fp({1, 2}, alt=(0, 100))), None)
        tx.put_operational_intent(intent("other-cell", fp({3}, alt=(0, 100))), None)
        tx.put_operational_intent(intent("later", fp({1}, start=T0 + 2 * HOUR)), None)
        tx.put_operational_intent(intent("higher", fp({1}, alt=(150, 200))), None)
        tx.put_operational_intent(
            intent("touching", fp({2}, start=T0 + HOUR, alt=(100, 110))), None
        )

    store.write(setup)
    found = store.read(lambda tx: tx.search_operational_intents(fp({1, 2}, alt=(50, 100))))
    assert [r.id for r in found] == ["in", "touching"]
    unbounded_alt = store.read(lambda tx: tx.search_operational_intents(fp({1, 2})))
    assert [r.id for r in unbounded_alt] == ["higher", "in", "touching"]


def test_replacing_an_intent_moves_its_cells(store: SqlAirspaceStore) -> None:
    first = intent("a", fp({1, 2}))
    moved = replace(first, version=2, footprint=fp({2, 3}))
    store.write(lambda tx: tx.put_operational_intent(first, None))
    store.write(lambda tx: tx.put_operational_intent(moved, first))
    assert store.read(lambda tx: tx.search_operational_intents(fp({1}))) == []
    assert [r.version for r in store.read(lambda tx: tx.search_operational_intents(fp({3})))] == [2]


def test_deleting_an_intent_removes_it_from_every_read(store: SqlAirspaceStore) -> None:
    store.write(lambda tx: tx.put_operational_intent(intent("a", fp({1})), None))
    store.write(lambda tx: tx.delete_operational_intent(EntityID("a")))
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("a"))) is None
    assert store.read(lambda tx: tx.search_operational_intents(fp({1}))) == []


def test_intents_carry_their_managers_availability(store: SqlAirspaceStore) -> None:
    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent("a", fp({1}), manager="down-uss"), None)
        tx.put_operational_intent(intent("b", fp({1}), manager="quiet-uss"), None)
        tx.put_uss_availability(UssAvailabilityStatus("down-uss", UssAvailability.DOWN, "v", T0))

    store.write(setup)
    found = {
        r.id: r.uss_availability
        for r in store.read(lambda tx: tx.search_operational_intents(fp({1})))
    }
    assert found == {"a": UssAvailability.DOWN, "b": UssAvailability.UNKNOWN}
    assert store.read(lambda tx: tx.get_uss_availabilities({"down-uss", "nobody"})) == {
        "down-uss": UssAvailability.DOWN
    }


def test_notifying_bumps_only_interested_subscriptions_and_ignores_altitude(
    store: SqlAirspaceStore,
) -> None:
    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_subscription(subscription("ops", fp({1}, alt=(500, 600))), None)
        tx.put_subscription(
            subscription("constraints-only", fp({1}), for_ops=False, for_cr=True), None
        )
        tx.put_subscription(subscription("elsewhere", fp({9})), None)
        tx.put_subscription(subscription("earlier", fp({1}, start=T0 - 3 * HOUR)), None)

    store.write(setup)
    first = store.write(
        lambda tx: tx.notify_subscriptions(fp({1, 2}, alt=(0, 10)), for_constraints=False)
    )
    assert first == [("ops", "https://ops.example", 1)]
    second = store.write(lambda tx: tx.notify_subscriptions(fp({1}), for_constraints=False))
    assert second == [("ops", "https://ops.example", 2)]
    for_constraints = store.write(lambda tx: tx.notify_subscriptions(fp({1}), for_constraints=True))
    assert for_constraints == [("constraints-only", "https://constraints-only.example", 1)]


def test_subscriptions_written_in_the_notifying_transaction_are_notified_like_stored_ones(
    store: SqlAirspaceStore,
) -> None:
    # PostgreSQL queues new rows and sends them with the notifying UPDATE, which cannot see
    # them; the store must bump them itself, exactly as the UPDATE would, and only once.
    # Twelve subscriptions overflow the queue (bulk writers flush as they go) mid-way.
    area = fp({1, 2})
    subs = [
        subscription("touching", fp({2}, start=T0 - HOUR)),  # ends as the area starts
        subscription("later", fp({1}, start=T0 + 2 * HOUR)),
        subscription("constraints-only", fp({1}), for_ops=False, for_cr=True),
        subscription("elsewhere", fp({9})),
        *(subscription(f"s{i:02d}", fp({1, 100 + i})) for i in range(8)),
    ]
    expected = {"touching", *(f"s{i:02d}" for i in range(8))}

    def work(tx: SqlAirspaceTx) -> list[tuple[SubscriptionID, str, int]]:
        for sub in subs:
            tx.put_subscription(sub, None)
        return tx.notify_subscriptions(area, for_constraints=False)

    notices = store.write(work)
    assert notices == sorted((s, f"https://{s}.example", 1) for s in expected)
    stored = store.read(lambda tx: {s.id: tx.get_subscription(s.id) for s in subs})
    assert {k: v.notification_index for k, v in stored.items() if v} == {
        s.id: int(s.id in expected) for s in subs
    }
    again = store.write(lambda tx: tx.notify_subscriptions(area, for_constraints=False))
    assert again == sorted((s, f"https://{s}.example", 2) for s in expected)


def test_dependents_of_a_subscription_are_listed_in_id_order(store: SqlAirspaceStore) -> None:
    sub_id = SubscriptionID("s")

    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_subscription(subscription("s", fp({1})), None)
        for name in ("b", "a"):
            tx.put_operational_intent(intent(name, fp({1}), subscription_id=sub_id), None)

    store.write(setup)
    assert store.read(lambda tx: tx.dependent_operational_intents(sub_id)) == ["a", "b"]


def test_constraints_round_trip_and_search(store: SqlAirspaceStore) -> None:
    ref = ConstraintRef(
        id=EntityID("c"),
        manager=ManagerID("authority"),
        version=1,
        ovn="ovn-c-00000000000000",
        uss_base_url="https://authority.example",
        footprint=fp({5, 6}),
        updated_at=T0,
    )
    store.write(lambda tx: tx.put_constraint(ref, None))
    assert store.read(lambda tx: tx.get_constraint(EntityID("c"))) == ref
    assert store.read(lambda tx: tx.search_constraints(fp({6}))) == [ref]
    store.write(lambda tx: tx.delete_constraint(EntityID("c")))
    assert store.read(lambda tx: tx.search_constraints(fp({6}))) == []


def test_expired_entities_are_purged_but_subscriptions_with_dependents_stay(
    store: SqlAirspaceStore,
) -> None:
    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent("old", fp({1}, start=T0 - 48 * HOUR)), None)
        tx.put_operational_intent(
            intent("live", fp({1}), subscription_id=SubscriptionID("kept")), None
        )
        tx.put_subscription(subscription("old-sub", fp({1}, start=T0 - 48 * HOUR)), None)
        tx.put_subscription(subscription("kept", fp({1}, start=T0 - 48 * HOUR)), None)

    store.write(setup)
    removed = store.write(lambda tx: tx.delete_expired(T0 - 24 * HOUR))
    assert removed == 2
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("old"))) is None
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("live"))) is not None
    assert store.read(lambda tx: tx.get_subscription(SubscriptionID("old-sub"))) is None
    assert store.read(lambda tx: tx.get_subscription(SubscriptionID("kept"))) is not None


def test_a_failed_write_leaves_nothing_behind(store: SqlAirspaceStore) -> None:
    def fails(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent("ghost", fp({1})), None)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.write(fails)
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("ghost"))) is None
    assert store.read(lambda tx: tx.search_operational_intents(fp({1}))) == []


def test_an_acknowledged_write_survives_reopening_the_store(db_url: str) -> None:
    first = SqlAirspaceStore.from_url(db_url)
    first.write(lambda tx: tx.put_operational_intent(intent("durable", fp({1})), None))
    first.close()
    reopened = SqlAirspaceStore.from_url(db_url)
    try:
        assert reopened.read(lambda tx: tx.get_operational_intent(EntityID("durable"))) is not None
    finally:
        reopened.close()


def test_reading_for_write_gives_the_intent_and_the_writers_availability(
    store: SqlAirspaceStore,
) -> None:
    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent("a", fp({1}), manager="down-uss"), None)
        tx.put_uss_availability(UssAvailabilityStatus("down-uss", UssAvailability.DOWN, "v", T0))
        tx.put_uss_availability(UssAvailabilityStatus("up-uss", UssAvailability.NORMAL, "v", T0))

    store.write(setup)
    old, own, found = store.write(
        lambda tx: tx.get_operational_intent_for_write(EntityID("a"), "up-uss")
    )
    assert found is None  # no search asked
    assert old is not None
    assert (old.id, old.uss_availability) == ("a", UssAvailability.DOWN)
    assert own is UssAvailability.NORMAL
    missing = store.write(lambda tx: tx.get_operational_intent_for_write(EntityID("b"), "nobody"))
    assert missing == (None, None, None)


def test_writes_are_visible_to_later_reads_of_the_same_transaction(
    store: SqlAirspaceStore,
) -> None:
    """PostgreSQL queues INSERTs and sends them together: reads must still see them."""

    def work(tx: SqlAirspaceTx) -> tuple[list[str], int]:
        for i in range(20):  # more than one combined statement holds
            tx.put_operational_intent(intent(f"op{i:02}", fp({7, 8})), None)
        tx.put_subscription(subscription("s", fp({8})), None)
        seen = [r.id for r in tx.search_operational_intents(fp({7}))]
        return seen, len(tx.notify_subscriptions(fp({8}), for_constraints=False))

    seen, notified = store.write(work)
    assert seen == [f"op{i:02}" for i in range(20)]
    assert notified == 1
    assert len(store.read(lambda tx: tx.search_operational_intents(fp({8})))) == 20


def test_queued_writes_run_in_call_order(store: SqlAirspaceStore) -> None:
    """PostgreSQL queues INSERTs, UPDATEs, DELETEs and locks for the next message: an update
    or delete of a row inserted earlier in the transaction must still come after it."""

    def work(tx: SqlAirspaceTx) -> list[str]:
        first = intent("o", fp({41}))
        tx.put_operational_intent(first, None)
        tx.put_operational_intent(replace(first, version=2, footprint=fp({42})), first)
        tx.put_operational_intent(intent("gone", fp({42})), None)
        tx.delete_operational_intent(EntityID("gone"))
        tx.lock_cells({41, 42})
        return [r.id for r in tx.search_operational_intents(fp({41, 42}))]

    assert store.write(work) == ["o"]
    stored = store.read(lambda tx: tx.get_operational_intent(EntityID("o")))
    assert stored is not None
    assert (stored.version, stored.footprint.cells) == (2, frozenset({42}))
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("gone"))) is None
    assert [r.id for r in store.read(lambda tx: tx.search_operational_intents(fp({41})))] == []


def test_a_read_transaction_may_not_write(store: SqlAirspaceStore, db_url: str) -> None:
    """PostgreSQL runs a read's statements without a transaction: a write there would not
    be atomic with anything, so the store refuses it (SQLite reads in a transaction)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite reads in a transaction of their own")
    with pytest.raises(RuntimeError, match="read transaction"):
        store.read(lambda tx: tx.put_operational_intent(intent("r", fp({1})), None))
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("r"))) is None


def test_connections_the_server_dropped_are_replaced_without_an_error(db_url: str) -> None:
    """No ping on checkout: a dead pooled connection costs a retry, never a failed request."""
    if not db_url.startswith("postgresql"):
        pytest.skip("server-side connection loss is a PostgreSQL matter")
    import psycopg
    from sqlalchemy.engine import make_url

    store = SqlAirspaceStore.from_url(db_url)
    try:
        for i in range(4):  # several pooled connections, all idle afterwards
            store.write(lambda tx, i=i: tx.put_operational_intent(intent(f"k{i}", fp({1})), None))
        conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(conninfo, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        store.write(lambda tx: tx.put_operational_intent(intent("after", fp({1})), None))
        found = store.read(lambda tx: tx.search_operational_intents(fp({1})))
        assert [r.id for r in found] == ["after", "k0", "k1", "k2", "k3"]
    finally:
        store.close()


def test_a_create_of_an_existing_id_waits_behind_its_update_without_a_deadlock(
    db_url: str,
) -> None:
    """A create takes its cell locks in the read's round trip; the entity's row lock must
    still come first, as for every writer of an existing entity, or a create re-sent for
    an id that exists and an update of it lock in opposite orders (a deadlock, found only
    after PostgreSQL's 1 s deadlock_timeout)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: there is no lock order to get wrong")
    import threading
    import time

    store = SqlAirspaceStore.from_url(db_url)
    cells = {10, 11, 12}
    existing = EntityID("x")
    store.write(lambda tx: tx.put_operational_intent(intent(existing, fp(cells)), None))
    updater_holds_row = threading.Event()
    creator_started = threading.Event()
    took: dict[str, float] = {}
    attempts: list[str] = []

    def update() -> None:  # an update: the row first, then (later) its cells
        def work(tx: SqlAirspaceTx) -> None:
            tx.get_operational_intent_for_write(existing, "uss1")
            updater_holds_row.set()
            creator_started.wait(5)
            time.sleep(0.3)  # the create is waiting by now
            tx.lock_cells(cells)

        t0 = time.monotonic()
        store.write(work)
        took["update"] = time.monotonic() - t0

    def create() -> None:  # a create of the same id over the same cells
        updater_holds_row.wait(5)

        def work(tx: SqlAirspaceTx) -> bool:
            attempts.append("create")
            creator_started.set()
            old, _, _ = tx.get_operational_intent_for_write(existing, "uss1", lock_cells=cells)
            return old is not None

        t0 = time.monotonic()
        assert store.write(work)  # it finds the intent (and the DSS would answer 409)
        took["create"] = time.monotonic() - t0

    try:
        threads = [threading.Thread(target=update), threading.Thread(target=create)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert set(took) == {"update", "create"}
        assert attempts == ["create"]  # never rolled back as a deadlock victim
        assert max(took.values()) < 0.9, took
    finally:
        store.close()


def test_a_search_asked_with_the_read_gives_what_a_search_after_it_would(
    store: SqlAirspaceStore,
) -> None:
    def setup(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent("near", fp({1, 2})), None)
        tx.put_operational_intent(intent("later", fp({1}, start=T0 + 3 * HOUR)), None)
        tx.put_operational_intent(intent("elsewhere", fp({9})), None)

    store.write(setup)
    area = fp({1, 2, 3})

    def work(tx: SqlAirspaceTx) -> tuple[list[str], list[str]]:
        read = tx.get_operational_intent_for_write(
            EntityID("new"), "uss1", lock_cells={1, 2, 3}, search=area
        )
        assert read.intent is None
        assert read.found is not None
        return [r.id for r in read.found], [r.id for r in tx.search_operational_intents(area)]

    with_read, after = store.write(work)
    assert with_read == after == ["near"]
    # An update does not lock its cells in the read: the search is run after it, alone.
    updated = store.write(
        lambda tx: tx.get_operational_intent_for_write(EntityID("near"), "uss1", search=area)
    )
    assert updated.intent is not None
    assert [r.id for r in updated.found or []] == ["near"]


def test_a_search_sent_with_the_locks_sees_what_their_last_holder_committed(
    store: SqlAirspaceStore,
) -> None:
    """The race the key check exists for: B's search must run after B got the cell locks
    that A held while writing A's intent there, or B could miss A and both would fly."""
    import threading
    import time

    cells = {21, 22}
    a_holds_locks = threading.Event()

    def writer_a(tx: SqlAirspaceTx) -> None:
        tx.lock_cells(cells)
        tx.search_operational_intents(fp(cells))  # the locks go out with it (PostgreSQL)
        a_holds_locks.set()
        time.sleep(0.3)  # B is waiting on the locks by now (PostgreSQL)
        tx.put_operational_intent(intent("a", fp(cells)), None)

    def writer_b(tx: SqlAirspaceTx) -> list[str]:
        read = tx.get_operational_intent_for_write(
            EntityID("b"), "uss2", lock_cells=cells, search=fp(cells)
        )
        return [r.id for r in read.found or []]

    seen: list[list[str]] = []
    thread = threading.Thread(target=lambda: store.write(writer_a))
    thread.start()
    assert a_holds_locks.wait(5)
    seen.append(store.write(writer_b))
    thread.join(5)
    assert seen == [["a"]]


def test_a_lock_taken_with_the_next_statement_still_serialises(
    store: SqlAirspaceStore,
) -> None:
    """``lock_cells`` may ride with the next statement (PostgreSQL): that statement must
    still run after the locks' last holder committed."""
    import threading
    import time

    cells = {31, 32}
    a_holds_locks = threading.Event()

    def writer_a(tx: SqlAirspaceTx) -> None:
        tx.lock_cells(cells)
        tx.search_operational_intents(fp(cells))
        a_holds_locks.set()
        time.sleep(0.3)
        tx.put_operational_intent(intent("first", fp(cells)), None)

    def writer_b(tx: SqlAirspaceTx) -> list[str]:
        tx.lock_cells(cells)
        return [r.id for r in tx.search_operational_intents(fp(cells))]

    thread = threading.Thread(target=lambda: store.write(writer_a))
    thread.start()
    assert a_holds_locks.wait(5)
    seen = store.write(writer_b)
    thread.join(5)
    assert seen == ["first"]


def test_a_final_notification_commits_the_transaction(store: SqlAirspaceStore) -> None:
    store.write(lambda tx: tx.put_subscription(subscription("s", fp({5})), None))

    def work(tx: SqlAirspaceTx) -> int:
        tx.put_operational_intent(intent("f", fp({5})), None)
        return len(tx.notify_subscriptions(fp({5}), for_constraints=False, final=True))

    assert store.write(work) == 1
    assert [r.id for r in store.read(lambda tx: tx.search_operational_intents(fp({5})))] == ["f"]
    sub = store.read(lambda tx: tx.get_subscription(SubscriptionID("s")))
    assert sub is not None
    assert sub.notification_index == 1


def test_a_failed_final_statement_commits_nothing_and_is_retried(
    store: SqlAirspaceStore, db_url: str
) -> None:
    """A same-id create race fails on the primary key in the last statement, which carries
    the COMMIT on PostgreSQL: the store must roll back and run the work again."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: a same-id race cannot happen")
    store.write(lambda tx: tx.put_subscription(subscription("s", fp({6})), None))
    attempts: list[int] = []

    def work(tx: SqlAirspaceTx) -> str:
        attempts.append(1)
        if tx.get_operational_intent(EntityID("dup")) is not None:
            return "found"
        if len(attempts) == 1:  # another writer creates the same id meanwhile
            store.write(lambda other: other.put_operational_intent(intent("dup", fp({6})), None))
        tx.put_operational_intent(intent("dup", fp({6}), manager="uss2"), None)
        tx.notify_subscriptions(fp({6}), for_constraints=False, final=True)
        return "created"

    assert store.write(work) == "found"
    assert len(attempts) == 2
    found = store.read(lambda tx: tx.get_operational_intent(EntityID("dup")))
    assert found is not None
    assert found.manager == "uss1"
    sub = store.read(lambda tx: tx.get_subscription(SubscriptionID("s")))
    assert sub is not None
    assert sub.notification_index == 0  # the loser's notification was rolled back
