"""Plugin libraries that fail the way a wrong tensorflow-metal does, for real, on Linux."""

from __future__ import annotations

import subprocess
from pathlib import Path

# C sources for plugins that fail the way a wrong tensorflow-metal does, for real, on Linux.
PLUGIN_SOURCES = {
    "undefined": "extern void tfcompat_missing_symbol(void);\n"
    "void TF_InitPluggableDevice(void) { tfcompat_missing_symbol(); }\n",
    "segfault": "__attribute__((constructor)) static void crash(void) { *(volatile int *)0 = 1; }\n",
    "abort": "#include <stdlib.h>\n__attribute__((constructor)) static void crash(void) { abort(); }\n",
    # The abort tensorflow-metal causes when two plugins register the Metal platform.
    "registered_twice": "#include <stdio.h>\n#include <stdlib.h>\n__attribute__((constructor)) static void twice(void) "
    '{ fputs("platform is already registered with name: \\"METAL\\"\\n", stderr); abort(); }\n',
    "hang": "#include <unistd.h>\n__attribute__((constructor)) static void hang(void) { for (;;) pause(); }\n",
    "dependency": "extern int tfcompat_dep(void);\nint TF_InitPluggableDevice(void) { return tfcompat_dep(); }\n",
}


def build_plugin(folder: Path, kind: str) -> Path:
    """Compile a plugin library of ``kind`` with the system C compiler; return its path.

    ``dependency`` links against ``libtfcompatdep.so`` and then deletes it, so loading the plugin
    fails with the loader's "cannot open shared object file".
    """
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{kind}.c"
    source.write_text(PLUGIN_SOURCES[kind])
    library = folder / f"lib{kind}_plugin.so"
    extra: list[str] = []
    if kind == "dependency":
        dep_source = folder / "dep.c"
        dep_source.write_text("int tfcompat_dep(void) { return 0; }\n")
        dep = folder / "libtfcompatdep.so"
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(dep), str(dep_source)], check=True)
        extra = [f"-L{folder}", "-ltfcompatdep"]
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source), *extra], check=True)
    if kind == "dependency":
        (folder / "libtfcompatdep.so").unlink()
    return library
