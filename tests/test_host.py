"""Host facts: the macOS version and build, the GPU and its Metal support, the CI run.

sw_vers and system_profiler do not exist here, so their parsers are tested on recorded outputs
(each labelled with where it comes from), and the code that runs them on stand-in scripts that
answer as the real tools do. The Linux path runs for real.
"""

from __future__ import annotations

import platform
from pathlib import Path

import msgspec
import pytest

from tfcompat.core import host
from tfcompat.core.record import Host

# Recorded outputs ---------------------------------------------------------------------------
#
# sw_vers prints the one value asked for and a newline. The pairs are Apple's releases as public
# reports print them: "macOS 15.6.1 (24G90) [Darwin 24.6.0]" and "macOS 26.1 (25B78) [Darwin
# 25.1.0], Apple M2 Pro" (BenchmarkDotNet environment headers; astral-sh/ty issue reports).
SW_VERS_15 = ("15.6.1\n", "24G90\n")
SW_VERS_26 = ("26.1\n", "25B78\n")
# On macOS 26 a Python built with an older macOS SDK reads the compatibility SystemVersion, and
# platform.mac_ver() says 16.0 (python/cpython issue 135675); so does any process, sw_vers included,
# when SYSTEM_VERSION_COMPAT=1 is set (the variable the CPython docs name, pull request 136339).
MAC_VER_COMPAT_26 = "16.0"

# system_profiler SPDisplaysDataType -json of an Apple M2 Pro MacBook Pro. Assembled, labelled as
# such: the layout (keys sorted, GPU keys around the attached displays' "spdisplays_ndrvs") is that
# of the real M3 Pro output posted in timmo001/system-bridge pull request 3408 (2025-04-16); the
# GPU keys are the JSON names of the text form's Chipset Model / Type / Bus / Total Number of Cores /
# Vendor / Metal Support (narugit/smctemp issue 26, an Apple M3: "Metal Support: Metal 3"); the
# M2 Pro's 19 GPU cores as reported in smpanaro/coreml-llm-cli issue 2.
M2_PRO_JSON = """\
{
  "SPDisplaysDataType" : [
    {
      "_name" : "Apple M2 Pro",
      "spdisplays_mtlgpufamilysupport" : "spdisplays_metal3",
      "spdisplays_ndrvs" : [
        {
          "_name" : "Color LCD",
          "_spdisplays_display-product-id" : "a050",
          "_spdisplays_display-vendor-id" : "610",
          "_spdisplays_displayID" : "1",
          "_spdisplays_pixels" : "3024 x 1964",
          "_spdisplays_resolution" : "1512 x 982 @ 120.00Hz",
          "spdisplays_ambient_brightness" : "spdisplays_yes",
          "spdisplays_connection_type" : "spdisplays_internal",
          "spdisplays_display_type" : "spdisplays_built-in-liquid-retina-xdr",
          "spdisplays_main" : "spdisplays_yes",
          "spdisplays_mirror" : "spdisplays_off",
          "spdisplays_online" : "spdisplays_yes",
          "spdisplays_pixelresolution" : "spdisplays_3024x1964Retina"
        }
      ],
      "spdisplays_vendor" : "sppci_vendor_Apple",
      "sppci_bus" : "spdisplays_builtin",
      "sppci_cores" : "19",
      "sppci_device_type" : "spdisplays_gpu",
      "sppci_model" : "Apple M2 Pro"
    }
  ]
}
"""

# The same query on a GitHub-hosted macOS runner (a macOS virtual machine). Assembled from the
# text form public reports show for such a VM's adapter ("Chipset Model: Apple Paravirtual device,
# Type: GPU, Bus: Built-In, Vendor: Apple (0x106b), Metal Support: Metal 3", no core count); the
# name on hosted runners is in ggml-org/llama.cpp pull request 6628 and JuliaGPU/Metal.jl issue 309.
PARAVIRTUAL_JSON = """\
{
  "SPDisplaysDataType" : [
    {
      "_name" : "Apple Paravirtual device",
      "spdisplays_mtlgpufamilysupport" : "spdisplays_metal3",
      "spdisplays_vendor" : "sppci_vendor_Apple",
      "sppci_bus" : "spdisplays_builtin",
      "sppci_device_type" : "spdisplays_gpu",
      "sppci_model" : "Apple Paravirtual device"
    }
  ]
}
"""

# An M1 on macOS 11, whose system_profiler names the GPU item "kHW_AppleM1Item" and the Metal
# family under an older key (exelban/stats issue 394, 2021-03-31, verbatim up to the display
# list; the GPU keys after it completed as in the outputs above).
M1_BIG_SUR_JSON = """\
{
  "SPDisplaysDataType" : [
    {
      "_name" : "kHW_AppleM1Item",
      "spdisplays_metalfamily" : "spdisplays_mtlgpufamilyapple7",
      "spdisplays_ndrvs" : [
        {
          "_name" : "Color LCD",
          "_spdisplays_display-product-id" : "a03c",
          "_spdisplays_display-vendor-id" : "610"
        }
      ],
      "spdisplays_vendor" : "sppci_vendor_Apple",
      "sppci_bus" : "spdisplays_builtin",
      "sppci_cores" : "8",
      "sppci_device_type" : "spdisplays_gpu",
      "sppci_model" : "Apple M1"
    }
  ]
}
"""

# GitHub Actions' variables on a hosted macOS arm64 runner, as GitHub documents them (values in the
# form actions/runner-images publishes: ImageOS "macos15", ImageVersion "20251110.0049").
HOSTED_MAC_ENV = {
    "GITHUB_ACTIONS": "true",
    "RUNNER_NAME": "GitHub Actions 1000000123",
    "RUNNER_OS": "macOS",
    "RUNNER_ARCH": "ARM64",
    "RUNNER_ENVIRONMENT": "github-hosted",
    "ImageOS": "macos15",
    "ImageVersion": "20251110.0049",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "example/tfcompat",
    "GITHUB_RUN_ID": "19283746501",
    "GITHUB_RUN_ATTEMPT": "2",
}


# sw_vers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (SW_VERS_15, {"os_version": "15.6.1", "os_build": "24G90"}),
        (SW_VERS_26, {"os_version": "26.1", "os_build": "25B78"}),
    ],
)
def test_sw_vers_outputs_give_version_and_build(outputs, expected):
    assert host.parse_sw_vers(*outputs) == expected


def test_sw_vers_wins_over_the_compatibility_version_python_reports_on_macos_26():
    assert host.parse_sw_vers(*SW_VERS_26, mac_ver=MAC_VER_COMPAT_26)["os_version"] == "26.1"


@pytest.mark.parametrize(
    ("mac_ver", "expected"),
    [
        ("15.6.1", "15.6.1"),  # a real version stands in when sw_vers could not be asked
        (MAC_VER_COMPAT_26, None),  # macOS 26 seen by an old-SDK Python: never a real macOS
        ("16.1", None),
        ("10.16", None),  # macOS 11 and later seen by a Python built before the 11 SDK
        ("", None),
    ],
)
def test_without_sw_vers_only_a_real_macos_version_stands_in(mac_ver, expected):
    assert host.parse_sw_vers(None, None, mac_ver=mac_ver) == {"os_version": expected, "os_build": None}


@pytest.mark.parametrize(
    ("product", "build"),
    [
        ("ProductVersion:\t\t26.1", "BuildVersion:\t\t25B78"),  # plain sw_vers lines, not the one value
        ("sw_vers: illegal option -- x", "usage: sw_vers"),
        ("", ""),
    ],
)
def test_output_not_shaped_like_a_version_is_none(product, build):
    assert host.parse_sw_vers(product, build) == {"os_version": None, "os_build": None}


def _stand_in(folder: Path, name: str, body: str) -> str:
    """A shell script standing in for a macOS tool that does not exist here."""
    script = folder / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


# A stand-in for sw_vers that answers as the real one does on macOS 26.1: the compatibility
# version when SYSTEM_VERSION_COMPAT=1 is in its environment.
SW_VERS_STAND_IN = """\
if [ "$SYSTEM_VERSION_COMPAT" = 1 ]; then version=16.0; else version=26.1; fi
case "$1" in -productVersion) echo "$version" ;; -buildVersion) echo 25B78 ;; *) exit 1 ;; esac"""


def test_sw_vers_is_asked_outside_the_compatibility_mode(tmp_path, monkeypatch):
    sw_vers = _stand_in(tmp_path, "sw_vers", SW_VERS_STAND_IN)
    monkeypatch.setenv("SYSTEM_VERSION_COMPAT", "1")
    assert host.macos_versions(sw_vers) == {"os_version": "26.1", "os_build": "25B78"}


def test_a_missing_or_hanging_sw_vers_gives_none(tmp_path):
    nothing = {"os_version": None, "os_build": None}
    assert host.macos_versions(str(tmp_path / "no-such-tool")) == nothing
    hanging = _stand_in(tmp_path, "sw_vers", "sleep 30")
    assert host.macos_versions(hanging, timeout=0.5) == nothing


# system_profiler ----------------------------------------------------------------------------


def test_a_physical_apple_gpu_with_its_metal_support():
    assert host.parse_displays(M2_PRO_JSON) == [
        {"name": "Apple M2 Pro", "metal_support": "Metal 3", "virtual": False}
    ]


def test_the_paravirtual_gpu_of_a_hosted_runner_is_virtual():
    assert host.parse_displays(PARAVIRTUAL_JSON) == [
        {"name": "Apple Paravirtual device", "metal_support": "Metal 3", "virtual": True}
    ]


def test_the_model_name_wins_over_the_item_name_and_an_older_metal_key_is_kept():
    assert host.parse_displays(M1_BIG_SUR_JSON) == [
        {"name": "Apple M1", "metal_support": "spdisplays_mtlgpufamilyapple7", "virtual": False}
    ]


def test_the_item_name_stands_in_for_a_missing_model_and_no_metal_key_is_none():
    text = '{"SPDisplaysDataType": [{"_name": "Apple M4"}, "junk", {"sppci_model": 5}]}'
    assert host.parse_displays(text) == [{"name": "Apple M4", "metal_support": None, "virtual": False}]


@pytest.mark.parametrize("text", [None, "", "not json", "[]", "{}", '{"SPDisplaysDataType": 5}'])
def test_unreadable_system_profiler_output_is_none(text):
    assert host.parse_displays(text) is None


def test_no_gpu_listed_is_an_empty_list():
    assert host.parse_displays('{"SPDisplaysDataType": []}') == []


def test_a_missing_or_hanging_system_profiler_gives_none(tmp_path):
    assert host.metal_gpus(str(tmp_path / "no-such-tool")) is None
    assert host.metal_gpus(_stand_in(tmp_path, "system_profiler", "sleep 30"), timeout=0.5) is None


# CI -----------------------------------------------------------------------------------------


def test_a_hosted_runner_is_named_with_its_image_and_run():
    assert host.ci_facts(HOSTED_MAC_ENV) == {
        "provider": "github-actions",
        "runner_name": "GitHub Actions 1000000123",
        "runner_os": "macOS",
        "runner_arch": "ARM64",
        "runner_environment": "github-hosted",
        "image": "macos15",
        "image_version": "20251110.0049",
        "run_url": "https://github.com/example/tfcompat/actions/runs/19283746501/attempts/2",
    }


def test_a_self_hosted_runner_has_no_image():
    env = {key: value for key, value in HOSTED_MAC_ENV.items() if key not in ("ImageOS", "ImageVersion")}
    facts = host.ci_facts({**env, "RUNNER_ENVIRONMENT": "self-hosted", "RUNNER_NAME": "m2-pro-studio"})
    assert (facts["runner_environment"], facts["runner_name"], facts["image"], facts["image_version"]) == (
        "self-hosted",
        "m2-pro-studio",
        None,
        None,
    )


@pytest.mark.parametrize("value", [None, "false", "1", ""])
def test_outside_github_actions_there_is_no_ci(value):
    env = {key: val for key, val in HOSTED_MAC_ENV.items() if key != "GITHUB_ACTIONS"}
    if value is not None:
        env["GITHUB_ACTIONS"] = value
    assert host.ci_facts(env) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("GITHUB_RUN_ID", "123; rm -rf /"),
        ("GITHUB_REPOSITORY", "owner/name/../../elsewhere"),
        ("GITHUB_SERVER_URL", "javascript:alert(1)//"),
        ("GITHUB_RUN_ID", ""),
    ],
)
def test_a_malformed_run_gives_no_url(key, value):
    assert host.ci_facts({**HOSTED_MAC_ENV, key: value})["run_url"] is None


def test_the_run_url_without_an_attempt():
    env = {key: value for key, value in HOSTED_MAC_ENV.items() if key != "GITHUB_RUN_ATTEMPT"}
    assert host.ci_facts(env)["run_url"] == "https://github.com/example/tfcompat/actions/runs/19283746501"


# The whole host section -----------------------------------------------------------------------


def test_this_linux_host_for_real():
    facts = host.host_info({})
    assert facts == {
        "os": "Linux",
        "os_version": platform.release(),
        "os_build": None,
        "machine": platform.machine(),
        "chip": None,
        "python": platform.python_version(),
        "gpus": [],
        "ci": None,
    }
    assert host.host_info(HOSTED_MAC_ENV)["ci"] == host.ci_facts(HOSTED_MAC_ENV)


def _on_a_mac(monkeypatch, *, sw_vers: str, sysctl: str, system_profiler: str) -> dict:
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(host, "SW_VERS", sw_vers)
    monkeypatch.setattr(host, "SYSCTL", sysctl)
    monkeypatch.setattr(host, "SYSTEM_PROFILER", system_profiler)
    host._mac_facts.cache_clear()
    try:
        return host.host_info(HOSTED_MAC_ENV)
    finally:
        host._mac_facts.cache_clear()


def test_on_a_mac_whose_tools_cannot_be_asked_the_record_says_unknown(tmp_path, monkeypatch):
    missing = str(tmp_path / "no-such-tool")
    facts = _on_a_mac(monkeypatch, sw_vers=missing, sysctl=missing, system_profiler=missing)
    assert (facts["os_version"], facts["os_build"], facts["chip"], facts["gpus"]) == (
        "unknown",
        None,
        None,
        [],
    )
    msgspec.convert(facts, Host)  # still a host section the record model takes


def test_the_host_section_is_the_record_model_s():
    assert msgspec.to_builtins(msgspec.convert(host.host_info(HOSTED_MAC_ENV), Host)) == host.host_info(
        HOSTED_MAC_ENV
    )


def test_on_a_mac_the_record_carries_what_the_tools_said(tmp_path, monkeypatch):
    # The Mac code path, with stand-ins for the three tools that print the recorded outputs: it
    # must ask each with the right arguments and put every answer in its place.
    (tmp_path / "displays.json").write_text(PARAVIRTUAL_JSON)
    facts = _on_a_mac(
        monkeypatch,
        sw_vers=_stand_in(tmp_path, "sw_vers", SW_VERS_STAND_IN),
        sysctl=_stand_in(
            tmp_path, "sysctl", '[ "$*" = "-n machdep.cpu.brand_string" ] && echo "Apple M1 (Virtual)"'
        ),
        system_profiler=_stand_in(
            tmp_path,
            "system_profiler",
            f'[ "$*" = "SPDisplaysDataType -json" ] && cat {tmp_path}/displays.json',
        ),
    )
    assert (facts["os"], facts["os_version"], facts["os_build"], facts["chip"]) == (
        "Darwin",
        "26.1",
        "25B78",
        "Apple M1 (Virtual)",
    )
    assert facts["gpus"] == [
        {"name": "Apple Paravirtual device", "metal_support": "Metal 3", "virtual": True}
    ]
    assert facts["ci"]["runner_environment"] == "github-hosted"
    assert msgspec.to_builtins(msgspec.convert(facts, Host)) == facts
