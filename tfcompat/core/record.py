"""The result record: one JSON file per run, the contract between the checks and the report.

One typed model (msgspec Structs), used by the writer and by every reader: ``write_record``
converts what a check built into a ``Record`` (validating it) before writing, and
``load_record`` decodes a file straight into one, so a file that does not fit the model is
refused with the path of the first wrong field. The JSON Schema in ``schemas/record.schema.json``
is generated from this model (``python -m tfcompat.schemas``) and documented in the README.

``verdict`` is about the pair: ``error`` means the suite could not reach a verdict (the
machine, the network, a damaged cache) and says nothing about the pair; ``not_installable``
means the pair cannot be installed from binary wheels, which is neither a pass nor a failure.
Files are written atomically and never overwritten, so reruns keep their history and records
from many machines merge by copying them into one folder.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from tfcompat.core import config
from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import FilesError, write_new
from tfcompat.core.matrix import Row

SCHEMA = 2
Kind = Literal["verify", "abi", "map"]
Verdict = Literal["ok", "fail", "error", "not_installable"]
#: ``error``: no verdict (infrastructure); ``skipped``: nothing to measure here (e.g. no GPU).
ProbeStatus = Literal["ok", "fail", "error", "not_reached", "skipped"]
Claim = Literal["yes", "no", "ambiguous"]


class RecordError(TfcompatError):
    """A file that is not a readable record of this schema; the message names the file."""


class _Model(msgspec.Struct):
    """The base of the record's parts. Keyword-only fields (``kw_only`` is set on each class:
    msgspec does not inherit it) let optional fields come before required ones; fields a newer
    writer adds are ignored by an older reader (msgspec's default)."""


class RowFields(_Model, kw_only=True):
    """The matrix row a record is about; (python, tf, metal) is its identity."""

    number: int
    python: str
    tf: str
    metal: str  # a version, or "none" for TensorFlow alone
    supports: Claim | None
    constraints: list[str] = []
    note: str = ""


class Gpu(_Model, kw_only=True):
    name: str
    metal_support: str | None = None  # e.g. "Metal 3"
    virtual: bool = False  # "Apple Paravirtual device": a hosted CI Mac


class CI(_Model, kw_only=True):
    provider: str  # "github-actions"
    runner_name: str | None = None
    runner_os: str | None = None
    runner_arch: str | None = None
    runner_environment: str | None = None  # "github-hosted" | "self-hosted"
    image: str | None = None
    image_version: str | None = None
    run_url: str | None = None


class Host(_Model, kw_only=True):
    os: str
    os_version: str
    os_build: str | None = None
    machine: str
    chip: str | None = None
    python: str
    gpus: list[Gpu] = []
    ci: CI | None = None


class Tools(_Model, kw_only=True):
    tfcompat: str | None = None
    uv: str | None = None
    nox: str | None = None


class Provision(_Model, kw_only=True):
    status: Literal["ok", "error", "not_installable"]
    error: str | None = None
    signature: str | None = None
    detail: str = ""  # the installer's own words, bounded
    seconds: float | None = None
    interpreter: str | None = None
    requirements: list[str] = []
    exclude_newer: str | None = None
    packages: list[str] = []  # "name==version", as installed
    reused: bool = False
    # Binary wheels only (binaryonly.py): what had no wheel as of exclude_newer, the packages
    # taken as of a later date because of it, and those built from sdists (no wheel anywhere).
    missing: list[str] = []
    exclude_newer_package: dict[str, str] = {}
    sdists: list[str] = []


class Probe(_Model, kw_only=True):
    status: ProbeStatus
    returncode: int | None = None
    signal: str | None = None
    seconds: float | None = None
    timed_out: bool = False
    signature: str | None = None
    reason: str | None = None  # status error: the machine's failure with its fix; skipped: why
    error: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    result: dict[str, Any] | None = None
    logs: dict[str, str] | None = None  # "stdout"/"stderr" → file beside the record


class Wheel(_Model, kw_only=True):
    name: str
    version: str
    filename: str
    sha256: str


class Hazard(_Model, kw_only=True):
    """A failure predicted for training (not loading) from the code in the wheels."""

    kind: Literal["xla"]  # the default optimizer compiles with XLA, which the plugin cannot run
    #: None: no prediction (``error`` says why: the wheels could not be had or read); never a pass.
    predicted: Literal["fails", "ok"] | None
    keras: str = ""  # which Keras tf.keras resolves to, with its version: "keras 2.11.0"
    reason: str = ""  # one line: what in the wheel decides it
    workaround: str | None = None  # what a user can do, e.g. "tf.keras.optimizers.legacy.Adam"
    error: str | None = None  # one line: why there is no prediction


class InstallCommand(_Model, kw_only=True):
    """The command a user types today for a pair, and what it needs to work."""

    command: str  # python -m pip install "tensorflow-macos==2.12.0" "tensorflow-metal==0.8.0" ...
    pins: list[str] = []  # extra pins the command carries, e.g. "numpy<2"
    reason: str | None = None  # why the pins: what today's resolution breaks
    works: bool = True  # False: no command installs the pair from wheels today
    keras: str | None = None  # the Keras the command brings today: "keras 3.12.0", "tf-keras 2.19.0"


class Preflight(_Model, kw_only=True):
    """Can a pair be installed on macOS arm64 for one Python, from binary wheels, as of its release?"""

    status: Literal["installs", "not_installable", "no_wheel", "error"]
    #: not_installable: the requirement with no macOS arm64 wheel in its range, then or since.
    requirement: str | None = None
    exclude_newer: str | None = None  # the pair's release: one day after its newest wheel
    packages: list[str] = []
    #: Every requirement with no macOS arm64 wheel as of ``exclude_newer``, in the order found
    #: (empty: installs as of the release); each is then taken as of its first arm64 wheel:
    missing: list[str] = []
    exclude_newer_package: dict[str, str] = {}  # package -> the later date it is resolved as of
    sdists: list[str] = []  # built from the sdist: no wheel for any platform (pure Python)
    error: str | None = None  # why no answer (status "error")
    install: InstallCommand | None = None


class SecondLayer(_Model, kw_only=True):
    """Where the first failure is a library not found: the plugin checked against that library
    as the TensorFlow wheel ships it today, i.e. what a path fix would meet next."""

    library: str  # the install name dyld looked for
    found_as: str | None  # the file in the TensorFlow wheel that is that library today
    verdict: Literal["ok", "fail"] | None
    first: str | None = None
    unresolved_count: int = 0


class FloorStep(_Model, kw_only=True):
    """A macOS the load floor passes through, and the import that needs it."""

    macos: str  # the oldest macOS known to export ``symbol``
    symbol: str
    library: str  # the system library the import is bound to (dyld's "Expected in")
    image: str  # the image that imports it, relative to site-packages
    built_for: str | None = None  # that image's minos
    exact: bool = False  # every older macOS lacks it (Apple's annotation, or macOS 11.0)
    absent: str | None = None  # the newest SDK read whose stub lacks it
    source: str = ""  # the SDK file that dates it


class Floors(_Model, kw_only=True):
    """The oldest macOS a pair installs on and loads on, and the one it was built for.

    ``install`` is the newest platform tag of the pair's wheels (pip refuses older); ``load`` the
    oldest macOS whose system libraries export every non-weak symbol the loaded images import
    from them, set by ``steps[-1]`` (11.0, the first Apple-silicon macOS, when nothing needs more);
    ``built_for`` the images' newest minos, information only (dyld does not enforce it)."""

    install: str | None = None
    load: str | None = None
    steps: list[FloorStep] = []
    unknown: list[str] = []  # non-weak imports the availability table cannot date
    unknown_count: int = 0
    built_for: str | None = None


class MapCell(_Model, kw_only=True):
    tf: str
    metal: str
    abi: Literal["ok", "fail"] | None  # None: no prediction, ``error`` says why
    first: str | None = None
    unresolved_count: int = 0
    error: str | None = None
    second: SecondLayer | None = None
    min_macos: str | None = None  # from the wheels' platform tags and the loaded images
    floors: Floors | None = None
    hazard: Hazard | None = None
    pythons: dict[str, Preflight] = {}  # per Python both packages have wheels for


class Release(_Model, kw_only=True):
    version: str
    package: str  # the distribution that holds the macOS arm64 binaries
    pythons: list[str] = []  # "3.10", ... with a macOS arm64 wheel
    wheel: Wheel | None = None  # the one wheel whose images the map read, for every Python


class MapSection(_Model, kw_only=True):
    """Every TensorFlow x tensorflow-metal release, predicted: one map run."""

    tf_releases: list[Release]
    metal_releases: list[Release]
    cells: list[MapCell]
    seconds: float | None = None
    error: str | None = None  # no verdict for part of the map: how much, and the first reason


class Abi(_Model, kw_only=True):
    verdict: Literal["ok", "fail"] | None  # None: no prediction (``error`` says why)
    first: str | None = None  # the first failure in dyld's wording
    unresolved_count: int = 0
    unresolved: list[str] = []
    wheels: list[Wheel] = []
    not_checked: list[str] = []
    seconds: float | None = None
    error: str | None = None
    second: SecondLayer | None = None
    min_macos: str | None = None
    floors: Floors | None = None
    hazard: Hazard | None = None
    #: The row's Python: can the pair be installed from wheels, and the command that does it today.
    preflight: Preflight | None = None


class Record(_Model, kw_only=True):
    schema: Literal[2]
    kind: Kind
    id: str
    row: RowFields | None  # None only for a map record: it covers every release
    host: Host
    tools: Tools
    started: datetime
    finished: datetime | None = None
    verdict: Verdict
    provision: Provision | None = None  # verify
    probes: dict[str, Probe] | None = None  # verify
    abi: Abi | None = None  # abi
    map: MapSection | None = None  # map

    def label(self) -> str:
        """How a session's last line names the pair: ``tf 2.18.0 + tensorflow-metal 1.1.0 on Python 3.10``."""
        if self.row is None:
            return "the map"
        plugin = "alone" if self.row.metal == "none" else f"+ tensorflow-metal {self.row.metal}"
        return f"tf {self.row.tf} {plugin} on Python {self.row.python}"

    def no_verdict_reason(self) -> str:
        """Why a record of verdict ``error`` has none, in one line with the fix."""
        if self.map is not None:
            return self.map.error or "no reason recorded"
        if self.abi is not None:
            return self.abi.error or "no reason recorded"
        if self.provision is not None and self.provision.status != "ok":
            return self.provision.error or "no reason recorded"
        for name, probe in (self.probes or {}).items():
            if probe.status == "error":
                # The probe's own line with the fix (verify.judge), e.g. "dataset download failed: ...".
                return probe.reason or f"{name}: {probe.error or probe.signature}"
        return "no reason recorded"

    def first_failure(self) -> str:
        """The first failure of a record of verdict ``fail``, in one line."""
        if self.abi is not None:
            return (self.abi.first or "").splitlines()[0] if self.abi.first else "no reason recorded"
        for name, probe in (self.probes or {}).items():
            if probe.status == "fail":
                return f"{name}: {probe.signature}"
        return "no reason recorded"

    def __post_init__(self) -> None:
        if self.started.tzinfo is None:
            raise ValueError("'started' has no time zone")
        if (self.row is None) != (self.kind == "map"):
            raise ValueError("a map record has no 'row'; every other record has one")
        if self.kind == "map" and self.map is None:
            raise ValueError("a map record needs 'map'")
        if self.kind == "verify" and (self.provision is None or self.probes is None):
            raise ValueError("a verify record needs 'provision' and 'probes'")
        if self.kind == "abi" and self.abi is None:
            raise ValueError("an abi record needs 'abi'")


def now() -> str:
    """The current UTC time in ISO 8601, to the microsecond, as records store it."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id(started: str) -> str:
    """A record's id: its start time to the second and a random token, ``20261124T142135-8079e81e``."""
    return f"{started[:19].replace(':', '').replace('-', '')}-{secrets.token_hex(4)}"


def row_fields(row: Row) -> RowFields:
    return RowFields(
        number=row.number,
        python=row.python,
        tf=row.tf,
        metal=row.metal,
        supports=row.supports,
        constraints=list(row.constraints),
        note=row.note,
    )


def make_record(
    kind: Kind,
    row: Row | None,
    *,
    host: dict,
    tools: dict,
    started: str,
    verdict: Verdict,
    id: str | None = None,
    **sections,
) -> Record:
    """A record built through the model (``row`` None for a map): the host and tools as the host
    module reports them, ``sections`` the kind's own (``provision``/``probes``, ``abi``,
    ``map``), finished now. Raises ``RecordError`` when the parts do not fit the model."""
    try:
        return Record(
            schema=SCHEMA,
            kind=kind,
            id=id or new_id(started),
            row=None if row is None else row_fields(row),
            host=msgspec.convert(host, Host),
            tools=msgspec.convert(tools, Tools),
            started=datetime.fromisoformat(started),
            finished=datetime.fromisoformat(now()),
            verdict=verdict,
            **sections,
        )
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise RecordError(f"record does not fit schema {SCHEMA}: {exc}") from None


def new_record(kind: str, row: Row | None, *, host: dict, tools: dict, started: str) -> dict:
    """The common part of a record as data, to be filled and then validated by ``write_record``
    (the tests' and benchmarks' way to write records of every shape); the checks themselves build
    theirs with ``make_record``."""
    return {
        "schema": SCHEMA,
        "kind": kind,
        "id": new_id(started),
        "row": None if row is None else msgspec.to_builtins(row_fields(row)),
        "host": host,
        "tools": tools,
        "started": started,
        "finished": None,
        "verdict": None,
    }


def stem(kind: str, row: RowFields | None, id: str) -> str:
    """The file name of a record without ``.json``: built only from validated values, so it
    cannot leave the folder. ``{kind}-py{python}-tf{tf}-metal{metal}-{id}``, ``map-{id}``."""
    if row is None:
        return f"{kind}-{id}"
    return f"{kind}-py{row.python}-tf{row.tf}-metal{row.metal}-{id}"


def record_stem(record: dict | Record) -> str:
    """``stem`` of a record, as data or built."""
    model = (
        record
        if isinstance(record, Record)
        else msgspec.convert({key: record[key] for key in ("kind", "row", "id")}, _Stem)
    )
    return stem(model.kind, model.row, model.id)


class _Stem(msgspec.Struct):
    kind: str
    row: RowFields | None
    id: str


def write_record(record: dict | Record, folder: Path | None = None) -> Path:
    """Validate ``record`` against the model and write it under ``folder`` as a new file.

    Raises ``RecordError`` if it does not fit the model (a bug in the check that built it).
    The file appears whole or not at all and never replaces another (``files.write_new``).
    """
    try:
        # A Struct is not checked when it is made: a built record is checked here, as data is.
        data = msgspec.to_builtins(record) if isinstance(record, Record) else record
        model = msgspec.convert(data, Record)
    except msgspec.ValidationError as exc:
        raise RecordError(f"record does not fit schema {SCHEMA}: {exc}") from None
    data = msgspec.json.format(msgspec.json.encode(model), indent=1)
    folder = folder or config.sessions_dir()
    try:
        return write_new(folder, record_stem(model), ".json", data)
    except FilesError as exc:
        exc.args = (f"the record could not be written: {exc}",)  # DiskFull stays DiskFull
        raise


def load_record(path: Path, data: bytes | None = None) -> Record:
    """Read one record (``data``: its bytes, when the caller has read them already).

    Raise ``RecordError`` naming the file and, for a file that does not fit the model, the
    first wrong field.
    """
    try:
        data = path.read_bytes() if data is None else data
    except OSError as exc:
        raise RecordError(f"{path.name}: cannot read: {exc.strerror}") from None
    try:
        header = msgspec.json.decode(data, type=_Header)
    except msgspec.ValidationError:  # first: it is a subclass of DecodeError
        try:  # valid JSON of another shape, or no JSON at all?
            msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:  # nesting too deep
            raise RecordError(f"{path.name}: not valid JSON ({exc})") from None
        raise RecordError(f"{path.name}: not a tfcompat record (no schema/kind)") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # msgspec raises the latter for bad UTF-8
        raise RecordError(f"{path.name}: not valid JSON ({exc})") from None
    if header.schema != SCHEMA:
        raise RecordError(f"{path.name}: unknown schema {header.schema!r} (this tfcompat reads {SCHEMA})")
    try:
        return msgspec.json.decode(data, type=Record)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path.name}: {exc}") from None


class _Header(msgspec.Struct):
    """Just enough to tell a record of another schema from a file that is no record at all."""

    schema: int
    kind: str
