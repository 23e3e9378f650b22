from __future__ import annotations

from typing import Any

import pytest

from aicc.core.errors import NotFound, ValidationFailed
from aicc.monitoring.alertmanager import (
    Silence,
    SilenceState,
    expire_silence,
    format_time,
    is_muted,
    matches_filter,
    parse_matchers,
    parse_silence,
    save_silence,
    silenced_by,
    sort_silences,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


def body(starts: float = NOW, ends: float = NOW + HOUR, **extra: Any) -> dict[str, Any]:
    return {
        "matchers": [
            {"name": "alertname", "value": "HighCPU", "isRegex": False, "isEqual": True},
            {"name": "instance", "value": "mon-.*", "isRegex": True},
        ],
        "startsAt": format_time(starts),
        "endsAt": format_time(ends),
        "createdBy": "kim",
        "comment": "maintenance",
        **extra,
    }


def create(starts: float = NOW, ends: float = NOW + HOUR, now: float = NOW) -> Silence:
    [silence] = save_silence(parse_silence(body(starts, ends), now), now, new_id="s1")
    return silence


def test_a_silence_is_pending_then_active_then_expired() -> None:
    silence = create(NOW + HOUR, NOW + 2 * HOUR)
    assert silence.state(NOW) is SilenceState.PENDING
    assert silence.state(NOW + HOUR) is SilenceState.ACTIVE
    assert silence.state(NOW + 2 * HOUR - 1) is SilenceState.ACTIVE
    assert silence.state(NOW + 2 * HOUR) is SilenceState.EXPIRED


def test_only_an_active_silence_mutes_matching_alerts() -> None:
    silence = create(NOW + HOUR, NOW + 2 * HOUR)
    labels = {"alertname": "HighCPU", "instance": "mon-1"}
    assert not is_muted(labels, [silence], NOW)
    assert is_muted(labels, [silence], NOW + HOUR)
    assert silenced_by(labels, [silence], NOW + HOUR) == ["s1"]
    assert not is_muted(labels, [silence], NOW + 2 * HOUR)


def test_every_matcher_must_match_and_regexes_are_anchored() -> None:
    silence = create()
    assert not is_muted({"alertname": "HighCPU", "instance": "db-1"}, [silence], NOW)
    assert not is_muted({"alertname": "HighCPU", "instance": "x-mon-1"}, [silence], NOW)
    assert not is_muted({"alertname": "HighMemory", "instance": "mon-1"}, [silence], NOW)


def test_the_api_shape_comes_back_with_status_and_times() -> None:
    silence = create()
    api = silence.to_api(NOW)
    assert api["id"] == "s1"
    assert api["status"] == {"state": "active"}
    assert api["matchers"][1] == {
        "name": "instance",
        "value": "mon-.*",
        "isRegex": True,
        "isEqual": True,
    }
    assert api["startsAt"] == format_time(NOW) == api["updatedAt"]
    assert (api["createdBy"], api["comment"]) == ("kim", "maintenance")
    assert Silence.from_dict(silence.to_dict()) == silence


def test_a_start_in_the_past_is_moved_to_now() -> None:
    assert create(NOW - HOUR, NOW + HOUR).starts_at == NOW


def test_expiring_an_active_silence_ends_it_now_and_keeps_it() -> None:
    silence = create()
    expired = expire_silence(silence, NOW + 60)
    assert (expired.id, expired.starts_at, expired.ends_at) == ("s1", NOW, NOW + 60)
    assert expired.state(NOW + 60) is SilenceState.EXPIRED
    assert expired.to_api(NOW + 60)["status"]["state"] == "expired"
    assert expire_silence(expired, NOW + 120) == expired


def test_expiring_a_pending_silence_sets_both_times_to_now() -> None:
    expired = expire_silence(create(NOW + HOUR, NOW + 2 * HOUR), NOW + 60)
    assert (expired.starts_at, expired.ends_at) == (NOW + 60, NOW + 60)
    assert expired.state(NOW + 60) is SilenceState.EXPIRED


def test_extending_an_active_silence_updates_it_in_place() -> None:
    silence = create()
    spec = parse_silence(body(NOW, NOW + 3 * HOUR, id="s1"), NOW + 60)
    [updated] = save_silence(spec, NOW + 60, previous=silence)
    assert (updated.id, updated.ends_at, updated.updated_at) == ("s1", NOW + 3 * HOUR, NOW + 60)


def test_changing_the_matchers_replaces_the_silence_and_expires_the_old_one() -> None:
    silence = create()
    changed = body(NOW, NOW + HOUR, id="s1")
    changed["matchers"] = changed["matchers"][:1]
    spec = parse_silence(changed, NOW + 60)
    new, old = save_silence(spec, NOW + 60, previous=silence, new_id="s2")
    assert new.id == "s2" and len(new.matchers) == 1
    assert (old.id, old.ends_at) == ("s1", NOW + 60)


def test_saving_with_an_unknown_id_is_404() -> None:
    with pytest.raises(NotFound):
        save_silence(parse_silence(body(id="nope"), NOW), NOW)


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"matchers": []}, ["matchers"]),
        (
            {"matchers": [{"name": "a", "value": ".*", "isRegex": True}]},
            ["matchers"],
        ),
        ({"matchers": [{"name": "a", "value": "", "isRegex": False}]}, ["matchers"]),
        ({"endsAt": format_time(NOW)}, ["endsAt"]),
        ({"startsAt": format_time(NOW - 2 * HOUR), "endsAt": format_time(NOW - HOUR)}, ["endsAt"]),
        ({"startsAt": "soon"}, ["startsAt"]),
        ({"createdBy": None}, ["createdBy"]),
        ({"matchers": [{"name": "a", "value": "(", "isRegex": True}]}, ["matchers", 0]),
    ],
)
def test_invalid_silences_are_422_naming_the_field(
    change: dict[str, Any], loc: list[object]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_silence({**body(), **change}, NOW)
    assert caught.value.details[0]["loc"] == loc


def test_a_silence_matching_everything_but_with_a_negative_matcher_is_allowed() -> None:
    only_negative = body()
    only_negative["matchers"] = [
        {"name": "env", "value": "dev", "isRegex": False, "isEqual": False}
    ]
    assert parse_silence(only_negative, NOW).matchers[0].name == "env"


def test_listing_order_is_active_then_pending_then_expired() -> None:
    def make(sid: str, starts: float, ends: float) -> Silence:
        [s] = save_silence(parse_silence(body(starts, ends), NOW), NOW, new_id=sid)
        return s

    late_end = make("active-late", NOW, NOW + 3 * HOUR)
    early_end = make("active-early", NOW, NOW + HOUR)
    pending = make("pending", NOW + HOUR, NOW + 2 * HOUR)
    old = expire_silence(make("expired-old", NOW, NOW + HOUR), NOW + 1)
    recent = expire_silence(make("expired-recent", NOW, NOW + HOUR), NOW + 2)
    ordered = sort_silences([old, pending, late_end, recent, early_end], NOW + 10)
    assert [s.id for s in ordered] == [
        "active-early",
        "active-late",
        "pending",
        "expired-recent",
        "expired-old",
    ]


def test_a_filter_selects_silences_holding_those_exact_matchers() -> None:
    silence = create()
    assert matches_filter(silence, parse_matchers('alertname="HighCPU"'))
    assert matches_filter(silence, parse_matchers('instance=~"mon-.*",alertname=HighCPU'))
    assert not matches_filter(silence, parse_matchers('instance="mon-1"'))
