"""Three real nodes on loopback: a shared DSS and two partners' USSs (separate stores and
keys), talking F3548 over HTTP: details fetched from the peer, notifications received,
a peer that is down or silent, retries that never double-create."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from dronecoop.federation import Federation, LiveNode, bind, start_nodes
from dronecoop.trust.roles import STRATEGIC_COORDINATION, Role
from tests.helpers import oir_body, volume4d

ROK, US = "rok", "us"
START = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
ROK_ROUTE = [[36.9628, 127.0311, 60.0], [36.9700, 127.0400, 80.0], [36.9760, 127.0450, 80.0]]
US_CROSSING = [[36.9750, 127.0300, 70.0], [36.9640, 127.0470, 70.0]]


class Cluster:
    def __init__(self, fed: Federation, dss: LiveNode, uss: dict[str, LiveNode]) -> None:
        self.fed, self.dss, self.uss = fed, dss, uss

    def planner(self, partner: str) -> httpx.Client:
        token = self.fed.partners[partner].token(f"crew@{partner}", Role.PLANNER, Role.OPERATOR)
        return httpx.Client(
            base_url=self.uss[partner].url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def _start_uss(fed: Federation, partner: str, dss_url: str, **extra: Any) -> LiveNode:
    sock = bind()
    settings = fed.uss_settings(partner, sock.getsockname()[1], dss_url, **extra)
    return LiveNode(partner, settings, sock).start()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("federation")
    fed = Federation.create(workdir, [(ROK, "ROK Army UAV unit"), (US, "US Army aviation")])
    sock = bind()
    dss = LiveNode("dss", fed.dss_settings(sock.getsockname()[1]), sock)
    [dss] = start_nodes([dss])
    uss = {p: _start_uss(fed, p, dss.url, peer_timeout_s=1.0) for p in (ROK, US)}
    yield Cluster(fed, dss, uss)
    for node in [*uss.values(), dss]:
        node.stop()


def plan_body(route: list[list[float]], start: datetime, **extra: object) -> dict[str, object]:
    return {
        "waypoints": route,
        "home": [route[0][0], route[0][1], 16.0],
        "start": start.isoformat(),
        "ground_speed_mps": 12.0,
        **extra,
    }


def _until(check: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_conflict_across_partners_uses_the_peers_details_and_notifies(cluster: Cluster) -> None:
    start = START
    with cluster.planner(ROK) as rok, cluster.planner(US) as us:
        planned = rok.post("/api/v1/flights", json=plan_body(ROK_ROUTE, start, priority=10))
        assert planned.status_code == 201, planned.text
        rok_flight = planned.json()
        refused = us.post("/api/v1/flights", json=plan_body(US_CROSSING, start))
        assert refused.status_code == 409, refused.text
        conflict = refused.json()["conflicts"][0]
        # Known precisely: fetched from rok's USS (priority and all), not assumed.
        assert f"flight {rok_flight['id']} (priority 10)" in conflict
        assert "no details" not in conflict
        # The same crossing 200 m higher: accepted; rok's USS, subscribed to the area and
        # time of its flight, is told by a notification.
        above = [[lat, lng, 270.0] for lat, lng, _ in US_CROSSING]
        later = us.post("/api/v1/flights", json=plan_body(above, start))
        assert later.status_code == 201, later.text
        us_flight = later.json()

        def rok_knows() -> list[dict[str, Any]]:
            peers = rok.get("/api/v1/peer_intents").json()["peer_intents"]
            return [p for p in peers if p["id"] == us_flight["id"]]

        [noticed] = _until(rok_knows)
        assert noticed["manager"] == "us-uss"
        assert noticed["partner"] == US
        assert len(noticed["volumes"]) == len(us_flight["volumes"])
        # Ending it tells rok too.
        ended = us.post(f"/api/v1/flights/{us_flight['id']}/end")
        assert ended.status_code == 200, ended.text
        assert _until(lambda: not rok_knows())
        assert rok.post(f"/api/v1/flights/{rok_flight['id']}/end").status_code == 200


def test_a_parallel_route_is_accepted_only_because_the_details_say_so(
    cluster: Cluster,
) -> None:
    start = START + timedelta(hours=3)
    parallel = [[lat, lng + 0.003, alt] for lat, lng, alt in ROK_ROUTE]  # ~270 m east
    with cluster.planner(ROK) as rok, cluster.planner(US) as us:
        first = rok.post("/api/v1/flights", json=plan_body(ROK_ROUTE, start))
        assert first.status_code == 201, first.text
        second = us.post("/api/v1/flights", json=plan_body(parallel, start))
        # Same S2 cells and times, so the DSS names rok's intent; its reference carries no
        # outline: only rok's details (volumes) show that the routes never meet.
        assert second.status_code == 201, second.text
        for client, flight in ((rok, first.json()), (us, second.json())):
            assert client.post(f"/api/v1/flights/{flight['id']}/end").status_code == 200


def test_a_planner_plans_only_on_its_own_partners_uss(cluster: Cluster) -> None:
    us_token = cluster.fed.partners[US].token("planner@us", Role.PLANNER)
    response = httpx.post(
        f"{cluster.uss[ROK].url}/api/v1/flights",
        json=plan_body(ROK_ROUTE, START + timedelta(hours=5)),
        headers={"Authorization": f"Bearer {us_token}"},
    )
    assert response.status_code == 403, response.text
    assert "rok's USS" in response.json()["detail"]


def test_a_retried_plan_with_the_same_id_is_one_flight(cluster: Cluster) -> None:
    flight_id = str(uuid4())
    body = plan_body(ROK_ROUTE, START + timedelta(hours=6), id=flight_id)
    with cluster.planner(ROK) as rok:
        first = rok.post("/api/v1/flights", json=body)
        again = rok.post("/api/v1/flights", json=body)
        assert first.status_code == again.status_code == 201, again.text
        assert first.json()["id"] == again.json()["id"] == flight_id
        assert first.json()["volumes"] == again.json()["volumes"]
        mine = [f for f in rok.get("/api/v1/flights").json()["flights"] if f["id"] == flight_id]
        assert len(mine) == 1
        assert rok.post(f"/api/v1/flights/{flight_id}/end").status_code == 200


def test_a_silent_peer_blocks_with_its_name_within_the_timeout(cluster: Cluster) -> None:
    """Another USS's intent whose USS accepts connections but never answers."""
    silent = bind()  # listens, never accepts: connects succeed, reads time out
    try:
        start = START + timedelta(hours=8)
        token = cluster.fed.partners[US].token(
            "us-backup-uss", STRATEGIC_COORDINATION, audience="127.0.0.1"
        )
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        body = oir_body([volume4d(36.97, 127.04, start=start, duration=timedelta(hours=1))])
        body["uss_base_url"] = silent_url
        body["new_subscription"] = {"uss_base_url": silent_url}
        put = httpx.put(
            f"{cluster.dss.url}/dss/v1/operational_intent_references/{uuid4()}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert put.status_code == 201, put.text
        with cluster.planner(ROK) as rok:
            began = time.monotonic()
            refused = rok.post("/api/v1/flights", json=plan_body(ROK_ROUTE, start))
            elapsed = time.monotonic() - began
        assert refused.status_code == 409, refused.text
        [conflict] = refused.json()["conflicts"]
        assert "us-backup-uss" in conflict
        assert "did not answer within 1 s" in conflict
        assert elapsed < 5.0  # one timeout (1 s), fetched once, not once per volume
    finally:
        silent.close()


def test_a_peer_down_mid_plan_loses_nothing_and_makes_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    start = START + timedelta(hours=10)
    with cluster.planner(ROK) as rok:
        planned = rok.post("/api/v1/flights", json=plan_body(ROK_ROUTE, start))
        assert planned.status_code == 201, planned.text
    rok_id = planned.json()["id"]
    cluster.uss[ROK].stop()  # rok's USS goes down with its flight in the DSS
    try:
        with cluster.planner(US) as us:
            before = us.get("/api/v1/flights").json()["flights"]
            refused = us.post("/api/v1/flights", json=plan_body(US_CROSSING, start))
            assert refused.status_code == 409, refused.text
            assert rok_id in refused.json()["detail"]
            assert "unreachable" in refused.json()["detail"]
            assert us.get("/api/v1/flights").json()["flights"] == before  # nothing half-made
    finally:
        # rok comes back on a new port with the same store: its flight is still there.
        node = _start_uss(cluster.fed, ROK, cluster.dss.url, peer_timeout_s=1.0)
        cluster.uss[ROK] = node
    with cluster.planner(ROK) as rok:
        assert rok.get(f"/api/v1/flights/{rok_id}").json()["state"] == "Accepted"


class LoseFirstPutAnswer(httpx.BaseTransport):
    """The DSS does the first PUT, but its answer never reaches us (a timeout)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "PUT" and not self.lost:
            response.read()
            response.close()
            self.lost += 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_create_whose_answer_was_lost_is_adopted_not_duplicated(
    cluster: Cluster, tmp_path: Path
) -> None:
    from dronecoop.auth.client_tokens import SelfSignedTokens
    from dronecoop.flights.dss_client import RemoteDss
    from dronecoop.flights.service import FlightService
    from dronecoop.planning.geojson import mission_from_waypoints
    from dronecoop.planning.volumes import trajectory, volumes
    from dronecoop.store.flights_sql import SqlFlightStore
    from dronecoop.store.migrate import upgrade

    rok = cluster.fed.partners[ROK]
    tokens = SelfSignedTokens(rok.key(), issuer=rok.issuer, subject="rok-uss")
    transport = LoseFirstPutAnswer()
    http = httpx.Client(transport=transport)
    remote = RemoteDss(cluster.dss.url, "rok-uss", tokens, http=http)
    url = f"sqlite:///{tmp_path / 'rok-retry.sqlite3'}"
    upgrade(url)
    store = SqlFlightStore(url)
    service = FlightService(lambda _: remote, store, "http://127.0.0.1:9")
    start = START + timedelta(hours=12)
    mission = mission_from_waypoints([(lat, lng, alt) for lat, lng, alt in ROK_ROUTE])
    ours = volumes(
        trajectory(mission, start=start, ground_speed_mps=12.0, home_altitude_amsl_m=16.0)
    )
    try:
        flight = service.plan_volumes(ROK, "crew@rok", ours)
        assert transport.lost == 1
        assert [r.id for r in remote.query_operational_intents(ours)] == [flight.id]
        assert remote.get_operational_intent(flight.id).ovn == flight.ovn  # type: ignore[union-attr]
        assert store.get(flight.id) == flight
        remote.delete_operational_intent(flight.id, flight.ovn)
    finally:
        service.close()
        store.close()
        http.close()


def test_a_dss_that_is_down_gets_a_502_and_nothing_is_kept(cluster: Cluster) -> None:
    silent = bind()
    try:
        node = _start_uss(
            cluster.fed,
            ROK,
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            peer_timeout_s=0.5,
            db_url=f"sqlite:///{cluster.fed.workdir / 'rok-no-dss.sqlite3'}",
        )
        try:
            token = cluster.fed.partners[ROK].token("crew@rok", Role.PLANNER)
            response = httpx.post(
                f"{node.url}/api/v1/flights",
                json=plan_body(ROK_ROUTE, START),
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 502, response.text
            assert "DSS at" in response.json()["detail"]
            assert response.headers["content-type"] == "application/problem+json"
            listed = httpx.get(
                f"{node.url}/api/v1/flights", headers={"Authorization": f"Bearer {token}"}
            )
            assert listed.json()["flights"] == []
        finally:
            node.stop()
    finally:
        silent.close()


class CountingPeers:
    """A real PeerClient that counts the details it fetched."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.fetched = inner, 0

    def operational_intent(self, uss_base_url: str, entity_id: str) -> Any:
        self.fetched += 1
        return self.inner.operational_intent(uss_base_url, entity_id)


def test_details_are_fetched_again_only_when_the_dss_version_changed(
    cluster: Cluster, tmp_path: Path
) -> None:
    from dronecoop.auth.client_tokens import SelfSignedTokens
    from dronecoop.flights.dss_client import RemoteDss
    from dronecoop.flights.peers import PeerClient
    from dronecoop.flights.service import FlightService, mission_volumes
    from dronecoop.planning.geojson import mission_from_waypoints
    from dronecoop.store.flights_sql import SqlFlightStore
    from dronecoop.store.migrate import upgrade

    start = START + timedelta(hours=14)
    with cluster.planner(US) as us:
        theirs = us.post("/api/v1/flights", json=plan_body(US_CROSSING, start))
        assert theirs.status_code == 201, theirs.text
    rok = cluster.fed.partners[ROK]
    tokens = SelfSignedTokens(rok.key(), issuer=rok.issuer, subject="rok-uss")
    url = f"sqlite:///{tmp_path / 'rok-cache.sqlite3'}"
    upgrade(url)
    store = SqlFlightStore(url)
    http = httpx.Client(timeout=10)
    peers = CountingPeers(PeerClient(tokens, http=http))
    remote = RemoteDss(cluster.dss.url, "rok-uss", tokens, http=http)
    service = FlightService(lambda _: remote, store, "http://127.0.0.1:9", peers=peers)  # type: ignore[arg-type]
    parallel = [[lat, lng + 0.003, alt] for lat, lng, alt in US_CROSSING]
    ours = mission_volumes(
        mission_from_waypoints([tuple(w) for w in parallel]),  # type: ignore[misc]
        start=start,
        ground_speed_mps=12.0,
        home_altitude_amsl_m=16.0,
    )
    try:
        service.check(ROK, ours, 0)
        service.check(ROK, ours, 0)
        assert peers.fetched == 1  # unchanged in the DSS: the details fetched first still hold
        with cluster.planner(US) as us:  # the US flight moves: a new version in the DSS
            moved = us.put(
                f"/api/v1/flights/{theirs.json()['id']}",
                json=plan_body(US_CROSSING, start + timedelta(minutes=1)),
            )
            assert moved.status_code == 200, moved.text
        service.check(ROK, ours, 0)
        assert peers.fetched == 2
    finally:
        service.close()
        store.close()
        http.close()


def test_a_zone_published_on_one_uss_keeps_the_others_planners_out(cluster: Cluster) -> None:
    import yaml

    from tests.conftest import shared_file
    from tests.e2e.test_dss_openapi_conformance import Conformance

    start = START + timedelta(hours=16)
    box = [[127.034, 36.964], [127.038, 36.964], [127.038, 36.968], [127.034, 36.968]]
    with cluster.planner(ROK) as rok, cluster.planner(US) as us:
        published = rok.post(
            "/api/v1/zones",
            json={
                "geojson": {
                    "type": "Feature",
                    "properties": {"name": "Ammo depot", "lower_w84_m": 0, "upper_w84_m": 500},
                    "geometry": {"type": "Polygon", "coordinates": [box]},
                },
                "start": start.isoformat(),
                "end": (start + timedelta(hours=2)).isoformat(),
            },
        )
        assert published.status_code == 201, published.text
        [zone] = published.json()["published"]
        refused = us.post("/api/v1/flights", json=plan_body(ROK_ROUTE, start))
        assert refused.status_code == 409, refused.text
        [conflict] = refused.json()["conflicts"]
        # Its outline came from rok's USS: the zone's name and exact box, not a guess.
        assert f"constraint {zone['id']} (PROHIBITED: Ammo depot)" in conflict
        beside = [[lat, lng + 0.006, alt] for lat, lng, alt in ROK_ROUTE]  # ~500 m east
        assert us.post("/api/v1/flights", json=plan_body(beside, start)).status_code == 201
        # The details a peer reads are the standard's Constraint.
        spec = yaml.safe_load(
            shared_file("specs/astm-f3548-21-utm.yaml").read_text(encoding="utf-8")
        )
        token = cluster.fed.partners[US].token(
            "us-uss", "utm.constraint_processing", audience="127.0.0.1"
        )
        details = httpx.get(
            f"{cluster.uss[ROK].url}/uss/v1/constraints/{zone['id']}",
            headers={"Authorization": f"Bearer {token}"},
        )
        body = Conformance(spec).check(details, "/uss/v1/constraints/{entityid}", 200)
        assert len(body["constraint"]["reference"]["ovn"]) >= 16
        assert rok.delete(f"/api/v1/zones/{zone['id']}").status_code == 200


def test_a_uss_gets_its_tokens_by_the_oauth_client_credentials_grant(cluster: Cluster) -> None:
    """The partner's authorization server (a real one on loopback) issues the USS's tokens."""
    import base64
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    from dronecoop.auth.devkeys import mint_token

    partner = cluster.fed.partners[US]
    granted: list[dict[str, list[str]]] = []

    class TokenEndpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            expected = "Basic " + base64.b64encode(b"us-uss:s3cret").decode()
            if self.headers.get("Authorization") != expected or form.get("grant_type") != [
                "client_credentials"
            ]:
                self.send_response(401)
                self.end_headers()
                self.wfile.write(b'{"error": "invalid_client"}')
                return
            granted.append(form)
            token = mint_token(
                partner.key(),
                sub="us-uss",
                scopes=form["scope"][0].split(),
                audience=form["audience"][0],
                issuer=partner.issuer,
                lifetime_s=300,
            )
            body = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 300})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token_url = f"http://127.0.0.1:{server.server_address[1]}/oauth/token"
    workdir = cluster.fed.workdir
    try:
        for secret, status in (("s3cret", 201), ("wrong", 502)):
            sock = bind()
            settings = cluster.fed.uss_settings(
                US,
                sock.getsockname()[1],
                cluster.dss.url,
                db_url=f"sqlite:///{workdir / f'us-oauth-{secret}.sqlite3'}",
                uss_signing_key_file=None,
                uss_oauth_token_url=token_url,
                uss_oauth_client_id="us-uss",
                uss_oauth_client_secret=secret,
            )
            node = LiveNode(f"us-oauth-{secret}", settings, sock).start()
            try:
                crew = partner.token("crew@us", Role.PLANNER, Role.OPERATOR)
                r = httpx.post(
                    f"{node.url}/api/v1/flights",
                    json=plan_body(US_CROSSING, START + timedelta(hours=18)),
                    headers={"Authorization": f"Bearer {crew}"},
                    timeout=30,
                )
                assert r.status_code == status, r.text
                if status == 502:
                    assert "refused the client credentials" in r.json()["detail"]
                else:
                    ended = httpx.post(
                        f"{node.url}/api/v1/flights/{r.json()['id']}/end",
                        headers={"Authorization": f"Bearer {crew}"},
                    )
                    assert ended.status_code == 200, ended.text
            finally:
                node.stop()
        assert {g["scope"][0] for g in granted} >= {
            "utm.strategic_coordination",
            "utm.constraint_processing",
        }
        assert all(g["audience"] == ["127.0.0.1"] for g in granted)
    finally:
        server.shutdown()
        server.server_close()
