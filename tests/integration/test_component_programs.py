"""A part's own program through the services on a real store: its calendar runs from when
it was first fitted, so taking it off and refitting it does not restart an overdue check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dronecoop.fleet.service import FleetService
from dronecoop.mro.service import MroService
from dronecoop.store.components_sql import SqlComponents
from dronecoop.store.engine import build_engine
from dronecoop.store.fleet_sql import SqlFleetStore
from dronecoop.store.migrate import upgrade
from dronecoop.store.mro_sql import SqlMroStore


def test_a_refit_does_not_restart_a_parts_calendar(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    now = [datetime(2026, 1, 1, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    engine = build_engine(db_url)  # one pool for the three stores, disposed at the end
    try:
        fleet = FleetService(SqlFleetStore(db_url, engine, blobs=tmp_path / "logs"), clock=clock)
        mro = MroService(
            fleet, SqlMroStore(db_url, engine), SqlComponents(db_url, engine), clock=clock
        )
        _refit(fleet, mro, now)
    finally:
        engine.dispose()


def _refit(fleet: FleetService, mro: MroService, now: list[datetime]) -> None:
    crew = "rok-army"
    aircraft = fleet.register(crew, "maint@rok", {"model": "Iris quad", "serial": "Q-CAL"})
    battery = mro.add_component(
        crew, "maint@rok", {"part_number": "LIPO-CAL", "serial": "B-1", "kind": "battery"}
    )
    mro.add_task(crew, "maint@rok", {"model": "LIPO-CAL", "code": "CAP-90D",
                                      "title": "capacity check", "days": 90})  # fmt: skip
    mro.install(crew, "maint@rok", aircraft.id, battery.id, {"position": "bay"})

    def status() -> str:
        [item] = [i for i in mro.due(aircraft).items if i.component_id == battery.id]
        return item.status.value

    now[0] += timedelta(days=100)
    assert status() == "red"  # 100 days since it was first fitted, never checked
    mro.remove(crew, "maint@rok", aircraft.id, battery.id)
    mro.install(crew, "maint@rok", aircraft.id, battery.id, {"position": "bay"})
    assert status() == "red"  # refitted today: still 100 days on its calendar
    mro.record_done(crew, "maint@rok", aircraft.id, "CAP-90D", battery.id)
    assert status() == "green"
