"""The evaluator's rules, each on a few lines of real Python in a real wheel file.

The wheels are zip files written by the test and read through ``wheelsource`` from a
``file://`` URL (sha256-checked like a download); the machine is a ``Facts`` value, so the
same code is asked about a Mac and about a Linux box. The rules on the real TensorFlow and Keras
wheels are in ``test_hazard.py``.
"""

from __future__ import annotations

import ast
import hashlib
import textwrap
import zipfile
from pathlib import Path

import pytest

from tfcompat.hazard import pyeval, wheelsource
from tfcompat.hazard.pyeval import UNKNOWN, Facts, Interpreter
from tfcompat.index import wheels

MAC = Facts()
LINUX = Facts(system="Linux", processor="x86_64", machine="x86_64", gpus=1, pluggable=0)


def make_wheel(folder: Path, modules: dict[str, str], name: str = "demo") -> wheels.WheelRef:
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, source in modules.items():
            archive.writestr(path, textwrap.dedent(source))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return wheels.WheelRef(name, "1.0", wheel.name, wheel.as_uri(), digest, wheel.stat().st_size)


@pytest.fixture
def evaluate(tmp_path: Path):
    """``evaluate(modules, expression, facts)``: the value of ``expression`` in module ``demo``."""
    opened: list[wheelsource.SourceSet] = []

    def run(modules: dict[str, str], expression: str, facts: Facts = MAC, missing=frozenset()):
        folder = tmp_path / f"w{len(opened)}"
        folder.mkdir()
        sources = wheelsource.SourceSet([make_wheel(folder, modules)], root=tmp_path / "cache")
        opened.append(sources)
        interp = Interpreter(sources, facts, missing=set(missing))
        module = interp.import_module("demo")
        scope = pyeval.Scope({}, None, module)
        return interp.force(interp.eval(ast.parse(expression, mode="eval").body, scope)), interp

    yield run
    for sources in opened:
        sources.close()


def test_assignment_keeps_the_value_of_its_moment(evaluate) -> None:
    source = """
    def f():
        x = 1
        y = x
        x = 2
        return y
    """
    assert evaluate({"demo/__init__.py": source}, "f()")[0] == 1


def test_branches_on_an_unknown_condition_keep_what_they_agree_on(evaluate) -> None:
    source = """
    import secrets
    def agree():
        if secrets.choice([1, 2]):
            a = "same"
        else:
            a = "same"
        return a
    def differ():
        if secrets.choice([1, 2]):
            return True
        return False
    """
    modules = {"demo/__init__.py": source}
    assert evaluate(modules, "agree()")[0] == "same"
    assert evaluate(modules, "differ()")[0] is UNKNOWN


def test_a_branch_that_falls_through_continues_after_its_block(evaluate) -> None:
    """Keras 3's ``_resolve_auto_jit_compile``: an unknown test inside a known one."""
    source = """
    import secrets
    def resolve(flag):
        if True:
            if secrets.choice([1, 2]):
                return False
        if flag:
            return True
        return False
    """
    modules = {"demo/__init__.py": source}
    assert evaluate(modules, "resolve(False)")[0] is False
    assert evaluate(modules, "resolve(True)")[0] is UNKNOWN


def test_facts_describe_the_machine(evaluate) -> None:
    source = """
    import platform
    def apple_silicon():
        return platform.system() == "Darwin" and "arm" in platform.processor().lower()
    """
    modules = {"demo/__init__.py": source}
    assert evaluate(modules, "apple_silicon()", MAC)[0] is True
    assert evaluate(modules, "apple_silicon()", LINUX)[0] is False


def test_environment_and_config_files_are_those_of_a_fresh_machine(evaluate) -> None:
    source = """
    import os
    BACKEND = "tensorflow"
    if os.path.exists(os.path.expanduser("~/.keras/keras.json")):
        BACKEND = "from the file"
    if "KERAS_BACKEND" in os.environ:
        BACKEND = os.environ["KERAS_BACKEND"]
    """
    modules = {"demo/__init__.py": source}
    assert evaluate(modules, "BACKEND")[0] == "tensorflow"
    assert evaluate(modules, "BACKEND", Facts(environ={"KERAS_BACKEND": "jax"}))[0] == "jax"


def test_constructors_run_along_the_mro_with_defaults_and_properties(evaluate) -> None:
    source = """
    class Base:
        def __init__(self, name, jit_compile=True):
            self.name = name
            self._jit = jit_compile

        @property
        def jit_compile(self):
            return self._jit

        @jit_compile.setter
        def jit_compile(self, value):
            self._jit = value and self.name != "off"

    class Adam(Base):
        def __init__(self, learning_rate=0.001, jit_compile=True, name="Adam"):
            super().__init__(name=name, jit_compile=jit_compile)

    def made(**kwargs):
        return Adam(**kwargs).jit_compile

    def set_later(name):
        adam = Adam(name=name)
        adam.jit_compile = True
        return adam.jit_compile
    """
    modules = {"demo/__init__.py": source}
    assert evaluate(modules, "made()")[0] is True
    assert evaluate(modules, "made(jit_compile=False)")[0] is False
    assert evaluate(modules, "set_later('on')")[0] is True
    assert evaluate(modules, "set_later('off')")[0] is False


def test_a_raise_ends_its_way(evaluate) -> None:
    source = """
    import secrets
    def checked():
        result = "the other way"
        if secrets.choice([1, 2]):
            result = "this way"
            raise ValueError("not this way")
        return result
    """
    assert evaluate({"demo/__init__.py": source}, "checked()")[0] == "the other way"


def test_import_error_of_a_package_that_is_not_installed(evaluate) -> None:
    source = """
    def which():
        try:
            import tf_keras
            return "tf_keras"
        except ImportError:
            return "keras"
    """
    modules = {"demo/__init__.py": source}
    assert evaluate(modules, "which()", missing={"tf_keras"})[0] == "keras"


def test_module_level_conditions_and_star_imports(evaluate) -> None:
    """Keras 3: ``if backend() == "tensorflow": from ...tensorflow import *`` picks the class."""
    modules = {
        "demo/__init__.py": """
        from demo.config import backend
        if backend() == "torch":
            from demo.torch import *
        if backend() == "tensorflow":
            from demo.tf import *
        """,
        "demo/config.py": """
        _BACKEND = "tensorflow"
        def backend():
            return _BACKEND
        """,
        "demo/tf.py": 'class Trainer:\n    kind = "tensorflow"\n',
        "demo/torch.py": 'class Trainer:\n    kind = "torch"\n',
    }
    assert evaluate(modules, "Trainer.kind")[0] == "tensorflow"


def test_a_call_graph_too_deep_is_cut_off_not_crashed(evaluate) -> None:
    source = """
    def forever(n):
        return forever(n)
    """
    value, interp = evaluate({"demo/__init__.py": source}, "forever(1)")
    assert value is UNKNOWN
    assert interp.cutoffs and interp.cutoffs[0] == "demo.forever"


def test_sources_are_cached_per_wheel_and_read_without_the_wheel(tmp_path: Path) -> None:
    ref = make_wheel(tmp_path, {"demo/__init__.py": "X = 1\n", "demo/other.py": "Y = 2\n"})
    with wheelsource.SourceSet([ref], root=tmp_path / "cache") as sources:
        assert sources.read("demo/__init__.py") == "X = 1\n"
    (tmp_path / ref.filename).unlink()  # from now on only the cache can answer
    with wheelsource.SourceSet([ref], root=tmp_path / "cache") as sources:
        assert sources.module_path("demo.other") == "demo/other.py"
        assert sources.read("demo/__init__.py") == "X = 1\n"
        with pytest.raises(wheels.WheelError):
            sources.read("demo/other.py")  # never read before: needs the wheel, which is gone
