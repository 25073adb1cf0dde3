"""Domain errors and unreadable requests answered in one place: JSON under /api, pages elsewhere."""

from __future__ import annotations

import pytest

from app.errors import Conflict, Invalid, NotFound, Refused, Unavailable
from tests.test_admin import admin_client, editor  # noqa: F401 - fixtures: a logged-in editor


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


def _a_page_for_people(response, status: int, *words: str) -> str:
    """The answer is an HTML page in a layout, with a way back, and no framework JSON."""
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert '"detail"' not in text and "[{" not in text and "Input should" not in text
    assert all(word in text for word in words), text
    return text


# Issue 12 changed this: outside /api and /webhooks, FastAPI's JSON (`{"detail": [...]}` for a
# path it cannot read, `{"detail": "Not Found"}` for no route) reached people; now a page does.
@pytest.mark.parametrize("path", ["/archive/not-a-number", "/no-such-page", "/archive/1/x"])
def test_people_get_a_page_for_an_address_that_names_nothing(client, path):
    page = _a_page_for_people(client.get(path), 404, "Not found", "There is no page at this")
    assert '<header class="site">' in page and 'href="/"' in page and 'href="/archive"' in page


def test_a_wrong_method_is_a_page_that_keeps_its_allow_header(client):
    response = client.post("/archive")
    _a_page_for_people(response, 405, "cannot be opened that way")
    assert response.headers["allow"] == "GET"


def test_programs_keep_their_json(client, admin_headers):
    assert client.get("/api/no-such-thing", headers=admin_headers).json() == {"detail": "Not Found"}
    assert client.get("/webhooks/nothing").json() == {"detail": "Not Found"}
    bad = client.get("/api/issues/abc", headers=admin_headers)
    assert bad.status_code == 422 and bad.json()["detail"].startswith("issue_id: ")
    hook = client.post("/webhooks/bounces/ses", content=b"{}", headers={"content-type": "x/y"})
    assert hook.headers["content-type"] == "application/json"


def test_admin_pages_answer_bad_numbers_with_an_admin_page(admin_client):  # noqa: F811
    for path, status in (("/admin/issues/abc", 404), ("/admin/readers?page=abc", 422)):
        page = _a_page_for_people(admin_client.get(path), status, "Back to the dashboard")
        assert 'href="/static/admin.css"' in page
    query = admin_client.get("/admin/readers?page=abc")
    assert "page: should be a whole number." in query.text  # which value, in plain words
    small = admin_client.get("/admin/readers?page=0")
    assert "page: should be at least 1." in _a_page_for_people(small, 422)


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
