"""The readers' admin API: auth, listing, JSON and CSV import with per-line errors, export."""

from __future__ import annotations

from sqlalchemy import select

from app.models import ConsentEvent, Subscriber


def _import(client, headers, rows, source="fair-2026"):
    return client.post(
        "/api/subscribers/import",
        json={"consent_source": source, "subscribers": rows},
        headers=headers,
    )


def test_admin_api_needs_the_bearer_token(client, app):
    assert client.get("/api/subscribers").status_code == 401
    assert client.get("/api/subscribers").headers["www-authenticate"] == "Bearer"
    wrong = client.get("/api/subscribers", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert client.get("/api/subscribers", headers={"Authorization": "Basic x"}).status_code == 401
    app.state.digest.settings.admin_token = ""
    closed = client.get("/api/subscribers", headers={"Authorization": "Bearer anything"})
    assert closed.status_code == 403 and "closed" in closed.json()["detail"]


def test_json_import_keeps_good_rows_and_reports_bad_ones_by_line(client, admin_headers, db):
    response = _import(
        client,
        admin_headers,
        [
            {"email": "Ann@Example.org", "name": "Ann"},
            {"email": "not-an-address"},
            {"name": "no email"},
            "a string",
            {"email": "ann@example.org"},
            {"email": "bo@example.org"},
        ],
    )
    assert response.status_code == 200
    report = response.json()
    assert (report["created"], report["unchanged"]) == (2, 0)
    assert [error["line"] for error in report["errors"]] == [2, 3, 4, 5]
    assert "duplicate" in report["errors"][3]["reason"]
    readers = db.scalars(select(Subscriber).order_by(Subscriber.email)).all()
    assert [(r.email, r.status) for r in readers] == [
        ("ann@example.org", "confirmed"),
        ("bo@example.org", "confirmed"),
    ]
    channels = set(db.scalars(select(ConsentEvent.channel)))
    assert channels == {"import:fair-2026"}


def test_import_never_resubscribes_someone_who_left(client, admin_headers, db):
    _import(client, admin_headers, [{"email": "gone@example.org"}])
    reader = db.scalar(select(Subscriber))
    reader.status = "unsubscribed"
    db.commit()
    report = _import(client, admin_headers, [{"email": "gone@example.org"}]).json()
    assert report["unchanged"] == 1 and report["created"] == 0
    db.refresh(reader)
    assert reader.status == "unsubscribed"


def test_csv_upload_and_raw_csv(client, admin_headers, db):
    upload = client.post(
        "/api/subscribers/import",
        data={"consent_source": "paper-form"},
        files={"file": ("readers.csv", b"Email,Name\nc1@example.org,C One\nbroken\n", "text/csv")},
        headers=admin_headers,
    )
    assert upload.status_code == 200
    assert upload.json()["created"] == 1
    assert upload.json()["errors"] == [
        {"line": 3, "email": "broken", "reason": "An email address must have an @-sign."}
    ]
    raw = client.post(
        "/api/subscribers/import?consent_source=sheet",
        content=b"email\nc2@example.org\n",
        headers={**admin_headers, "content-type": "text/csv"},
    )
    assert raw.status_code == 200 and raw.json()["created"] == 1


def test_bad_import_requests_are_422_and_store_nothing(client, admin_headers, db):
    cases = [
        {"json": {"subscribers": [{"email": "x@example.org"}]}},  # no consent source
        {"json": {"consent_source": "x", "subscribers": "x@example.org"}},
        {"content": b"{broken", "headers": {"content-type": "application/json"}},
        {"content": b"\xff\xfe\x00bad", "headers": {"content-type": "text/csv"}},
        {"content": b"name\nJo\n", "headers": {"content-type": "text/csv"}},  # no email column
        {"content": b"email\nq@example.org\n", "headers": {"content-type": "text/csv"}},
        {"content": b"<xml/>", "headers": {"content-type": "application/xml"}},
    ]
    for case in cases:
        headers = {**admin_headers, **case.pop("headers", {})}
        response = client.post("/api/subscribers/import", headers=headers, **case)
        assert response.status_code == 422, (case, response.text)
        assert response.json()["detail"]
    assert db.scalar(select(Subscriber)) is None


def test_listing_filters_paginates_and_refuses_unknown_status(client, admin_headers):
    _import(client, admin_headers, [{"email": f"r{i}@example.org"} for i in range(5)])
    client.post("/subscribe", json={"email": "pending@example.org"})
    everyone = client.get("/api/subscribers?limit=2", headers=admin_headers).json()
    assert everyone["total"] == 6 and len(everyone["items"]) == 2
    assert set(everyone["items"][0]) >= {"email", "status", "created_at", "confirmed_at"}
    pending = client.get("/api/subscribers?status=pending", headers=admin_headers).json()
    assert [r["email"] for r in pending["items"]] == ["pending@example.org"]
    found = client.get("/api/subscribers?q=R3", headers=admin_headers).json()
    assert [r["email"] for r in found["items"]] == ["r3@example.org"]
    assert client.get("/api/subscribers?status=weird", headers=admin_headers).status_code == 422
    assert client.get("/api/subscribers?limit=0", headers=admin_headers).status_code == 422


def test_export_is_csv_with_formulas_neutralised(client, admin_headers):
    _import(client, admin_headers, [{"email": "eve@example.org", "name": "=HYPERLINK(1)"}])
    export = client.get("/api/subscribers/export", headers=admin_headers)
    assert export.headers["content-type"].startswith("text/csv")
    lines = export.text.splitlines()
    assert lines[0].startswith("email,name,status")
    assert lines[1].startswith("eve@example.org,'=HYPERLINK(1),confirmed")


def test_search_takes_like_wildcards_literally(client, admin_headers):
    emails = ["a_b@example.org", "axb@example.org", "p%q@example.org", "pxq@example.org"]
    assert _import(client, admin_headers, [{"email": e} for e in emails]).json()["created"] == 4
    for query, expected in (("a_b", ["a_b@example.org"]), ("p%q", ["p%q@example.org"])):
        found = client.get("/api/subscribers", params={"q": query}, headers=admin_headers).json()
        assert ([r["email"] for r in found["items"]], found["total"]) == (expected, 1)
