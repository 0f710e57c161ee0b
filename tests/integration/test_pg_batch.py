"""Several statements per round trip on a real PostgreSQL server (``store.pg_batch``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from dronecoop.store import pg_batch
from dronecoop.store.pg_batch import Batch, PreparedStatements, literal, numbered


@pytest.fixture
def conn(pg_server_url: str) -> Iterator[psycopg.Connection[Any]]:
    conninfo = make_url(pg_server_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("CREATE TEMP TABLE t (id text PRIMARY KEY, n bigint, f float8)")
        yield connection


def prepared_names(conn: psycopg.Connection[Any]) -> set[str]:
    rows = conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
    return {row[0] for row in rows}


def test_placeholders_are_numbered_and_odd_texts_refused() -> None:
    assert numbered("SELECT ? + ?, 'x'") == ("SELECT $1 + $2, 'x'", 2)
    with pytest.raises(ValueError, match="'%'"):
        numbered("SELECT 1 WHERE 'a' LIKE 'a%'")


def test_one_message_runs_a_transaction_and_returns_each_statements_rows(
    conn: psycopg.Connection[Any],
) -> None:
    batch = Batch(conn, PreparedStatements())
    insert = "INSERT INTO t (id, n, f) VALUES (?, ?, ?) RETURNING id"
    first, count = batch.send(
        [(insert, ["a", 1, 2.5]), ("SELECT count(*) FROM t WHERE n = ?", [1])], begin=True
    )
    assert (first, count) == ([("a",)], [(1,)])
    assert batch.in_transaction
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    (rows,) = batch.send([("UPDATE t SET n = n + ? WHERE id = ?", [1, "a"])], commit=True)
    assert rows == []  # no RETURNING: no rows
    assert batch.commit_sent
    assert not batch.in_transaction
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT n, f FROM t").fetchall() == [(2, 2.5)]
    with pytest.raises(RuntimeError, match="committed"):
        batch.send([("SELECT 1", [])])


def test_statements_are_prepared_once_per_connection(conn: psycopg.Connection[Any]) -> None:
    registry = PreparedStatements()
    for i in range(3):
        batch = Batch(conn, registry)
        batch.send([("INSERT INTO t (id, n) VALUES (?, ?)", [f"k{i}", i])], begin=True)
        batch.commit()
    assert len(prepared_names(conn)) == 1
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_the_least_recently_used_statement_is_deallocated_beyond_the_cap(
    conn: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_batch, "MAX_PREPARED", 2)
    batch = Batch(conn, PreparedStatements())
    for n in (1, 2, 1, 3):  # 2 is the least recently used when 3 arrives
        assert batch.send([(f"SELECT {n} + ?", [0])]) == [[(n,)]]
    assert len(prepared_names(conn)) == 2
    assert batch.send([("SELECT 1 + ?", [0]), ("SELECT 2 + ?", [0])]) == [[(1,)], [(2,)]]


def test_a_failed_message_is_rolled_back_and_the_connection_stays_usable(
    conn: psycopg.Connection[Any],
) -> None:
    registry = PreparedStatements()
    batch = Batch(conn, registry)
    batch.send([("INSERT INTO t (id, n) VALUES (?, ?)", ["a", 1])], begin=True)
    with pytest.raises(psycopg.errors.UniqueViolation):
        # A new statement (PREPAREd in this message), then a failure, then the COMMIT
        # that PostgreSQL must skip.
        batch.send([("INSERT INTO t (id, n) VALUES (?, ?) RETURNING n", ["a", 2])], commit=True)
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INERROR
    batch.rollback()
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)  # nothing committed
    # Which PREPAREs of the failed message ran is not known: the next one starts afresh.
    again = Batch(conn, registry)
    assert again.send([("INSERT INTO t (id, n) VALUES (?, ?) RETURNING n", ["b", 3])]) == [[(3,)]]
    assert len(prepared_names(conn)) == 1


def test_statements_outlive_rolled_back_transactions(conn: psycopg.Connection[Any]) -> None:
    """psycopg prepares a text it has run five times (COMMIT, say) and, on a ROLLBACK
    while it holds one, deallocates every prepared statement of the session."""
    registry = PreparedStatements()
    for i in range(8):
        batch = Batch(conn, registry)
        batch.send([("INSERT INTO t (id, n) VALUES (?, ?)", [f"c{i}", i])], begin=True)
        batch.commit() if i < 7 else batch.rollback()
    batch = Batch(conn, registry)
    assert batch.send([("INSERT INTO t (id, n) VALUES (?, ?)", ["kept", 1])]) == [[]]
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (8,)


def test_a_statement_the_server_lost_is_prepared_again(conn: psycopg.Connection[Any]) -> None:
    """DISCARD ALL or DEALLOCATE from elsewhere: the failing message says so (26000), and
    the next one starts afresh instead of failing for the connection's lifetime."""
    registry = PreparedStatements()
    insert = "INSERT INTO t (id, n) VALUES (?, ?)"
    Batch(conn, registry).send([(insert, ["a", 1])])
    conn.execute("DEALLOCATE ALL")
    with pytest.raises(psycopg.errors.InvalidSqlStatementName) as failed:
        Batch(conn, registry).send([(insert, ["b", 2])])
    assert failed.value.sqlstate in pg_batch.LOST_STATEMENT_CODES
    Batch(conn, registry).send([(insert, ["b", 2])])
    assert conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [("a",), ("b",)]


def test_transactions_are_read_committed_whatever_the_default(
    conn: psycopg.Connection[Any],
) -> None:
    """Each statement after a lock wait must take a fresh snapshot (the key check)."""
    conn.execute("SET default_transaction_isolation = 'repeatable read'")
    batch = Batch(conn, PreparedStatements())
    (rows,) = batch.send([("SELECT current_setting('transaction_isolation')", [])], begin=True)
    assert rows == [("read committed",)]
    batch.rollback()


def test_a_parameter_count_mismatch_is_refused_before_sending(
    conn: psycopg.Connection[Any],
) -> None:
    batch = Batch(conn, PreparedStatements())
    with pytest.raises(ValueError, match="1 placeholders but 2 parameters"):
        batch.send([("SELECT ?", [1, 2])])
    assert prepared_names(conn) == set()


def test_literals_survive_client_side_binding(conn: psycopg.Connection[Any]) -> None:
    """Quotes, backslashes, NULL, bytes, big integers and arrays go through as values."""
    conn.execute("CREATE TEMP TABLE odd (s text, b bytea, n bigint, a bigint[], x float8)")
    batch = Batch(conn, PreparedStatements())
    values = ["it's \\ 'quoted'; DROP TABLE t; --", b"\x00\xff'", -(2**63), "{1,-2}", None]
    batch.send(
        [("INSERT INTO odd (s, b, n, a, x) VALUES (?, ?, ?, CAST(? AS bigint[]), ?)", values)]
    )
    assert conn.execute("SELECT s, b, n, a, x FROM odd").fetchone() == (
        values[0],
        values[1],
        values[2],
        [1, -2],
        None,
    )
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
    number=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    real=st.floats(allow_nan=True, allow_infinity=True),
    blob=st.binary(max_size=64),
)
def test_literals_read_back_as_the_values_they_render(
    pg_server_url: str, text: str, number: int, real: float, blob: bytes
) -> None:
    conninfo = make_url(pg_server_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            f"SELECT {literal(text)}::text, {literal(number)}::bigint, "
            f"{literal(real)}::float8, {literal(blob)}, {literal([text, text])}::text[]"
        ).fetchone()
    assert row is not None
    assert row[0] == text
    assert row[1] == number
    assert row[2] == real or (real != real and row[2] != row[2])
    assert (row[3], row[4]) == (blob, [text, text])


def test_literals_refuse_nul_and_unknown_types() -> None:
    with pytest.raises(psycopg.DataError, match="NUL"):
        literal("a\x00b")
    with pytest.raises(TypeError, match="no SQL literal for dict"):
        literal({})
    assert (literal(True), literal(None), literal([])) == ("true", "NULL", "'{}'")
