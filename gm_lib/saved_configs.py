"""Configs read back from files: a class name in a file selects a registered config class, and never names code.

A run's ``config.json`` and its checkpoint's ``model_config`` hold :func:`gm_lib.checkpoint.encode_config`'s form,
``{"__class__": "module:qualname", "fields": {...}}``; both may come from another machine (``make unpack``).
:func:`decode_config` looks the name up in an allow-list of class objects the code already imported and builds the
class only from values of each field's annotated kind (``int``, ``float``, ``str``, ``bool``, a ``Literal`` choice,
``None``, tuples and lists of those, a nested registered config); a field the class lacks is refused. Nothing a file
names is imported or called: any other name raises :class:`UnknownConfigClass`, one line naming it.

The allow-list (:func:`known_config_classes`) holds the config of every chapter registry's
:class:`~gm_lib.experiments.ModelEntry` (an entry allows its class when the chapter module makes it), the dataclasses
reachable through those classes' field types, and what the code of this process allows with
:func:`allow_config_class` (a config class defined elsewhere, e.g. in a notebook; :func:`gm_lib.runs.get_or_train`
allows the one it is given). *transformers*' ``AutoConfig`` works the same way: a ``model_type`` string maps to a
known class; a path in the file is not imported. Values saved as plain fields (``dataclasses.asdict``: a run's
``TrainConfig`` and ``DataSpec``, cached scores) are read with :func:`decode_fields` into a class the code names.

This module imports nothing of gm_lib, so any module may decode what it reads without its cache key growing.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal, Union

__all__ = ["ConfigRefused", "UnknownConfigClass", "class_path", "allow_config_class", "known_config_classes",
           "decode_config", "decode_fields", "is_plain_json"]

_SCALARS = (bool, int, float, str)
_MAX_DEPTH = 64  # JSON nesting a saved config may have (recursion in is_plain_json stays shallow)


class ConfigRefused(ValueError):
    """A saved config does not decode: not an encoded config, a field its class lacks, or a value of another kind."""


class UnknownConfigClass(ConfigRefused):
    """A saved config names a class that is not a registered config class (nothing it names was imported or called)."""


_ALLOWED: dict[str, type] = {}  # "module:qualname" -> the class object the code imported


def class_path(cls: type) -> str:
    """``module:qualname`` of a class: the name a saved config records (looked up here, never imported)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """``{field: annotated type}`` of the fields ``cls(...)`` takes (annotations evaluated in the class's module)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _nested_types(annotation: Any) -> list[Any]:
    """The types inside an annotation (``tuple[int, int]`` -> int, int; ``X | None`` -> X, None)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Literal:
        return []
    return [inner for arg in args if arg is not Ellipsis for inner in (arg, *_nested_types(arg))]


def _supported(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return all(type(arg) in _SCALARS or arg is None for arg in typing.get_args(annotation))
    if origin in (Union, types.UnionType, tuple, list, dict):
        return all(arg is Ellipsis or _supported(arg) for arg in typing.get_args(annotation))
    return annotation in (*_SCALARS, type(None)) or (isinstance(annotation, type)
                                                     and dataclasses.is_dataclass(annotation))


def allow_config_class(cls: type) -> type:
    """Let saved configs name ``cls`` (a dataclass config) and the dataclasses its fields' types reach; returns ``cls``.

    Called with classes the code imported, never with anything a file names. The latest class under a
    ``module:qualname`` wins (a reloaded module's).

    Raises:
        TypeError: ``cls`` (or a dataclass it reaches) is not a dataclass, or a field's type is not one a saved
            config can hold; nothing is allowed then.
    """
    _ALLOWED.update(_reachable_configs(cls, {}))
    return cls


def _reachable_configs(cls: type, found: dict[str, type]) -> dict[str, type]:
    """``found`` plus ``cls`` and the dataclasses its fields' types reach, each checked (see allow_config_class)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass; only dataclass configs can be saved and read back")
    if found.get(class_path(cls)) is cls:
        return found
    found[class_path(cls)] = cls
    try:
        types_ = _field_types(cls)
    except NameError as error:  # a string annotation naming what the class's module does not define
        raise TypeError(f"{class_path(cls)}'s field types do not resolve ({error}); define the config and the types "
                        "its fields name at the top level of a module") from None
    for name, annotation in types_.items():
        if not _supported(annotation):
            raise TypeError(f"{class_path(cls)} field {name!r} has type {annotation!r}, which a saved config cannot "
                            "hold; use int, float, str, bool, None, Literal, tuples or a dataclass config")
        for inner in (annotation, *_nested_types(annotation)):
            if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                _reachable_configs(inner, found)
    return found


def known_config_classes() -> dict[str, type]:
    """``{"module:qualname": class}`` that saved configs may name now (see the module docstring)."""
    return dict(sorted(_ALLOWED.items()))


def decode_config(value: Any, expected: type | None = None) -> Any:
    """Rebuild a config saved by :func:`gm_lib.checkpoint.encode_config` as its registered class.

    Args:
        value: ``{"__class__": "module:qualname", "fields": {...}}`` as read from JSON or a checkpoint.
        expected: when given, the class (or a base of it) the config must be.

    Raises:
        UnknownConfigClass: ``value`` names a class that is not registered (one line naming it and the known ones).
        ConfigRefused: not that form, a field the class lacks, a value not of its field's kind, or the class itself
            rejects the values (e.g. an unknown GAN loss).
    """
    if not (isinstance(value, dict) and set(value) == {"__class__", "fields"}):
        raise ConfigRefused(f"a saved config must be {{'__class__': 'module:qualname', 'fields': {{...}}}}, not "
                            f"{_short(value)}")
    name = value["__class__"]
    cls = _ALLOWED.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UnknownConfigClass(f"config names class {_short(name)}, which is not a registered config class (known: "
                                 f"{', '.join(sorted(_ALLOWED))})")
    if expected is not None and not issubclass(cls, expected):
        raise ConfigRefused(f"config names class {name!r} where a {class_path(expected)} belongs")
    return decode_fields(cls, value["fields"])


def decode_fields(cls: type, fields: Any, plain: bool = False) -> Any:
    """``cls(**fields)`` once every value is of its field's annotated kind (``cls`` named by the code, a dataclass).

    ``plain=True`` reads ``dataclasses.asdict`` data: a nested dataclass field holds its fields, read into the class
    the annotation names; else it holds an encoded config (:func:`decode_config`).

    Raises:
        ConfigRefused: ``fields`` is not a dict, names a field ``cls`` lacks, holds a value of another kind, or
            ``cls`` rejects it (one line naming the field).
    """
    where = class_path(cls)
    if not isinstance(fields, dict):
        raise ConfigRefused(f"{where} fields must be a mapping, not {_short(fields)}")
    types_ = _field_types(cls)
    unknown = sorted(str(name) for name in fields if name not in types_)
    if unknown:
        raise ConfigRefused(f"{where} has no field {unknown[0]!r} (its fields: {', '.join(types_)})")
    kwargs = {name: _decode_value(value, types_[name], f"{where} field {name!r}", plain)
              for name, value in fields.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:  # a missing required field, or the class's own validation
        reason = (str(error).splitlines() or [type(error).__name__])[0][:160]
        raise ConfigRefused(f"{where} rejects these fields ({reason})") from None


def _decode_value(value: Any, annotation: Any, where: str, plain: bool) -> Any:
    """``value`` as a value of ``annotation`` (a type :func:`allow_config_class` accepted), else ConfigRefused."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        for alternative in args:
            try:
                return _decode_value(value, alternative, where, plain)
            except UnknownConfigClass:
                raise
            except ConfigRefused:
                continue
    elif origin is Literal:
        if any(type(value) is type(choice) and value == choice for choice in args):
            return value
    elif origin is tuple or origin is list:
        items = value.get("__tuple__") if isinstance(value, dict) and set(value) == {"__tuple__"} else value
        if isinstance(items, list | tuple):  # JSON gives lists, torch.load the tuples it saved
            kinds = [args[0]] * len(items) if origin is list or args[-1:] == (Ellipsis,) else list(args)
            if len(kinds) == len(items):
                decoded = [_decode_value(item, kind, where, plain) for item, kind in zip(items, kinds, strict=True)]
                return tuple(decoded) if origin is tuple else decoded
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {key: _decode_value(item, args[1], where, plain) for key, item in value.items()}
    elif annotation is type(None) or annotation is None:
        if value is None:
            return None
    elif annotation is float:
        if type(value) in (int, float):
            return float(value)
    elif annotation in _SCALARS:
        if type(value) is annotation:
            return value
    elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return decode_fields(annotation, value, plain=True) if plain else decode_config(value, expected=annotation)
    raise ConfigRefused(f"{where} must be {_type_name(annotation)}, not {_short(value)}")


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def is_plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds only dicts with str keys, lists, str, int, float, bool and None (no tensors, no
    objects), at most :data:`_MAX_DEPTH` levels deep: what comparing two saved configs may look at."""
    if depth > _MAX_DEPTH:
        return False
    if value is None or type(value) in _SCALARS:
        return True
    if type(value) is list:
        return all(is_plain_json(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(key) is str and is_plain_json(item, depth + 1) for key, item in value.items())
    return False
