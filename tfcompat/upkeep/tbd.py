"""Apple's text-based stubs (.tbd): what a system library of an SDK exports for arm64 macOS.

A stub is TAPI's description of a dylib in the SDK, in place of the binary: YAML (``--- !tapi-tbd``
version 4, ``!tapi-tbd-v3`` and ``-v2``) or JSON (``tapi_tbd_version`` 5). One file can hold several
libraries: libSystem.B.tbd inlines the ``/usr/lib/system/*`` libraries it re-exports. Objective-C
classes are listed by class name and exported as ``_OBJC_CLASS_$_`` and ``_OBJC_METACLASS_$_``
symbols (``_OBJC_EHTYPE_$_`` and ``_OBJC_IVAR_$_`` likewise), as ld64 reads them.

PyYAML reads the YAML (the stubs are plain YAML apart from their document tags), json the JSON.
Used by ``generate`` only: the suite itself reads the table it makes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

#: The targets of an Apple-silicon Mac, best first: a stub that lists no arm64 slice (the newest
#: SDKs list arm64e alone) describes the arm64e system library an arm64 process loads.
TARGETS = ("arm64-macos", "arm64e-macos")
_ARCHS = ("arm64", "arm64e")  # tbd v1 - v3 name architectures and a platform instead of targets


class StubError(Exception):
    """Not a stub this reader knows; the message is one line."""


@dataclass(frozen=True)
class Stub:
    """One library of a stub: its install name, its exports for arm64 macOS and the libraries it
    re-exports (their exports are its exports too)."""

    install_name: str
    exports: frozenset[str]
    reexports: tuple[str, ...]


def read(text: str) -> list[Stub]:
    """Every library described by the stub ``text``, the main one first (no arm64 macOS slice:
    none)."""
    if text.lstrip().startswith("{"):
        try:
            return _json(json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StubError(f"not a TAPI v5 JSON stub ({exc})") from None
    try:
        documents = list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise StubError(f"not a TAPI YAML stub ({str(exc).splitlines()[0]})") from None
    stubs = []
    for document in documents:
        if not isinstance(document, dict) or "install-name" not in document:
            raise StubError("not a TAPI YAML stub (a document without install-name)")
        stub = _yaml(document)
        if stub is not None:
            stubs.append(stub)
    return stubs


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
    """PyYAML's safe loader that reads the tagged stub documents as plain mappings."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    """A stub document: its mapping, with the version its tag names (``!tapi-tbd-v3``: 3)."""
    document = loader.construct_mapping(node, deep=True)
    if suffix.startswith("-tbd-v") and suffix[6:].isdigit():
        document.setdefault("tbd-version", int(suffix[6:]))
    return document


_Loader.add_multi_constructor("!tapi", _tagged)


def _yaml(document: dict) -> Stub | None:
    version = int(document.get("tbd-version", 1))
    if version >= 4:
        targets = _targets(document.get("targets", []))
        if targets is None:
            return None

        def applies(section: dict) -> bool:
            return targets in section.get("targets", [])
    else:
        archs = document.get("archs", [])
        if document.get("platform") not in ("macosx", "macos") or not any(a in _ARCHS for a in archs):
            return None
        arch = next(a for a in _ARCHS if a in archs)

        def applies(section: dict) -> bool:
            return arch in section.get("archs", [])

    names: set[str] = set()
    for section in document.get("exports", []) + document.get("reexports", []):
        if applies(section):
            names.update(section.get("symbols", []), section.get("weak-symbols", []))
            names.update(section.get("weak-def-symbols", []), section.get("thread-local-symbols", []))
            # tbd v1 - v2 write classes with the symbol's leading underscore, v3 and later without.
            classes = [c[1:] if version < 3 else c for c in section.get("objc-classes", [])]
            names.update(
                _objc(classes, section.get("objc-eh-types", []), section.get("objc-ivars", []), version)
            )
    reexported = []
    if version >= 4:
        for section in document.get("reexported-libraries", []):
            if applies(section):
                reexported += section.get("libraries", [])
    else:
        for section in document.get("exports", []):
            if applies(section):
                reexported += section.get("re-exports", [])
    return Stub(str(document["install-name"]), frozenset(names), tuple(reexported))


def _targets(listed: list[str]) -> str | None:
    return next((target for target in TARGETS if target in listed), None)


def _objc(classes: list[str], eh_types: list[str], ivars: list[str], version: int) -> set[str]:
    names = {f"_OBJC_CLASS_$_{c}" for c in classes} | {f"_OBJC_METACLASS_$_{c}" for c in classes}
    names |= {f"_OBJC_EHTYPE_$_{t[1:] if version < 3 else t}" for t in eh_types}
    names |= {f"_OBJC_IVAR_$_{i[1:] if version < 3 else i}" for i in ivars}
    return names


def _json(stub: dict) -> list[Stub]:
    if stub.get("tapi_tbd_version") != 5:
        raise ValueError(f"tapi_tbd_version {stub.get('tapi_tbd_version')!r}")
    found = []
    for library in [stub["main_library"], *stub.get("libraries", [])]:
        targets = _targets([info["target"] for info in library.get("target_info", [])])
        if targets is None:
            continue

        def applies(section: dict, targets: str = targets) -> bool:
            return "targets" not in section or targets in section["targets"]

        names: set[str] = set()
        for key in ("exported_symbols", "reexported_symbols"):
            for section in library.get(key, []):
                if applies(section):
                    for kind in ("data", "text"):
                        part = section.get(kind, {})
                        names.update(
                            part.get("global", []), part.get("weak", []), part.get("thread_local", [])
                        )
                        names |= _objc(
                            part.get("objc_class", []),
                            part.get("objc_eh_type", []),
                            part.get("objc_ivar", []),
                            5,
                        )
        reexported = [
            name
            for section in library.get("reexported_libraries", [])
            if applies(section)
            for name in section["names"]
        ]
        found.append(Stub(library["install_names"][0]["name"], frozenset(names), tuple(reexported)))
    return found
