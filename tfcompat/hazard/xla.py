"""The XLA training hazard: does the probe's fit compile with XLA on an Apple-silicon Mac?

tensorflow-metal registers no XLA device, so a step compiled with XLA fails in training with
``NOT_FOUND: could not find registered platform with id`` (tensorflow issue 58988), although
the plugin loads and lists its GPU. Whether the default training path of the probe
(``model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.001), ...)``, then ``fit``)
takes that path is written in the wheels, and is read from them, not from a table of versions:

1. the pair's wheel set as of its release (``macresolve``, macOS arm64): the TensorFlow wheel
   and the Keras distributions in it (keras, tf-keras);
2. what ``tf.keras`` is: TensorFlow's own wiring (``tensorflow/__init__.py`` and its lazy
   loaders), evaluated for a Mac with no ``TF_USE_LEGACY_KERAS`` (``pyeval``);
3. the optimizer: ``tf.keras.optimizers.Adam(learning_rate=0.001)`` is constructed in the
   evaluator; its class's update methods compiled with ``tf.function(jit_compile=True)`` are
   found, and the conditions under which they are called are evaluated on the new object;
4. the train step: ``Model.compile`` is evaluated with the probe's arguments, and the model's
   ``jit_compile`` read afterwards;
5. the defaults of the two switches (Adam's ``jit_compile``, ``compile``'s ``jit_compile``) tell a
   fallback (XLA on by default, off on the Mac: Keras 2.12's ``can_jit_compile()``, Keras 3's
   ``model_supports_jit()``) from a path that never uses XLA (Keras 2.10's legacy optimizer).

The verdict is cached per wheel (sha256) and per version of this code; the sources read are
cached by ``wheelsource``, so a warm answer reads a few small files.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec

from tfcompat.core import cache, config, macos
from tfcompat.core.errors import TfcompatError
from tfcompat.core.files import FilesError
from tfcompat.core.record import Hazard
from tfcompat.hazard import pyeval, wheelsource
from tfcompat.hazard.pyeval import UNKNOWN, Class, Facts, Instance, Interpreter
from tfcompat.index.wheels import WheelError, WheelRef
from tfcompat.resolve import macresolve
from tfcompat.resolve.resolver import Pin, ResolveError

FORMAT = "v1"
#: The distributions that can provide ``tf.keras`` besides TensorFlow itself.
KERAS_DISTRIBUTIONS = {"keras": "keras", "tf-keras": "tf_keras", "keras-nightly": "keras"}
LEARNING_RATE = 0.001  # the probe's default; the value does not matter, its presence does
#: The Mac the prediction is for: tensorflow-metal lists one GPU, a pluggable device.
MAC = Facts(system="Darwin", processor="arm", machine="arm64", gpus=1, pluggable=1)
_CODE = (Path(__file__), Path(pyeval.__file__), Path(wheelsource.__file__))


class HazardError(TfcompatError):
    """No prediction: the wheels cannot be resolved or read, or the code decides on something
    the evaluator cannot know. One line naming the pair or the file and the reason."""

    no_verdict = True


@dataclass(frozen=True)
class XlaUse:
    """Whether the probe's training path compiles with XLA on one machine."""

    optimizer: bool  # the update step of the default Adam
    train_step: bool  # the whole train step (``Model.compile``'s ``jit_compile``)
    requested: bool  # XLA is on by default in the code, before any fallback for the machine
    where: str  # the XLA-compiled method or the switch, for the reason line
    keras: str  # which Keras: "keras 2.11.0"


def predict(*, tf: str, metal: str, python: str, cache_dir: Path | None = None) -> dict:
    """The ``hazard`` section (``record.Hazard``) for a pair on macOS arm64 with CPython
    ``python``: whether the probe's fit is predicted to fail because it compiles with XLA.

    Any OS; the first call per TensorFlow release downloads its wheel (about 250 MB), later
    ones read the cache. Raises ``HazardError`` (one line) when there is no prediction.
    """
    folder = Path(cache_dir or config.cache_dir())
    wheels = WheelSet.of(tf=tf, metal=metal, python=python, cache=folder)
    return decide(wheels, plugin=metal != "none", cache_dir=folder)


def decide(wheels: WheelSet, *, plugin: bool, cache_dir: Path | None = None) -> dict:
    """The ``hazard`` section for a set of wheels (TensorFlow's and its Keras), on an
    Apple-silicon Mac with the plugin's GPU (``plugin``) or without. The answer depends on
    nothing else, so it is cached by the wheels' sha256 (and this code): pairs whose sets hold
    the same wheels share it. Raises ``HazardError`` (one line) when there is no prediction."""
    folder = Path(cache_dir or config.cache_dir())
    facts = MAC if plugin else Facts(gpus=0, pluggable=0)
    question = _question(facts, wheels.wheels)
    path = cache.entry_path(folder / "hazard" / FORMAT, question)
    cached = cache.load_json(path, question, valid=_valid_section)
    if cached is not None:
        return cached
    try:
        with wheels.sources(folder) as sources:
            section = judge(sources, facts, missing=wheels.missing)
        cache.store_json(path, question, section)
    except (WheelError, pyeval.EvalError, FilesError) as exc:
        raise HazardError(str(exc)) from None
    return section


def no_prediction(why: str) -> dict:
    """The ``hazard`` section when there is no answer: it says so, never ``ok``."""
    return {"kind": "xla", "predicted": None, "error": why}


@dataclass(frozen=True)
class WheelSet:
    """The wheels whose code decides the hazard: TensorFlow's first, then the Keras
    distributions installed with it; ``missing`` the Keras modules not installed with them."""

    wheels: list[WheelRef]
    missing: frozenset[str]

    @classmethod
    def of(cls, *, tf: str, metal: str, python: str, cache: Path) -> WheelSet:
        """The pair's set as of its release, resolved for macOS arm64 with CPython ``python``."""
        reqs = macos.requirements(tf, metal)
        try:
            pins = _as_of_release(reqs, python=python, cache=cache)
        except ResolveError as exc:
            raise HazardError(f"tensorflow {tf} + tensorflow-metal {metal}, Python {python}: {exc}") from None
        tf_pin = macresolve.find(pins, macos.binary_name(tf))
        if tf_pin is None or not tf_pin.is_wheel:
            raise HazardError(
                f"tensorflow {tf}, Python {python}: no macOS arm64 wheel of {macos.binary_name(tf)}"
            )
        keras_pins = [pin for pin in pins if pin.name in KERAS_DISTRIBUTIONS]
        for pin in keras_pins:
            if not pin.is_wheel:
                raise HazardError(f"{pin.name} {pin.version}: only a source distribution, not read")
        return cls.of_wheels(tf_pin.wheel, [pin.wheel for pin in keras_pins])

    @classmethod
    def of_wheels(cls, tf: WheelRef, keras: list[WheelRef]) -> WheelSet:
        """The set of a TensorFlow wheel and the Keras wheels (``KERAS_DISTRIBUTIONS``) beside it."""
        keras = sorted(keras, key=lambda ref: ref.name)
        installed = {KERAS_DISTRIBUTIONS[ref.name] for ref in keras}
        return cls([tf, *keras], frozenset(set(KERAS_DISTRIBUTIONS.values()) - installed))

    def sources(self, cache: Path) -> wheelsource.SourceSet:
        return wheelsource.SourceSet(self.wheels, root=cache / "wheelsource")


def _as_of_release(reqs: list[str], *, python: str, cache: Path) -> list[Pin]:
    """The pair's set as of its release. Where that has no solution on macOS arm64 (TF 2.7:
    no libclang for it yet), the set of today with only the Keras distributions dated: the
    Keras a user got then is what the hazard is about."""
    date = macresolve.release_date(reqs, python=python, cache_dir=cache)
    try:
        return macresolve.resolve(reqs, python=python, exclude_newer=date, binary_only=False, cache_dir=cache)
    except ResolveError as exc:
        if exc.no_verdict:
            raise
        limits = tuple((name, date) for name in KERAS_DISTRIBUTIONS)
        return macresolve.resolve(
            reqs, python=python, exclude_newer=None, binary_only=False, newer_limits=limits, cache_dir=cache
        )


def judge(sources: wheelsource.SourceSet, facts: Facts, *, missing: set[str] = frozenset()) -> dict:
    """The ``hazard`` section from the sources of one wheel set, for the Mac ``facts`` describe."""
    use = xla_use(sources, facts, missing=missing)
    if use.optimizer or use.train_step:
        part = "update step of the default Adam" if use.optimizer else "train step"
        return _section(
            "fails",
            use.keras,
            f"the {part} is compiled with XLA ({use.where}), and nothing turns it off on macOS arm64; "
            "tensorflow-metal has no XLA device",
            _workaround(sources, facts, missing, use),
        )
    if use.requested:
        reason = f"XLA is on by default with a GPU ({use.where}), " + (
            "but turned off on macOS arm64" if facts.gpus else "and this Mac lists no GPU"
        )
        return _section("ok", use.keras, reason)
    return _section(
        "ok", use.keras, "neither the default Adam nor the train step compiles with XLA by default"
    )


def _section(predicted: str, keras: str, reason: str, workaround: str | None = None) -> dict:
    return {"kind": "xla", "predicted": predicted, "keras": keras, "reason": reason, "workaround": workaround}


def xla_use(sources: wheelsource.SourceSet, facts: Facts, *, missing: set[str] = frozenset()) -> XlaUse:
    """Whether the probe's fit compiles with XLA on the machine ``facts`` describe, read from
    ``sources`` (the TensorFlow wheel and its Keras). Raises ``HazardError`` when the code
    decides on something the evaluator cannot know."""
    interp = Interpreter(sources, facts, missing=missing)
    keras_api = _tf_keras(interp)
    adam = _class(interp, keras_api, "optimizers", "Adam")
    keras = _label(sources, adam)
    optimizer = _construct(interp, adam, {})
    optimizer_xla, method = _optimizer_xla(interp, optimizer)
    model = _class(interp, keras_api, "Model")
    train_step = _train_step_xla(interp, model, optimizer)
    if optimizer_xla is UNKNOWN or train_step is UNKNOWN:
        part = "the optimizer's update step" if optimizer_xla is UNKNOWN else "the train step"
        cut = f" (cut off in {interp.cutoffs[0]})" if interp.cutoffs else ""
        raise HazardError(f"{keras}: cannot tell whether {part} uses XLA{cut}")
    # What the code asks for before any fallback for the machine: the switches' own defaults.
    optimizer_default = bool(method) and _default(interp, adam, "__init__", "jit_compile") is True
    step_default = _default(interp, model, "compile", "jit_compile")
    if optimizer_xla or (optimizer_default and not train_step):
        where = f"{method}, jit_compile=True"
    else:
        where = f"Model.compile(jit_compile={step_default!r})"
    return XlaUse(
        optimizer=bool(optimizer_xla),
        train_step=bool(train_step),
        requested=optimizer_default or step_default in (True, "auto"),
        where=where,
        keras=keras,
    )


def _default(interp: Interpreter, cls: Class, method: str, parameter: str):
    """The default of ``parameter`` of ``cls.method`` (its first definition along the MRO)."""
    function, _ = interp.lookup(cls, method)
    if not isinstance(function, pyeval.Function):
        return None
    spec = function.node.args
    positional = spec.posonlyargs + spec.args
    pairs = list(zip(positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True))
    pairs += list(zip(spec.kwonlyargs, spec.kw_defaults, strict=True))
    for arg, default in pairs:
        if arg.arg == parameter and isinstance(default, ast.Constant):
            return default.value
    return None


def _tf_keras(interp: Interpreter):
    """``tf.keras`` as TensorFlow wires it."""
    try:
        tf = interp.import_module("tensorflow")
        keras_api = interp.force(interp.get_attr(tf, "keras"))
    except pyeval.Dead:
        raise HazardError("tensorflow/__init__.py: tf.keras raises an ImportError here") from None
    if keras_api is UNKNOWN:
        raise HazardError("tensorflow/__init__.py: cannot tell which Keras tf.keras is")
    return keras_api


def _class(interp: Interpreter, start, *names: str) -> Class:
    value = start
    try:
        for name in names:
            value = interp.force(interp.get_attr(value, name))
    except pyeval.Dead:
        value = UNKNOWN
    if not isinstance(value, Class):
        raise HazardError(f"tf.keras.{'.'.join(names)}: not found in the wheels")
    return value


def _construct(interp: Interpreter, cls: Class, extra: dict) -> Instance:
    """``cls(learning_rate=LEARNING_RATE, **extra)``, as the probe builds its optimizer."""
    try:
        return interp.new(cls, [], {"learning_rate": LEARNING_RATE, **extra})
    except pyeval.Dead as exc:
        raise HazardError(f"{cls.dotted}(learning_rate=...) raises {exc.kind or 'an error'}") from None


def _label(sources: wheelsource.SourceSet, cls: Class) -> str:
    """Which Keras: ``keras 2.11.0``, or the TensorFlow wheel that bundles it."""
    ref = sources.wheel_of(cls.module.path)
    if ref.name in KERAS_DISTRIBUTIONS:
        return f"{ref.name} {ref.version}"
    return f"{ref.name} {ref.version} ({cls.module.name.rsplit('.', 2)[0]})"


def _optimizer_xla(interp: Interpreter, optimizer: Instance) -> tuple[object, str]:
    """Whether the optimizer calls one of its ``tf.function(jit_compile=True)`` methods, given
    its state after construction: True, False or UNKNOWN, and the method's name."""
    methods = _methods(interp, optimizer.cls)
    xla = {name: cls for name, (cls, node) in methods.items() if _compiled_with_xla(node)}
    if not xla:
        return False, ""
    outcomes = []
    for cls, node in methods.values():
        for guards in _call_sites(node, set(xla)):
            scope = pyeval.Scope({"self": optimizer}, None, cls.module)
            truths = [(interp.truth(_eval(interp, test, scope)), wanted) for test, wanted in guards]
            if any(truth is not UNKNOWN and truth != wanted for truth, wanted in truths):
                outcomes.append(False)
            elif all(truth == wanted for truth, wanted in truths):
                outcomes.append(True)
            else:
                outcomes.append(UNKNOWN)
    name, cls = next(iter(xla.items()))
    where = f"{cls.module.path}: {cls.name}.{name}"
    if True in outcomes:
        return True, where
    return (UNKNOWN if UNKNOWN in outcomes else False), where


def _eval(interp: Interpreter, test: ast.expr, scope: pyeval.Scope):
    try:
        return interp.eval(test, scope)
    except pyeval.Dead:
        return UNKNOWN


def _methods(interp: Interpreter, cls: Class) -> dict[str, tuple[Class, ast.FunctionDef]]:
    """Every method the class's objects have: the first definition along the MRO."""
    found: dict[str, tuple[Class, ast.FunctionDef]] = {}
    for klass in interp.mro(cls):
        if isinstance(klass, Class):
            for stmt in klass.node.body:
                if isinstance(stmt, ast.FunctionDef) and stmt.name not in found:
                    found[stmt.name] = (klass, stmt)
    return found


def _compiled_with_xla(node: ast.FunctionDef) -> bool:
    """Decorated with ``tf.function(jit_compile=True)`` (or any ``function(jit_compile=True)``)."""
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("function"):
            for keyword in decorator.keywords:
                if keyword.arg == "jit_compile" and isinstance(keyword.value, ast.Constant):
                    return keyword.value.value is True
    return False


def _call_sites(node: ast.FunctionDef, names: set[str]) -> list[list[tuple[ast.expr, bool]]]:
    """The ``self.<name>(...)`` calls in a method (nested functions included), each with the
    ``if`` conditions it is under and whether each must be true (body) or false (``else``)."""
    sites: list[list[tuple[ast.expr, bool]]] = []

    def walk(statements: list[ast.stmt], guards: list[tuple[ast.expr, bool]]) -> None:
        for stmt in statements:
            if isinstance(stmt, ast.If):
                _calls_in(stmt.test, guards)
                walk(stmt.body, guards + [(stmt.test, True)])
                walk(stmt.orelse, guards + [(stmt.test, False)])
                continue
            for _, value in ast.iter_fields(stmt):
                if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                    walk(value, guards)
                elif isinstance(value, ast.expr):
                    _calls_in(value, guards)
                elif isinstance(value, list):
                    for item in value:
                        if isinstance(item, ast.expr):
                            _calls_in(item, guards)
                        elif isinstance(item, ast.excepthandler | ast.withitem):
                            walk(getattr(item, "body", []), guards)

    def _calls_in(expr: ast.expr, guards: list[tuple[ast.expr, bool]]) -> None:
        for sub in ast.walk(expr):
            if (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and isinstance(sub.func.value, ast.Name)
                and sub.func.value.id == "self"
                and sub.func.attr in names
            ):
                sites.append(guards)

    walk(node.body, [])
    return sites


def _train_step_xla(interp: Interpreter, model_class: Class, optimizer: Instance, **extra):
    """``model.jit_compile`` after the probe's ``compile``: the switch that compiles the train
    step with XLA. The model is not built (its ``__init__`` is not run); what ``compile`` sets
    decides. False when the class has no such switch at all."""
    model = Instance(model_class)
    try:
        compile_method = interp.get_attr(model, "compile")
        interp.force(
            interp.call(
                compile_method,
                [],
                {"optimizer": optimizer, "loss": pyeval.External("loss"), "metrics": ["accuracy"], **extra},
            )
        )
    except pyeval.Dead:
        return UNKNOWN
    switch, _ = interp.lookup(model_class, "jit_compile")
    if isinstance(switch, pyeval.Property):
        return interp.truth(interp.get_attr(model, "jit_compile"))
    for name in ("jit_compile", "_jit_compile"):
        if (id(model), name) in interp.heap:
            return interp.truth(interp.heap[(id(model), name)])
    return False


def _workaround(sources: wheelsource.SourceSet, facts: Facts, missing: set[str], use: XlaUse) -> str | None:
    """What a user can change in the probe's code so that training does not use XLA, each
    checked with the same evaluation: the legacy optimizer, or ``jit_compile=False``."""
    interp = Interpreter(sources, facts, missing=missing)
    keras_api = _tf_keras(interp)
    ways = []
    if use.optimizer:
        try:
            legacy = _construct(interp, _class(interp, keras_api, "optimizers", "legacy", "Adam"), {})
            if _optimizer_xla(interp, legacy)[0] is False:
                ways.append("tf.keras.optimizers.legacy.Adam")
        except HazardError:
            pass  # no legacy optimizer in this Keras
        adam = _construct(interp, _class(interp, keras_api, "optimizers", "Adam"), {"jit_compile": False})
        if _optimizer_xla(interp, adam)[0] is False:
            ways.append("tf.keras.optimizers.Adam(..., jit_compile=False)")
    if use.train_step:
        model = _class(interp, keras_api, "Model")
        optimizer = _construct(interp, _class(interp, keras_api, "optimizers", "Adam"), {})
        if _train_step_xla(interp, model, optimizer, jit_compile=False) is False:
            ways.append("model.compile(..., jit_compile=False)")
    return ", or ".join(ways) or None


def _question(facts: Facts, wheels: list[WheelRef]) -> dict:
    """What a cached section answers: this code, this machine, these wheels."""
    return {"code": _code(), "facts": asdict(facts), "wheels": [ref.sha256 for ref in wheels]}


@functools.cache
def _code() -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in _CODE)).hexdigest()


def _valid_section(value) -> bool:
    """A cached answer is a prediction: "no prediction" is never kept."""
    try:
        return msgspec.convert(value, Hazard).predicted is not None
    except msgspec.ValidationError:
        return False
