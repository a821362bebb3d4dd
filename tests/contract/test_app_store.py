"""The AppStore contract, over every store: config apps (static), SQLite, PostgreSQL and
MySQL (MariaDB here).

Read tests run over all four; write tests over the three databases, each through
an ``AppManager`` (what the CLI and the admin API use) and an ``AppCatalog``
(what a node serves from), as a node and the CLI would share one database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tidings.apps.base import App, AppStore, build_app
from tidings.apps.catalog import AppCatalog
from tidings.apps.database import AppDatabase, engine_for
from tidings.apps.manage import AppManager, InputError
from tidings.apps.schema import APPS, METADATA
from tidings.apps.static import StaticAppStore
from tidings.config import Settings
from tidings.errors import ConflictError, NotFoundError
from tidings.typing import AppId, AppKey

CONFIG_APP = App(id=AppId("1"), key=AppKey("app-key"), secret="app-secret")
INHERITED = Settings.load().inherited()
SEEDED: list[dict[str, Any]] = [
    {"id": "10", "key": "ten-key", "secret": "ten-secret-1", "name": "ten"},
    {"id": "20", "key": "twenty-key", "secret": "twenty-secret", "enabled": False},
]


def _fresh_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/apps.sqlite3"
    url: str = request.getfixturevalue(f"{kind}_url")
    return url


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    return _fresh_url(request.param, request, tmp_path)


@pytest.fixture
def database(database_url: str) -> Iterator[AppDatabase]:
    db = AppDatabase.open(database_url)
    yield db
    db.close()


@pytest.fixture
def manager(database: AppDatabase) -> AppManager:
    return AppManager(database, [CONFIG_APP], INHERITED)


def _catalog(database: AppDatabase) -> AppCatalog:
    catalog = AppCatalog([CONFIG_APP], database, INHERITED)
    catalog.load()
    return catalog


@pytest.fixture(params=["static", "sqlite", "postgres", "mysql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppStore]:
    """A store holding CONFIG_APP and the SEEDED apps."""
    seeded = [build_app(row, INHERITED) for row in SEEDED]
    if request.param == "static":
        yield StaticAppStore([CONFIG_APP, *seeded])
        return
    db = AppDatabase.open(_fresh_url(request.param, request, tmp_path))
    try:
        seeder = AppManager(db, [CONFIG_APP], INHERITED)
        for row in SEEDED:
            seeder.create(row)
        yield _catalog(db)
    finally:
        db.close()


# -- reads, every store ---------------------------------------------------------------


async def test_lookups_by_key_and_by_id(store: AppStore) -> None:
    """by_key and by_id find the same app; unknown ones are None."""
    ten = await store.by_key("ten-key")
    assert ten is not None and ten.id == "10" and ten.secret == "ten-secret-1"
    assert await store.by_id("10") == ten
    assert await store.by_key("nope") is None
    assert await store.by_id("nope") is None


async def test_all_lists_config_apps_first_then_the_others(store: AppStore) -> None:
    """all() is stable: the config app, then the others in creation order."""
    assert [app.id for app in await store.all()] == ["1", "10", "20"]


async def test_disabled_apps_are_found_and_say_so(store: AppStore) -> None:
    """A disabled app is still found (so connects get 4003, not 4001)."""
    twenty = await store.by_id("20")
    assert twenty is not None and twenty.enabled is False


async def test_unset_limits_take_the_global_values(store: AppStore) -> None:
    """Limits an app leaves unset are the node's global defaults."""
    ten = await store.by_id("10")
    assert ten is not None
    assert ten.max_payload_bytes == INHERITED["max_payload_bytes"]


# -- writes, database stores ------------------------------------------------------------


def test_migrations_match_the_app_definition(database: AppDatabase) -> None:
    """The migrated schema is exactly the metadata derived from App (no missing migration)."""
    with database._engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": "tidings_alembic_version"}
        )
        differences = compare_metadata(context, METADATA)
    assert differences == [], (
        "the migrations do not match the App definition: write the missing one with "
        '`python -m tidings.apps.migrate revision "what changed"` and read it'
    )


def test_opening_twice_migrates_once(database_url: str, database: AppDatabase) -> None:
    """A second open (another node, the CLI) finds the schema current and keeps the data."""
    database.insert({"id": "5", "key": "five", "secret": "five-secret"})
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).upper())

    # Every statement any engine runs while the second open happens (it builds its own).
    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        again = AppDatabase.open(database_url)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    try:
        assert again.get("5") is not None
    finally:
        again.close()
    assert statements, "the second open read nothing (the schema version is checked)"
    writes = [
        sql
        for sql in statements
        if sql.startswith(("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == [], f"the second open changed the schema: {writes}"
    engine = engine_for(database_url)  # the driver of each URL scheme (psycopg, PyMySQL)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT version_num FROM tidings_alembic_version")
            versions = conn.execute(query).all()
    finally:
        engine.dispose()
    assert len(versions) == 1, versions  # one schema version recorded, once


def test_create_generates_what_is_not_given(manager: AppManager) -> None:
    """No id, key or secret: a numeric id and random key and secret are generated."""
    app = manager.create({"name": "shop"})
    assert app.id.isdigit() and len(app.key) == 20 and len(app.secret) == 40
    other = manager.create({})
    assert (other.id, other.key, other.secret) != (app.id, app.key, app.secret)
    assert manager.get(app.id) == (app, "database")


def test_create_keeps_every_given_field(manager: AppManager) -> None:
    """Every setting given at create time is stored and read back."""
    app = manager.create(
        {
            "id": "77",
            "key": "k77",
            "secret": "s" * 32,
            "max_connections": 5,
            "max_batch_size": 3,
            "enable_client_messages": False,
            "allowed_origins": ["https://*.example.com"],
            "webhooks": [{"url": "http://127.0.0.1:9/hook", "event_types": ["member_added"]}],
        }
    )
    (hook,) = app.webhooks
    assert (hook.url, hook.event_types) == ("http://127.0.0.1:9/hook", ("member_added",))
    assert (app.max_connections, app.max_batch_size) == (5, 3)
    assert app.enable_client_messages is False
    assert app.allowed_origins == ("https://*.example.com",)
    assert manager.get("77")[0] == app


def _count(database: AppDatabase) -> tuple[int, int]:
    revision, rows = database.load()
    return revision, len(rows)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "1"},  # a config app's id
        {"key": "app-key"},  # a config app's key
        {"id": "10"},  # an existing database id
        {"key": "ten-key"},  # an existing database key
    ],
)
def test_duplicate_ids_and_keys_are_refused_and_nothing_is_written(
    manager: AppManager, database: AppDatabase, body: dict[str, Any]
) -> None:
    """Ids and keys are unique across config and database; a clash writes nothing."""
    manager.create({"id": "10", "key": "ten-key"})
    before = _count(database)
    with pytest.raises(ConflictError):
        manager.create(body)
    assert _count(database) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"max_connections": "lots"}, "invalid max_connections"),
        ({"max_batch_size": 0}, "invalid max_batch_size"),
        ({"history_size": 1001}, "invalid history_size"),
        ({"history_ttl": 86_401}, "invalid history_ttl"),
        ({"history_channels": ["chat:x"]}, "invalid history_channels"),
        ({"enabled": "maybe"}, "invalid enabled"),
        ({"allowed_origins": "https://a"}, "invalid allowed_origins"),
        ({"id": "a/b"}, "invalid id"),
        ({"secret": "short"}, "invalid secret"),
        ({"previous_secret": "x" * 10}, "unknown field 'previous_secret'"),
        ({"webhooks": [{"url": "ftp://x"}]}, "invalid webhooks: webhooks\\[0\\].url"),
        ({"webhooks": [{"url": "http://a", "colour": 1}]}, "webhooks\\[0\\].colour"),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_bad_create_input_is_refused_with_the_field_named(
    manager: AppManager, database: AppDatabase, body: Any, message: str
) -> None:
    """Unknown fields, wrong types and out-of-range values: InputError, nothing written."""
    before = _count(database)
    with pytest.raises(InputError, match=message):
        manager.create(body)
    assert _count(database) == before


def test_update_changes_only_what_it_names(manager: AppManager) -> None:
    """An update changes the named settings; null resets a limit to the global value."""
    app = manager.create({"max_batch_size": 3, "name": "a"})
    changed = manager.update(app.id, {"name": "b", "max_connections": 9})
    assert (changed.name, changed.max_connections, changed.max_batch_size) == ("b", 9, 3)
    reset = manager.update(app.id, {"max_batch_size": None})
    assert reset.max_batch_size == INHERITED["max_batch_size"]
    assert reset.secret == app.secret


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"secret": "x" * 20}, "secret cannot be updated"),
        ({"key": "other"}, "key cannot be updated"),
        ({"id": "9"}, "id cannot be updated"),
        ({}, "nothing to update"),
        ({"name": None}, "invalid name"),
        ({"max_subscriptions_per_connection": -1}, "invalid max_subscriptions"),
    ],
)
def test_bad_updates_are_refused(manager: AppManager, body: dict[str, Any], message: str) -> None:
    """Immutable fields, empty bodies and bad values are refused; the app is unchanged."""
    app = manager.create({})
    with pytest.raises(InputError, match=message):
        manager.update(app.id, body)
    assert manager.get(app.id)[0] == app


def test_config_apps_are_read_only(manager: AppManager) -> None:
    """Every write to a config app is a ConflictError (409)."""
    for write in (
        lambda: manager.update("1", {"name": "x"}),
        lambda: manager.set_enabled("1", False),
        lambda: manager.rotate_secret("1"),
        lambda: manager.delete("1"),
    ):
        with pytest.raises(ConflictError, match="read-only"):
            write()


def test_unknown_apps_are_not_found(manager: AppManager) -> None:
    """Writes and reads of an id nobody has: NotFoundError (404)."""
    for call in (
        lambda: manager.get("404"),
        lambda: manager.update("404", {"name": "x"}),
        lambda: manager.delete("404"),
        lambda: manager.rotate_secret("404"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_rotation_with_and_without_grace(manager: AppManager) -> None:
    """Without grace the old secret is gone at once; with grace both verify until expiry."""
    app = manager.create({})
    now = manager.rotate_secret(app.id)
    assert now.secret != app.secret and now.secrets == (now.secret,)
    graced = manager.rotate_secret(app.id, grace=60)
    assert graced.secrets == (graced.secret, now.secret)
    assert graced.previous_secret_expires_at is not None
    with pytest.raises(InputError):
        manager.rotate_secret(app.id, grace=-1)


async def test_a_catalog_sees_every_write_of_another_writer(
    manager: AppManager, database: AppDatabase
) -> None:
    """Create, change, disable, delete by one writer: a node's refresh reports each."""
    catalog = _catalog(database)
    app = manager.create({"key": "live-key"})
    changes = await catalog.refresh()
    assert [a.id for a in changes.changed] == [app.id] and changes.gone == ()
    assert await catalog.by_key("live-key") == app
    assert not await catalog.refresh()  # nothing new: nothing reported
    rotated = manager.rotate_secret(app.id)
    assert (await catalog.refresh()).changed == (rotated,)
    manager.set_enabled(app.id, False)
    assert (await catalog.refresh()).gone == (app.id,)
    manager.set_enabled(app.id, True)
    assert [a.enabled for a in (await catalog.refresh()).changed] == [True]
    manager.delete(app.id)
    assert (await catalog.refresh()).gone == (app.id,)
    assert await catalog.by_key("live-key") is None


async def test_grace_expiry_drops_the_old_secret_without_a_write(database: AppDatabase) -> None:
    """A catalog drops an expired previous secret on its own clock, and reports the change."""
    clock = [1000.0]
    catalog = AppCatalog([CONFIG_APP], database, INHERITED, clock=lambda: clock[0])
    row = {"id": "3", "key": "three", "secret": "new-secret", "previous_secret": "old-secret"}
    database.insert({**row, "previous_secret_expires_at": 1010.0})
    await catalog.refresh()
    app = await catalog.by_id("3")
    assert app is not None and app.secrets == ("new-secret", "old-secret")
    assert not await catalog.refresh()
    clock[0] = 1010.0
    changes = await catalog.refresh()
    assert [a.secrets for a in changes.changed] == [("new-secret",)]


async def test_database_apps_shadowed_by_config_are_left_out(database: AppDatabase) -> None:
    """A database app whose id or key a config app took later is not served."""
    database.insert({"id": "1", "key": "other", "secret": "secret-x"})
    database.insert({"id": "9", "key": "app-key", "secret": "secret-y"})
    catalog = _catalog(database)
    assert [app.id for app in await catalog.all()] == ["1"]
    assert (await catalog.by_id("1")) == CONFIG_APP


def test_a_failed_transaction_writes_nothing(database: AppDatabase) -> None:
    """A write that fails half-way (after its revision bump) leaves no trace."""
    before = _count(database)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), database._transaction() as conn:
        conn.execute(
            sa.insert(APPS).values(id="h", key="h", secret="h-secret", created_at=0, updated_at=0)
        )
        database._bump(conn)
        raise Boom
    assert _count(database) == before


def test_an_import_writes_every_app_or_none(manager: AppManager, database: AppDatabase) -> None:
    """import_apps: all apps in one transaction (one revision); a clash anywhere writes none."""
    revision, count = _count(database)
    bodies: list[dict[str, Any]] = [
        {"id": "31", "key": "k31", "secret": "secret-31", "max_connections": 7},
        {"id": "32", "key": "k32", "secret": "secret-32"},
    ]
    assert manager.check_import(bodies) == [None, None]
    apps = manager.import_apps(bodies)
    assert [app.id for app in apps] == ["31", "32"] and apps[0].max_connections == 7
    assert _count(database) == (revision + 1, count + 2)
    clashing: list[dict[str, Any]] = [
        {"id": "33", "key": "k33", "secret": "secret-33"},
        {"id": "34", "key": "k31", "secret": "secret-34"},  # k31 is taken
        {"id": "35", "key": "app-key", "secret": "secret-35"},  # the config app's key
        {"id": "33", "key": "k36", "secret": "secret-36"},  # 33 twice in the import
        {"id": "37", "key": "k37"},
    ]
    assert manager.check_import(clashing) == [
        None,
        "the key 'k31' is taken by an app in the database",
        "the key 'app-key' is taken by an app of the configuration (tidings.toml)",
        "the id '33' is taken by app #1 of this import",
        "no secret given",
    ]
    with pytest.raises(ConflictError, match="'34': the key 'k31' is taken"):
        manager.import_apps(clashing)
    assert _count(database) == (revision + 1, count + 2)
