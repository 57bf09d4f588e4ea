"""build_backend.py: the PEP 517 backend of python/ (pyproject.toml).

It compiles pollux/_pollux.c against the installed libpollux that
pkg-config finds (PKG_CONFIG_PATH for a prefix it does not search) with the
compiler this Python was built with (or $CC), and writes the wheel: the
package, the module, and the .dist-info files the wheel format asks for.
It needs nothing from a package index, so that pip installs offline.
"""

import base64
import hashlib
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ("__init__.py", "_selector.py", "_asyncio.py")
NAME = "pollux"


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "pollux"], check=True,
                             capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise SystemExit("pollux build: pkg-config not found; install it "
                         "(Debian: apt-get install pkg-config)") from None
    except subprocess.CalledProcessError as e:
        raise SystemExit(
            "pollux build: pkg-config finds no pollux: install libpollux "
            "first (./configure && make && make install) and set "
            "PKG_CONFIG_PATH to its lib/pkgconfig if that prefix is not "
            f"searched ({e.stderr.strip()})") from None
    return shlex.split(out)


def _version():
    return _pkg_config("--modversion")[0]


def _tag():
    impl = "cp" if sys.implementation.name == "cpython" else \
        sys.implementation.name
    ver = f"{sys.version_info[0]}{sys.version_info[1]}"
    abi = f"{impl}{ver}{getattr(sys, 'abiflags', '')}"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}{ver}-{abi}-{plat}"


def _metadata(version):
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n"
            "Summary: selectors and asyncio over libpollux\n"
            "Requires-Python: >=3.8\n")


def _compile(out):
    cflags = _pkg_config("--cflags")
    libs = _pkg_config("--libs")
    # The library's directory as the module's run-time path, so that a
    # prefix outside the loader's path (/opt/pollux, ~/.local) works too.
    rpath = [f"-Wl,-rpath,{f[2:]}" for f in libs if f.startswith("-L")]
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC")
                     or "cc")
    paths = sysconfig.get_paths()
    inc = [f"-I{d}" for d in dict.fromkeys((paths["include"],
                                            paths["platinclude"]))]
    extra = shlex.split(os.environ.get("CFLAGS", "-O2"))
    cmd = [*cc, "-shared", "-fPIC", *extra, *inc, *cflags,
           os.path.join(HERE, "pollux", "_pollux.c"), "-o", out,
           *shlex.split(os.environ.get("LDFLAGS", "")), *libs, *rpath]
    print("pollux build:", " ".join(shlex.quote(c) for c in cmd),
          file=sys.stderr)
    subprocess.run(cmd, check=True)


def _record_line(arc, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return f"{arc},sha256={digest.rstrip(b'=').decode()},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = f"{NAME}-{_version()}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w") as f:
        f.write(_metadata(_version()))
    return info


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    version = _version()
    tag = _tag()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    info = f"{NAME}-{version}.dist-info"
    wheel = f"{NAME}-{version}-{tag}.whl"
    with tempfile.TemporaryDirectory() as tmp:
        so = os.path.join(tmp, "_pollux" + suffix)
        _compile(so)
        files = [(f"pollux/{m}", open(os.path.join(HERE, "pollux", m),
                                      "rb").read()) for m in MODULES]
        files.append((f"pollux/_pollux{suffix}", open(so, "rb").read()))
        files.append((f"{info}/METADATA", _metadata(version).encode()))
        files.append((f"{info}/WHEEL", (
            "Wheel-Version: 1.0\nGenerator: pollux build_backend.py\n"
            f"Root-Is-Purelib: false\nTag: {tag}\n").encode()))
        record = [_record_line(a, d) for a, d in files]
        record.append(f"{info}/RECORD,,")
        files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
        path = os.path.join(wheel_directory, wheel)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for arc, data in files:
                z.writestr(arc, data)
    return wheel
