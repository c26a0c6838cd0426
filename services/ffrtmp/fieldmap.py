"""The one mapping between domain dataclasses and proto messages: field by name.

A dataclass's own fields drive it, and each must name a field of the message
(ValueError on first use otherwise), so a field added to both the proto and the
dataclass crosses the wire with no code here. What a field's kind is comes from
the pair: `X | None` is a proto3 `optional` (None when unset), a nested
dataclass a message, `tuple[...]` a repeated field, and a tuple of pairs a
`map<string, string>` (sorted, so equal maps compare equal).
"""

from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from collections.abc import Callable, Hashable
from functools import cache
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

T = TypeVar("T")
M = TypeVar("M", bound=Message)


class Kind(enum.Enum):
    SCALAR = 1
    OPTIONAL = 2  # X | None over a field with presence
    MESSAGE = 3
    OPTIONAL_MESSAGE = 4
    REPEATED = 5
    REPEATED_MESSAGE = 6
    MAP = 7


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    sub: type | None = None  # the dataclass of a message field or of repeated messages
    pb: type[Message] | None = None  # its message class


def _unoptional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return hint, False


def _field(name: str, hint: Any, fd: FieldDescriptor) -> Field:
    hint, optional = _unoptional(hint)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        return Field(name, Kind.MAP)
    repeated = fd.is_repeated
    if optional and (repeated or not fd.has_presence):
        raise ValueError(f"{name}: None needs a proto3 optional or message field")
    if fd.message_type is not None:
        sub = typing.get_args(hint)[0] if repeated else hint
        if not (isinstance(sub, type) and dataclasses.is_dataclass(sub)):
            raise ValueError(f"{name}: message field {fd.full_name} needs a dataclass")
        pb = GetMessageClass(fd.message_type)
        if repeated:
            return Field(name, Kind.REPEATED_MESSAGE, sub, pb)
        return Field(name, Kind.OPTIONAL_MESSAGE if optional else Kind.MESSAGE, sub, pb)
    if repeated:
        return Field(name, Kind.REPEATED)
    return Field(name, Kind.OPTIONAL if optional else Kind.SCALAR)


def plan(cls: type, descriptor: Any) -> tuple[Field, ...]:
    """How each field of dataclass `cls` maps onto message `descriptor`."""
    return _plan(cls, descriptor)


@cache
def _plan(cls: Hashable, descriptor: Any) -> tuple[Field, ...]:
    assert isinstance(cls, type)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        fd = descriptor.fields_by_name.get(f.name)
        if fd is None:
            raise ValueError(f"{cls.__name__}.{f.name} is not a field of {descriptor.full_name}")
        out.append(_field(f.name, hints[f.name], fd))
    return tuple(out)


@dataclasses.dataclass(frozen=True, slots=True)
class _Pair:
    """A plan grouped by kind, so the common case (plain values) is one C-level
    attrgetter and one dict, not a Python branch per field: specs cross the wire
    on every submit, Assign and GetJob."""

    names: tuple[str, ...]
    get: Callable[[Any], tuple[Any, ...]]
    optional: tuple[str, ...]  # OPTIONAL and OPTIONAL_MESSAGE
    messages: tuple[Field, ...]  # MESSAGE and OPTIONAL_MESSAGE
    repeated: tuple[str, ...]
    repeated_messages: tuple[Field, ...]
    maps: tuple[str, ...]


_PAIRS: dict[tuple[type, type], _Pair] = {}


def _pair(cls: type, pb: type[Message]) -> _Pair:
    try:
        return _PAIRS[cls, pb]
    except KeyError:
        pass
    fields = plan(cls, pb.DESCRIPTOR)
    names = tuple(f.name for f in fields)

    def of(*kinds: Kind) -> tuple[Field, ...]:
        return tuple(f for f in fields if f.kind in kinds)

    getter = operator.attrgetter(*names)
    pair = _Pair(
        names,
        getter if len(names) > 1 else lambda o: (getter(o),),
        tuple(f.name for f in of(Kind.OPTIONAL, Kind.OPTIONAL_MESSAGE)),
        of(Kind.MESSAGE, Kind.OPTIONAL_MESSAGE),
        tuple(f.name for f in of(Kind.REPEATED)),
        of(Kind.REPEATED_MESSAGE),
        tuple(f.name for f in of(Kind.MAP)),
    )
    _PAIRS[cls, pb] = pair
    return pair


def to_pb(obj: Any, cls: type[M]) -> M:
    """The message of type `cls` holding dataclass `obj`'s fields."""
    p = _pair(type(obj), cls)
    kw = dict(zip(p.names, p.get(obj), strict=True))
    for name in p.optional:
        if kw[name] is None:
            del kw[name]  # unset
    for f in p.messages:
        if f.name in kw:
            assert f.pb is not None
            kw[f.name] = to_pb(kw[f.name], f.pb)
    for f in p.repeated_messages:
        assert f.pb is not None
        kw[f.name] = [to_pb(v, f.pb) for v in kw[f.name]]
    for name in p.maps:
        kw[name] = dict(kw[name])
    return cls(**kw)


def from_pb(cls: type[T], msg: Message) -> T:
    """A `cls` from message `msg`; fields the dataclass lacks are ignored."""
    return cls(**values(cls, msg))


def values(cls: type, msg: Message) -> dict[str, Any]:
    """The fields of dataclass `cls` in message `msg`, as `cls` holds them."""
    p = _pair(cls, type(msg))
    kw = dict(zip(p.names, p.get(msg), strict=True))
    for name in p.optional:
        if not msg.HasField(name):
            kw[name] = None
    for f in p.messages:
        if kw[f.name] is not None:
            assert f.sub is not None
            kw[f.name] = from_pb(f.sub, kw[f.name])
    for name in p.repeated:
        kw[name] = tuple(kw[name])
    for f in p.repeated_messages:
        assert f.sub is not None
        kw[f.name] = tuple(from_pb(f.sub, v) for v in kw[f.name])
    for name in p.maps:
        kw[name] = tuple(sorted(kw[name].items()))
    return kw


def set_values(cls: type, msg: Message) -> dict[str, Any]:
    """Like `values`, only for the fields `msg` lists as set (ListFields): a
    message that sets few of many fields converts only those."""
    by_name = _by_name(cls, type(msg))
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        f = by_name.get(fd.name)
        if f is None:
            continue  # a field the dataclass lacks
        kind = f.kind
        if kind is Kind.MESSAGE or kind is Kind.OPTIONAL_MESSAGE:
            assert f.sub is not None
            value = from_pb(f.sub, value)
        elif kind is Kind.REPEATED:
            value = tuple(value)
        elif kind is Kind.REPEATED_MESSAGE:
            assert f.sub is not None
            value = tuple(from_pb(f.sub, v) for v in value)
        elif kind is Kind.MAP:
            value = tuple(sorted(value.items()))
        out[f.name] = value
    return out


_BY_NAME: dict[tuple[type, type], dict[str, Field]] = {}


def _by_name(cls: type, pb: type[Message]) -> dict[str, Field]:
    found = _BY_NAME.get((cls, pb))
    if found is None:
        found = _BY_NAME[cls, pb] = {f.name: f for f in plan(cls, pb.DESCRIPTOR)}
    return found


def unmapped(cls: type, descriptor: Any) -> set[str]:
    """Fields of the message that dataclass `cls` does not carry."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {fd.name for fd in descriptor.fields} - names
