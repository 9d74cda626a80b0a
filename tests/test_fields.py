"""Fields: coercion, validation, options and round trips through git."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import uuid

import pygit2
import pytest

from gitmodel import fields
from gitmodel.exceptions import FieldError, IntegrityError, ValidationError
from gitmodel.workspace import Workspace


def make(field: fields.Field, name: str = "value") -> fields.Field:
    """A free-standing field with a name, for clean() checks."""
    field.name = name
    return field


def clean(field: fields.Field, value, name: str = "value"):
    return make(field, name).clean(value)


def invalid(field: fields.Field, value, name: str = "value") -> ValidationError:
    with pytest.raises(ValidationError) as info:
        make(field, name).clean(value)
    assert info.value.field == name
    assert str(info.value).startswith(f'"{name}" ')
    return info.value


def roundtrip(ws: Workspace, field_type: type, value, model_name: str = "Thing"):
    """Save ``value`` in a one-field model, commit, and read it back through a
    fresh workspace (no cache); returns the value read and the JSON stored."""
    Model = type(model_name, (ws.GitModel,), {"__module__": __name__, "value": field_type()})
    obj = Model(id="x", value=value)
    obj.save(commit=True, message="rt")
    fresh = Workspace(ws.path)
    Fresh = type(model_name, (fresh.GitModel,), {"__module__": __name__, "value": field_type()})
    return Fresh.get("x").value, json.loads(ws.repo[obj.oid].data)["fields"]["value"]


# -- CharField and friends ------------------------------------------------------------
def test_charfield_stores_the_text_form_and_refuses_values_without_one() -> None:
    assert clean(fields.CharField(), "text") == "text"
    assert clean(fields.CharField(), 12) == "12"
    assert clean(fields.CharField(), 1.5) == "1.5"
    assert clean(fields.CharField(), dt.datetime(2012, 12, 12)) == "2012-12-12 00:00:00"
    assert clean(fields.CharField(), decimal.Decimal("0.10")) == "0.10"
    assert invalid(fields.CharField(id=True), dt.date(2020, 1, 1)).code == "invalid_string"
    for bad in (True, [1], {"a": 1}, b"bytes", object()):
        error = invalid(fields.CharField(), bad)
        assert error.code == "invalid_string"
        assert type(bad).__name__ in error.message


def test_charfield_required_max_length_and_surrogates() -> None:
    assert invalid(fields.CharField(), None).code == "required"
    assert invalid(fields.CharField(), "").code == "required"
    assert clean(fields.CharField(required=False), "") == ""
    assert invalid(fields.CharField(max_length=3), "abcd").code == "max_length"
    assert clean(fields.CharField(max_length=3), "abc") == "abc"
    assert invalid(fields.CharField(), "bad \ud800").code == "invalid_characters"


def test_slugfield() -> None:
    assert clean(fields.SlugField(), "a-slug_1") == "a-slug_1"
    for bad in ("has space", "a/b", "dot.ted", "ünï!"):
        invalid(fields.SlugField(), bad)


def test_emailfield_message() -> None:
    assert clean(fields.EmailField(), "ann@example.com") == "ann@example.com"
    for bad in ("nope", "a@b", "@example.com", "a b@example.com"):
        err = invalid(fields.EmailField(), bad, name="email")
        assert str(err) == '"email" must be a valid e-mail address'


def test_urlfield_and_schemes() -> None:
    assert clean(fields.URLField(), "ftp://example.com/x") == "ftp://example.com/x"
    for bad in ("not a url", "example.com", "http://", "http://exa mple.com"):
        invalid(fields.URLField(), bad, name="url")
    field = fields.URLField(schemes=["http", "https"])
    assert clean(field, "https://example.com") == "https://example.com"
    err = invalid(fields.URLField(schemes=["http", "https"]), "ftp://example.com", name="url")
    assert str(err) == '"url" scheme must be one of http, https'


def test_uuidfield_default_and_coercion() -> None:
    field = make(fields.UUIDField())
    one, two = field.get_default(), field.get_default()
    assert one != two and len(one) == 32 and uuid.UUID(one).version == 4
    value = uuid.uuid4()
    assert field.clean(value) == value.hex
    invalid(fields.UUIDField(), [1])


# -- numbers -----------------------------------------------------------------------------
def test_integerfield_coercion() -> None:
    assert clean(fields.IntegerField(), "33") == 33
    assert clean(fields.IntegerField(), " 7 ") == 7
    assert clean(fields.IntegerField(), 33.0) == 33
    assert clean(fields.IntegerField(), decimal.Decimal("4")) == 4
    assert clean(fields.IntegerField(), -5) == -5
    for bad in (20.5, "20.5", "abc", True, [1], float("inf"), float("nan"), "1e99999"):
        assert invalid(fields.IntegerField(), bad).code == "invalid_int"


def test_floatfield() -> None:
    assert clean(fields.FloatField(), "1.5") == 1.5
    assert clean(fields.FloatField(), 2) == 2.0
    assert invalid(fields.FloatField(), "abc").code == "invalid_float"
    assert invalid(fields.FloatField(), True).code == "invalid_float"
    assert invalid(fields.FloatField(), float("nan")).code == "not_finite"
    assert invalid(fields.FloatField(), "inf").code == "not_finite"


def test_decimalfield_limits() -> None:
    field = lambda: fields.DecimalField(max_digits=5, decimal_places=2)  # noqa: E731
    assert clean(field(), "123.45") == decimal.Decimal("123.45")
    assert clean(field(), 1) == decimal.Decimal(1)
    assert clean(field(), 0.1) == decimal.Decimal("0.1")  # via repr, not binary float
    assert invalid(field(), "1234.5").code == "max_whole_digits"
    assert invalid(field(), "1.234").code == "max_decimal_places"
    assert invalid(fields.DecimalField(max_digits=3), "1234").code == "max_digits"
    assert invalid(field(), "abc").code == "invalid_decimal"
    assert invalid(field(), True).code == "invalid_decimal"
    assert invalid(field(), "NaN").code == "not_finite"
    assert invalid(field(), float("inf")).code == "not_finite"


def test_decimal_round_trips_exactly(ws: Workspace) -> None:
    value = decimal.Decimal("12345678901234567890.123456789000")
    back, stored = roundtrip(ws, fields.DecimalField, value)
    assert stored == "12345678901234567890.123456789000"  # a string, never a float
    assert isinstance(back, decimal.Decimal)
    assert back == value and str(back) == str(value)


def test_booleanfield() -> None:
    assert clean(fields.BooleanField(), True) is True
    assert clean(fields.BooleanField(), "yes") is True
    assert clean(fields.BooleanField(), "false") is False
    assert clean(fields.BooleanField(), 0) is False
    assert clean(fields.BooleanField(), None) is False
    assert clean(fields.BooleanField(nullable=True), None) is None
    for bad in ("maybe", 2, [True]):
        assert invalid(fields.BooleanField(), bad).code == "invalid_bool"


# -- dates and times -----------------------------------------------------------------------
def test_datefield() -> None:
    assert clean(fields.DateField(), "2020-02-29") == dt.date(2020, 2, 29)
    assert clean(fields.DateField(), dt.datetime(2020, 1, 2, 3, 4)) == dt.date(2020, 1, 2)
    for bad in ("2021-02-29", "02/01/2020", "yesterday", 20200101):
        assert invalid(fields.DateField(), bad).code == "invalid_format"


def test_datetimefield_iso_8601_with_offsets() -> None:
    value = clean(fields.DateTimeField(), "2020-01-02T03:04:05+05:30")
    assert value == dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert value.utcoffset() == dt.timedelta(hours=5, minutes=30)
    utc = clean(fields.DateTimeField(), "2020-01-02T03:04:05Z")
    assert utc.utcoffset() == dt.timedelta(0)
    assert clean(fields.DateTimeField(), "2020-01-02 03:04") == dt.datetime(2020, 1, 2, 3, 4)
    # a date string is a valid datetime
    assert clean(fields.DateTimeField(), "2020-01-02") == dt.datetime(2020, 1, 2)
    assert clean(fields.DateTimeField(), dt.date(2020, 1, 2)) == dt.datetime(2020, 1, 2)
    for bad in ("2020-13-01", "soon", 5, "2020-01-02T25:00"):
        assert invalid(fields.DateTimeField(), bad).code == "invalid_format"


def test_aware_datetime_keeps_its_offset(ws: Workspace) -> None:
    tz = dt.timezone(dt.timedelta(hours=-3, minutes=-30))
    value = dt.datetime(2021, 6, 1, 12, 30, 15, 123456, tzinfo=tz)
    back, stored = roundtrip(ws, fields.DateTimeField, value)
    assert stored == "2021-06-01T12:30:15.123456-03:30"
    assert back == value and back.utcoffset() == value.utcoffset()


def test_naive_datetime_stays_naive(ws: Workspace) -> None:
    back, stored = roundtrip(ws, fields.DateTimeField, dt.datetime(2021, 6, 1, 12, 30))
    assert stored == "2021-06-01T12:30:00"
    assert back.tzinfo is None


def test_timefield() -> None:
    assert clean(fields.TimeField(), "03:04") == dt.time(3, 4)
    value = clean(fields.TimeField(), "03:04:05+01:00")
    assert value.utcoffset() == dt.timedelta(hours=1)
    for bad in ("25:00", "noon", 5):
        assert invalid(fields.TimeField(), bad).code == "invalid_format"


def test_date_and_time_round_trip(ws: Workspace) -> None:
    back, stored = roundtrip(ws, fields.DateField, "2020-02-29", "Day")
    assert (back, stored) == (dt.date(2020, 2, 29), "2020-02-29")
    back, stored = roundtrip(ws, fields.TimeField, "10:11:12+02:00", "Hour")
    assert stored == "10:11:12+02:00" and back.utcoffset() == dt.timedelta(hours=2)


# -- JSON ---------------------------------------------------------------------------------
def test_jsonfield_values() -> None:
    value = {"a": [1, 2.5, "x", None, True, {"b": []}]}
    assert clean(fields.JSONField(), value) == value
    for bad, reason in (
        ({1: "a"}, "keys must be strings"),
        ((1, 2), "tuples"),
        ({"a": {1, 2}}, "set is not a JSON type"),
        ([float("nan")], "finite"),
        (object(), "not a JSON type"),
    ):
        err = invalid(fields.JSONField(), bad)
        assert reason in str(err)
    cyclic: list = []
    cyclic.append(cyclic)
    assert "cycle" in str(invalid(fields.JSONField(), cyclic))


def test_jsonfield_round_trip_and_mutable_default(ws: Workspace) -> None:
    value = {"z": 1, "a": {"nested": [1, 2]}, "uni": "é"}
    back, stored = roundtrip(ws, fields.JSONField, value)
    assert back == value == stored

    class Bag(ws.GitModel):
        items = fields.JSONField(default=[])

    one, two = Bag(), Bag()
    one.items.append(1)
    assert two.items == []


# -- blobs ---------------------------------------------------------------------------------
def test_blobfield_file_like_in_and_out(ws: Workspace) -> None:
    class Doc(ws.GitModel):
        body = fields.BlobField()

    doc = Doc(id="d", body=io.BytesIO(b"\x00\xffbinary"))
    assert doc.body.read() == b"\x00\xffbinary"
    doc.save(commit=True, message="doc")
    fresh = Workspace(ws.path)

    class Doc(fresh.GitModel):  # noqa: F811 - the same model in a fresh workspace
        body = fields.BlobField()

    loaded = Doc.get("d")
    assert isinstance(loaded.body, io.BytesIO)
    assert loaded.body.read() == b"\x00\xffbinary"
    assert ws.repo[ws.index["doc/d/body.data"].id].data == b"\x00\xffbinary"


def test_blobfield_invalid_value(ws: Workspace) -> None:
    class Doc(ws.GitModel):
        body = fields.BlobField()

    doc = Doc(id="d")
    doc.body = 12
    with pytest.raises(ValidationError) as info:
        doc.save()
    assert info.value.field == "body"


# -- related objects ------------------------------------------------------------------------
def test_relatedfield_stores_id_and_returns_instance(ws: Workspace, run_git) -> None:
    class Author(ws.GitModel):
        name = fields.CharField()

    class Book(ws.GitModel):
        title = fields.CharField()
        author = fields.RelatedField(Author)
        editor = fields.RelatedField("Author", required=False)

    ann = Author(id="ann", name="Ann")
    ann.save()
    book = Book(id="b", title="T", author=ann, editor="ann")
    book.save()
    ws.commit("book")
    stored = json.loads(run_git(ws.path, "show", "master:book/b/data.json"))
    assert stored["fields"]["author"] == "ann" and stored["fields"]["editor"] == "ann"
    loaded = Book.get("b")
    assert isinstance(loaded.author, Author) and loaded.author.name == "Ann"
    assert loaded.editor == ann


def test_relatedfield_invalid_values(ws: Workspace) -> None:
    class Author(ws.GitModel):
        pass

    class Book(ws.GitModel):
        author = fields.RelatedField(Author)

    with pytest.raises(ValidationError) as info:
        Book(author=12).save()
    assert info.value.field == "author"
    assert "Author" in str(info.value)
    with pytest.raises(ValidationError):
        Book(author=None).save()


def test_relatedfield_to_unknown_model_name(ws: Workspace) -> None:
    class Book(ws.GitModel):
        author = fields.RelatedField("Nobody")

    Book(id="b", author="someone").save()
    with pytest.raises(FieldError, match="Nobody"):
        Book.get("b").author


# -- git objects ------------------------------------------------------------------------------
def test_gitobjectfield(ws: Workspace) -> None:
    class Snapshot(ws.GitModel):
        commit = fields.GitObjectField(type=pygit2.Commit)
        anything = fields.GitObjectField(required=False)

    ws.add_blob("seed.txt", "seed")
    commit_id = ws.commit("seed")
    blob_id = ws.index["seed.txt"].id
    snap = Snapshot(id="s", commit=commit_id, anything=ws.repo[blob_id])
    snap.save()
    loaded = Snapshot.get("s")
    assert isinstance(loaded.commit, pygit2.Commit) and loaded.commit.id == commit_id
    assert isinstance(loaded.anything, pygit2.Blob)
    stored = json.loads(ws.repo[loaded.oid].data)["fields"]
    assert stored["commit"] == str(commit_id)

    with pytest.raises(ValidationError) as info:
        Snapshot(commit=blob_id).save()
    assert str(info.value) == '"commit" must point to a Commit'
    with pytest.raises(ValidationError, match="must be a valid git OID"):
        Snapshot(commit="xyz").save()
    with pytest.raises(ValidationError, match="existing object"):
        Snapshot(commit="0" * 40).save()


# -- options --------------------------------------------------------------------------------
def test_default_value_and_callable(ws: Workspace) -> None:
    counter = iter(range(100))

    class Item(ws.GitModel):
        status = fields.CharField(default="draft")
        seq = fields.IntegerField(default=lambda: next(counter))

    a, b = Item(), Item()
    assert a.status == b.status == "draft"
    assert (a.seq, b.seq) == (0, 1)
    assert Item(status="done").status == "done"


def test_required_false_allows_none(ws: Workspace) -> None:
    class Item(ws.GitModel):
        note = fields.CharField(required=False)
        count = fields.IntegerField(required=False)

    Item(id="i").save()
    loaded = Item.get("i")
    assert loaded.note is None and loaded.count is None


def test_required_field_missing(ws: Workspace) -> None:
    class Item(ws.GitModel):
        name = fields.CharField()

    with pytest.raises(ValidationError) as info:
        Item().save()
    assert str(info.value) == '"name" is required'
    assert info.value.code == "required"


def test_readonly_field_cannot_change_after_save(ws: Workspace) -> None:
    class Account(ws.GitModel):
        created = fields.CharField(readonly=True)

    acct = Account(id="a", created="2020")
    acct.save()
    loaded = Account.get("a")
    loaded.created = "2021"
    with pytest.raises(ValidationError) as info:
        loaded.save()
    assert info.value.field == "created" and info.value.code == "readonly"
    assert Account.get("a").created == "2020"
    loaded.created = "2020"
    loaded.save()  # unchanged is fine


def test_unique_field(ws: Workspace) -> None:
    class User(ws.GitModel):
        email = fields.EmailField(unique=True)

    User(id="u1", email="a@example.com").save()
    with pytest.raises(IntegrityError, match="email"):
        User(id="u2", email="a@example.com").save()
    User(id="u2", email="b@example.com").save()
    u1 = User.get("u1")
    u1.save()  # saving itself again is not a clash
    assert sorted(u.id for u in User.all()) == ["u1", "u2"]


def test_serialize_false_is_not_stored(ws: Workspace) -> None:
    class Session(ws.GitModel):
        token = fields.CharField(serialize=False, required=False)
        name = fields.CharField()

    s = Session(id="s", name="n", token="secret")
    s.save()
    assert "token" not in json.loads(ws.repo[s.oid].data)["fields"]
    assert Session.get("s").token is None


def test_choices(ws: Workspace) -> None:
    class Post(ws.GitModel):
        status = fields.CharField(choices=[("draft", "Draft"), ("live", "Live")])
        level = fields.IntegerField(choices=[1, 2, 3], required=False)

    Post(status="live").save()
    with pytest.raises(ValidationError) as info:
        Post(status="gone").save()
    assert str(info.value) == '"status" must be one of draft, live'
    with pytest.raises(ValidationError, match='"level" must be one of 1, 2, 3'):
        Post(status="live", level="4").save()
    Post(status="live", level="2").save()


def test_validators(ws: Workspace) -> None:
    def even(value: int) -> None:
        if value % 2:
            raise ValueError("must be even")

    def not_thirteen(value: int) -> None:
        if value == 13:
            raise ValidationError("is unlucky", code="unlucky")

    class Ticket(ws.GitModel):
        number = fields.IntegerField(validators=[even, not_thirteen])

    Ticket(number="4").save()
    with pytest.raises(ValidationError) as info:
        Ticket(number=3).save()
    assert str(info.value) == '"number" must be even'
    assert info.value.field == "number"


def test_error_messages_override() -> None:
    field = fields.IntegerField(error_messages={"invalid_int": "needs digits", "required": "is missing"})
    assert str(invalid(field, "x", name="age")) == '"age" needs digits'
    field = fields.IntegerField(error_messages={"required": "is missing"})
    assert str(invalid(field, None, name="age")) == '"age" is missing'


def test_several_errors_are_collected(ws: Workspace) -> None:
    class Form(ws.GitModel):
        a = fields.IntegerField()
        b = fields.EmailField()

    with pytest.raises(ValidationError) as info:
        Form(a="x", b="y").save()
    assert [e.field for e in info.value.error_list] == ["a", "b"]
    assert info.value.message_dict == {
        "a": ['"a" must be an integer'],
        "b": ['"b" must be a valid e-mail address'],
    }


# -- invalid values of every field type, through save ---------------------------------------
@pytest.mark.parametrize(
    "field, bad",
    [
        (fields.CharField(), [1]),
        (fields.SlugField(), "not a slug"),
        (fields.EmailField(), "not-an-email"),
        (fields.URLField(), "nope"),
        (fields.UUIDField(), {"a": 1}),
        (fields.IntegerField(), 20.5),
        (fields.FloatField(), "x"),
        (fields.DecimalField(), "x"),
        (fields.BooleanField(), "maybe"),
        (fields.DateField(), "2020-99-99"),
        (fields.DateTimeField(), "tomorrow"),
        (fields.TimeField(), "99:99"),
        (fields.JSONField(), {"a": object()}),
        (fields.BlobField(), 3.5),
        (fields.GitObjectField(), "zz"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, fields.Field) else "",
)
def test_invalid_value_for_every_field_type(ws: Workspace, field, bad) -> None:
    Model = type("Holder", (ws.GitModel,), {"__module__": __name__, "value": field})
    obj = Model(id="h")
    obj.value = bad
    with pytest.raises(ValidationError) as info:
        obj.save()
    assert info.value.field == "value"
    assert str(info.value).startswith('"value" ')
    assert not ws.has_changes()


def test_relatedfield_takes_only_its_model(ws: Workspace) -> None:
    class Author(ws.GitModel):
        id = fields.SlugField(id=True)

    class Editor(ws.GitModel):
        id = fields.SlugField(id=True)

    class Book(ws.GitModel):
        author = fields.RelatedField(Author, required=False)

    Author(id="ann").save()
    editor = Editor(id="ed")
    editor.save()
    with pytest.raises(ValidationError) as info:
        Book(author=editor).save()
    assert info.value.field == "author" and info.value.code == "wrong_model"
    assert str(info.value) == '"author" must be a Author instance or id, not a Editor instance'
    with pytest.raises(ValidationError) as info:
        Book(author="Not A Slug").save()
    assert info.value.code == "invalid_related_id" and "must be a valid Author id" in str(info.value)
    before = ws.stage.lookup("book")
    assert before is None  # nothing was staged by the refused saves
    book = Book(author="ann")
    book.save()
    assert Book.get(book.id).author.id == "ann"
