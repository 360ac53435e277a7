"""What an Apple-silicon Mac installs for a TensorFlow release: the one rule, and its dates.

Read off the index (a test checks it against every release there):

- the name a user installs (Apple's instructions): ``tensorflow-macos`` up to 2.12.x,
  ``tensorflow`` from 2.13.0rc0, whose macOS arm64 wheels up to 2.15.0 are 2 kB stubs that
  require ``tensorflow-macos`` of the same release;
- the distribution whose wheel holds the binaries: ``tensorflow-macos`` up to 2.15.0,
  ``tensorflow`` from 2.15.1 (where ``tensorflow-macos`` becomes the stub, as for 2.16);
- ``tensorflow-metal`` beside it, unless the row is TensorFlow alone.

A pair is resolved as of its release: one day after the newest upload of its own wheels, the
day a user could first install it, with the fixes released alongside. A requirement that had no
wheel for the Mac then is taken as of one day after its *first* wheel for the Mac: the first day
it could be installed at all.

This lives in ``core`` because every layer asks it: the resolver, the engines, the wings and the
report, which imports ``core`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from packaging.tags import Tag
from packaging.version import Version

PLUGIN = "tensorflow-metal"
#: A row with this plugin is TensorFlow alone: the control.
NO_PLUGIN = "none"
#: uv's ``--python-platform`` for Apple silicon.
PLATFORM = "aarch64-apple-darwin"
#: The macOS uv resolves for unless told: uv's documented default, pinned so that a uv upgrade
#: cannot change the wheel chosen (every wheel here is tagged macosx_11_0 or macosx_12_0).
DEPLOYMENT_TARGET = "13.0"
SLACK = timedelta(days=1)

_FIRST_TENSORFLOW = Version("2.13.0rc0")
_FIRST_BINARY_TENSORFLOW = Version("2.15.1")


def install_name(tf: str) -> str:
    """The distribution a user installs for TensorFlow ``tf`` on an Apple-silicon Mac."""
    return "tensorflow-macos" if Version(tf) < _FIRST_TENSORFLOW else "tensorflow"


def binary_name(tf: str) -> str:
    """The distribution whose macOS arm64 wheel holds TensorFlow ``tf``'s binaries."""
    return "tensorflow-macos" if Version(tf) < _FIRST_BINARY_TENSORFLOW else "tensorflow"


def requirements(tf: str, metal: str) -> list[str]:
    """What a user asks pip for: ``["tensorflow==2.19.1", "tensorflow-metal==1.2.0"]``."""
    return [f"{install_name(tf)}=={tf}"] + ([f"{PLUGIN}=={metal}"] if metal != NO_PLUGIN else [])


def is_mac_arm64(tag: Tag) -> bool:
    """A wheel tag an Apple-silicon Mac installs (arm64 or universal2)."""
    return tag.platform.startswith("macosx_") and tag.platform.endswith(("_arm64", "_universal2"))


def released(uploads: Iterable[datetime]) -> str | None:
    """The date a pair is resolved as of: one day after the newest of its wheels' uploads."""
    return _rfc3339(max(uploads, default=None))


def available(uploads: Iterable[datetime]) -> str | None:
    """The date a requirement is taken as of when it had no wheel at the release: one day after
    the first upload of a wheel for the Mac."""
    return _rfc3339(min(uploads, default=None))


def _rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment + SLACK).replace(microsecond=0).isoformat().replace("+00:00", "Z")
