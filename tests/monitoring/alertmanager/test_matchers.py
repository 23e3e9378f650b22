from __future__ import annotations

import pytest

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alertmanager import Matcher, MatchType, parse_matcher, parse_matchers


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [
        ('severity="critical"', "severity", "=", "critical"),
        ("severity=critical", "severity", "=", "critical"),
        ('service=~"rec.*"', "service", "=~", "rec.*"),
        ("service=~rec.*", "service", "=~", "rec.*"),
        (' env != "prod" ', "env", "!=", "prod"),
        ('job!~"node|push"', "job", "!~", "node|push"),
        ('msg="say \\"hi\\"\\nbye"', "msg", "=", 'say "hi"\nbye'),
        ('path="C:\\dir"', "path", "=", "C:\\dir"),
        ('empty=""', "empty", "=", ""),
        ('"team name"="a b"', "team name", "=", "a b"),
        ('환경="운영"', "환경", "=", "운영"),
    ],
)
def test_string_forms_parse_like_alertmanager(text: str, name: str, op: str, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.type.value, m.value) == (name, op, value)


@pytest.mark.parametrize(
    "text", ['a="unterminated', 'a="x"y"', "=value", "a~=b", 'a=~"(unclosed"', "a=~(?=x)"]
)
def test_malformed_matchers_are_422_with_a_code(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_matcher(text, ["route", "matchers", 0])
    assert caught.value.error_code in ("invalid_matcher", "invalid_regex")
    assert caught.value.details[0]["loc"] == ["route", "matchers", 0]


def test_a_list_splits_on_commas_outside_quotes_and_drops_braces() -> None:
    ms = parse_matchers('{foo = "bar", quote="a, b \\"c\\"", dings!=bums, }')
    assert [(m.name, m.type.value, m.value) for m in ms] == [
        ("foo", "=", "bar"),
        ("quote", "=", 'a, b "c"'),
        ("dings", "!=", "bums"),
    ]


def test_string_form_round_trips_through_str() -> None:
    for text in ['severity="critical"', 'msg=~"a\\"b\\\\d+\\nx"', '"odd name"!~"x"']:
        m = parse_matcher(text)
        assert str(m) == text
        assert parse_matcher(str(m)) == m


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("rec", "recording", False),
        ("rec.*", "recording", True),
        ("cording", "recording", False),
        ("a|b", "a", True),
        ("a|b", "ab", False),
        ("(?i)CRIT.*", "critical", True),
        ("x(?i)AB", "xab", True),
        ("[[:digit:]]+", "8000", True),
        ("[[:digit:]]+", "80a0", False),
        ("\\Qa.b\\E", "a.b", True),
        ("\\Qa.b\\E", "axb", False),
    ],
)
def test_regex_matchers_are_anchored_at_both_ends(pattern: str, value: str, expected: bool) -> None:
    assert Matcher.of("l", MatchType.REGEX, pattern).matches(value) is expected
    assert Matcher.of("l", MatchType.NOT_REGEX, pattern).matches(value) is not expected


@pytest.mark.parametrize("pattern", ["(?=a)b", "(a)\\1", "a++", "(?>a)"])
def test_patterns_re2_refuses_are_refused(pattern: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        Matcher.of("l", MatchType.REGEX, pattern)
    assert caught.value.error_code == "invalid_regex"


def test_a_missing_label_matches_as_the_empty_value() -> None:
    labels = {"alertname": "X"}
    assert parse_matcher('team=""').matches_labels(labels)
    assert parse_matcher('team!="ops"').matches_labels(labels)
    assert parse_matcher('team=~".*"').matches_labels(labels)
    assert not parse_matcher('team=~".+"').matches_labels(labels)


@pytest.mark.parametrize(
    ("api", "op"),
    [
        ({"name": "a", "value": "b", "isRegex": False, "isEqual": True}, "="),
        ({"name": "a", "value": "b", "isRegex": False, "isEqual": False}, "!="),
        ({"name": "a", "value": "b", "isRegex": True, "isEqual": True}, "=~"),
        ({"name": "a", "value": "b", "isRegex": True, "isEqual": False}, "!~"),
    ],
)
def test_api_v2_shape_converts_both_ways(api: dict[str, object], op: str) -> None:
    m = Matcher.from_api(api)
    assert m.type.value == op
    assert m.to_api() == api


def test_api_v2_is_equal_defaults_to_true_and_is_regex_is_required() -> None:
    assert Matcher.from_api({"name": "a", "value": "b", "isRegex": False}).type is MatchType.EQUAL
    with pytest.raises(ValidationFailed) as caught:
        Matcher.from_api({"name": "a", "value": "b"}, ["matchers", 2])
    assert caught.value.details[0]["loc"] == ["matchers", 2, "isRegex"]
