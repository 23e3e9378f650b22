"""The alerts pages through the console over HTTP: the current alerts (filters, the event
stream, alerts pushed by other systems), silences (one click from an alert, the form,
expiring), history pages, and who may do what (rules and channels: test_alerts_config)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.console.alerts_support import (
    XSS,
    XSS_ESCAPED,
    Api,
    Unique,
    epoch,
    field_error,
    firing_row,
    firing_rule,
    hidden_fields,
    last_page,
    monitoring_api,
    post_form,
    row,
    rule_form,
    rule_name,
    wait_for,
)
from tests.console.stack import ADMIN, PASSWORD, Stack
from tests.console.support import Browser


@pytest.fixture
def admin(browser: Browser) -> Browser:
    browser.sign_in_ok(*ADMIN)
    return browser


@pytest.fixture
def api(stack: Stack) -> Api:
    """The monitoring API as the admin (to set up and to check what the console did)."""
    return monitoring_api(stack)


@pytest.fixture
def firing(api: Api, unique: Unique) -> Iterator[str]:
    with firing_rule(api, rule_name(unique, "console_alerts_cpu")) as name:
        yield name


class TestCurrentAlerts:
    def test_a_firing_alert_shows_severity_labels_value_and_since_with_text_inert(
        self, admin: Browser, firing: str
    ) -> None:
        found = firing_row(admin, firing)

        assert '<span class="badge badge-critical">심각</span>' in found
        assert '<code>service="monitoring"</code>' in found
        assert f"CPU {XSS_ESCAPED} at " in found
        assert XSS not in last_page(admin)
        value = re.search(
            r'<td class="nowrap">([0-9.,]+)</td>\s*<td class="nowrap">([0-9:-]+)', found
        )
        assert value, found
        assert 'id="silence-' in found and 'name="duration" value="2h"' in found

    def test_filters_by_state_severity_and_text(self, admin: Browser, firing: str) -> None:
        firing_row(admin, firing)

        for query, shown in [
            (f"?state=firing&severity=critical&q={firing}", True),
            ('?q=service%3D"monitoring"&state=firing', True),
            (f"?state=pending&q={firing}", False),
            (f"?severity=info&q={firing}", False),
            ("?q=no-alert-is-called-this", False),
        ]:
            page = admin.get(f"/alerts{query}").text
            assert (f'data-name="{firing}"' in page) is shown, query
        assert "조건에 맞는 알림이 없습니다." in page
        assert 'data-live-source="/alerts/events?q=no-alert-is-called-this"' in page

    def test_the_event_stream_sends_the_list_as_it_changes(
        self, admin: Browser, firing: str
    ) -> None:
        admin.get("/alerts")
        parts: list[str] = []
        with admin.http.stream("GET", f"/alerts/events?q={firing}") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    parts.append("\n".join(data))
                    data = []
                    if f'data-name="{firing}"' in parts[-1] or len(parts) > 20:
                        break

        assert f'data-name="{firing}" data-state="firing"' in parts[-1]
        assert 'name="csrf_token" value="' in parts[-1]  # the one-click form works live

    def test_an_alert_pushed_by_another_system_is_listed_inert(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        team = unique("pushed")
        labels = {
            "alertname": f"<img src=x onerror=alert(1)>{team}",
            "severity": "warning",
            "team": team,
        }
        pushed = api(
            "POST", "/api/v2/alerts", json=[{"labels": labels, "annotations": {"summary": XSS}}]
        )
        assert pushed.status_code == 200, pushed.text
        try:
            page = admin.get(f"/alerts?q={team}").text
            found = row(page, "data-state", "firing")
            assert "&lt;img src=x onerror=alert(1)&gt;" in found
            assert f'<code>team="{team}"</code>' in found
            assert "<img src=x" not in page and XSS not in page
            assert '<span class="tag" title="Alertmanager API에만 있는 알림: ' in found
        finally:
            ended = [{"labels": labels, "endsAt": "2000-01-01T00:00:00Z"}]
            api("POST", "/api/v2/alerts", json=ended)


class TestSilences:
    def test_one_click_silences_the_alert_as_the_signed_in_user_then_expire(
        self, admin: Browser, api: Api, firing: str
    ) -> None:
        found = firing_row(admin, firing)
        form = re.search(r'<form method="post" action="/alerts/silences">.*?</form>', found, re.S)
        assert form

        made = post_form(admin, "/alerts/silences", hidden_fields(form[0]))

        assert made.status_code == 303
        silence_id = made.headers["location"].split("created=")[1]
        page = admin.follow(made.headers["location"]).text
        listed = row(page, "data-silence", silence_id)
        assert 'data-state="active" class="alert-row-new"' in listed
        assert f"<code>alertname=&#34;{firing}&#34;</code>" in listed
        assert "<code>service=&#34;monitoring&#34;</code>" in listed
        assert f'<td class="nowrap">{ADMIN[0]}</td>' in listed
        assert "사일런스를 만들었습니다." in page
        stored = api("GET", f"/alerts/silences/{silence_id}").json()
        assert stored["createdBy"] == ADMIN[0]
        assert {m["name"]: m["value"] for m in stored["matchers"]} == {
            "alertname": firing,
            "severity": "critical",
            "service": "monitoring",
        }
        hours = (epoch(stored["endsAt"]) - epoch(stored["startsAt"])) / 3600
        assert 1.99 < hours < 2.01
        muted = wait_for(lambda: admin.get(f"/alerts?q={firing}").text, "data-suppressed")
        assert "사일런스됨" in row(muted, "data-name", firing)
        assert 'id="silence-' not in row(muted, "data-name", firing)

        admin.get("/alerts/silences")
        expired = admin.post(f"/alerts/silences/{silence_id}/expire")

        assert expired.status_code == 303
        page = admin.follow("/alerts/silences").text
        assert 'data-state="expired"' in row(page, "data-silence", silence_id)
        assert api("GET", f"/alerts/silences/{silence_id}").json()["status"]["state"] == "expired"

    def test_the_form_creates_one_and_shows_each_problem_next_to_its_field(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        team = unique("team")
        admin.get("/alerts/silences/new?matcher=team%3D%22x%22&comment=hello")
        assert ">team=&#34;x&#34;</textarea>" in last_page(admin)

        wrong = admin.post(
            "/alerts/silences",
            {"matchers": f'team="{team}"\nthis is not one', "duration": "soon", "comment": "c"},
        )
        assert wrong.status_code == 422
        assert field_error(wrong.text, "matchers") == "매처로 읽을 수 없습니다: this is not one"
        assert field_error(wrong.text, "duration") == "2h, 30m, 1d처럼 기간을 입력하세요."
        assert f'team="{team}"\nthis is not one</textarea>' in html.unescape(wrong.text)

        refused = admin.post(
            "/alerts/silences", {"matchers": 'alertname=~".*"', "duration": "1h", "comment": ""}
        )
        assert refused.status_code == 422
        assert "must not match the empty string" in field_error(refused.text, "matchers")

        made = admin.post(
            "/alerts/silences",
            {
                "matchers": f'team="{team}"\nservice=~"rec.*"',
                "duration": "1h30m",
                "comment": "maintenance",
                "createdBy": "mallory",
            },
        )
        assert made.status_code == 303
        silence_id = made.headers["location"].split("created=")[1]
        stored = api("GET", f"/alerts/silences/{silence_id}").json()
        assert stored["createdBy"] == ADMIN[0]
        assert stored["comment"] == "maintenance"
        assert {"name": "service", "value": "rec.*", "isRegex": True, "isEqual": True} in stored[
            "matchers"
        ]
        assert abs(epoch(stored["endsAt"]) - epoch(stored["startsAt"]) - 5400) < 5
        api("DELETE", f"/alerts/silences/{silence_id}")


class TestHistory:
    def test_resolved_alerts_are_listed(self, admin: Browser, api: Api, firing: str) -> None:
        firing_row(admin, firing)
        body = api("GET", f"/alerts/rules/{firing}").json()
        api("PUT", f"/alerts/rules/{firing}", json={**body, "threshold": 1000})

        page = wait_for(
            lambda: admin.get(f"/alerts/history?rule={firing}").text, rf'data-history="{firing}"'
        )

        resolved = row(page, "data-history", firing)
        assert 'data-to="resolved"' in resolved
        assert "발생 → 해소" in resolved
        assert '<span class="badge badge-critical">심각</span>' in resolved
        firing_only = admin.get(f"/alerts/history?rule={firing}&state=firing").text
        assert "대기 → 발생" in row(firing_only, "data-history", firing)

    def test_pages_go_back_in_time_without_losing_changes_made_together(
        self, admin: Browser, api: Api, unique: Unique
    ) -> None:
        """One evaluation fires an alert per series of the request counter: many changes at
        one instant, walked five at a time."""
        name = rule_name(unique, "console_many")
        body = {"rule_name": name, "metric": "aicc_api_requests_total", "threshold": 0,
                "operator": ">=", "level": "info"}  # fmt: skip
        assert api("POST", "/alerts/rules", json=body).status_code == 201
        try:
            wait_for(
                lambda: admin.get(f"/alerts/history?rule={name}&state=firing").text,
                r'data-to="firing"',
            )
            expected = api(
                "GET",
                "/alerts/history",
                params={"rule_name": name, "state": "firing", "limit": 1000},
            ).json()["history"]
            assert len(expected) > 7
            seen: list[str] = []
            path: str | None = f"/alerts/history?rule={name}&state=firing&limit=5"
            for _ in range(100):
                if path is None:
                    break
                page = admin.get(html.unescape(path)).text
                seen += re.findall(r'data-fingerprint="([0-9a-f]+)"', page)
                older = re.search(r'<a href="([^"]+)" rel="next">', page)
                path = older[1] if older else None
        finally:
            api("DELETE", f"/alerts/rules/{name}")

        assert path is None
        assert len(seen) == len(set(seen))
        assert seen[-len(expected) :] == [h["fingerprint"] for h in expected]


class TestPermissions:
    def test_a_viewer_has_no_alerts_pages(
        self, stack: Stack, browser: Browser, unique: Unique
    ) -> None:
        name = unique("viewer")
        stack.create_user(name, ["VIEWER"])
        home = browser.sign_in_ok(name, PASSWORD)

        assert 'href="/alerts"' not in home.text
        for path in (
            "/alerts",
            "/alerts/history",
            "/alerts/silences",
            "/alerts/rules",
            "/alerts/channels",
        ):
            assert browser.get(path).status_code == 403, path
        browser.get("/account")
        refused = browser.post("/alerts/silences", {"matchers": 'alertname="x"', "duration": "1h"})
        assert refused.status_code == 403

    def test_a_supervisor_sees_everything_but_cannot_change_anything(
        self,
        stack: Stack,
        browser: Browser,
        api: Api,
        firing: str,
        unique: Unique,
    ) -> None:
        name = unique("supervisor")
        stack.create_user(name, ["SUPERVISOR"])
        home = browser.sign_in_ok(name, PASSWORD)
        assert 'href="/alerts"' in home.text

        alerts = firing_row(browser, firing)
        assert "<form" not in alerts and "사일런스" not in alerts
        for path, absent in [
            ("/alerts/silences", "/alerts/silences/new"),
            ("/alerts/rules", "/alerts/rules/new"),
            ("/alerts/channels", "/alerts/channels/new"),
        ]:
            page = browser.get(path)
            assert page.status_code == 200, path
            assert absent not in page.text and 'method="post" action="/alerts' not in page.text
        for path in ("/alerts/rules/new", "/alerts/silences/new", "/alerts/channels/new"):
            assert browser.get(path).status_code == 403, path

        browser.get("/alerts/rules")
        refused = browser.post("/alerts/rules", rule_form(rule_name(unique, "sup_rule")))
        assert refused.status_code == 403
        assert browser.post(f"/alerts/rules/{firing}/delete").status_code == 403
        assert api("GET", f"/alerts/rules/{firing}").status_code == 200

    def test_a_change_without_the_pages_csrf_token_is_refused(
        self, admin: Browser, api: Api, firing: str
    ) -> None:
        admin.get("/alerts/rules")

        forged = admin.post(f"/alerts/rules/{firing}/delete", csrf="forged-token")
        cross_site = admin.post(f"/alerts/rules/{firing}/delete", origin="https://evil.example")

        assert forged.status_code == 403 and cross_site.status_code == 403
        assert "이 콘솔의 페이지에서 보낸 요청이 아니거나" in forged.text
        assert api("GET", f"/alerts/rules/{firing}").status_code == 200

    def test_every_page_and_form_is_served_under_the_strict_policy(self, admin: Browser) -> None:
        for path in (
            "/alerts",
            "/alerts/history",
            "/alerts/silences",
            "/alerts/silences/new",
            "/alerts/rules",
            "/alerts/rules/new",
            "/alerts/channels",
            "/alerts/channels/new?type=ses",
        ):
            page = admin.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
            assert page.headers["cache-control"] == "no-store"
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=", page.text), (
                path
            )
