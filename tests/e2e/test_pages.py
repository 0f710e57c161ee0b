"""What a person or a tool opening the node sees: landing page, offline docs, OpenAPI."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_the_landing_page_says_what_the_node_is_and_links_its_parts(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for link in ("/docs", "/redoc", "/openapi.json", "/healthz"):
        assert f'href="{link}"' in page.text
    assert "/dss/v1" in page.text


def test_api_docs_load_their_assets_from_the_node_not_from_a_cdn(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        external = [u for u in re.findall(r'(?:src|href)="([^"]+)"', html) if "://" in u]
        assert external == [], f"{path} loads {external}"
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset


def test_openapi_documents_every_dss_body_with_the_standards_schemas(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    put = document["paths"]["/dss/v1/operational_intent_references/{entityid}"]["put"]
    body_ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref.endswith("/PutOperationalIntentReferenceParameters")
    assert "extents" in schemas["PutOperationalIntentReferenceParameters"]["properties"]
    assert put["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ChangeOperationalIntentReferenceResponse"
    )
    assert [p["name"] for p in put["parameters"]] == ["entityid"]
    dss_paths = [p for p in document["paths"] if p.startswith("/dss/v1/")]
    assert (
        len(dss_paths) == 11
    )  # 3 intents + 3 constraints + 3 subscriptions + reports + availability
    for path in dss_paths:
        for method, operation in document["paths"][path].items():
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert success, f"{method.upper()} {path} documents no success response"
            refs = re.findall(
                r'"\$ref": "#/components/schemas/(\w+)"', str(operation).replace("'", '"')
            )
            assert all(ref in schemas for ref in refs), (path, refs)
