"""Apps that refer to secrets: config keys, the spec, launch with placeholders, resolve."""

from __future__ import annotations

import pytest

from procward.supervision.config import ConfigError, parse_app, parse_config
from procward.supervision.secretrefs import check_secret_name, resolve, variable_for
from procward.supervision.spec import AppSpec, launch
from tests.supervision.fakes import FakeSecrets


def app(**table: object) -> AppSpec:
    return parse_app("api", {"cmd": "serve", **table}, base_dir="/")


def problems(**table: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        app(**table)
    return str(caught.value).splitlines()


# -- config ------------------------------------------------------------------------


def test_both_forms_become_variable_to_name_and_env_keeps_plain_strings() -> None:
    spec = app(
        env={"DATABASE_URL": {"secret": "db_url"}, "PORT": "8000"},
        secrets=["stripe-key", "mail.password"],
    )
    assert spec.env == {"PORT": "8000"}
    assert spec.secrets == {
        "DATABASE_URL": "db_url",
        "STRIPE_KEY": "stripe-key",
        "MAIL_PASSWORD": "mail.password",
    }
    assert spec.secrets_as == "env"
    assert app(secrets={"STRIPE": "stripe_key"}).secrets == {"STRIPE": "stripe_key"}


def test_the_spec_round_trips_through_its_table_with_names_only() -> None:
    spec = app(env={"DB": {"secret": "db_url"}}, secrets=["k"], secrets_as="files")
    table = spec.to_table()
    assert table["secrets"] == {"DB": "db_url", "K": "k"}
    assert table["secrets_as"] == "files"
    assert table["env"] == {}
    assert parse_app("api", table, base_dir="/") == spec
    assert "secrets_as" not in app(secrets=["k"]).to_table()  # the default is not written


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"env": {"DB": {"secret": "db_url", "default": "x"}}},
            'apps.api.env.DB: must be a string, or { secret = "NAME" } to take the value '
            "from a secret, got a table with 'secret', 'default'",
        ),
        ({"env": {"DB": {}}}, "apps.api.env.DB: must be a string, or { secret"),
        (
            {"env": {"DB": {"secret": 3}}},
            "apps.api.env.DB.secret: must be a secret name (a string), got 3",
        ),
        (
            {"env": {"DB": {"secret": "db url"}}},
            "apps.api.env.DB.secret: 'db url' is not a secret name: 1-64 letters",
        ),
        ({"secrets": "db"}, "apps.api.secrets: must be an array of secret names"),
        ({"secrets": ["ok", "-no"]}, "apps.api.secrets: item 1: '-no' is not a secret name"),
        (
            {"secrets": [True]},
            "apps.api.secrets: item 0: must be a secret name (a string), got true",
        ),
        ({"secrets": {"A": "x" * 65}}, "apps.api.secrets.A: 'xxxx"),
        ({"secrets": {"A=B": "x"}}, "apps.api.secrets.A=B: is not a valid variable name"),
        ({"secrets": ["a-b", "a_b"]}, "apps.api.secrets.A_B: is given by both 'a-b' and 'a_b'"),
        ({"secrets": ["a", "a"]}, "apps.api.secrets: names 'a' more than once"),
        ({"secrets_as": "file"}, "apps.api.secrets_as: must be 'env' or 'files', got 'file'"),
        (
            {"env": {"K": "plain"}, "secrets": ["k"]},
            "apps.api.secrets.K: K is set in env too: give it one value",
        ),
    ],
)
def test_bad_references_are_refused_quoting_the_value(
    table: dict[str, object], message: str
) -> None:
    assert any(line.startswith(message) for line in problems(**table)), problems(**table)


def test_a_secret_on_a_command_line_is_refused() -> None:
    found = problems(
        cmd="serve --db=$DB ${K} $$DB",
        env={"DB": {"secret": "db_url"}},
        secrets=["k"],
        commands={"psql": "psql $DB"},
        ready={"exec": "check $K"},
        health={"http": "http://127.0.0.1:8000/?token=${K}"},
    )
    assert found[3:] == [
        "apps.api.ready.exec: $K would put secret 'k' on a command line, where `ps` shows it "
        "to everyone: let the program read it from its environment",
        "apps.api.health.http: $K would put secret 'k' in a probe's address, which "
        "`procward health` shows: let the program read it from its environment",
    ]
    assert found[:3] == [
        "apps.api.cmd: $DB would put secret 'db_url' on a command line, where `ps` shows it "
        "to everyone: let the program read it from its environment",
        "apps.api.cmd: $K would put secret 'k' on a command line, where `ps` shows it "
        "to everyone: let the program read it from its environment",
        "apps.api.commands.psql: $DB would put secret 'db_url' on a command line, where `ps` "
        "shows it to everyone: let the program read it from its environment",
    ]


def test_unknown_names_are_listed_with_every_other_problem() -> None:
    data = {
        "apps": {
            "api": {"cmd": "x", "env": {"DB": {"secret": "db_ur"}}, "instances": "two"},
            "worker": {"cmd": "x", "secrets": ["stripe_key", "db_url"]},
        }
    }
    asked = []

    def names() -> frozenset[str]:
        asked.append(1)
        return frozenset({"db_url"})

    with pytest.raises(ConfigError) as caught:
        parse_config(data, base_dir="/", secret_names=names)
    assert str(caught.value).splitlines() == [
        "apps.api.instances: must be an integer >= 0, got 'two'",
        "apps.api.env.DB: no secret named 'db_ur' in the store (did you mean 'db_url'?); "
        "set it with `procward secret set db_ur`",
        "apps.worker.secrets: no secret named 'stripe_key' in the store; "
        "set it with `procward secret set stripe_key`",
    ]
    assert asked == [1]  # once for the whole file


def test_names_are_not_checked_without_a_readable_store() -> None:
    data = {"apps": {"api": {"cmd": "x", "secrets": ["nowhere"]}}}
    assert parse_config(data, base_dir="/", secret_names=lambda: None).apps["api"].secrets
    assert parse_config(data, base_dir="/").apps["api"].secrets


def test_a_file_without_secrets_never_asks_for_names() -> None:
    def names() -> frozenset[str]:
        raise AssertionError("asked")

    parse_config(
        {"apps": {"api": {"cmd": "x", "env": {"A": "1"}}}}, base_dir="/", secret_names=names
    )


def test_secret_names_and_their_variables() -> None:
    assert check_secret_name("a" * 64) == "a" * 64
    for bad in ("", "a" * 65, ".hidden", "a/b", "a b", "ü"):
        with pytest.raises(ValueError, match="is not a secret name"):
            check_secret_name(bad)
    assert variable_for("stripe-key.live") == "STRIPE_KEY_LIVE"


# -- launch: shown, not resolved ----------------------------------------------------


def test_launch_shows_placeholders_and_expands_argv_with_them() -> None:
    spec = AppSpec("api", ("serve", "--port=$PORT", "$DB"), env={"PORT": "1"}, secrets={"DB": "db"})
    shown = launch(spec, 0, {})
    assert shown.env["DB"] == "<secret:db>"
    assert shown.argv == ("serve", "--port=1", "<secret:db>")
    given = launch(spec, 0, {}, secret_env={"DB": "s3cret"})
    assert given.env["DB"] == "s3cret"
    assert given.argv == shown.argv  # a value never reaches the command line


def test_launch_in_files_mode_names_the_directory_and_no_values() -> None:
    spec = AppSpec("api", ("serve",), secrets={"DB": "db", "K": "k"}, secrets_as="files")
    shown = launch(spec, 0, {})
    assert shown.env["CREDENTIALS_DIRECTORY"] == "<secret files: db, k>"
    assert "DB" not in shown.env and "K" not in shown.env
    real = launch(spec, 0, {}, credentials="/run/x", secret_env={"DB": "v"})
    assert real.env["CREDENTIALS_DIRECTORY"] == "/run/x"
    assert "DB" not in real.env


# -- resolve ------------------------------------------------------------------------


def test_resolve_gives_env_values_and_the_bytes() -> None:
    spec = AppSpec("api", ("x",), secrets={"DB": "db", "DB2": "db", "K": "k"})
    resolved = resolve(spec, FakeSecrets({"db": b"postgres://u:p@h/d", "k": b"sk_1"}))
    assert resolved.env == {"DB": "postgres://u:p@h/d", "DB2": "postgres://u:p@h/d", "K": "sk_1"}
    assert resolved.values == {"db": b"postgres://u:p@h/d", "k": b"sk_1"}
    assert resolved.directory is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "apps.api.secrets: no secret store: cannot give 'db', 'k'"),
        (FakeSecrets({"db": b"x"}), "apps.api.secrets: no secret named 'k'"),
        (FakeSecrets({"db": b"\xff", "k": b"x"}), "apps.api.secrets: secret 'db' is not UTF-8"),
        (FakeSecrets({"db": b"a\0b", "k": b"x"}), "apps.api.secrets: secret 'db' is not UTF-8"),
    ],
)
def test_what_cannot_be_resolved_names_the_app_and_the_secret(
    source: FakeSecrets | None, message: str
) -> None:
    spec = AppSpec("api", ("x",), secrets={"DB": "db", "K": "k"})
    with pytest.raises(ConfigError) as caught:
        resolve(spec, source)
    assert str(caught.value).startswith(message)


def test_an_unreadable_store_says_why() -> None:
    source = FakeSecrets({"db": b"x"})
    source.broken = "the secret store cannot be decrypted (wrong key?)"
    with pytest.raises(ConfigError, match=r"apps\.api\.secrets: the secret store cannot be decr"):
        resolve(AppSpec("api", ("x",), secrets={"DB": "db"}), source)


def test_files_take_any_bytes() -> None:
    spec = AppSpec("api", ("x",), secrets={"DB": "db"}, secrets_as="files")
    resolved = resolve(spec, FakeSecrets({"db": b"\xff\0"}))
    assert resolved.values == {"db": b"\xff\0"} and resolved.env == {}
