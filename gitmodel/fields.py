"""Field types: coercion (``to_python``), validation and JSON conversion.

A field is also the descriptor that stores its value on an instance, so
``page.title`` is typed as the field's Python type for type checkers.
The date and time fields live in :mod:`gitmodel.datefields` (importable
from here as well), with their rule for naive and aware values.
"""

from __future__ import annotations

import io

import copy
import decimal
import math
import re
import unicodedata
import uuid
from typing import (
    IO,
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Generic,
    Iterable,
    Sequence,
    TypeVar,
    Union,
    overload,
)
from urllib.parse import urlsplit

import pygit2

from .exceptions import FieldError, ValidationError
from .validation import (
    INT_LIMIT,
    has_surrogates,
    id_problem,
    json_problem,
    read_blob,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from .models import GitModel

T = TypeVar("T")

__all__ = [
    "NOT_PROVIDED",
    "Field",
    "CharField",
    "SlugField",
    "EmailField",
    "URLField",
    "UUIDField",
    "IntegerField",
    "FloatField",
    "DecimalField",
    "BooleanField",
    "DateField",
    "DateTimeField",
    "TimeField",
    "JSONField",
    "BlobField",
    "RelatedField",
    "ManyToManyField",
    "ListField",
    "OnDelete",
    "PROTECT",
    "CASCADE",
    "SET_NULL",
    "SET_DEFAULT",
    "GitObjectField",
]


#: how many looked-up ids a field remembers as valid
_CLEAN_ID_MEMO = 262_144


class _NotProvided:
    def __repr__(self) -> str:
        return "NOT_PROVIDED"


NOT_PROVIDED: Any = _NotProvided()

class Field(Generic[T]):
    """Base of all fields.

    ``clean(value)`` runs ``to_python`` then ``validate`` then the
    ``validators``; ``to_json``/``from_json`` convert between the Python
    value and what is stored in ``data.json``.
    """

    _next_creation_counter: ClassVar[int] = 0
    #: declaration order, so a model lists its fields as written
    creation_counter: int
    default_error_messages: ClassVar[dict[str, str]] = {
        "required": "is required",
        "invalid_choice": "must be one of {choices}",
        "readonly": "is read-only and cannot be changed",
        "invalid_id": "{reason}",
        "invalid": "is invalid",
    }
    #: stored in ``data.json`` (``BlobField`` is stored beside it instead)
    stored_in_json: ClassVar[bool] = True
    #: values are mutable containers that must be copied, not shared
    mutable: ClassVar[bool] = False

    name: str
    model: type[GitModel] | None

    def __init__(
        self,
        *,
        id: bool = False,
        default: Any = NOT_PROVIDED,
        required: bool = True,
        readonly: bool = False,
        unique: bool = False,
        serialize: bool = True,
        choices: Iterable[Any] | None = None,
        validators: Sequence[Callable[[Any], Any]] = (),
        error_messages: dict[str, str] | None = None,
        index: bool = False,
        merge: Callable[[Any, Any, Any], Any] | None = None,
        name: str | None = None,
        previous_names: Sequence[str] = (),
    ) -> None:
        self.id = id
        self._default = default
        self.required = required
        self.readonly = readonly
        self.unique = unique
        self.serialize = serialize
        self.choices = self._normalize_choices(choices)
        self.validators = list(validators)
        self.index = index or unique
        self.merge = merge
        #: names this field was stored under before (read when it is missing)
        self.previous_names = tuple(previous_names)
        if name is not None:
            self.name = name
        self.model = None
        messages: dict[str, str] = {}
        for klass in reversed(type(self).__mro__):
            messages.update(getattr(klass, "default_error_messages", {}))
        messages.update(error_messages or {})
        self.error_messages = messages
        self.creation_counter = Field._next_creation_counter
        Field._next_creation_counter += 1

    # -- declaration ----------------------------------------------------
    def contribute_to_class(self, cls: type[GitModel], name: str) -> Field[T]:
        """Attach (a copy of) this field to ``cls`` under ``name``."""
        field = copy.copy(self) if self.model is not None else self
        field.__dict__.pop("_clean_ids", None)  # a copy remembers nothing yet
        field.name = name
        field.model = cls
        setattr(cls, name, field)
        cls._meta.add_field(field)
        return field

    def __set_name__(self, owner: type, name: str) -> None:
        if not hasattr(self, "name"):
            self.name = name

    @staticmethod
    def _normalize_choices(choices: Iterable[Any] | None) -> list[Any] | None:
        if choices is None:
            return None
        values = []
        for choice in choices:
            if isinstance(choice, (tuple, list)) and len(choice) == 2:
                choice = choice[0]
            values.append(choice)
        return values

    # -- descriptor -------------------------------------------------------
    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: Any) -> T: ...

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        return instance._data.get(self.name)

    def __set__(self, instance: Any, value: T) -> None:
        instance._data[self.name] = value

    # -- defaults ---------------------------------------------------------
    def has_default(self) -> bool:
        return self._default is not NOT_PROVIDED

    def get_default(self) -> Any:
        """The default value (called if it is callable), else ``None``."""
        if self._default is NOT_PROVIDED:
            return None
        if callable(self._default):
            return self._default()
        return copy.deepcopy(self._default) if self.mutable else self._default

    @property
    def default(self) -> Any:
        """The default value (python-gitmodel 0.1's ``field.default``)."""
        return self.get_default()

    # -- validation -------------------------------------------------------
    def get_error_message(self, code: str, default: "str | None" = None, **params: Any) -> str:
        """The message for ``code``, naming the field (``default``, else the
        code itself, when the field has none), as in python-gitmodel 0.1."""
        template = self.error_messages.get(code, default if default is not None else code)
        return f'"{self.name}" {template.format(field=self, **params)}'

    def error(self, code: str, **params: Any) -> ValidationError:
        """A ``ValidationError`` for ``code`` whose message names the field."""
        return ValidationError(self.get_error_message(code, **params), field=self.name, code=code)

    def is_empty(self, value: Any) -> bool:
        return value is None

    def to_python(self, value: Any) -> T | None:
        """Coerce ``value`` to this field's Python type, or raise."""
        return value  # type: ignore[no-any-return]

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        """Check a coerced value; raise ``ValidationError`` if wrong."""
        if self.id and value is not None and self.is_empty(value):
            self.validate_id(value)  # an id is never optional, whatever ``required`` says
        if self.is_empty(value):
            if self.required:
                raise self.error("required")
            return
        if self.choices is not None and value not in self.choices:
            raise self.error(
                "invalid_choice", choices=", ".join(str(c) for c in self.choices)
            )
        if self.id:
            self.validate_id(value)

    def validate_id(self, value: Any) -> None:
        """Refuse ids that are not safe as one path component."""
        reason = id_problem(value)
        if reason:
            raise self.error("invalid_id", reason=reason)

    def run_validators(self, value: Any) -> None:
        if self.is_empty(value):
            return
        for validator in self.validators:
            try:
                validator(value)
            except ValidationError as exc:
                if exc.field is None:
                    raise ValidationError(
                        f'"{self.name}" {exc.message}', field=self.name, code=exc.code
                    ) from None
                raise
            except (ValueError, TypeError) as exc:
                raise ValidationError(
                    f'"{self.name}" {exc}', field=self.name, code="invalid"
                ) from None

    def clean(self, value: Any, instance: GitModel | None = None) -> T | None:
        """``to_python``, then ``validate``, then the ``validators``."""
        value = self.to_python(value)
        self.validate(value, instance)
        self.run_validators(value)
        return value

    def clean_id(self, value: Any) -> Any:
        """``clean`` for an id being looked up; string ids are remembered
        (bounded), since the same ids are looked up again and again."""
        if type(value) is not str:
            return self.clean(value)
        memo = self.__dict__.setdefault("_clean_ids", {})
        cleaned = memo.get(value)
        if cleaned is None:
            cleaned = self.clean(value)
            if len(memo) >= _CLEAN_ID_MEMO:
                memo.clear()
            memo[value] = cleaned
        return cleaned

    # -- storage ----------------------------------------------------------
    def to_json(self, value: Any) -> Any:
        """The JSON-compatible form of a clean value."""
        return value

    def from_json(self, value: Any) -> Any:
        """The Python value for what was stored."""
        return self.to_python(value)

    def copy_value(self, value: Any) -> Any:
        """A copy safe to hand to a caller (mutable values are deep-copied)."""
        return copy.deepcopy(value) if self.mutable else value

    def __repr__(self) -> str:
        name = getattr(self, "name", None)
        return f"<{type(self).__name__}: {name}>" if name else f"<{type(self).__name__}>"


def _has_text_form(value: Any) -> bool:
    """Whether ``str(value)`` is a text form worth storing: not for booleans
    (``"True"`` is no JSON and is usually a mistake), bytes (the text depends
    on an encoding), containers (their ``str`` is a repr) or objects without
    their own ``__str__`` (``<object at 0x...>`` differs every run)."""
    if isinstance(value, (bool, bytes, bytearray, memoryview, list, tuple, dict, set, frozenset)):
        return False
    return type(value).__str__ is not object.__str__ or type(value).__repr__ is not object.__repr__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


class CharField(Field[str]):
    """Text. Other values with a text form (numbers, dates, UUIDs...) are
    stored as ``str(value)``, as python-gitmodel 0.1 did."""

    default_error_messages = {
        "invalid_string": "must be a string or a value with a text form (not {type})",
        "invalid_characters": "must not contain unpaired surrogates",
        "max_length": "must be at most {max_length} characters",
    }

    def __init__(self, *, max_length: int | None = None, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def is_empty(self, value: Any) -> bool:
        return value is None or value == ""

    def to_python(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            pass
        elif _is_number(value) or (_has_text_form(value) and not self.id):
            try:
                value = str(value)  # an id (a path component) is text or a number only
            except ValueError:  # an integer past Python's 4,300 digits for text
                raise self.error("invalid_string", type=type(value).__name__) from None
        else:
            raise self.error("invalid_string", type=type(value).__name__)
        if value is not None and self.id:
            value = unicodedata.normalize("NFC", value)
        return value

    def from_json(self, value: Any) -> Any:
        if type(value) is str and value.isascii():
            return value  # ASCII is already NFC and has no surrogates
        value = self.to_python(value)
        if value is not None and has_surrogates(value):  # stored as a "\ud800" escape
            raise self.error("invalid_characters")
        return value

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if value is None:
            return
        if has_surrogates(value):
            raise self.error("invalid_characters")
        if self.max_length is not None and len(value) > self.max_length:
            raise self.error("max_length", max_length=self.max_length)


class SlugField(CharField):
    """Letters, digits, underscores and hyphens."""

    default_error_messages = {
        "invalid_slug": "must contain only letters, numbers, underscores and dashes"
    }
    _slug_re = re.compile(r"^[-\w]+\Z")

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if value and not self._slug_re.match(value):
            raise self.error("invalid_slug")


class EmailField(CharField):
    """An e-mail address (``local@domain.tld``)."""

    default_error_messages = {"invalid_email": "must be a valid e-mail address"}
    _email_re = re.compile(
        r"^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*"
        r"@(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z]{2,63}\.?\Z",
        re.IGNORECASE,
    )

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if value and not self._email_re.match(value):
            raise self.error("invalid_email")


class URLField(CharField):
    """An absolute URL, optionally limited to some ``schemes``."""

    default_error_messages = {
        "invalid_url": "must be a valid URL",
        "invalid_scheme": "scheme must be one of {schemes}",
    }

    def __init__(self, *, schemes: Iterable[str] | None = None, **kwargs: Any) -> None:
        self.schemes = [s.lower() for s in schemes] if schemes else None
        super().__init__(**kwargs)

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if not value:
            return
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            raise self.error("invalid_url") from None
        if not parts.scheme or not host or any(c.isspace() for c in value):
            raise self.error("invalid_url")
        if self.schemes and parts.scheme.lower() not in self.schemes:
            raise self.error("invalid_scheme", schemes=", ".join(self.schemes))


class UUIDField(CharField):
    """A string id whose default is a fresh ``uuid4().hex``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", lambda: uuid.uuid4().hex)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str | None:
        if isinstance(value, uuid.UUID):
            return value.hex
        return super().to_python(value)


class IntegerField(Field[int]):
    """A whole number; ``'33'`` and ``33.0`` become 33, ``20.5`` is refused."""

    default_error_messages = {
        "invalid_int": "must be an integer",
        "too_large": "must have at most {digits} digits",
    }
    #: longer integers cannot be written as JSON text (Python's int/str limit is 4300)
    max_digits: ClassVar[int] = 4000

    def to_python(self, value: Any) -> int | None:
        if value is None or (type(value) is int):
            if value is not None and value.bit_length() > 13_000 and abs(value) >= INT_LIMIT:
                raise self.error("too_large", digits=IntegerField.max_digits)
            return value
        if isinstance(value, bool):
            raise self.error("invalid_int")
        if isinstance(value, float):
            if not math.isfinite(value) or not value.is_integer():
                raise self.error("invalid_int")
            return int(value)
        if isinstance(value, (int, decimal.Decimal, str)):
            try:
                number = decimal.Decimal(value.strip() if isinstance(value, str) else value)
            except (decimal.InvalidOperation, ValueError):
                raise self.error("invalid_int") from None
            if not number.is_finite() or number != number.to_integral_value():
                raise self.error("invalid_int")
            if abs(number.adjusted()) >= self.max_digits:
                raise self.error("invalid_int")
            return int(number)
        raise self.error("invalid_int")


class FloatField(Field[float]):
    """A finite floating-point number."""

    default_error_messages = {
        "invalid_float": "must be a floating-point number",
        "not_finite": "must be a finite number",
    }

    def to_python(self, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(
            value, (int, float, decimal.Decimal, str)
        ):
            raise self.error("invalid_float")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise self.error("invalid_float") from None
        if not math.isfinite(number):
            raise self.error("not_finite")
        return number


class DecimalField(Field[decimal.Decimal]):
    """An exact decimal, stored as a string so it never passes through float."""

    default_error_messages = {
        "invalid_decimal": "must be a numeric value",
        "not_finite": "must be a finite number",
        "max_digits": "must have at most {max_digits} digits",
        "max_decimal_places": "must have at most {decimal_places} decimal places",
        "max_whole_digits": "must have at most {whole} digits before the point",
    }

    def __init__(
        self,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> decimal.Decimal | None:
        if value is None or isinstance(value, decimal.Decimal):
            number = value
        elif isinstance(value, bool):
            raise self.error("invalid_decimal")
        elif isinstance(value, float):
            number = decimal.Decimal(repr(value)) if math.isfinite(value) else None
            if number is None:
                raise self.error("not_finite")
        elif isinstance(value, (int, str)):
            try:
                number = decimal.Decimal(value.strip() if isinstance(value, str) else value)
            except (decimal.InvalidOperation, ValueError):
                raise self.error("invalid_decimal") from None
        else:
            raise self.error("invalid_decimal")
        if number is not None and not number.is_finite():
            raise self.error("not_finite")
        return number

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if value is None:
            return
        _sign, digit_tuple, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        decimals = -exponent if exponent < 0 else 0
        digits = max(len(digit_tuple), decimals) if exponent < 0 else len(digit_tuple) + exponent
        whole = digits - decimals
        if self.max_digits is not None and digits > self.max_digits:
            raise self.error("max_digits", max_digits=self.max_digits)
        if self.decimal_places is not None and decimals > self.decimal_places:
            raise self.error("max_decimal_places", decimal_places=self.decimal_places)
        if (
            self.max_digits is not None
            and self.decimal_places is not None
            and whole > self.max_digits - self.decimal_places
        ):
            raise self.error("max_whole_digits", whole=self.max_digits - self.decimal_places)

    def to_json(self, value: Any) -> Any:
        return None if value is None else str(value)


class BooleanField(Field[bool]):
    """``True``/``False``; ``None`` only when ``nullable``."""

    default_error_messages = {"invalid_bool": "must be true or false"}
    _truthy = {"true", "1", "yes", "on"}
    _falsy = {"false", "0", "no", "off"}

    def __init__(self, nullable: bool = False, **kwargs: Any) -> None:
        self.nullable = nullable
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> bool | None:
        if value is None:
            return None if self.nullable else False
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in self._truthy | self._falsy:
            return value.strip().lower() in self._truthy
        raise self.error("invalid_bool")

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        if value is None and self.nullable:
            return
        super().validate(value, instance)


class JSONField(Field[Any]):
    """Any JSON value: dicts with string keys, lists, strings, finite numbers."""

    mutable = True
    default_error_messages = {
        "invalid_json": "must be JSON-serializable: {reason}",
    }

    def to_python(self, value: Any) -> Any:
        if value is not None:
            reason = json_problem(value)
            if reason:
                raise self.error("invalid_json", reason=reason)
        return value

    def from_json(self, value: Any) -> Any:
        return self.to_python(value)  # stored NaN, Infinity or deep nesting is refused

    def to_json(self, value: Any) -> Any:
        return value


class BlobField(Field[IO[bytes]]):
    """Binary content stored as its own git blob beside ``data.json``.

    Assign bytes, str or a file-like object, or a
    :class:`~gitmodel.blobs.BlobFile` to keep a file name and content type;
    reading gives a fresh ``io.BytesIO`` each time (with ``name``,
    ``content_type`` and ``size``), loaded from git only when first read.
    """

    stored_in_json = False
    default_error_messages = {"invalid_blob": "must be bytes, str or a readable file"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    @overload  # type: ignore[override]
    def __get__(self, instance: None, owner: Any) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: Any) -> IO[bytes]: ...

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        from .blobs import read

        value = instance._data.get(self.name)
        if isinstance(value, pygit2.Oid):
            path = instance._meta.get_blob_path(instance._stored_id, self)
            value = read_blob(instance._meta.workspace.repo, value, path)
            instance._data[self.name] = value
        return read(instance._meta.workspace, value)

    def __set__(  # type: ignore[override]
        self, instance: Any, value: Union[IO[bytes], bytes, str, None]
    ) -> None:
        from .blobs import BlobFile

        data: Any = value
        if isinstance(data, BlobFile):
            instance._data[self.name] = data  # kept whole: a file is streamed on save
            return
        content_type = getattr(data, "content_type", None)
        if isinstance(data, io.BytesIO) and isinstance(content_type, str):
            # another object's file as read (``new.f = old.f``): its name and type go with it
            name = getattr(data, "name", None)
            data = BlobFile(data.getvalue(), name=name if isinstance(name, str) else None,
                            content_type=content_type)
        elif isinstance(data, (io.TextIOBase, io.BytesIO)):
            data = data.read()  # text (stored as UTF-8), or bytes already in memory
        elif hasattr(data, "read"):
            data = BlobFile(data)  # a file object: streamed into git on save, not read here
        if isinstance(data, BlobFile):
            instance._data[self.name] = data
            return
        if isinstance(data, str) and not has_surrogates(data):  # (else refused on save)
            data = data.encode("utf-8")
        instance._data[self.name] = data

    def to_python(self, value: Any) -> Any:
        from .blobs import BlobFile

        if value is None or isinstance(value, (bytes, pygit2.Oid, BlobFile)):
            return value
        raise self.error("invalid_blob")

    def blob_name(self, data_filename: str) -> str:
        """The file name used beside the data file."""
        return f"{self.name}.data"


class GitObjectField(Field[Any]):
    """A git object id, stored as hex; reads give the ``pygit2`` object."""

    default_error_messages = {
        "invalid_oid": "must be a valid git OID (40 or 64 hexadecimal digits)",
        "missing_object": "must point to an existing object",
        "invalid_type": "must point to a {type}",
    }

    def __init__(self, type: Any = None, **kwargs: Any) -> None:
        self.type = type
        super().__init__(**kwargs)

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        value = instance._data.get(self.name)
        if isinstance(value, (str, pygit2.Oid)):
            try:
                return instance._meta.workspace.repo[value]
            except (KeyError, ValueError):
                return value
        return value

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, pygit2.Object):
            return str(value.id)
        if isinstance(value, pygit2.Oid):
            return str(value)
        if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", value):
            return value.lower()
        raise self.error("invalid_oid")

    def validate(self, value: Any, instance: GitModel | None = None) -> None:
        super().validate(value, instance)
        if value is None or instance is None:
            return
        workspace = instance._meta.workspace
        obj = workspace.repo.get(value) if workspace is not None else None
        if obj is None:
            raise self.error("missing_object")
        if self.type is not None and not isinstance(obj, self.type):
            raise self.error("invalid_type", type=self.type.__name__)


# date and time fields live in their own module; they are fields all the same
from .datefields import DateField, DateTimeField, TimeField  # noqa: E402
# relations and lists too: their integrity and merge rules live beside them
from .relations import CASCADE, PROTECT, SET_DEFAULT, SET_NULL, OnDelete, RelatedField  # noqa: E402
from .listfield import ListField, ManyToManyField  # noqa: E402
