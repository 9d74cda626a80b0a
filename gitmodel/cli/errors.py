"""Exit codes of the command line: one per class of error.

=====  ===================  ==================================================
code   name                 raised for
=====  ===================  ==================================================
0      ok
1      error                any other gitmodel error
2      usage                a wrong command line (unknown option, missing argument)
3      not-a-repository     :class:`~gitmodel.RepositoryNotFound`
4      unknown-revision     :class:`~gitmodel.ReferenceNotFound` (branch, tag, commit)
5      not-found            :class:`~gitmodel.ObjectDoesNotExist`, :class:`~gitmodel.ModelNotFound`
6      invalid              :class:`~gitmodel.ValidationError`, :class:`~gitmodel.FieldError`,
                            :class:`~gitmodel.IntegrityError` (a bad value, lookup or id)
7      conflict             :class:`~gitmodel.MergeConflict`, or a merge that stopped on conflicts
8      push-rejected        :class:`~gitmodel.PushRejected`
9      remote               :class:`~gitmodel.RemoteError` (unreachable, refused credentials)
10     corrupt              :class:`~gitmodel.CorruptObject` (``check`` found unreadable objects)
11     schema               :class:`~gitmodel.SchemaMismatch`, :class:`~gitmodel.MigrationError`
12     repository-state     :class:`~gitmodel.RepositoryError` (pending changes, no merge in progress)
=====  ===================  ==================================================
"""

from __future__ import annotations

import sys
import traceback
from contextlib import contextmanager
from typing import Iterator, Optional

import click

from .. import exceptions as exc

#: (error class, exit code, name), the most specific first
EXIT_CODES: tuple[tuple[type[BaseException], int, str], ...] = (
    (exc.RepositoryNotFound, 3, "not-a-repository"),
    (exc.ReferenceNotFound, 4, "unknown-revision"),
    (exc.ObjectDoesNotExist, 5, "not-found"),
    (exc.ModelNotFound, 5, "not-found"),
    (exc.ValidationError, 6, "invalid"),
    (exc.FieldError, 6, "invalid"),
    (exc.IntegrityError, 6, "invalid"),
    (exc.MergeConflict, 7, "conflict"),
    (exc.PushRejected, 8, "push-rejected"),
    (exc.RemoteError, 9, "remote"),
    (exc.StoredValueMismatch, 10, "corrupt"),
    (exc.CorruptObject, 10, "corrupt"),
    (exc.SchemaMismatch, 11, "schema"),
    (exc.MigrationError, 11, "schema"),
    (exc.RepositoryError, 12, "repository-state"),
    (exc.GitModelError, 1, "error"),
)
CONFLICT = 7
CORRUPT = 10


def exit_code(error: BaseException) -> int:
    """The exit code of ``error``'s class (1 for any other gitmodel error)."""
    return next((code for klass, code, _name in EXIT_CODES if isinstance(error, klass)), 1)


def _wants_debug(args: list[str]) -> bool:
    """``--debug`` among the global options (before the command's name)."""
    from . import COMMANDS

    for arg in args:
        if arg == "--debug":
            return True
        if arg in COMMANDS:
            return False
    return False


def run_guarded(command: click.Command, args: Optional[list[str]], prog_name: str) -> None:
    """Run ``command``; a gitmodel error becomes one line on stderr and its
    exit code (the traceback too with ``--debug``)."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        code = command.main(argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("gitmodel: aborted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except exc.GitModelError as error:
        if _wants_debug(argv):
            traceback.print_exc()
        click.echo(f"gitmodel: error: {_one_line(str(error) or type(error).__name__)}", err=True)
        sys.exit(exit_code(error))
    except BrokenPipeError:  # piped into head
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("gitmodel: interrupted", err=True)
        sys.exit(130)
    except OSError as error:  # a file to import or export
        if _wants_debug(argv):
            traceback.print_exc()
        click.echo(_one_line(f"gitmodel: error: {error.strerror or error}: {error.filename or ''}".rstrip(": ")),
                   err=True)
        sys.exit(1)
    if isinstance(code, int) and code:  # a command's own exit code (a merge that stopped)
        sys.exit(code)


def _one_line(text: str) -> str:
    """``text`` on one line, its control characters escaped (it may quote a repository)."""
    from .output import clean

    return clean(" ".join(text.split()))


#: what turning a user's text into a value may raise besides gitmodel's own
#: errors (RecursionError: JSON nested deeper than the decoder goes)
PARSE_ERRORS = (ValueError, ArithmeticError, RecursionError, TypeError)


@contextmanager
def parsing(what: str) -> Iterator[None]:
    """Around turning the user's text for ``what`` (a field, a lookup, an
    option) into a value: any error of it becomes a
    :class:`~gitmodel.ValidationError` naming ``what`` (exit code 6)."""
    try:
        yield
    except exc.GitModelError:
        raise
    except RecursionError:
        raise exc.ValidationError(f'"{what}" is not a valid value: nested too deeply', what, "invalid") from None
    except PARSE_ERRORS as error:
        raise exc.ValidationError(f'"{what}" is not a valid value: {error}', what, "invalid") from None
