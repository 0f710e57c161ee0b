"""The audit chain in SQLite and PostgreSQL: written with each change, sealed into the
chain, tamper-evident, never forked by concurrent writers and sealers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from dronecoop.airspace.model import EntityID
from dronecoop.cli import app as cli
from dronecoop.store.airspace_sql import SqlAirspaceStore, SqlAirspaceTx
from dronecoop.store.audit_sql import SqlAuditLog
from dronecoop.trust.audit import AuditEvent, verify_chain
from dronecoop.trust.errors import AuditChainError
from tests.integration.test_store_contract import fp, intent

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def audited_put(i: int, partner: str = "rok-army") -> object:
    def work(tx: SqlAirspaceTx) -> None:
        tx.put_operational_intent(intent(f"op{i:04}", fp({i})), None)
        tx.audit(
            AuditEvent(
                partner=partner,
                actor=f"planner-{i}",
                action="dss.operational_intent.create",
                target_kind="operational_intent",
                target_id=f"op{i:04}",
                before_digest=None,
                after_digest=f"{i:064x}",
                at=T0 + timedelta(seconds=i),
            )
        )

    return work


@pytest.fixture
def store(db_url: str) -> Iterator[SqlAirspaceStore]:
    opened = SqlAirspaceStore.from_url(db_url)
    yield opened
    opened.close()


@pytest.fixture
def log(db_url: str) -> Iterator[SqlAuditLog]:
    opened = SqlAuditLog.from_url(db_url)
    yield opened
    opened.close()


def tamper(db_url: str, sql: str) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        for statement in sql.split(";"):
            conn.execute(text(statement))
    engine.dispose()


def verify(log: SqlAuditLog) -> object:
    return verify_chain(log.entries(), head=log.head())


def seal_all(log: SqlAuditLog) -> None:
    while log.seal():
        pass


def test_each_audited_change_appends_one_linked_entry(
    store: SqlAirspaceStore, log: SqlAuditLog
) -> None:
    for i in range(1, 6):
        store.write(audited_put(i, partner="us-army" if i % 2 else "rok-army"))
    assert log.pending() == 5
    assert list(log.entries()) == []  # written, not yet linked
    assert log.seal(max_events=2) == 2
    assert log.seal() == 3
    assert log.pending() == 0
    entries = list(log.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert [e.event.actor for e in entries] == [f"planner-{i}" for i in range(1, 6)]
    assert entries[2].event.at == T0 + timedelta(seconds=3)
    report = verify(log)
    assert report.ok, report.problem
    assert log.head() == (5, entries[-1].hash)
    assert [e.seq for e in log.entries(partner="rok-army")] == [2, 4]


def test_a_rolled_back_change_leaves_no_entry(store: SqlAirspaceStore, log: SqlAuditLog) -> None:
    def fails(tx: SqlAirspaceTx) -> None:
        audited_put(1)(tx)  # type: ignore[operator]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(fails)
    assert list(log.entries()) == []
    assert log.head() == (0, bytes(32))
    assert store.read(lambda tx: tx.get_operational_intent(EntityID("op0001"))) is None


@pytest.mark.parametrize(
    ("sql", "bad_seq"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3),
        ("UPDATE audit_log SET at_us = at_us + 1 WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 4", 4),
        ("DELETE FROM audit_log WHERE seq = 6", 6),  # truncation: the head remembers 6
        (
            "UPDATE audit_log SET seq = -2 WHERE seq = 2; "
            "UPDATE audit_log SET seq = 2 WHERE seq = 3; "
            "UPDATE audit_log SET seq = 3 WHERE seq = -2",
            2,
        ),
    ],
    ids=["edit", "edit-time", "delete", "truncate", "reorder"],
)
def test_tampering_with_the_stored_log_is_detected_where_it_happened(
    store: SqlAirspaceStore, log: SqlAuditLog, db_url: str, sql: str, bad_seq: int
) -> None:
    for i in range(1, 7):
        store.write(audited_put(i))
    seal_all(log)
    assert verify(log).ok
    tamper(db_url, sql)
    report = verify(log)
    assert not report.ok
    assert report.first_bad_seq == bad_seq


def test_concurrent_writers_and_sealers_never_fork_the_chain(
    store: SqlAirspaceStore, log: SqlAuditLog, db_url: str
) -> None:
    writers, each, sealers = 8, 15, 3
    errors: list[BaseException] = []
    start = threading.Barrier(writers + sealers)
    writing = threading.Event()
    writing.set()

    def write(w: int) -> None:
        try:
            start.wait()
            for k in range(each):
                store.write(audited_put(1 + w * each + k))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def seal() -> None:
        other = SqlAuditLog.from_url(db_url)  # as another node would
        try:
            start.wait()
            while writing.is_set():
                other.seal(max_events=7)
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    sealing = [threading.Thread(target=seal) for _ in range(sealers)]
    for t in threads + sealing:
        t.start()
    for t in threads:
        t.join(timeout=60)
    writing.clear()
    for t in sealing:
        t.join(timeout=60)
    assert not errors
    seal_all(log)
    entries = list(log.entries())
    assert [e.seq for e in entries] == list(range(1, writers * each + 1))
    assert len({e.event.target_id for e in entries}) == writers * each
    report = verify(log)
    assert report.ok, report.problem


def test_the_cli_verifies_exports_and_reports_where_the_chain_breaks(
    store: SqlAirspaceStore, db_url: str
) -> None:
    for i in range(1, 4):
        store.write(audited_put(i))
    runner = CliRunner()
    waiting = runner.invoke(cli, ["audit", "verify", "--db-url", db_url])
    assert "intact: 0 entries" in waiting.output
    assert "3 newer events await sealing" in waiting.output
    sealed = runner.invoke(cli, ["audit", "seal", "--db-url", db_url])
    assert "sealed 3 audit events" in sealed.output
    ok = runner.invoke(cli, ["audit", "verify", "--db-url", db_url])
    assert ok.exit_code == 0, ok.output
    assert "intact: 3 entries" in ok.output
    anchor = runner.invoke(cli, ["audit", "head", "--db-url", db_url]).output.strip()
    assert anchor.startswith("3:")
    exported = runner.invoke(cli, ["audit", "export", "--db-url", db_url])
    lines = exported.output.strip().splitlines()
    assert len(lines) == 3
    assert '"actor":"planner-2"' in lines[1]
    tamper(db_url, "UPDATE audit_log SET target_id = 'elsewhere' WHERE seq = 2")
    broken = runner.invoke(cli, ["audit", "verify", "--db-url", db_url])
    assert broken.exit_code == 1
    assert "BROKEN at entry 2" in broken.output
    with_anchor = runner.invoke(cli, ["audit", "verify", "--db-url", db_url, "--anchor", anchor])
    assert with_anchor.exit_code == 1


def test_a_deleted_head_row_fails_verification_and_stops_sealing(
    store: SqlAirspaceStore, log: SqlAuditLog, db_url: str
) -> None:
    for i in range(1, 3):
        store.write(audited_put(i))
    seal_all(log)
    tamper(db_url, "DELETE FROM audit_head")
    result = CliRunner().invoke(cli, ["audit", "verify", "--db-url", db_url])
    assert result.exit_code == 1
    assert "head row is gone" in result.output
    store.write(audited_put(3))  # the change itself still goes through, its event waits
    with pytest.raises(AuditChainError, match="head row is gone"):
        log.seal()
    assert log.pending() == 1


def test_racing_registrations_of_one_key_id_give_one_key_and_a_clear_conflict(
    db_url: str,
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from dronecoop.store.partner_keys_sql import KeyConflict, SqlPartnerKeys

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    stores = [SqlPartnerKeys(db_url) for _ in range(4)]
    outcomes: list[str] = []
    start = threading.Barrier(len(stores))

    def register(store: SqlPartnerKeys) -> None:
        start.wait()
        try:
            store.add("rok-army", "k1", pem, by="admin", at=T0)
            outcomes.append("added")
        except KeyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=register, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert sorted(outcomes) == ["added", "conflict", "conflict", "conflict"]
        assert list(stores[0].active("rok-army")) == ["k1"]
    finally:
        for s in stores:
            s.close()
