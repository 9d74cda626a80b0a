"""Import and export as text, queries from lookup strings, models from stored schemas."""

from __future__ import annotations

import datetime
import io
import json
from decimal import Decimal

import pygit2
import pytest

from gitmodel import FieldError, SchemaMismatch, ValidationError, Workspace, fields
from gitmodel.exchange import Format, export_objects, import_objects
from gitmodel.lookups import filter_from_strings, lookups_from_strings
from gitmodel.schema import model_from_schema


def declare(ws, shard=0):
    class Book(ws.GitModel):
        isbn = fields.CharField(id=True)
        title = fields.CharField()
        year = fields.IntegerField(required=False)
        price = fields.DecimalField(required=False)
        added = fields.DateTimeField(required=False)
        tags = fields.JSONField(required=False)
        in_print = fields.BooleanField(default=True)

        Meta = type("Meta", (), {"shard": shard})

    return Book


@pytest.fixture(params=[0, 2], ids=["flat", "sharded"])
def Book(request, ws):
    Book = declare(ws, request.param)
    when = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    Book(isbn="1", title="Dune", year=1965, price=Decimal("9.99"), added=when, tags=["sf", "classic"]).save()
    Book(isbn="2", title="123", year=None, tags={"a": [1, None]}).save()
    Book(isbn="3", title='quote " comma, newline\nand ""', in_print=False).save()
    Book(isbn="4", title="true").save()
    Book(isbn="5", title='"quoted"', year=0).save()
    Book(isbn="6", title=" ", tags="").save()
    ws.commit("four books")
    return Book


def stored_folder(ws):
    return ws.branch.commit.tree["book"].id


@pytest.mark.parametrize("fmt", list(Format))
def test_an_export_imports_to_the_same_blobs(ws, Book, tmp_path, fmt):
    text = io.StringIO()
    assert export_objects(Book, text, fmt) == 6
    other = Workspace.init(tmp_path / "copy.git")
    Copy = other.register_model(Book)
    result = import_objects(Copy, text.getvalue(), fmt, message="copy")
    assert (result.created, result.updated) == (6, 0)
    assert other.branch.commit.id == result.commit and other.branch.commit.message == "copy"
    assert stored_folder(other) == stored_folder(ws)
    again = import_objects(Copy, text.getvalue(), fmt)  # the same data: nothing to commit
    assert (again.created, again.updated, again.commit) == (0, 6, None)


def test_export_at_a_treeish_and_as_json_lines(ws, Book):
    first = ws.branch.commit.id
    Book.get("1").delete()
    ws.commit("gone")
    now, then = io.StringIO(), io.StringIO()
    export_objects(Book, now)
    export_objects(Book, then, "jsonl", treeish=first)
    assert len(now.getvalue().splitlines()) == 5
    records = [json.loads(line) for line in then.getvalue().splitlines()]
    dune = next(r for r in records if r["isbn"] == "1")
    assert dune["price"] == "9.99" and dune["added"] == "2024-05-01T12:30:00+02:00"


def test_csv_cells_hold_strings_as_they_are_and_other_values_as_json(ws, Book):
    out = io.StringIO()
    export_objects(Book, out, Format.CSV)
    lines = out.getvalue().splitlines()
    assert lines[0] == "isbn,title,year,price,added,tags,in_print"
    assert '2,123,,,,"{""a"": [1, null]}",true' in lines
    assert "4,true,,,,,true" in lines
    assert '1,Dune,1965,9.99,2024-05-01T12:30:00+02:00,"[""sf"", ""classic""]",true' in lines


def test_import_updates_stored_objects_and_adds_new_ones(ws, Book):
    records = '{"isbn": "1", "title": "Dune (new edition)", "year": 1965}\n\n{"isbn": "9", "title": "Emma"}\n'
    result = import_objects(Book, records)
    assert (result.created, result.updated) == (1, 1)
    assert Book.get("1").title == "Dune (new edition)" and Book.get("1").price is None
    assert Book.get("9").in_print is True
    assert ws.branch.commit.id == result.commit


def test_a_record_without_an_id_gets_a_new_one(ws, tmp_path):
    class Note(ws.GitModel):
        text = fields.CharField()

    result = import_objects(Note, '[{"text": "a"}, {"text": "b", "id": null}]', "json")
    assert result.created == 2 and sorted(n.text for n in Note.all()) == ["a", "b"]


@pytest.mark.parametrize("text, fmt, message", [
    ('{"isbn": "7", "title": "ok"}\n{"isbn": "8", "year": "x", "title": "t"}\n', "jsonl", "line 2"),
    ('{"isbn": "7", "title": "ok"}\nnot json\n', "jsonl", "line 2: not JSON"),
    ('[1]', "json", "item 1: expected a JSON object"),
    ('{"a": 1}', "json", "not a JSON array"),
    ('{"isbn": "7", "titel": "typo"}\n', "jsonl", "has no field 'titel'"),
    ('{"isbn": "7"}\n', "jsonl", '"title" is required'),
    ('{"isbn": "../x", "title": "t"}\n', "jsonl", "line 1"),
    ('isbn,title\n7,a,extra\n', "csv", "line 2: 3 cells"),
    ('isbn,title,isbn\n7,a,8\n', "csv", "column 'isbn' is named twice"),
    (b'{"isbn": "7", "title": "\xff"}\n', "jsonl", "not UTF-8 text"),
    (b'isbn,title\n7,caf\xe9\n', "csv", "not UTF-8 text"),
])
def test_a_bad_record_is_refused_and_nothing_is_written(ws, Book, text, fmt, message):
    head = ws.branch.commit.id
    if isinstance(text, bytes):  # a file opened as UTF-8 text that is not
        text = io.TextIOWrapper(io.BytesIO(text), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        import_objects(Book, text, fmt)
    assert message in str(info.value)
    assert ws.branch.commit.id == head and not ws.has_changes()


def test_two_records_with_one_id_are_refused(ws, Book):
    head = ws.branch.commit.id
    with pytest.raises(Exception, match="appears twice"):
        import_objects(Book, '{"isbn": "7", "title": "a"}\n{"isbn": "7", "title": "b"}\n')
    assert ws.branch.commit.id == head


def test_an_unknown_format_is_a_validation_error(ws, Book):
    with pytest.raises(ValidationError, match="unknown format 'xml'"):
        export_objects(Book, io.StringIO(), "xml")
    assert Format.guess("books.CSV") is Format.CSV and Format.guess("books") is Format.JSONL


# -- lookups from strings ----------------------------------------------------------
def test_lookup_strings_filter_like_keyword_arguments(ws, Book):
    def ids(*items):
        return sorted(b.isbn for b in filter_from_strings(Book, items))

    assert ids("year__gte=1900") == ["1"]
    assert ids("title__startswith=D") == ["1"]
    assert ids("year__isnull=true") == ["2", "3", "4", "6"]
    assert ids("isbn__in=1,3") == ["1", "3"]
    assert ids("in_print=false") == ["3"]
    assert ids("price__lt=10") == ["1"]
    assert ids("tags__contains=sf") == ["1"]
    assert ids("year__range=1900,2000") == ["1"]
    assert lookups_from_strings(Book, ["year=3"]) == {"year": "3"}


@pytest.mark.parametrize("item, error, message", [
    ("colour=red", FieldError, 'no field "colour"'),
    ("year__near=3", FieldError, 'unknown lookup "near"'),
    ("year", FieldError, "is not a lookup"),
    ("year__gte=soon", ValidationError, "must be an integer"),
    ("year__isnull=maybe", FieldError, "takes true or false"),
    ("year__range=1", FieldError, "takes two values"),
    ("tags__contains=" + "[" * 100_000, FieldError, "\"tags__contains\" is not a valid value: nested too deeply"),
])
def test_a_bad_lookup_string_names_what_is_wrong(ws, Book, item, error, message):
    with pytest.raises(error, match=message):
        lookups_from_strings(Book, [item])


# -- models from the stored schema ---------------------------------------------------
def test_a_model_built_from_the_stored_schema_reads_and_writes(ws, Book):
    other = Workspace(ws.path)
    Stored = model_from_schema(other, other.schemas()["Book"])
    assert other.models["Book"] is Stored
    dune = Stored.get("1")
    assert dune.price == Decimal("9.99") and dune.tags == ["sf", "classic"]
    assert dune.added.utcoffset() == datetime.timedelta(hours=2)
    dune.year = 1966
    dune.save()
    schema_before = ws.schemas()["Book"]
    commit = other.commit("via the stored schema")
    assert other.schemas(commit)["Book"] == schema_before
    with pytest.raises(ValidationError):
        Stored(isbn="x", title="t", year="many").save()
    assert Book.get("1", treeish=commit).year == 1966


def test_stored_schemas_at_an_unknown_revision_raise_reference_not_found(ws, Book):
    from gitmodel import ReferenceNotFound

    with pytest.raises(ReferenceNotFound):
        ws.schemas("no-such-tag")


def test_a_schema_whose_layout_is_code_cannot_be_rebuilt(ws):
    class Doc(ws.GitModel):
        name = fields.CharField(id=True)

        class Meta:
            def get_data_path(self, object_id):
                return f"docs/{object_id}.json"

    Doc(name="a").save()
    ws.commit("a doc")
    with pytest.raises(SchemaMismatch, match="application's models"):
        model_from_schema(Workspace(ws.path), ws.schemas()["Doc"])
    assert isinstance(ws.branch.commit, pygit2.Commit)


def test_value_strings_take_each_fields_type(ws, Book):
    from gitmodel.lookups import values_from_strings

    values = values_from_strings(Book, ["year=1999", "price=1.50", "tags=[1, 2]", "title=", "in_print=no"])
    assert values == {"year": 1999, "price": Decimal("1.50"), "tags": [1, 2], "title": "", "in_print": False}
    with pytest.raises(ValidationError):
        values_from_strings(Book, ["year=soon"])
    with pytest.raises(FieldError):
        values_from_strings(Book, ["colour=red"])


@pytest.mark.parametrize("fmt, text", [
    ("jsonl", '\ufeff{"isbn": "7", "title": "bom"}\n'),
    ("json", '\ufeff[{"isbn": "7", "title": "bom"}]'),
    ("csv", '\ufeffisbn,title\n7,bom\n'),
])
def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped(ws, Book, fmt, text):
    import_objects(Book, text, fmt)
    assert Book.get("7").title == "bom"


def test_a_related_id_in_a_csv_cell_may_be_plain_text(ws):
    class Author(ws.GitModel):
        slug = fields.SlugField(id=True)

    class Essay(ws.GitModel):
        author = fields.RelatedField(Author)
        title = fields.CharField()

    Author(slug="ada").save(commit=True)
    import_objects(Essay, 'id,author,title\ne1,ada,plain\ne2,"""ada""",as exported\n', "csv")
    assert Essay.get("e1").author.slug == "ada" and Essay.get("e2").author.slug == "ada"
    out = io.StringIO()
    export_objects(Essay, out, "csv")
    import_objects(Essay, out.getvalue(), "csv")  # an export still reads back
    assert Essay.get("e2").title == "as exported"
