"""Readers' preferences: sections on the subscribe form, and the preference centre
(`GET/POST /manage/{token}`) with its refusals, each leaving the reader as it was."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.accounts import create_admin
from app.models import ConsentEvent, Subscriber
from app.readers.preferences import read_weeks
from app.readers.subscriptions import confirm_token, manage_token, unsubscribe_token
from app.tokens import Signer
from tests.test_admin import log_in

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
VALID_LIST = "choose from solar-storage (Solar &amp; storage), wind (Wind)"


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)


def _reader(db, email="rea@example.org", status="confirmed", **prefs) -> Subscriber:
    reader = Subscriber(
        email=email,
        status=status,
        source="form",
        created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=30),
        confirmed_at=NOW - timedelta(days=29),
        **prefs,
    )
    db.add(reader)
    db.commit()
    return reader


def _token(settings, reader, now=NOW) -> str:
    return manage_token(Signer(settings.signing_keys()), reader.id, now=now)


def _events(db, reader) -> list[tuple[str, str, str | None]]:
    rows = db.execute(
        select(ConsentEvent.kind, ConsentEvent.channel, ConsentEvent.detail)
        .where(ConsentEvent.subscriber_id == reader.id)
        .order_by(ConsentEvent.id)
    )
    return [tuple(row) for row in rows]


def _state(db, reader) -> tuple:
    """Everything a refused request must leave as it was."""
    db.expire_all()
    fresh = db.get(Subscriber, reader.id)
    return (
        fresh.status,
        fresh.sections,
        fresh.cadence,
        fresh.paused_until,
        fresh.updated_at,
        len(_events(db, reader)),
    )


# --- subscribing with sections ------------------------------------------------------------------


def test_the_form_offers_every_section_unticked_with_the_hint(client, settings):
    page = client.get("/").text
    boxes = re.findall(r'<input type="checkbox" name="topics" value="([^"]+)"\s*>', page)
    assert boxes == [section.key for section in settings.sections.all]
    assert len(boxes) == 5
    assert "Tick none to get everything" in page


def test_form_subscribe_stores_the_ticked_sections_and_records_them(client, db, published):
    response = client.post(
        "/subscribe",
        data={
            "email": "sec@example.org",
            "csrf_token": _csrf(client),
            "topics": ["policy", "wind"],
        },
    )
    assert response.status_code == 200 and "Check your inbox" in response.text
    reader = db.scalar(select(Subscriber))
    assert (reader.email, reader.status, reader.sections) == (
        "sec@example.org",
        "pending",
        "wind,policy",
    )
    assert _events(db, reader) == [("subscribe-request", "form", "sections: wind, policy")]


def test_form_subscribe_with_nothing_ticked_is_everything(client, db, published):
    client.post("/subscribe", data={"email": "all@example.org", "csrf_token": _csrf(client)})
    reader = db.scalar(select(Subscriber))
    assert reader.sections == ""
    assert _events(db, reader)[0][2] == "sections: everything"


def test_json_subscribe_takes_keys_or_labels_in_any_case(client, db, published):
    response = client.post(
        "/subscribe", json={"email": "js@example.org", "topics": ["Mobility", "GRID & POWER"]}
    )
    assert (response.status_code, response.json()) == (202, {"status": "check-your-inbox"})
    reader = db.scalar(select(Subscriber))
    assert reader.sections == "grid-power,mobility"
    assert _events(db, reader) == [("subscribe-request", "api", "sections: grid-power, mobility")]


def test_ticking_every_section_is_stored_as_everything(client, db, settings, published):
    keys = [section.key for section in settings.sections.all]
    client.post("/subscribe", json={"email": "every@example.org", "topics": keys})
    assert db.scalar(select(Subscriber.sections)) == ""


def test_unknown_sections_in_the_form_are_422_with_the_list_and_the_entries_kept(
    client, db, published
):
    response = client.post(
        "/subscribe",
        data={
            "email": "keep@example.org",
            "name": "Kim",
            "csrf_token": _csrf(client),
            "topics": ["wind", "astrology"],
        },
    )
    assert response.status_code == 422
    assert "unknown section: astrology" in response.text
    assert VALID_LIST in response.text
    assert 'value="keep@example.org"' in response.text and 'value="Kim"' in response.text
    assert re.search(r'value="wind"\s+checked', response.text)  # the tick the reader made
    assert not re.search(r'value="policy"\s+checked', response.text)
    assert db.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert published == []


@pytest.mark.parametrize(
    ("topics", "reason"),
    [
        (["astrology", "wind"], "unknown section: astrology; choose from solar-storage"),
        ("wind", "'topics' must be a list of strings."),
        ([3], "'topics' must be a list of strings."),
        ([""], "unknown section"),
    ],
)
def test_bad_topics_in_json_are_422_and_store_nothing(client, db, published, topics, reason):
    response = client.post("/subscribe", json={"email": "bad@example.org", "topics": topics})
    assert response.status_code == 422
    assert reason in response.json()["detail"]
    assert db.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert published == []


def test_a_subscribe_request_never_changes_a_confirmed_readers_sections(client, db, published):
    reader = _reader(db, email="conf@example.org", sections="wind")
    before = _state(db, reader)
    response = client.post(
        "/subscribe", json={"email": "conf@example.org", "topics": ["policy", "mobility"]}
    )
    assert (response.status_code, response.json()) == (202, {"status": "check-your-inbox"})
    assert _state(db, reader) == before
    assert published == []


def test_a_returning_reader_takes_the_sections_of_the_new_request(client, db, published):
    reader = _reader(db, email="back@example.org", status="unsubscribed", sections="wind")
    response = client.post("/subscribe", json={"email": "back@example.org", "topics": ["policy"]})
    assert response.status_code == 202
    db.expire_all()
    assert (reader.status, reader.sections) == ("pending", "policy")
    assert _events(db, reader) == [("subscribe-request", "api", "sections: policy")]


def test_a_pending_reader_asking_again_later_takes_the_new_sections(
    client, db, published, frozen_clock
):
    client.post("/subscribe", json={"email": "pen@example.org", "topics": ["wind"]})
    frozen_clock.now += timedelta(minutes=2)  # within the resend window: nothing happens
    client.post("/subscribe", json={"email": "pen@example.org", "topics": ["policy"]})
    reader = db.scalar(select(Subscriber))
    assert reader.sections == "wind" and len(published) == 1
    frozen_clock.now += timedelta(minutes=11)
    client.post("/subscribe", json={"email": "pen@example.org", "topics": ["policy"]})
    db.expire_all()
    assert reader.sections == "policy" and len(published) == 2
    assert [event[2] for event in _events(db, reader)] == ["sections: wind", "sections: policy"]


# --- the preference centre: showing ------------------------------------------------------------


def test_the_page_shows_the_readers_choices_and_changes_nothing(client, db, settings, frozen_clock):
    reader = _reader(db, sections="wind,policy", cadence="monthly")
    before = _state(db, reader)
    response = client.get(f"/manage/{_token(settings, reader)}")
    assert response.status_code == 200
    page = response.text
    assert "rea@example.org" in page and "confirmed" in page
    assert "You get <strong>Wind and Policy, monthly best-of</strong>" in page
    assert re.search(r'value="wind"\s+checked', page) and re.search(
        r'value="policy"\s+checked', page
    )
    assert not re.search(r'value="mobility"\s+checked', page)
    assert re.search(r'value="monthly"\s+checked', page)
    assert "Tick none to get everything" in page
    assert "one mail a month with the best of the month" in page
    assert page.count('<option value="') == 8  # a pause of 1 to 8 weeks
    assert "Export my data" in page and ">Unsubscribe</button>" in page
    assert response.headers["cache-control"] == "no-store"
    assert _state(db, reader) == before


def test_a_pause_that_ended_shows_as_none(client, db, settings, frozen_clock):
    reader = _reader(db, paused_until=NOW - timedelta(days=1))
    page = client.get(f"/manage/{_token(settings, reader)}").text
    assert "Paused until" not in page and "Take a break" in page


# --- the preference centre: changes ------------------------------------------------------------


def test_saving_sections_and_cadence_redirects_to_a_confirmation(
    client, db, settings, frozen_clock
):
    reader = _reader(db)
    token = _token(settings, reader)
    response = client.post(
        f"/manage/{token}",
        data={"action": "save", "topics": ["policy", "wind"], "cadence": "monthly"},
        headers={"user-agent": "pref-test", "origin": "http://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/manage/{token}?done=saved"
    db.expire_all()
    assert (reader.sections, reader.cadence, reader.updated_at) == ("wind,policy", "monthly", NOW)
    event = db.scalar(select(ConsentEvent).where(ConsentEvent.subscriber_id == reader.id))
    assert (event.kind, event.channel, event.user_agent, event.at) == (
        "preferences",
        "manage",
        "pref-test",
        NOW,
    )
    assert event.detail == "sections: wind, policy; cadence: monthly" and event.ip
    page = client.get(response.headers["location"]).text
    assert "Saved: you get Wind and Policy, monthly best-of." in page
    assert re.search(r'value="wind"\s+checked', page)


def test_a_save_that_changes_nothing_records_nothing(client, db, settings, frozen_clock):
    reader = _reader(db, sections="wind")
    before = _state(db, reader)
    response = client.post(
        f"/manage/{_token(settings, reader)}",
        data={"action": "save", "topics": ["Wind"], "cadence": "weekly"},
    )
    assert response.status_code == 200
    assert "Nothing to change: you already get Wind, weekly." in response.text
    assert _state(db, reader) == before


def test_unticking_everything_means_everything(client, db, settings, frozen_clock):
    reader = _reader(db, sections="wind,policy")
    page = client.post(
        f"/manage/{_token(settings, reader)}", data={"action": "save", "cadence": "weekly"}
    ).text
    assert "Saved: you get everything, weekly." in page
    db.expire_all()
    assert reader.sections == ""
    assert _events(db, reader) == [
        ("preferences", "manage", "sections: everything; cadence: weekly")
    ]


def test_pause_then_resume(client, db, settings, frozen_clock):
    reader = _reader(db)
    token = _token(settings, reader)
    page = client.post(f"/manage/{token}", data={"action": "pause", "weeks": "2"}).text
    db.expire_all()
    assert reader.paused_until == NOW + timedelta(weeks=2)
    assert "Paused: no digest until Monday 14 December 2026." in page
    assert "Paused until Monday 14 December 2026" in page and "Resume now" in page
    assert "Take a break" not in page
    page = client.post(f"/manage/{token}", data={"action": "resume"}).text
    db.expire_all()
    assert reader.paused_until is None
    assert "Your digest is on" in page and "Take a break" in page
    client.post(f"/manage/{token}", data={"action": "resume"})  # not paused: nothing to record
    assert _events(db, reader) == [
        ("pause", "manage", "pause: 2 weeks, until 2026-12-14"),
        ("resume", "manage", "resume: the pause until 2026-12-14 ended early"),
    ]


def test_unsubscribing_from_the_page_is_the_unsubscribe_links_change(
    client, db, settings, frozen_clock
):
    reader = _reader(db)
    token = _token(settings, reader)
    page = client.post(f"/manage/{token}", data={"action": "unsubscribe"}).text
    assert "You&#39;re unsubscribed: rea@example.org will get no more digests." in page
    assert "Subscribe again" in page and ">Unsubscribe</button>" not in page
    client.post(f"/manage/{token}", data={"action": "unsubscribe"})  # repeating is harmless
    db.expire_all()
    assert (reader.status, reader.unsubscribed_at) == ("unsubscribed", NOW)
    assert _events(db, reader) == [("unsubscribe", "manage", None)]


def test_export_downloads_the_readers_data(client, db, settings, frozen_clock):
    reader = _reader(db, sections="wind", cadence="monthly", paused_until=NOW + timedelta(days=3))
    before = _state(db, reader)
    response = client.post(f"/manage/{_token(settings, reader)}", data={"action": "export"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    data = json.loads(response.content)
    assert (data["address"], data["sections"], data["cadence"]) == (
        "rea@example.org",
        ["wind"],
        "monthly",
    )
    assert data["paused_until"] == (NOW + timedelta(days=3)).isoformat()
    assert _state(db, reader) == before


def test_json_changes_answer_the_preferences(client, db, settings, frozen_clock):
    reader = _reader(db)
    url = f"/manage/{_token(settings, reader)}"
    answer = client.post(url, json={"topics": ["solar-storage"], "cadence": "monthly"})
    assert answer.status_code == 200
    assert answer.json() == {
        "email": "rea@example.org",
        "status": "confirmed",
        "sections": ["solar-storage"],
        "section_labels": ["Solar & storage"],
        "everything": False,
        "cadence": "monthly",
        "paused_until": None,
        "done": "saved",
    }
    assert client.post(url, json={"cadence": "weekly"}).json()["sections"] == ["solar-storage"]
    paused = client.post(url, json={"pause_weeks": 3}).json()
    assert paused["paused_until"] == (NOW + timedelta(weeks=3)).isoformat()
    resumed = client.post(url, json={"resume": True}).json()
    assert (resumed["paused_until"], resumed["done"]) == (None, "resumed")
    assert [kind for kind, _channel, _detail in _events(db, reader)] == [
        "preferences",
        "preferences",
        "pause",
        "resume",
    ]


# --- refusals: each leaves the reader as it was ------------------------------------------------


def test_bad_tokens_are_400_and_change_nothing(client, db, settings, frozen_clock):
    reader = _reader(db)
    signer = Signer(settings.signing_keys())
    good = _token(settings, reader)
    erased = _reader(db, email="gone@example.org", erased_at=NOW - timedelta(days=1))
    tokens = {
        "forged": "garbage",
        "tampered": good[:-2] + ("AA" if good[-2:] != "AA" else "BB"),
        "other key": manage_token(Signer(["another-secret-key-abcdefgh"]), reader.id, now=NOW),
        "unsubscribe": unsubscribe_token(signer, reader.id),
        "confirm": confirm_token(signer, reader, now=NOW),
        "expired": _token(settings, reader, now=NOW - timedelta(days=121)),
        "preview": "preview",
        "erased": _token(settings, erased),
        "too long": "x" * 600,
    }
    before = _state(db, reader)
    for name, token in tokens.items():
        url = f"/manage/{token}"
        for response in (
            client.get(url),
            client.post(url, data={"action": "save", "topics": ["wind"], "cadence": "monthly"}),
            client.post(url, data={"action": "unsubscribe"}),
            client.post(url, data={"action": "export"}),
        ):
            assert response.status_code == 400, name
            assert "This link doesn&#39;t work" in response.text, name
            assert "Nothing was changed" in response.text, name
        answer = client.post(url, json={"pause_weeks": 2})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid-link", name
    assert "expired" in client.get(f"/manage/{tokens['expired']}").text
    assert "preview of a mail" in client.get("/manage/preview").text
    assert _state(db, reader) == before
    assert client.get(f"/manage/{_token(settings, reader, NOW - timedelta(days=119))}").is_success


@pytest.mark.parametrize("weeks", ["0", "9", "100", "abc", "", "-1", "2.5", None])
def test_a_pause_outside_1_to_8_weeks_is_422(client, db, settings, frozen_clock, weeks):
    reader = _reader(db)
    before = _state(db, reader)
    form = {"action": "pause"} if weeks is None else {"action": "pause", "weeks": weeks}
    response = client.post(f"/manage/{_token(settings, reader)}", data=form)
    assert response.status_code == 422
    assert "Choose a pause of 1 to 8 weeks" in response.text
    assert _state(db, reader) == before


@pytest.mark.parametrize("weeks", [0, 9, 100, "abc", True, 2.5, [2]])
def test_a_json_pause_outside_1_to_8_weeks_is_422(client, db, settings, frozen_clock, weeks):
    reader = _reader(db)
    before = _state(db, reader)
    response = client.post(f"/manage/{_token(settings, reader)}", json={"pause_weeks": weeks})
    assert response.status_code == 422
    assert "Choose a pause of 1 to 8 weeks" in response.json()["detail"]
    assert _state(db, reader) == before


def test_read_weeks_takes_whole_weeks_only():
    assert [read_weeks(value) for value in (1, "8", " 3 ")] == [1, 8, 3]
    for bad in (0, 9, "0008", "1e1", None, 1.0):
        with pytest.raises(ValueError, match="1 to 8 weeks"):
            read_weeks(bad)


def test_unknown_sections_are_422_with_the_list_and_nothing_changes(
    client, db, settings, frozen_clock
):
    reader = _reader(db, sections="wind")
    before = _state(db, reader)
    url = f"/manage/{_token(settings, reader)}"
    response = client.post(
        url, data={"action": "save", "topics": ["policy", "astrology"], "cadence": "monthly"}
    )
    assert response.status_code == 422
    assert "unknown section: astrology" in response.text and VALID_LIST in response.text
    assert re.search(r'value="policy"\s+checked', response.text)  # the ticks are kept
    answer = client.post(url, json={"topics": ["astrology"]})
    assert answer.status_code == 422 and "choose from solar-storage" in answer.json()["detail"]
    assert _state(db, reader) == before


@pytest.mark.parametrize("cadence", ["daily", "", "MONTHLYX"])
def test_an_unknown_cadence_is_422_and_changes_nothing(client, db, settings, frozen_clock, cadence):
    reader = _reader(db)
    before = _state(db, reader)
    url = f"/manage/{_token(settings, reader)}"
    response = client.post(url, data={"action": "save", "topics": ["wind"], "cadence": cadence})
    assert response.status_code == 422 and "weekly or monthly" in response.text
    answer = client.post(url, json={"topics": ["wind"], "cadence": cadence or 7})
    assert answer.status_code == 422 and "weekly or monthly" in answer.json()["detail"]
    assert _state(db, reader) == before


@pytest.mark.parametrize("action", ["delete", "", None, "SAVE"])
def test_an_unknown_action_is_422(client, db, settings, frozen_clock, action):
    reader = _reader(db)
    before = _state(db, reader)
    form = {"topics": ["wind"]} if action is None else {"action": action, "topics": ["wind"]}
    response = client.post(f"/manage/{_token(settings, reader)}", data=form)
    assert response.status_code == 422 and "Unknown action" in response.text
    assert _state(db, reader) == before


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({}, 422, "Send one change"),
        ({"pause_weeks": 2, "resume": True}, 422, "Send one change"),
        ({"topics": ["wind"], "colour": "red"}, 422, "colour"),
        ({"topics": "wind"}, 422, "topics"),
        ([1, 2], 422, "valid dictionary"),
    ],
)
def test_unreadable_json_changes_are_refused(
    client, db, settings, frozen_clock, body, status, reason
):
    reader = _reader(db)
    before = _state(db, reader)
    response = client.post(f"/manage/{_token(settings, reader)}", json=body)
    assert response.status_code == status
    assert reason in response.json()["detail"]
    assert _state(db, reader) == before


def test_broken_oversized_and_unknown_bodies_are_refused(client, db, settings, frozen_clock):
    reader = _reader(db)
    before = _state(db, reader)
    url = f"/manage/{_token(settings, reader)}"
    broken = client.post(url, content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    big = client.post(url, json={"topics": ["wind"] * 5000})
    assert big.status_code == 413
    text = client.post(url, content=b"save", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    huge_form = client.post(url, data={"action": "save", "topics": ["x" * 20_000]})
    assert huge_form.status_code == 413 and "too large" in huge_form.text
    assert _state(db, reader) == before


def test_a_cross_site_post_is_refused(client, db, settings, frozen_clock):
    reader = _reader(db)
    before = _state(db, reader)
    response = client.post(
        f"/manage/{_token(settings, reader)}",
        data={"action": "unsubscribe"},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert _state(db, reader) == before


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_readers_off_the_list_see_why_and_can_only_export(
    client, db, settings, frozen_clock, status
):
    reader = _reader(db, status=status, sections="wind")
    before = _state(db, reader)
    url = f"/manage/{_token(settings, reader)}"
    page = client.get(url).text
    assert "no preferences to change" in page
    assert "Export my data" in page
    assert 'name="topics"' not in page and "Take a break" not in page
    assert ">Unsubscribe</button>" not in page
    assert ("Subscribe again" in page) == (status == "unsubscribed")
    for form in (
        {"action": "save", "topics": ["policy"], "cadence": "monthly"},
        {"action": "pause", "weeks": "2"},
        {"action": "resume"},
    ):
        response = client.post(url, data=form)
        assert response.status_code == 409, form
        assert "no preferences to change" in response.text
    answer = client.post(url, json={"cadence": "monthly"})
    assert answer.status_code == 409 and "no preferences to change" in answer.json()["detail"]
    leaving = client.post(url, data={"action": "unsubscribe"})
    assert leaving.status_code == (200 if status == "unsubscribed" else 409)
    assert client.post(url, data={"action": "export"}).json()["status"] == status
    assert _state(db, reader) == before


def test_a_pending_reader_can_set_choices_before_confirming(client, db, settings, frozen_clock):
    reader = _reader(db, status="pending")
    url = f"/manage/{_token(settings, reader)}"
    assert "not confirmed your subscription yet" in client.get(url).text
    assert client.post(url, json={"topics": ["wind"]}).json()["sections"] == ["wind"]


# --- where preferences show elsewhere ----------------------------------------------------------


def test_the_api_and_the_admin_page_show_the_preferences(client, db, admin_headers, frozen_clock):
    reader = _reader(
        db, sections="wind,policy", cadence="monthly", paused_until=NOW + timedelta(weeks=1)
    )
    item = client.get("/api/subscribers", headers=admin_headers).json()["items"][0]
    assert (item["sections"], item["section_labels"], item["cadence"]) == (
        ["wind", "policy"],
        ["Wind", "Policy"],
        "monthly",
    )
    assert item["paused_until"] == (NOW + timedelta(weeks=1)).isoformat()
    export = client.get(f"/api/subscribers/{reader.id}/export", headers=admin_headers).json()
    assert (export["sections"], export["cadence"]) == (["wind", "policy"], "monthly")


def test_the_admin_reader_page_shows_the_preferences_and_what_changes_set(
    client, db, settings, frozen_clock
):
    reader = _reader(db, sections="wind,policy", cadence="monthly")
    client.post(f"/manage/{_token(settings, reader)}", json={"pause_weeks": 1})
    create_admin(db, email="editor@example.org", password="correct horse battery staple", now=NOW)
    db.commit()
    assert log_in(client).status_code == 303
    page = client.get(f"/admin/readers/{reader.id}").text
    assert re.search(r"<th>Sections</th><td[^>]*>Wind and Policy", page)
    assert "<th>Frequency</th><td>monthly best-of</td>" in page
    assert "<th>Paused until</th><td>2026-12-07 09:00 UTC</td>" in page
    assert "pause: 1 week, until 2026-12-07" in page
