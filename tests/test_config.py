"""System properties: defaults, sources and their precedence, typed getters."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowrt.config import KNOWN_PROPERTIES, ConfigError, Properties, parse_property_lines


def load(tmp_path: Path, args=(), environ=None) -> Properties:
    props, _ = Properties.load(args, environ or {}, tmp_path)
    return props


def test_defaults_come_from_the_table(tmp_path):
    props = load(tmp_path)
    assert props.get_int("http.port") == 8008
    assert props.get_int("sflow.port") == 6343
    assert props.get_bool("http.readonly") is False
    assert props.get_int("events.max") == 1000 and props.get_int("flows.max") == 1000
    assert props.get("http.hostname") is None
    assert len({s.name for s in KNOWN_PROPERTIES}) == len(KNOWN_PROPERTIES)
    assert all(s.description for s in KNOWN_PROPERTIES)


def test_precedence_files_env_args(tmp_path):
    conf = tmp_path / "conf.d"
    conf.mkdir()
    (conf / "a.conf").write_text("# comment\nhttp.port=9000\nsflow.port = 7000\nmy.app.x=1\n")
    (conf / "b.conf").write_text("sflow.port=7001\n! bang comment\n")
    extra = tmp_path / "extra.properties"
    extra.write_text("events.max: 50\nhttp.log=yes\n")
    env = {"RTPROP": "-Dhttp.port=9100 -Devents.max=60", "FLOWRT_HTTP_LOG": "no"}
    props, rest = Properties.load(
        ["-Dsystem.propertyFiles=extra.properties", "-Devents.max=70", "serve"], env, tmp_path)
    assert rest == ["serve"]
    assert props.get_int("sflow.port") == 7001  # later conf.d file wins
    assert props.get_int("http.port") == 9100  # RTPROP beats files
    assert props.get_bool("http.log") is False  # FLOWRT_ beats files
    assert props.get_int("events.max") == 70  # -D beats everything
    assert props.get("my.app.x") == "1"  # unknown names are kept for apps
    assert "my.app.x" in props.names() and "http.port" in props.names()


def test_typed_getters_name_the_property(tmp_path):
    args = ["-Dhttp.port=eighty", "-Dhttp.readonly=maybe", "-Dflowrt.replay.speed=x"]
    props = load(tmp_path, args)
    with pytest.raises(ConfigError, match=r"http\.port"):
        props.get_int("http.port")
    with pytest.raises(ConfigError, match=r"http\.readonly"):
        props.get_bool("http.readonly")
    with pytest.raises(ConfigError, match=r"flowrt\.replay\.speed"):
        props.get_float("flowrt.replay.speed")


@pytest.mark.parametrize("word,value", [("yes", True), ("TRUE", True), ("no", False),
                                        ("false", False), ("on", True), ("0", False)])
def test_bool_words(tmp_path, word, value):
    assert load(tmp_path, [f"-Dhttp.log={word}"]).get_bool("http.log") is value


def test_bad_files_and_lines(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.conf"):
        load(tmp_path, ["-Dsystem.propertyFiles=missing.conf"])
    with pytest.raises(ConfigError, match=r"x\.conf:2"):
        parse_property_lines("a=1\njust words\n", "x.conf")
    with pytest.raises(ConfigError, match="RTPROP"):
        load(tmp_path, environ={"RTPROP": "-Da='unterminated"})


def test_set_and_defaults_for_unknown(tmp_path):
    props = load(tmp_path)
    assert props.get("ddos_protect.enable", "no") == "no"
    assert props.get_int("app.n", 5) == 5
    props.set("app.n", "7")
    assert props.get_int("app.n") == 7
    assert props.as_dict()["http.port"] == "8008"


def test_misspelt_own_properties_are_reported_with_a_suggestion() -> None:
    props, _ = Properties.load(
        ["-Dhttp.prot=18201", "-Dsflow.port=6343", "-Dddos_protect.group.x=1"], environ={}
    )
    assert props.misspellings() == [
        "unknown property http.prot is ignored; did you mean http.port?"
    ]  # apps' own namespaces (ddos_protect.*) and known names pass
