"""``models``, ``ls``, ``show``, ``set``, ``rm``, ``import``, ``export``, ``check``."""

from __future__ import annotations

import io
from typing import Any, Optional

import click

from .. import exchange
from ..exceptions import GitModelError
from ..lookups import lookups_from_strings, values_from_strings
from .context import CliState, get_model, model_names
from .errors import CORRUPT, parsing
from .output import (
    AT_OPTION, JSON_OPTION, fields_list, object_fields, print_json, progress, say, table,
)

pass_state = click.make_pass_decorator(CliState)
MESSAGE_OPTION = click.option("-m", "--message", metavar="MSG", help="The commit message.")


@click.command()
@AT_OPTION
@JSON_OPTION
@pass_state
def models(state: CliState, at: Optional[str], as_json: bool) -> int:
    """The models with their object counts, fields and layout; those that
    cannot be read are named with the reason (exit code 10)."""
    ws = state.workspace(treeish=at)
    stored = ws.schemas(at)
    out = []
    broken: dict[str, str] = dict(ws.__dict__.get("_unreadable_models", {}))
    for name in model_names(ws):
        model = ws.models[name]
        opts = model._meta
        try:
            count = model.all(treeish=at).count()
        except GitModelError as exc:  # its folder is damaged: the others are still listed
            broken[name] = str(exc)
            continue
        out.append({
            "model": name, "folder": opts.folder, "shard": opts.shard, "id_field": opts.id_attr,
            "count": count, "stored_schema": name in stored,
            "fields": {f.name: type(f).__name__ for f in opts.fields},
        })
    if as_json:
        print_json(out + [{"model": name, "count": None, "error": why} for name, why in sorted(broken.items())])
        return CORRUPT if broken else 0
    table(["model", "objects", "id", "layout", "fields"],
          [(m["model"], m["count"], m["id_field"],
            f"{m['folder']}/" + (f" (shard {m['shard']})" if m["shard"] else ""),
            ", ".join(f"{k}:{v}" for k, v in m["fields"].items())) for m in out])
    for name, why in sorted(broken.items()):
        say(f"{name}: cannot be read: {why}", "red")
    return CORRUPT if broken else 0


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.option("--where", "where", multiple=True, metavar="LOOKUP=VALUE",
              help="A condition as filter() takes it (title__startswith=A); repeatable.")
@click.option("--order", metavar="FIELD", help="Order by FIELD (-FIELD: descending).")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="At most N objects.")
@click.option("--fields", "field_names", metavar="A,B", help="Only these fields.")
@AT_OPTION
@JSON_OPTION
@pass_state
def ls(state: CliState, model_name: str, where: tuple[str, ...], order: Optional[str],
       limit: Optional[int], field_names: Optional[str], at: Optional[str], as_json: bool) -> None:
    """The objects of MODEL as a table."""
    ws = state.workspace(treeish=at)
    model = get_model(ws, model_name)
    lookups: dict[str, Any] = {}
    for item in where:
        with parsing(item.partition("=")[0]):
            lookups.update(lookups_from_strings(model, [item]))
    objs = model.all(treeish=at).filter(**lookups)
    if order:
        objs = objs.order_by(order)
    names = [f.name for f in model._meta.fields if f.serialize]
    if field_names:
        names = [n.strip() for n in field_names.split(",") if n.strip()]
        for name in names:
            model._meta.get_field(name)  # FieldError for an unknown one
    if limit is not None:
        objs = objs[:limit]
    rows = [{name: fields[name] for name in names} for fields in map(object_fields, objs)]
    if as_json:
        print_json(rows)
    else:
        table(names, [[row[n] for n in names] for row in rows])


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.argument("object_id", metavar="ID")
@AT_OPTION
@JSON_OPTION
@pass_state
def show(state: CliState, model_name: str, object_id: str, at: Optional[str], as_json: bool) -> None:
    """One object, field by field."""
    ws = state.workspace(treeish=at)
    obj = get_model(ws, model_name).get(object_id, treeish=at)
    fields = object_fields(obj)
    if as_json:
        print_json(fields)
    else:
        fields_list(list(fields.items()))


@click.command("set")
@click.argument("model_name", metavar="MODEL")
@click.argument("object_id", metavar="ID")
@click.argument("values", nargs=-1, required=True, metavar="FIELD=VALUE...")
@MESSAGE_OPTION
@JSON_OPTION
@pass_state
def set_fields(state: CliState, model_name: str, object_id: str, values: tuple[str, ...],
               message: Optional[str], as_json: bool) -> None:
    """Set fields of one object (a new one if ID is not stored), validated, as one commit."""
    ws = state.workspace()
    model = get_model(ws, model_name)
    changes: dict[str, Any] = {}
    for item in values:
        with parsing(item.partition("=")[0]):
            changes.update(values_from_strings(model, [item]))
    try:
        obj = model.get(object_id)
        created = False
    except model.DoesNotExist:
        obj = model(**{str(model._meta.id_attr): object_id})
        created = True
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.save()
    verb = "Add" if created else "Change"
    commit = ws.commit(message or f"{verb} {model_name} {obj.get_id()!r}: {', '.join(changes)}")
    result = {"model": model_name, "id": obj.get_id(), "created": created,
              "commit": str(commit) if commit else None, "fields": object_fields(obj)}
    if as_json:
        print_json(result)
    else:
        say(f"{'added' if created else 'changed'} {model_name} {obj.get_id()} "
            + (f"in {str(commit)[:10]}" if commit else "(nothing changed)"), "green")


@click.command()
@click.argument("model_name", metavar="MODEL")
@click.argument("object_id", metavar="ID")
@MESSAGE_OPTION
@JSON_OPTION
@pass_state
def rm(state: CliState, model_name: str, object_id: str, message: Optional[str], as_json: bool) -> None:
    """Delete one object, as one commit."""
    ws = state.workspace()
    model = get_model(ws, model_name)
    obj = model.get(object_id)
    obj.delete()
    commit = ws.commit(message or f"Delete {model_name} {obj.get_id()!r}")
    if as_json:
        print_json({"model": model_name, "id": obj.get_id(), "commit": str(commit)})
    else:
        say(f"deleted {model_name} {obj.get_id()} in {str(commit)[:10]}", "green")


FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice([f.value for f in exchange.Format]),
                             help="jsonl (JSON Lines), csv or json (an array); "
                                  "default: from the file name, else jsonl.")


@click.command("import")
@click.argument("model_name", metavar="MODEL")
@click.argument("source", metavar="FILE", type=click.File("rb"))
@FORMAT_OPTION
@MESSAGE_OPTION
@JSON_OPTION
@pass_state
def import_file(state: CliState, model_name: str, source: Any, fmt: Optional[str],
                message: Optional[str], as_json: bool) -> None:
    """Add or rewrite objects of MODEL from FILE (- for stdin), validated, as one commit.

    A model new to the repository takes its schema from --models."""
    ws = state.workspace()
    model = get_model(ws, model_name)
    chosen = fmt or exchange.Format.guess(source.name)
    # newline="": a carriage return inside a CSV cell or a JSON string is kept as it is
    source = io.TextIOWrapper(source, encoding="utf-8", newline="")
    with progress(f"importing {model_name}", not as_json) as update:
        result = exchange.import_objects(model, source, chosen, message=message, progress=update)
    out = {"model": model_name, "created": result.created, "updated": result.updated,
           "commit": str(result.commit) if result.commit else None}
    if as_json:
        print_json(out)
    else:
        say(f"{model_name}: {result.created} added, {result.updated} rewritten, "
            + (f"commit {str(result.commit)[:10]}" if result.commit else "nothing changed"), "green")


@click.command()
@click.argument("model_name", metavar="MODEL")
@FORMAT_OPTION
@click.option("-o", "--output", "target", metavar="FILE", type=click.File("w", encoding="utf-8"),
              default="-", help="Write to FILE (default: stdout).")
@AT_OPTION
@pass_state
def export(state: CliState, model_name: str, fmt: Optional[str], target: Any, at: Optional[str]) -> None:
    """Write every object of MODEL as JSON Lines, CSV or a JSON array; importing
    the output gives the same stored objects."""
    ws = state.workspace(treeish=at)
    model = get_model(ws, model_name)
    chosen = fmt or exchange.Format.guess(getattr(target, "name", "") or "")
    with progress(f"exporting {model_name}") as update:
        exchange.export_objects(model, target, chosen, treeish=at, progress=update)


@click.command()
@AT_OPTION
@JSON_OPTION
@pass_state
def check(state: CliState, at: Optional[str], as_json: bool) -> int:
    """Check that every object decodes under its model; list those that do not."""
    ws = state.workspace(treeish=at)
    report: list[dict[str, Any]] = []
    for name in model_names(ws):
        objs = ws.models[name].all(treeish=at, errors="skip")
        count = sum(1 for _ in objs)
        report.append({"model": name, "ok": count,
                       "bad": [{"path": e.path, "reason": e.reason} for e in objs.skipped]})
    bad = sum(len(r["bad"]) for r in report)
    # a stored model whose class cannot be built or does not fit: nothing of it was checked
    broken = dict(ws.__dict__.get("_unreadable_models", {}))
    if as_json:
        print_json(report + [{"model": name, "ok": None, "bad": [], "error": why}
                             for name, why in sorted(broken.items())])
    else:
        for r in report:
            say(f"{r['model']}: {r['ok']} ok, {len(r['bad'])} unreadable", "red" if r["bad"] else "green")
            for item in r["bad"]:
                say(f"  {item['path']}: {item['reason']}", "red")
        for name, why in sorted(broken.items()):
            say(f"{name}: cannot be read: {why}", "red")
    return CORRUPT if bad or broken else 0
