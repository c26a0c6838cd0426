"""Argument types and actions of `ffrtmp jobs submit`'s flags, and the flags
written from the JobSpec proto itself for fields with no hand-made flag."""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from ffrtmp.core.durations import parse_duration
from ffrtmp.core.model import JobSpec
from ffrtmp.v1 import common_pb2

SPEC = "spec."  # the dest prefix of every flag that sets a JobSpec field
_RENDITION = re.compile(r"(\d{1,5})x(\d{1,5})@(\S+)", re.ASCII)


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rendition(text: str) -> dict[str, object]:
    """`1280x720@2500k`: one rung of an HLS ladder."""
    m = _RENDITION.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not WIDTHxHEIGHT@BITRATE, e.g. 1280x720@2500k"
        )
    return {"width": int(m.group(1)), "height": int(m.group(2)), "bitrate": m.group(3)}


class Labels(argparse.Action):
    """Repeated KEY=VALUE flags into one map."""

    def __call__(self, parser: Any, ns: argparse.Namespace, value: Any, option: Any = None) -> None:
        key, sep, val = str(value).partition("=")
        if not sep or not key:
            parser.error(f"{option}: {value!r} is not KEY=VALUE, e.g. zone=eu-west")
        setattr(ns, self.dest, {**(getattr(ns, self.dest) or {}), key: val})


_TYPES: dict[int, Callable[[str], object]] = {
    FieldDescriptor.CPPTYPE_STRING: str,
    FieldDescriptor.CPPTYPE_INT32: int,
    FieldDescriptor.CPPTYPE_INT64: int,
    FieldDescriptor.CPPTYPE_UINT32: int,
    FieldDescriptor.CPPTYPE_UINT64: int,
    FieldDescriptor.CPPTYPE_FLOAT: float,
    FieldDescriptor.CPPTYPE_DOUBLE: float,
}


def field_flags(g: argparse._ArgumentGroup) -> None:
    """A flag for each JobSpec field that has none written above: --NAME with the
    field's type, its help from the field's JobSpec entry. A message field has
    no such flag (test_spec_pipeline fails until one is written)."""
    taken = {a.dest for a in g._actions}
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(JobSpec)}
    for fd in common_pb2.JobSpec.DESCRIPTOR.fields:
        dest, flag = SPEC + fd.name, "--" + fd.name.replace("_", "-")
        if dest in taken or fd.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            continue
        kw: dict[str, Any] = {"dest": dest, "help": helps.get(fd.name) or None}
        if fd.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
            kw.update(action=argparse.BooleanOptionalAction, default=None)
        elif fd.is_repeated:
            kw.update(type=_TYPES[fd.cpp_type], action="append", default=[])
        else:
            kw.update(type=_TYPES[fd.cpp_type])
        g.add_argument(flag, **kw)
