"""System properties: defaults, sources and their precedence, typed getters."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowrt.config import (
    KNOWN_PROPERTIES,
    NOT_IMPLEMENTED,
    ConfigError,
    Properties,
    parse_property_lines,
)


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


# --- every property in the table is implemented ---------------------------------------

SRC = Path(__file__).resolve().parent.parent / "src" / "flowrt"
READ_BY_CONFIG_ITSELF = {"system.propertyFiles"}


def test_every_known_property_is_read_somewhere() -> None:
    """A name in KNOWN_PROPERTIES that no module reads would be a setting accepted and
    then ignored: the table is the list of implemented properties, nothing more."""
    sources = "\n".join(p.read_text() for p in SRC.rglob("*.py") if p.name != "config.py")
    unread = [s.name for s in KNOWN_PROPERTIES
              if f'"{s.name}"' not in sources and s.name not in READ_BY_CONFIG_ITSELF]
    assert unread == []


def test_not_implemented_names_are_not_in_the_table() -> None:
    assert set(NOT_IMPLEMENTED).isdisjoint(s.name for s in KNOWN_PROPERTIES)
    assert {"snmp.version", "prometheus.type"} <= set(NOT_IMPLEMENTED)
    assert {"bgp.start", "bgp.port", "dns.servers", "geo.country"}.isdisjoint(NOT_IMPLEMENTED)
    assert all(NOT_IMPLEMENTED.values())  # each says which feature is missing


@pytest.mark.parametrize(
    ("args", "environ", "conf", "origin"),
    [
        (["-Dsnmp.version=2c"], {}, None, "set by -D"),
        ([], {"RTPROP": "-Dsnmp.version=2c"}, None, "set in the environment"),
        ([], {"FLOWRT_SNMP_VERSION": "2c"}, None, "set in the environment"),
        ([], {}, "snmp.version=2c\n", "conf.d/local.conf"),
    ],
)
def test_not_implemented_properties_are_refused_wherever_set(
    tmp_path: Path, args: list[str], environ: dict[str, str], conf: str | None, origin: str
) -> None:
    if conf is not None:
        (tmp_path / "conf.d").mkdir()
        (tmp_path / "conf.d" / "local.conf").write_text(conf)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, args, environ)
    message = str(caught.value)
    assert message.startswith("property snmp.version (")
    assert origin in message
    assert "is not implemented yet: SNMP polling" in message


def test_every_refused_name_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, ["-Dsnmp.version=2c", "-Dhttp.port=8080", "-Dsnmp.community=x"])
    message = str(caught.value)
    assert "property snmp.version (set by -D) is not implemented yet: SNMP polling" in message
    assert "property snmp.community (set by -D) is not implemented yet" in message
    assert "http.port" not in message


def test_misspelt_names_of_unimplemented_features_are_warned_not_refused(
    tmp_path: Path,
) -> None:
    props = load(tmp_path, ["-Dbgp.strat=yes", "-Ddns.server=192.0.2.53"])
    assert props.misspellings() == [
        "unknown property bgp.strat is ignored; did you mean bgp.start?",
        "unknown property dns.server is ignored; did you mean dns.servers?",
    ]


def test_unimplemented_names_have_no_value_for_scripts(tmp_path: Path) -> None:
    """getSystemProperty('dns.servers') must not claim a value for a feature that is absent."""
    props = load(tmp_path)
    assert props.get("dns.servers") is None and "dns.servers" not in props.names()


def test_bgp_properties_have_sflow_rts_defaults(tmp_path: Path) -> None:
    props = load(tmp_path, ["-Dbgp.start=yes"])
    assert props.get_bool("bgp.start") is True and props.get_int("bgp.port") == 1179
    assert load(tmp_path).get_bool("bgp.start") is False


def test_typed_getters_with_a_default_never_answer_none(tmp_path: Path) -> None:
    props = load(tmp_path, ["-Dapp.blank="])
    assert props.get_int("app.blank", 3) == 3 and props.get_float("app.none", 0.5) == 0.5
    assert props.get_bool("app.none", True) is True and props.get_int("app.none") is None
