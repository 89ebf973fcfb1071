"""The `#emulate` lines that tests use to drive the provider emulator."""

from __future__ import annotations

from provider_emulator.directives import Directives, parse_directives


def test_no_directives_gives_defaults() -> None:
    assert parse_directives(["hello", "#emulator is not a directive"]) == Directives()


def test_keys_are_read_and_later_lines_win() -> None:
    directives = parse_directives(["#emulate error=429 delay_ms=5", "text\n#emulate delay_ms=7 words=3"])

    assert directives == Directives(error=429, delay_ms=7, words=3)


def test_reply_takes_the_rest_of_the_line() -> None:
    assert parse_directives(["#emulate reply=Hello there, world"]).reply == "Hello there, world"


def test_malformed_values_are_ignored() -> None:
    assert parse_directives(["#emulate error=soon words=-1 unknown=3"]) == Directives()


def test_usage_kinds_are_read() -> None:
    directives = parse_directives(["#emulate cached=4 cache_write=2 audio_in=1 reasoning=3 audio_out=5"])

    assert directives == Directives(cached=4, cache_write=2, audio_in=1, reasoning=3, audio_out=5)


def test_rest_of_line_keys_follow_other_keys() -> None:
    directives = parse_directives(['#emulate split=1 tool=get_weather reply=héllo wörld, with "quotes"'])

    assert directives == Directives(split=1, tool="get_weather", reply='héllo wörld, with "quotes"')


def test_failure_keys() -> None:
    directives = parse_directives(["#emulate error=529 error_times=2 error_for=claude-sonnet-4-20250514"])

    assert directives == Directives(error=529, error_times=2, error_for="claude-sonnet-4-20250514")
