"""A small evaluator for Python source read from wheels: what a few lines of a library compute on
another machine, without importing the library.

It answers questions such as "after ``tf.keras.optimizers.Adam(learning_rate=0.001)`` on an
Apple-silicon Mac with tensorflow-metal, what is ``optimizer.jit_compile``?" by reading the
modules the expression reaches, import by import, from the wheels' own files (``Sources``),
and evaluating only what the answer depends on:

- values are lazy: an assignment binds its expression, evaluated when it is read, with the
  names and attributes as they were when it was bound;
- the target machine is a table of facts (``Facts``): what ``platform.system()``,
  ``tf.config.list_physical_devices("GPU")`` or ``os.environ`` give there. Any other call into
  code that is not in the wheels (the C++ core, the standard library) gives ``UNKNOWN``;
- a branch whose condition is unknown runs both ways; names and attributes the two ways leave
  different become ``UNKNOWN``. A ``raise`` ends its way: the calls asked about are known to
  succeed (the probe makes them);
- loops are not run: what their bodies assign becomes ``UNKNOWN``;
- a call made for its effect (a statement such as ``self._initialize()``) is run; a class's own
  ``__setattr__`` is not (attributes are set directly).

An answer that depends on something unknown is ``UNKNOWN``, never a guess. A depth and a step
budget keep a deep call graph from running away: a call they cut off gives ``UNKNOWN`` and is
counted in ``Interpreter.cutoffs``.

An engine on its own: it imports nothing of tfcompat (its sources come through the ``Sources``
protocol) and leaves no global state changed. An evaluation needs more Python frames than the
default recursion limit allows; the limit is raised for the duration of an outermost call of
the interpreter's interface and given back to the caller's value when it returns.
"""

from __future__ import annotations

import ast
import builtins
import functools
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_DEPTH = 40  # nested calls
#: Values evaluated inside the evaluation of a value: a function that returns a call of itself
#: recurses here, outside any call (the value is evaluated after the call returned it). The
#: hazards of every TensorFlow release nest 11 deep at most (measured on 2.5 - 2.19).
MAX_FORCING = 200
MAX_STEPS = 400_000  # statements and expressions per question
CALL_STEPS = 20_000  # per call, its own calls included: one deep path cannot use up the rest
#: Each evaluated call takes a few dozen Python frames.
RECURSION_LIMIT = 20_000


class Sources(Protocol):
    """Where the evaluator reads modules: the ``.py`` files of some wheels, by installed path."""

    #: The top-level packages the files hold (``tensorflow``, ``keras``).
    tops: set[str]

    def module_path(self, dotted: str) -> str | None:
        """The installed path of module ``dotted`` (``keras/optimizers/adam.py``), or None."""

    def read(self, path: str) -> str | bytes:
        """The source of the file at ``path``."""


def _with_room(method):
    """Run an interface method of ``Interpreter`` with ``RECURSION_LIMIT`` frames of room; the
    outermost call gives the caller's limit back when it returns, however it returns."""

    @functools.wraps(method)
    def in_room(self, *args, **kwargs):
        if self._in_room:
            return method(self, *args, **kwargs)
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous, RECURSION_LIMIT))
        self._in_room = True
        try:
            return method(self, *args, **kwargs)
        finally:
            self._in_room = False
            sys.setrecursionlimit(previous)

    return in_room


class _Unknown:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class Dead(Exception):
    """This way of the program raised: it is not the way the probe takes."""

    def __init__(self, kind: str | None = None):
        super().__init__(kind)
        self.kind = kind


class _Cutoff(Exception):
    """The depth or step budget ran out."""


class EvalError(Exception):
    """A module the question needs cannot be read (not in the wheels, or not valid Python)."""


@dataclass(frozen=True)
class Facts:
    """The machine the code is evaluated for. ``gpus`` is how many GPUs TensorFlow lists there
    (a Mac with tensorflow-metal lists one, a pluggable device); ``environ`` the environment the
    code sees (empty: no ``TF_USE_LEGACY_KERAS``, no ``KERAS_BACKEND``); no configuration
    files exist (``~/.keras/keras.json``)."""

    system: str = "Darwin"
    processor: str = "arm"
    machine: str = "arm64"
    gpus: int = 1
    pluggable: int = 1  # how many of them are pluggable devices (tensorflow-metal's is)
    environ: dict[str, str] = field(default_factory=dict)

    def answer(self, dotted: str) -> Callable[[list, dict], Any] | None:
        """What calling ``dotted`` (``tf.config.list_physical_devices``, as written or as
        resolved) gives on the machine, as a function of the arguments; None when the call is
        not a fact (it is code to evaluate, or unknown)."""
        for suffix, answer in self.calls().items():
            if dotted == suffix or dotted.endswith("." + suffix):
                return answer
        return None

    def attribute(self, dotted: str) -> Any:
        """The value of an attribute outside the wheels (``os.environ``), or None."""
        values = {"os.environ": self.environ, "typing.TYPE_CHECKING": False}
        return values.get(dotted)

    def calls(self) -> dict[str, Callable[[list, dict], Any]]:
        def devices(args: list, kwargs: dict) -> Any:
            kind = args[0] if args else kwargs.get("device_type")
            if kind == "GPU":
                return [External("tensorflow.config.PhysicalDevice")] * self.gpus
            return UNKNOWN

        return {
            "platform.system": lambda a, k: self.system,
            "platform.processor": lambda a, k: self.processor,
            "platform.machine": lambda a, k: self.machine,
            "config.list_physical_devices": devices,
            "TF_ListPluggablePhysicalDevices": lambda a, k: [External("PluggableDevice")] * self.pluggable,
            "os.getenv": lambda a, k: self.environ.get(*a) if a and _known(a) else UNKNOWN,
            "path.exists": lambda a, k: False,
            "path.isfile": lambda a, k: False,
        }


# Values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class External:
    """Something outside the wheels read: a standard-library module, a C extension, ..."""

    dotted: str


@dataclass(eq=False, repr=False)
class Module:
    name: str
    path: str  # member path in the source set
    tree: ast.Module
    globals: dict[str, Any] = field(default_factory=dict)
    resolving: set[str] = field(default_factory=set)
    partial: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False, repr=False)
class Function:
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    module: Module
    closure: Scope | None
    owner: Class | None = None
    kind: str = "function"  # "function" | "staticmethod" | "classmethod"

    @property
    def qualname(self) -> str:
        name = getattr(self.node, "name", "<lambda>")
        return f"{self.owner.name}.{name}" if self.owner else name

    @property
    def dotted(self) -> str:
        return f"{self.module.name}.{self.qualname}"


@dataclass(eq=False, repr=False)
class Class:
    node: ast.ClassDef
    module: Module
    closure: Scope | None
    namespace: dict[str, Any] = field(default_factory=dict)
    _mro: list | None = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def dotted(self) -> str:
        return f"{self.module.name}.{self.name}"


@dataclass(eq=False, repr=False)
class Instance:
    cls: Class


@dataclass(eq=False, repr=False)
class BoundMethod:
    func: Function
    obj: Any


@dataclass(eq=False, repr=False)
class Property:
    getter: Function | None
    setter: Function | None = None


@dataclass(eq=False, repr=False)
class Super:
    cls: Class
    obj: Any


@dataclass(eq=False, repr=False)
class Builtin:
    name: str
    fn: Callable[..., Any]


@dataclass(eq=False, repr=False)
class Thunk:
    """An expression bound but not yet evaluated, with the names and attributes of that moment."""

    node: ast.expr
    scope: Scope
    heap: dict
    value: Any = None
    done: bool = False
    busy: bool = False


@dataclass(eq=False, repr=False)
class Scope:
    """A function's local names (replaced, never changed in place, so a Thunk can keep them)."""

    vars: dict[str, Any]
    parent: Scope | None
    module: Module
    function: Function | None = None


class _Return:
    """A ``return`` reached: the function ends here."""

    def __init__(self, value: Any):
        self.value = value


class _Done(_Return):
    """A fork ran the rest of the function both ways: this is its (merged) result."""


def _known(values) -> bool:
    return all(value is not UNKNOWN and not isinstance(value, Thunk) for value in values)


# The interpreter ------------------------------------------------------------------------------


class Interpreter:
    """Evaluates the modules of ``sources`` for the machine ``facts`` describes."""

    def __init__(self, sources: Sources, facts: Facts, *, missing: set[str] = frozenset()):
        self.sources = sources
        self.facts = facts
        self.missing = set(missing)  # top-level packages that are not installed: ImportError
        self.modules: dict[str, Module] = {}
        self.heap: dict[tuple[int, str], Any] = {}  # (id(obj), attr) -> value; replaced, never changed
        self._alive: dict[int, Any] = {}  # keeps the objects of heap keys alive
        self.depth = 0
        self.forcing = 0
        self.steps = 0
        self.limit = MAX_STEPS
        self.cutoffs: list[str] = []
        self._answers: dict[str, Callable | None] = {}
        self._in_getattr: set[tuple[int, str]] = set()
        self._bound: dict[int, tuple[ast.stmt, frozenset[str]]] = {}
        self._in_room = False

    # Modules

    @_with_room
    def import_module(self, dotted: str) -> Module | External:
        """Module ``dotted`` from the wheels, an External one, or ``Dead('ImportError')``."""
        if dotted in self.modules:
            return self.modules[dotted]
        top = dotted.split(".", 1)[0]
        if top in self.missing:
            raise Dead("ImportError")
        if top not in self.sources.tops:
            return External(dotted)
        path = self.sources.module_path(dotted)
        if path is None:
            return External(dotted)  # a compiled extension (``_pywrap_tfe``), not source
        try:
            tree = ast.parse(self.sources.read(path), filename=path)
        except SyntaxError as exc:
            raise EvalError(f"{path}: not valid Python ({exc.msg}, line {exc.lineno})") from None
        module = Module(dotted, path, tree)
        self.modules[dotted] = module
        return module

    def module_attr(self, module: Module, name: str) -> Any:
        """``module.name``: the last top-level binding of ``name``, else the submodule."""
        value = self.module_binding(module, name)
        return self._submodule(module, name) if value is _NOT_BOUND else value

    def module_binding(self, module: Module, name: str) -> Any:
        """The last top-level binding of ``name`` in ``module``, or ``_NOT_BOUND``."""
        if name in module.globals:
            return module.globals[name]
        if name == "__name__":
            return module.name
        if name in module.resolving:
            # Read while its own statements run (``if backend() == ...`` after ``backend`` is
            # imported): the binding so far; or ``from package import sub`` inside the package.
            return module.partial.get(name, _NOT_BOUND)
        module.resolving.add(name)
        try:
            value = self._bind_in(module.tree.body, name, Scope({}, None, module), _NOT_BOUND)
        finally:
            module.resolving.discard(name)
            module.partial.pop(name, None)
        module.globals[name] = value
        return value

    def _submodule(self, module: Module, name: str) -> Any:
        if module.path.endswith("__init__.py") and self.sources.module_path(f"{module.name}.{name}"):
            return self.import_module(f"{module.name}.{name}")
        return UNKNOWN

    def _bind_in(self, body: list[ast.stmt], name: str, scope: Scope, value: Any) -> Any:
        """The value ``name`` has after the top-level statements ``body`` (``value`` before)."""
        for stmt in body:
            names = self._names_bound(stmt)
            if name not in names and "*" not in names:
                continue  # cannot bind it: not even its conditions need evaluating
            if value is not _NOT_BOUND:
                scope.module.partial[name] = value
            if isinstance(stmt, ast.If):
                test = self.truth(self.eval(stmt.test, scope))
                if test is UNKNOWN:
                    first = self._bind_in(stmt.body, name, scope, value)
                    other = self._bind_in(stmt.orelse, name, scope, value)
                    value = first if _same(first, other) else UNKNOWN
                else:
                    value = self._bind_in(stmt.body if test else stmt.orelse, name, scope, value)
            elif isinstance(stmt, ast.Try):
                value = self._bind_in(stmt.body + stmt.orelse + stmt.finalbody, name, scope, value)
            elif isinstance(stmt, ast.With):
                value = self._bind_in(stmt.body, name, scope, value)
            else:
                bound = self._binding(stmt, name, scope)
                if bound is not _NOT_BOUND:
                    value = bound
        return value

    def _names_bound(self, stmt: ast.stmt) -> frozenset[str]:
        """The names a top-level statement may bind (``*`` for a star import); memoized."""
        key = id(stmt)
        if key not in self._bound:
            names: set[str] = set()
            for node in ast.walk(stmt):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                    names.add(node.id)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name.split(".")[0]) for a in node.names)
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "setattr"
                ):
                    names.update(a.value for a in node.args[1:2] if isinstance(a, ast.Constant))
            self._bound[key] = (stmt, frozenset(names))  # the statement kept alive: its id stays its own
        return self._bound[key][1]

    def _binding(self, stmt: ast.stmt, name: str, scope: Scope) -> Any:
        """What a top-level statement binds to ``name``, or ``_NOT_BOUND``."""
        module = scope.module
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            return Function(stmt, module, None)
        if isinstance(stmt, ast.ClassDef) and stmt.name == name:
            return Class(stmt, module, None)
        if isinstance(stmt, ast.Assign) and any(_assigns(target, name) for target in stmt.targets):
            plain = any(isinstance(target, ast.Name) and target.id == name for target in stmt.targets)
            return self._lazy(stmt.value, scope) if plain else UNKNOWN
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == name:
            return self._lazy(stmt.value, scope) if stmt.value else _NOT_BOUND
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    return _LazyImport(self, alias.name if alias.asname else alias.name.split(".")[0], None)
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if (alias.asname or alias.name) == name:
                    return _LazyImport(self, _absolute(module, stmt), alias.name)
                if alias.name == "*" and not name.startswith("_"):
                    source = self.import_module(_absolute(module, stmt))
                    if isinstance(source, Module) and self.module_binding(source, name) is not _NOT_BOUND:
                        return self.module_binding(source, name)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            # setattr(_current_module, "name", value): how TensorFlow binds its lazily loaded parts.
            call = stmt.value
            if (
                isinstance(call.func, ast.Name)
                and call.func.id == "setattr"
                and len(call.args) == 3
                and isinstance(call.args[1], ast.Constant)
                and call.args[1].value == name
                and not (isinstance(call.args[2], ast.Name) and call.args[2].id == name)
            ):
                return self._lazy(call.args[2], scope)
        if isinstance(stmt, ast.Delete) and any(
            isinstance(t, ast.Name) and t.id == name for t in stmt.targets
        ):
            return UNKNOWN
        return _NOT_BOUND

    # Classes

    @_with_room
    def mro(self, cls: Class) -> list[Class | External]:
        if cls._mro is None:
            cls._mro = [cls]  # a cycle ends here
            bases = []
            for node in cls.node.bases:
                base = self.force(self.eval(node, self._class_scope(cls)))
                bases.append(base if isinstance(base, (Class, External)) else External(ast.unparse(node)))
            bases = bases or [External("builtins.object")]  # implicit, and last in every MRO
            linear = [self.mro(base) if isinstance(base, Class) else [base] for base in bases]
            cls._mro = [cls] + _c3(linear + [[b for b in bases]])
        return cls._mro

    def _class_scope(self, cls: Class) -> Scope:
        return cls.closure or Scope({}, None, cls.module)

    def class_attr(self, cls: Class, name: str) -> Any:
        """``name`` in the body of ``cls`` itself (not its bases), or ``_NOT_BOUND``."""
        if name in cls.namespace:
            return cls.namespace[name]
        value: Any = _NOT_BOUND
        scope = self._class_scope(cls)
        for stmt in cls.node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
                value = self._method(stmt, cls, value)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.ClassDef, ast.Import, ast.ImportFrom)):
                bound = self._binding(stmt, name, scope)
                if bound is not _NOT_BOUND:
                    value = bound
        cls.namespace[name] = value
        return value

    def _method(self, node: ast.FunctionDef, cls: Class, previous: Any) -> Any:
        func = Function(node, cls.module, cls.closure, owner=cls)
        for decorator in node.decorator_list:
            text = ast.unparse(decorator)
            if text == "property":
                return Property(func)
            if text.endswith(".setter") and isinstance(previous, Property):
                return Property(previous.getter, func)
            if text in ("staticmethod", "classmethod"):
                func.kind = text
        return func

    @_with_room
    def lookup(
        self, cls: Class, name: str, *, after: Class | None = None
    ) -> tuple[Any, Class | External | None]:
        """``name`` along the MRO of ``cls`` (after class ``after``), and the class holding it."""
        mro = self.mro(cls)
        start = mro.index(after) + 1 if after in mro else 0
        outside = None
        for klass in mro[start:]:
            if isinstance(klass, Class):
                value = self.class_attr(klass, name)
                if value is not _NOT_BOUND:
                    return value, klass
            elif outside is None:
                outside = klass  # an outside base: what it holds is not known
        return _NOT_BOUND, outside

    # Objects

    @_with_room
    def new(self, cls: Class, args: list, kwargs: dict) -> Instance:
        obj = Instance(cls)
        init, holder = self.lookup(cls, "__init__")
        if isinstance(init, Function):
            self.call_function(init, [obj, *args], kwargs)
        elif isinstance(holder, External):
            self._outside_init(holder, obj, args)
        return obj

    def _outside_init(self, base: External, obj: Any, args: list) -> None:
        # A module object (TensorFlow's lazy loaders are ModuleType subclasses) keeps its name.
        if base.dotted.endswith("ModuleType") and args:
            self.set_attr(obj, "__name__", args[0])

    @_with_room
    def get_attr(self, obj: Any, name: str) -> Any:
        obj = self.force(obj)
        if obj is UNKNOWN:
            return UNKNOWN
        if isinstance(obj, Module):
            return self.module_attr(obj, name)
        if isinstance(obj, External):
            dotted = f"{obj.dotted}.{name}"
            fact = self.facts.attribute(dotted)
            return fact if fact is not None else External(dotted)
        if isinstance(obj, Instance):
            return self._instance_attr(obj, name)
        if isinstance(obj, Class):
            value, _ = self.lookup(obj, name)
            if isinstance(value, Function) and value.kind == "classmethod":
                return BoundMethod(value, obj)
            return UNKNOWN if value is _NOT_BOUND else value
        if isinstance(obj, Super):
            owner = obj.obj.cls if isinstance(obj.obj, Instance) else obj.cls
            value, holder = self.lookup(owner, name, after=obj.cls)
            if isinstance(value, Function):
                return value if value.kind == "staticmethod" else BoundMethod(value, obj.obj)
            if isinstance(value, Property):
                return self.call_function(value.getter, [obj.obj], {}) if value.getter else UNKNOWN
            if value is _NOT_BOUND and name == "__init__" and isinstance(holder, External):
                return Builtin(
                    "__init__", lambda *args, **kw: self._outside_init(holder, obj.obj, list(args))
                )
            if value is _NOT_BOUND and name == "__setattr__":
                return Builtin("__setattr__", lambda key, val: self.set_attr(obj.obj, key, val))
            return UNKNOWN if value is _NOT_BOUND else value
        if isinstance(obj, (str, dict, list, tuple)) and name in _PURE_METHODS:
            method = getattr(obj, name, None)
            if method is not None:
                return Builtin(name, lambda *args, **kw: _pure(method, args, kw))
        return UNKNOWN

    def _instance_attr(self, obj: Instance, name: str) -> Any:
        value, _ = self.lookup(obj.cls, name)
        if isinstance(value, Property):
            return self.call_function(value.getter, [obj], {}) if value.getter else UNKNOWN
        key = (id(obj), name)
        if key in self.heap:
            return self.heap[key]
        if name == "__class__":
            return obj.cls
        if isinstance(value, Function):
            return (
                value
                if value.kind == "staticmethod"
                else BoundMethod(value, obj.cls if value.kind == "classmethod" else obj)
            )
        if value is not _NOT_BOUND:
            return value
        fallback, _ = self.lookup(obj.cls, "__getattr__")
        if isinstance(fallback, Function) and (id(obj), name) not in self._in_getattr:
            # A __getattr__ that reads an attribute nobody set would call itself for ever.
            self._in_getattr.add((id(obj), name))
            try:
                return self.force(self.call_function(fallback, [obj, name], {}))
            finally:
                self._in_getattr.discard((id(obj), name))
        return UNKNOWN

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        obj = self.force(obj)
        if isinstance(obj, Instance):
            prop, _ = self.lookup(obj.cls, name)
            if isinstance(prop, Property) and prop.setter:
                self.call_function(prop.setter, [obj, value], {})
                return
            self._alive[id(obj)] = obj
            self.heap = {**self.heap, (id(obj), name): value}

    # Calls

    @_with_room
    def call(self, func: Any, args: list, kwargs: dict) -> Any:
        func = self.force(func)
        dotted = func.dotted if isinstance(func, (Function, External)) else None
        if dotted and self._answer(dotted):
            return self._fact(dotted, args, kwargs)
        if isinstance(func, Function):
            return self.call_function(func, args, kwargs)
        if isinstance(func, BoundMethod):
            return self.call_function(func.func, [func.obj, *args], kwargs)
        if isinstance(func, Class):
            return self.new(func, args, kwargs)
        if isinstance(func, Builtin):
            return func.fn(*args, **kwargs)
        if isinstance(func, External) and func.dotted == "importlib.import_module" and args:
            name = self.force(args[0])
            return self.import_module(name) if isinstance(name, str) else UNKNOWN
        return UNKNOWN

    def _answer(self, dotted: str) -> Callable[[list, dict], Any] | None:
        if dotted not in self._answers:
            self._answers[dotted] = self.facts.answer(dotted)
        return self._answers[dotted]

    def _fact(self, dotted: str, args: list, kwargs: dict) -> Any:
        return self._answer(dotted)(
            [self.force(a) for a in args], {k: self.force(v) for k, v in kwargs.items()}
        )

    def call_function(self, func: Function, args: list, kwargs: dict) -> Any:
        if self.depth >= MAX_DEPTH:
            self.cutoffs.append(func.dotted)
            return UNKNOWN
        scope = Scope(self._bind_args(func, args, kwargs), func.closure, func.module, func)
        self.depth += 1
        heap, limit = self.heap, self.limit
        self.limit = min(limit, self.steps + CALL_STEPS)
        try:
            if isinstance(func.node, ast.Lambda):
                return self.eval(func.node.body, scope)
            result = self.exec_block(func.node.body, scope)
            return result.value if result is not None else None
        except (_Cutoff, RecursionError):
            self.cutoffs.append(func.dotted)
            self.heap = heap
            return UNKNOWN
        finally:
            self.depth -= 1
            self.limit = limit

    def _bind_args(self, func: Function, args: list, kwargs: dict) -> dict[str, Any]:
        spec = func.node.args
        positional = [a.arg for a in spec.posonlyargs + spec.args]
        defaults = dict(zip(positional[len(positional) - len(spec.defaults) :], spec.defaults, strict=True))
        scope = Scope({}, func.closure, func.module)
        bound: dict[str, Any] = {}
        for name, value in zip(positional, args, strict=False):
            bound[name] = value
        if spec.vararg:
            bound[spec.vararg.arg] = tuple(args[len(positional) :])
        extra = {}
        for name, value in kwargs.items():
            if name in positional or name in [a.arg for a in spec.kwonlyargs]:
                bound[name] = value
            else:
                extra[name] = value
        for name in positional:
            if name not in bound:
                bound[name] = self._lazy(defaults[name], scope) if name in defaults else UNKNOWN
        for arg, default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
            if arg.arg not in bound:
                bound[arg.arg] = self._lazy(default, scope) if default is not None else UNKNOWN
        if spec.kwarg:
            bound[spec.kwarg.arg] = extra
        return bound

    # Statements

    def exec_block(self, body: list[ast.stmt], scope: Scope, cont: tuple = ()) -> _Return | _Done | None:
        """Run ``body``; ``cont`` holds what follows it in the function (the rest of each
        enclosing block), which a fork runs to the end itself (``_Done``)."""
        for index, stmt in enumerate(body):
            self._step()
            rest = body[index + 1 :]
            if isinstance(stmt, ast.If):
                test = self.truth(self.eval(stmt.test, scope))
                if test is UNKNOWN:
                    return self._fork(stmt.body + rest, stmt.orelse + rest, scope, cont)
                result = self.exec_block(stmt.body if test else stmt.orelse, scope, (rest, *cont))
            elif isinstance(stmt, ast.Try):
                result = self._try(stmt, scope, (rest, *cont))
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                result = self.exec_block(stmt.body, scope, (rest, *cont))
            else:
                result = self._simple(stmt, scope)
            if result is not None:
                return result
        return None

    def _run_to_end(self, body: list[ast.stmt], scope: Scope, cont: tuple) -> Any:
        result = self.exec_block(body, scope, cont)
        while result is None and cont:
            body, cont = cont[0], cont[1:]
            result = self.exec_block(body, scope, cont)
        return result.value if result is not None else None

    def _fork(self, first: list[ast.stmt], other: list[ast.stmt], scope: Scope, cont: tuple) -> _Done:
        """Run both ways to the end of the function; keep what they agree on."""
        start_vars, start_heap = scope.vars, self.heap
        ends = []
        for body in (first, other):
            scope.vars, self.heap = start_vars, start_heap
            try:
                value = self.force(self._run_to_end(body, scope, cont))
            except Dead:
                continue
            ends.append((value, scope.vars, self.heap))
        if not ends:
            raise Dead()
        if len(ends) == 1:
            value, scope.vars, self.heap = ends[0]
            return _Done(value)
        (value_a, vars_a, heap_a), (value_b, vars_b, heap_b) = ends
        scope.vars = _merge(vars_a, vars_b, self)
        self.heap = _merge(heap_a, heap_b, self)
        return _Done(value_a if _same(value_a, value_b) else UNKNOWN)

    def _try(self, stmt: ast.Try, scope: Scope, cont: tuple) -> _Return | _Done | None:
        start_vars, start_heap = scope.vars, self.heap
        try:
            result = self.exec_block(stmt.body, scope, (stmt.orelse + stmt.finalbody, *cont))
            if result is None:
                result = self.exec_block(stmt.orelse, scope, (stmt.finalbody, *cont))
        except Dead as exc:
            handler = next((h for h in stmt.handlers if _catches(h, exc.kind)), None)
            if handler is None:
                raise
            scope.vars, self.heap = start_vars, start_heap
            if handler.name:
                scope.vars = {**scope.vars, handler.name: UNKNOWN}
            result = self.exec_block(handler.body, scope, (stmt.finalbody, *cont))
        if isinstance(result, _Done):
            return result
        final = self.exec_block(stmt.finalbody, scope, cont)
        return final if final is not None else result

    def _simple(self, stmt: ast.stmt, scope: Scope) -> _Return | None:
        if isinstance(stmt, ast.Return):
            return _Return(self._lazy(stmt.value, scope) if stmt.value else None)
        if isinstance(stmt, ast.Raise):
            raise Dead(_exception_name(stmt.exc))
        if isinstance(stmt, ast.Assign):
            value = self._lazy(stmt.value, scope)
            for target in stmt.targets:
                self._assign(target, value, scope)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self._assign(stmt.target, self._lazy(stmt.value, scope), scope)
        elif isinstance(stmt, ast.AugAssign):
            self._assign(stmt.target, UNKNOWN, scope)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            # A call made for its effect: run it now (its value is dropped).
            self.force(self.eval(stmt.value, scope))
        elif isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            for node in ast.walk(stmt):
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                    for target in getattr(node, "targets", [getattr(node, "target", None)]):
                        self._assign(target, UNKNOWN, scope)
                elif isinstance(node, (ast.For, ast.AsyncFor)):
                    self._assign(node.target, UNKNOWN, scope)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope.vars = {**scope.vars, stmt.name: Function(stmt, scope.module, scope, owner=None)}
        elif isinstance(stmt, ast.ClassDef):
            scope.vars = {**scope.vars, stmt.name: Class(stmt, scope.module, scope)}
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                self._importable(alias.name)
                target = alias.name if alias.asname else alias.name.split(".")[0]
                scope.vars = {**scope.vars, alias.asname or target: _LazyImport(self, target, None)}
        elif isinstance(stmt, ast.ImportFrom):
            self._importable(_absolute(scope.module, stmt))
            for alias in stmt.names:
                lazy = _LazyImport(self, _absolute(scope.module, stmt), alias.name)
                scope.vars = {**scope.vars, alias.asname or alias.name: lazy}
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                self._assign(target, UNKNOWN, scope)
        return None

    def _importable(self, dotted: str) -> None:
        """An import statement of a package that is not installed raises where it stands (the
        module itself is read only when used)."""
        if dotted.split(".", 1)[0] in self.missing:
            raise Dead("ImportError")

    def _assign(self, target: ast.expr | None, value: Any, scope: Scope) -> None:
        if isinstance(target, ast.Name):
            scope.vars = {**scope.vars, target.id: value}
        elif isinstance(target, ast.Attribute):
            self.set_attr(self.eval(target.value, scope), target.attr, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assign(element.value if isinstance(element, ast.Starred) else element, UNKNOWN, scope)

    # Expressions

    def _lazy(self, node: ast.expr, scope: Scope) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        return Thunk(node, scope.__class__(scope.vars, scope.parent, scope.module, scope.function), self.heap)

    @_with_room
    def force(self, value: Any) -> Any:
        while isinstance(value, (Thunk, _LazyImport)):
            if isinstance(value, _LazyImport):
                value = value.resolve()
                continue
            if value.busy:
                return UNKNOWN  # a value defined in terms of itself
            if not value.done:
                if self.forcing >= MAX_FORCING:
                    function = value.scope.function
                    self.cutoffs.append(function.dotted if function is not None else value.scope.module.name)
                    return UNKNOWN
                value.busy = True
                heap, self.heap = self.heap, value.heap
                self.forcing += 1
                try:
                    value.value = self.eval(value.node, value.scope)
                finally:
                    self.forcing -= 1
                    # Reads saw the attributes of the moment the value was bound; what the
                    # evaluation itself set (a constructor's attributes) stays set.
                    after, self.heap = self.heap, heap
                    changed = {k: v for k, v in after.items() if value.heap.get(k, _NOT_BOUND) is not v}
                    if changed:
                        self.heap = {**self.heap, **changed}
                    value.busy = False
                value.done = True
            value = value.value
        return value

    @_with_room
    def truth(self, value: Any) -> bool | _Unknown:
        value = self.force(value)
        if value is None or isinstance(value, (bool, int, float, str, tuple, list, dict, set, frozenset)):
            if isinstance(value, (list, tuple)) and any(v is UNKNOWN for v in value):
                return bool(value)  # the length is known
            return bool(value)
        if isinstance(value, (Module, Class, Function, BoundMethod, Builtin)):
            return True
        return UNKNOWN

    @_with_room
    def eval(self, node: ast.expr, scope: Scope) -> Any:
        self._step()
        method = getattr(self, f"_eval_{type(node).__name__}", None)
        return method(node, scope) if method else UNKNOWN

    def _eval_Constant(self, node: ast.Constant, scope: Scope) -> Any:
        return node.value

    def _eval_Name(self, node: ast.Name, scope: Scope) -> Any:
        return self.force(self.name(node.id, scope))

    def name(self, name: str, scope: Scope) -> Any:
        current: Scope | None = scope
        while current is not None:
            if name in current.vars:
                return current.vars[name]
            current = current.parent
        if name == "super":
            return Builtin("super", lambda *args: self._super(scope, args))
        if name in _BUILTINS:
            return Builtin(name, lambda *args, **kw: _BUILTINS[name](self, list(args), kw))
        value = self.module_attr(scope.module, name)
        if value is UNKNOWN and hasattr(builtins, name):
            return External(f"builtins.{name}")
        return value

    def _super(self, scope: Scope, args: tuple) -> Any:
        if args:
            cls, obj = (self.force(a) for a in args[:2])
            return Super(cls, obj) if isinstance(cls, Class) else UNKNOWN
        function = scope.function
        while function is not None and function.owner is None:
            function = function.closure.function if function.closure else None
        if function is None or not isinstance(function.node, ast.FunctionDef) or not function.node.args.args:
            return UNKNOWN
        frame = scope
        while frame is not None and frame.function is not function:
            frame = frame.parent
        obj = frame.vars.get(function.node.args.args[0].arg, UNKNOWN) if frame else UNKNOWN
        return Super(function.owner, self.force(obj))

    def _eval_Attribute(self, node: ast.Attribute, scope: Scope) -> Any:
        return self.force(self.get_attr(self.eval(node.value, scope), node.attr))

    def _eval_Call(self, node: ast.Call, scope: Scope) -> Any:
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            return UNKNOWN
        args = [self._lazy(arg, scope) for arg in node.args]
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                extra = self.force(self.eval(keyword.value, scope))
                if not isinstance(extra, dict):
                    return UNKNOWN
                kwargs.update(extra)
            else:
                kwargs[keyword.arg] = self._lazy(keyword.value, scope)
        dotted = _dotted(node.func)
        if dotted and self._answer(dotted):
            return self._fact(dotted, args, kwargs)
        return self.force(self.call(self.eval(node.func, scope), args, kwargs))

    def _eval_BoolOp(self, node: ast.BoolOp, scope: Scope) -> Any:
        is_and = isinstance(node.op, ast.And)
        result: Any = None
        unknown = False
        for operand in node.values:
            result = self.eval(operand, scope)
            truth = self.truth(result)
            if truth is UNKNOWN:
                unknown = True
            elif truth != is_and:
                # ``x and False`` is falsy whatever x was; the value itself is this one only if known.
                return result if not unknown else (False if is_and else True)
        return UNKNOWN if unknown else result

    def _eval_UnaryOp(self, node: ast.UnaryOp, scope: Scope) -> Any:
        if isinstance(node.op, ast.Not):
            truth = self.truth(self.eval(node.operand, scope))
            return UNKNOWN if truth is UNKNOWN else not truth
        value = self.eval(node.operand, scope)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
        return UNKNOWN

    def _eval_Compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.eval(node.left, scope)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.eval(right_node, scope)
            outcome = _compare(op, left, right)
            if outcome is UNKNOWN or not outcome:
                return outcome
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp, scope: Scope) -> Any:
        truth = self.truth(self.eval(node.test, scope))
        if truth is UNKNOWN:
            first, other = self.eval(node.body, scope), self.eval(node.orelse, scope)
            return first if _same(first, other) else UNKNOWN
        return self.eval(node.body if truth else node.orelse, scope)

    def _eval_Tuple(self, node: ast.Tuple, scope: Scope) -> Any:
        if any(isinstance(e, ast.Starred) for e in node.elts):
            return UNKNOWN
        return tuple(self.eval(e, scope) for e in node.elts)

    def _eval_List(self, node: ast.List, scope: Scope) -> Any:
        if any(isinstance(e, ast.Starred) for e in node.elts):
            return UNKNOWN
        return [self.eval(e, scope) for e in node.elts]

    def _eval_Set(self, node: ast.Set, scope: Scope) -> Any:
        values = [self.eval(e, scope) for e in node.elts]
        return frozenset(values) if all(isinstance(v, (str, int, type(None))) for v in values) else UNKNOWN

    def _eval_Dict(self, node: ast.Dict, scope: Scope) -> Any:
        result = {}
        for key, value in zip(node.keys, node.values, strict=True):
            key = self.eval(key, scope) if key is not None else UNKNOWN
            if not isinstance(key, (str, int)):
                return UNKNOWN
            result[key] = self._lazy(value, scope)
        return result

    def _eval_Lambda(self, node: ast.Lambda, scope: Scope) -> Any:
        return Function(node, scope.module, scope)

    def _eval_BinOp(self, node: ast.BinOp, scope: Scope) -> Any:
        left, right = self.eval(node.left, scope), self.eval(node.right, scope)
        if isinstance(node.op, ast.Add) and type(left) is type(right) and isinstance(left, (str, int, tuple)):
            return left + right
        return UNKNOWN

    def _eval_Subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        container, index = self.eval(node.value, scope), self.eval(node.slice, scope)
        if isinstance(container, (dict, list, tuple, str)) and isinstance(index, (str, int)):
            try:
                return self.force(container[index])
            except (KeyError, IndexError, TypeError):
                raise Dead("KeyError") from None
        return UNKNOWN

    def _eval_JoinedStr(self, node: ast.JoinedStr, scope: Scope) -> Any:
        return UNKNOWN

    def _step(self) -> None:
        self.steps += 1
        if self.steps > self.limit:
            raise _Cutoff()


class _LazyImport:
    """``from module import name`` / ``import module``, resolved when first used."""

    def __init__(self, interp: Interpreter, module: str, name: str | None):
        self.interp, self.module, self.name = interp, module, name
        self._value: Any = None
        self._state = "new"  # "busy" while resolving: a cycle means the submodule

    def resolve(self) -> Any:
        if self._state == "done":
            return self._value
        if self._state == "busy":
            return self._submodule()
        self._state = "busy"
        try:
            module = self.interp.force(self.interp.import_module(self.module))
            if self.name is None:
                value = module
            elif isinstance(module, Module):
                value = self.interp.force(self.interp.module_attr(module, self.name))
                if value is UNKNOWN:
                    value = self._submodule()
            else:
                value = self.interp.get_attr(module, self.name)
        finally:
            self._state = "new"
        self._value, self._state = value, "done"
        return value

    def _submodule(self) -> Any:
        sub = f"{self.module}.{self.name}"
        return (
            self.interp.import_module(sub) if self.name and self.interp.sources.module_path(sub) else UNKNOWN
        )


# Helpers ---------------------------------------------------------------------------------------


class _NotBound:
    def __repr__(self) -> str:
        return "<not bound>"


_NOT_BOUND = _NotBound()
_PURE_METHODS = {
    "lower",
    "upper",
    "startswith",
    "endswith",
    "strip",
    "split",
    "get",
    "keys",
    "items",
    "values",
    "count",
    "index",
}


def _pure(method: Callable, args: tuple, kwargs: dict) -> Any:
    """A method of a str, dict, list or tuple, called when every argument is known."""
    interp_args = [a.value if isinstance(a, Thunk) and a.done else a for a in args]
    if not _known(interp_args) or not _known(kwargs.values()):
        return UNKNOWN
    try:
        return method(*interp_args, **kwargs)
    except (TypeError, ValueError, KeyError):
        return UNKNOWN


def _force_all(interp: Interpreter, args: list) -> list:
    return [interp.force(a) for a in args]


def _builtin_getattr(interp: Interpreter, args: list, kwargs: dict) -> Any:
    obj, name = (interp.force(a) for a in args[:2])
    return interp.get_attr(obj, name) if isinstance(name, str) else UNKNOWN


def _builtin_setattr(interp: Interpreter, args: list, kwargs: dict) -> Any:
    obj, name = (interp.force(a) for a in args[:2])
    if isinstance(name, str) and len(args) == 3:
        interp.set_attr(obj, name, args[2])
    return None


def _builtin_isinstance(interp: Interpreter, args: list, kwargs: dict) -> Any:
    obj, kinds = _force_all(interp, args[:2])
    answers = {
        _isinstance(interp, obj, interp.force(kind))
        for kind in (kinds if isinstance(kinds, tuple) else [kinds])
    }
    return True if True in answers else UNKNOWN if UNKNOWN in answers else False


def _isinstance(interp: Interpreter, obj: Any, kind: Any) -> Any:
    builtin = None
    if isinstance(kind, External) and kind.dotted.startswith("builtins."):
        builtin = getattr(builtins, kind.dotted[len("builtins.") :], None)
    elif isinstance(kind, Builtin):
        builtin = getattr(builtins, kind.name, None)
    if isinstance(obj, Instance):
        mro = interp.mro(obj.cls)
        if isinstance(kind, Class):
            return kind in mro
        outside = [base.dotted for base in mro if isinstance(base, External)]
        if isinstance(builtin, type) and not any(_may_derive(base, builtin) for base in outside):
            return False  # a class of the wheels' own is no str or dict unless a base may be one
        return UNKNOWN
    plain = (str, int, float, bool, type(None), tuple, list, dict)
    if isinstance(obj, plain) and isinstance(builtin, type):
        return isinstance(obj, builtin)
    if isinstance(obj, plain) and isinstance(kind, Class):
        return False
    return UNKNOWN


def _builtin_plain(function: Callable) -> Callable:
    def call(interp: Interpreter, args: list, kwargs: dict) -> Any:
        values = _force_all(interp, args)
        if not _known(values) or any(isinstance(v, (Instance, Module, External)) for v in values):
            return UNKNOWN
        try:
            return function(*values)
        except (TypeError, ValueError):
            return UNKNOWN

    return call


_BUILTINS: dict[str, Callable[[Interpreter, list, dict], Any]] = {
    "getattr": _builtin_getattr,
    "setattr": _builtin_setattr,
    "isinstance": _builtin_isinstance,
    "globals": lambda interp, args, kwargs: External("globals()"),
    "len": _builtin_plain(len),
    "bool": _builtin_plain(bool),
    "str": _builtin_plain(str),
    "int": _builtin_plain(int),
    "tuple": _builtin_plain(tuple),
}


def _may_derive(dotted: str, builtin: type) -> bool:
    """Whether an outside base class may derive from ``builtin``: one of the standard library's
    containers, or the built-in type itself (TensorFlow's own classes do not)."""
    if dotted == "builtins.object":
        return False
    return dotted.startswith(("builtins.", "collections.", "typing.")) or dotted.endswith(builtin.__name__)


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    if isinstance(op, (ast.Is, ast.IsNot)):
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        singletons = (None, True, False)
        if left in singletons or right in singletons:
            same = left is right
            return same if isinstance(op, ast.Is) else not same
        return UNKNOWN
    plain = (str, int, float, bool, type(None), tuple, list, dict, frozenset)
    if not isinstance(left, plain) or not isinstance(right, plain):
        return UNKNOWN
    if isinstance(op, (ast.In, ast.NotIn)):
        if isinstance(right, (tuple, list)) and not _known(right):
            return UNKNOWN
        try:
            inside = left in right
        except TypeError:
            return UNKNOWN
        return inside if isinstance(op, ast.In) else not inside
    if isinstance(left, (tuple, list)) and not _known(left):
        return UNKNOWN
    operations = {
        ast.Eq: operator.eq,
        ast.NotEq: operator.ne,
        ast.Lt: operator.lt,
        ast.LtE: operator.le,
        ast.Gt: operator.gt,
        ast.GtE: operator.ge,
    }
    try:
        return bool(operations[type(op)](left, right))
    except (KeyError, TypeError):
        return UNKNOWN


def _same(first: Any, other: Any) -> bool:
    if first is other:
        return True
    plain = (str, int, float, bool, type(None))
    return isinstance(first, plain) and type(first) is type(other) and first == other


def _merge(first: dict, other: dict, interp: Interpreter) -> dict:
    merged = {}
    for key in first.keys() | other.keys():
        a, b = first.get(key, UNKNOWN), other.get(key, UNKNOWN)
        if a is b:
            merged[key] = a
        else:
            a, b = interp.force(a), interp.force(b)
            merged[key] = a if _same(a, b) else UNKNOWN
    return merged


def _c3(sequences: list[list]) -> list:
    result = []
    sequences = [list(s) for s in sequences if s]
    while sequences:
        for sequence in sequences:
            head = sequence[0]
            if not any(head in s[1:] for s in sequences):
                break
        else:
            # No consistent order (an outside base twice, say): keep the bases' order.
            head = sequences[0][0]
        result.append(head)
        sequences = [[c for c in s if c != head] for s in sequences]
        sequences = [s for s in sequences if s]
    return result


def _assigns(target: ast.expr, name: str) -> bool:
    if isinstance(target, ast.Name):
        return target.id == name
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_assigns(element, name) for element in target.elts)
    return False


def _absolute(module: Module, stmt: ast.ImportFrom) -> str:
    if not stmt.level:
        return stmt.module or ""
    package = module.name if module.path.endswith("__init__.py") else module.name.rpartition(".")[0]
    for _ in range(stmt.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{stmt.module}" if stmt.module else package


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _exception_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    return _dotted(node).rsplit(".", 1)[-1] if node is not None and _dotted(node) else None


def _catches(handler: ast.ExceptHandler, kind: str | None) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    caught = {(_dotted(n) or "").rsplit(".", 1)[-1] for n in names}
    return kind in caught or "Exception" in caught or (kind is None and bool(caught))
