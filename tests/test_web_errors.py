"""Domain errors and unreadable requests answered in one place: JSON under /api, pages elsewhere."""

from __future__ import annotations

import pytest

from app.errors import Conflict, Invalid, NotFound, Refused, Unavailable


@pytest.fixture
def raising(app):
    """The app with routes that raise each kind of domain error, under /api, /admin and /."""

    def route(kind: type[Exception]):
        def raise_it() -> None:
            raise kind(f"a {kind.__name__} <b>reason</b>")

        return raise_it

    for kind in (NotFound, Conflict, Invalid, Refused, Unavailable):
        for prefix in ("/api", "/admin", ""):
            app.add_api_route(f"{prefix}/raise/{kind.__name__}", route(kind))
    return app


@pytest.mark.parametrize(
    ("kind", "status"),
    [(NotFound, 404), (Conflict, 409), (Invalid, 422), (Refused, 502), (Unavailable, 503)],
)
def test_each_kind_has_its_status_everywhere(raising, client, admin_headers, kind, status):
    name = kind.__name__
    api = client.get(f"/api/raise/{name}", headers=admin_headers)
    assert (api.status_code, api.json()) == (status, {"detail": f"a {name} <b>reason</b>"})
    for path in (f"/admin/raise/{name}", f"/raise/{name}"):
        page = client.get(path)
        assert page.status_code == status
        assert page.headers["content-type"].startswith("text/html")
        assert f"a {name} &lt;b&gt;reason&lt;/b&gt;" in page.text  # escaped, as every page is


def test_admin_paths_get_the_admin_problem_page(raising, client):
    page = client.get("/admin/raise/NotFound")
    assert "Back to the dashboard" in page.text and page.headers["cache-control"] == "no-store"
    public = client.get("/raise/NotFound")
    assert "Back to the dashboard" not in public.text and 'href="/archive"' in public.text


def test_unreadable_requests_keep_fastapis_answer_outside_the_api(client):
    response = client.get("/archive/not-a-number")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_api_query_problems_are_one_readable_sentence(client, admin_headers):
    response = client.get("/api/issues?limit=0&offset=-1", headers=admin_headers)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "limit: Input should be greater than or equal to 1; "
        "offset: Input should be greater than or equal to 0"
    }


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b"{not json"),
        ({"content-type": "text/csv"}, b"a,b"),
        ({"content-type": "application/json"}, b"[" + b"1," * 600_000 + b"1]"),
    ],
    ids=["broken JSON", "not JSON", "too large"],
)
def test_the_admin_token_is_checked_before_the_body(client, admin_headers, headers, body):
    """A caller without the token learns nothing about its body; with it, it hears what's wrong."""
    anonymous = client.post("/api/issues", content=body, headers=headers)
    assert anonymous.status_code == 401
    wrong = client.post(
        "/api/issues", content=body, headers={**headers, "authorization": "Bearer x"}
    )
    assert wrong.status_code == 403
    admin = client.post("/api/issues", content=body, headers={**headers, **admin_headers})
    assert admin.status_code in (400, 413, 415)
