"""Sources over HTTP: the admin API (token, validation, round trip) and the admin page (CSRF)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts import create_admin
from app.models import IssueStatus, SourceWeight
from app.ranking.click_prior import source_click_priors
from app.ranking.sources import click_records
from tests.test_admin import EMAIL, PASSWORD, csrf_of, log_in
from tests.test_sources import NOW, add_issue, add_post

# --- the API --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong-token"}, 403)],
)
def test_the_sources_api_needs_the_admin_token(client, db, headers, status):
    assert client.get("/api/sources", headers=headers).status_code == status
    response = client.put("/api/sources/Reuters", json={"weight": 2}, headers=headers)
    assert response.status_code == status
    assert db.scalar(select(SourceWeight)) is None


def test_a_weight_put_is_stored_and_listed(client, db, admin_headers, frozen_clock):
    add_post(db, source="Reuters", at=NOW - timedelta(days=2))
    add_post(db, source="Reuters", at=NOW - timedelta(days=3))
    add_post(db, source="DW", at=NOW - timedelta(days=1))
    add_issue(db, week="2026-W47", status=IssueStatus.SENT, items=[("Reuters", 40), ("DW", 2)])
    db.commit()

    response = client.put(
        "/api/sources/Deutsche Welle", json={"weight": 1.5}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "source": "Deutsche Welle",
        "key": "deutsche welle",
        "weight": 1.5,
        "updated_at": "2026-11-30T09:00:00Z",
    }
    assert db.get(SourceWeight, "deutsche welle").weight == 1.5  # committed by the request

    client.put("/api/sources/reuters", json={"weight": 0}, headers=admin_headers)
    listed = client.get("/api/sources", headers=admin_headers).json()
    assert listed["weeks"] == 4
    rows = {row["source"]: row for row in listed["sources"]}
    assert [row["source"] for row in listed["sources"]] == ["Reuters", "DW", "Deutsche Welle"]
    assert rows["Reuters"] | {"click_prior": None} == {
        "source": "Reuters",
        "weight": 0.0,
        "weight_set": True,
        "posts": 2,
        "click_prior": None,
        "listed": 1,
        "clicks": 40,
    }
    assert rows["Reuters"]["click_prior"] > 1 > rows["DW"]["click_prior"]
    assert (rows["DW"]["weight"], rows["DW"]["weight_set"]) == (1.0, False)
    assert (rows["Deutsche Welle"]["posts"], rows["Deutsche Welle"]["click_prior"]) == (0, None)


def test_a_source_name_with_a_slash_or_unicode_works(client, db, admin_headers, frozen_clock):
    response = client.put(
        "/api/sources/El%20Pa%C3%ADs%2FEnerg%C3%ADa", json={"weight": 3}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["key"] == "el país/energía"


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("Reuters", b"{}", "weight: Field required"),
        ("Reuters", b'{"weight": NaN}', "weight: Input should be a finite number"),
        ("Reuters", b'{"weight": Infinity}', "weight: Input should be a finite number"),
        ("Reuters", b'{"weight": -1}', "weight: Input should be greater than or equal to 0"),
        ("Reuters", b'{"weight": 10.5}', "weight: Input should be less than or equal to 10"),
        ("Reuters", b'{"weight": "2"}', "weight: Input should be a valid number"),
        ("Reuters", b'{"weight": true}', "weight: Input should be a valid number"),
        ("Reuters", b'{"weight": null}', "weight: Input should be a valid number"),
        ("Reuters", b'{"weight": 2, "extra": 1}', "extra: Extra inputs are not permitted"),
        ("Reuters", b"[2]", "body: Input should be a valid dictionary"),
        ("%20", b'{"weight": 2}', "source must be a name, not empty"),
        ("x" * 201, b'{"weight": 2}', "source must be at most 200 characters"),
        ("%20", b'{"weight": 11}', "source must be a name, not empty; weight: Input should be"),
    ],
)
def test_a_bad_weight_or_name_is_a_422_with_the_reason(
    client, db, admin_headers, frozen_clock, path, body, reason
):
    response = client.put(
        f"/api/sources/{path}",
        content=body,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith(reason)
    assert db.scalar(select(SourceWeight)) is None


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [("application/json", b"{weight", 400), ("text/plain", b'{"weight": 2}', 415)],
)
def test_a_body_that_is_not_json_is_refused(client, admin_headers, content_type, body, status):
    response = client.put(
        "/api/sources/Reuters",
        content=body,
        headers={**admin_headers, "Content-Type": content_type},
    )
    assert response.status_code == status


def test_openapi_shows_the_body_and_answers(client):
    spec = client.get("/openapi.json").json()
    put = spec["paths"]["/api/sources/{source}"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["weight"]
    assert (body["properties"]["weight"]["minimum"], body["properties"]["weight"]["maximum"]) == (
        0,
        10,
    )
    assert put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SourceWeightOut"
    )
    get = spec["paths"]["/api/sources"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SourcesOut"
    )
    row = spec["components"]["schemas"]["SourceOut"]["properties"]
    assert {"source", "weight", "posts", "click_prior"} <= set(row)


# --- the admin page -------------------------------------------------------------------------------


@pytest.fixture
def editor_client(client, db, frozen_clock):
    create_admin(db, email=EMAIL, password=PASSWORD, now=NOW)
    db.commit()
    assert log_in(client).status_code == 303
    return client


def _seed(db) -> None:
    for days in (1, 2, 3):
        add_post(db, source="Reuters", at=NOW - timedelta(days=days))
    add_post(db, source="Carbon Brief", at=NOW - timedelta(days=1))
    add_issue(db, week="2026-W47", status=IssueStatus.SENT, items=[("Reuters", 80), ("DW", 0)])
    db.commit()


def test_the_page_needs_a_login(client, frozen_clock):
    response = client.get("/admin/sources", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/sources"


def test_the_page_lists_sources_with_clicks_in_words(editor_client, db):
    _seed(db)
    page = editor_client.get("/admin/sources")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/admin/sources" aria-current="page">Sources</a>' in html
    assert "Weight 2 makes this source's stories count twice as much" in html
    assert "0 never lists it unless pinned" in html
    reuters = html[html.index("<strong>Reuters</strong>") : html.index("<strong>Carbon Brief")]
    prior = source_click_priors(click_records(db, before_week="2026-W49"))["reuters"]
    assert prior > 1.2
    assert f"readers clicked this source {prior:.2g}× the usual" in reuters
    assert "80 clicks on 1 listed post" in reuters
    carbon = html[html.index("<strong>Carbon Brief</strong>") : html.index("<strong>DW")]
    assert "not enough clicks yet" in carbon


def test_the_dashboard_nav_links_to_the_page(editor_client):
    assert '<a href="/admin/sources" >Sources</a>' in editor_client.get("/admin").text


def test_saving_a_weight_with_the_csrf_token(editor_client, db):
    _seed(db)
    token = csrf_of(editor_client.get("/admin/sources").text)
    response = editor_client.post(
        "/admin/sources",
        data={"csrf_token": token, "source": "Reuters", "weight": "2,5", "weeks": "8"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/sources?weeks=8&saved=reuters"
    assert db.get(SourceWeight, "reuters").weight == 2.5
    page = editor_client.get(response.headers["location"]).text
    assert "Saved: Reuters now has weight 2.5." in page
    assert 'value="2.5"' in page and "(last 8 weeks)" in page


def test_a_form_without_the_csrf_token_changes_nothing(editor_client, db):
    _seed(db)
    for token in (None, "forged"):
        data = {"source": "Reuters", "weight": "3"} | ({"csrf_token": token} if token else {})
        response = editor_client.post("/admin/sources", data=data)
        assert response.status_code == 403 and "Form expired" in response.text
    assert db.scalar(select(SourceWeight)) is None


@pytest.mark.parametrize(
    ("source", "weight", "reason"),
    [
        ("Reuters", "11", "Weight must be from 0 to 10, got 11"),
        ("Reuters", "heavy", "Weight must be a number"),
        ("Reuters", "nan", "Weight must be a finite number"),
        ("", "2", "Source must be a name, not empty"),
    ],
)
def test_a_bad_weight_on_the_form_is_shown_and_not_saved(editor_client, db, source, weight, reason):
    _seed(db)
    token = csrf_of(editor_client.get("/admin/sources").text)
    data = {"csrf_token": token, "source": source, "weight": weight}
    response = editor_client.post("/admin/sources", data=data)
    assert response.status_code == 422
    assert reason in response.text
    assert f'value="{weight}"' in response.text  # what was typed is shown again
    assert db.scalar(select(SourceWeight)) is None


def test_a_source_not_listed_can_be_weighted_from_the_form_below(editor_client, db):
    token = csrf_of(editor_client.get("/admin/sources").text)
    data = {"csrf_token": token, "source": " Quiet Quarterly ", "weight": "0"}
    response = editor_client.post("/admin/sources", data=data)
    assert response.status_code == 200  # followed the redirect
    assert db.get(SourceWeight, "quiet quarterly").weight == 0.0
    assert "<strong>Quiet Quarterly</strong>" in response.text
