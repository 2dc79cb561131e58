"""Vendor the pinned front-end packages from the npm registry into app/static/vendor.

Each pinned release is fetched with `npm pack`, checked against the registry's
sha512 integrity, and only its distribution files and licence texts are copied to
app/static/vendor/<name>/. app/static/vendor/VERSIONS.json records every package's
version, tarball integrity and the sha256 of each copied file.

Usage:
    python tools/vendor_assets.py            # fetch what is missing or out of date
    python tools/vendor_assets.py --force    # fetch every package again
    python tools/vendor_assets.py --check    # verify the committed files, offline
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("vendor_assets")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = PROJECT_ROOT / "app" / "static" / "vendor"
MANIFEST_NAME = "VERSIONS.json"
LICENSE_NAME = "LICENSE"
BPMN_FONT = "dist/assets/bpmn-font"


@dataclass(frozen=True)
class Pin:
    """A pinned npm release and the files taken from its tarball."""

    version: str
    files: dict[str, str]


VERSIONS: dict[str, Pin] = {
    "bootstrap": Pin(
        "5.3.9",
        {
            "LICENSE": "LICENSE",
            "dist/css/bootstrap.min.css": "css/bootstrap.min.css",
            "dist/js/bootstrap.bundle.min.js": "js/bootstrap.bundle.min.js",
        },
    ),
    "bpmn-js": Pin(
        "18.31.1",
        {
            "LICENSE": "LICENSE",
            "dist/bpmn-viewer.production.min.js": "bpmn-viewer.production.min.js",
            "dist/bpmn-modeler.production.min.js": "bpmn-modeler.production.min.js",
            "dist/assets/diagram-js.css": "assets/diagram-js.css",
            "dist/assets/bpmn-js.css": "assets/bpmn-js.css",
            f"{BPMN_FONT}/css/bpmn.css": "assets/bpmn-font/css/bpmn.css",
            f"{BPMN_FONT}/css/bpmn-codes.css": "assets/bpmn-font/css/bpmn-codes.css",
            **{
                f"{BPMN_FONT}/font/bpmn.{ext}": f"assets/bpmn-font/font/bpmn.{ext}"
                for ext in ("woff2", "woff", "ttf", "eot", "svg")
            },
        },
    ),
    "echarts": Pin(
        "5.6.0",
        {
            "LICENSE": "LICENSE",
            "NOTICE": "NOTICE",
            "licenses/LICENSE-d3": "licenses/LICENSE-d3",
            "dist/echarts.min.js": "echarts.min.js",
        },
    ),
}


class VendorError(Exception):
    """Fetching or verifying a vendored package failed; the message says which."""


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sri_sha512(data: bytes) -> str:
    """Return the npm-style `sha512-<base64>` integrity string of some bytes."""
    digest = hashlib.sha512(data).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def read_manifest(vendor_dir: Path = VENDOR_DIR) -> dict[str, dict]:
    """Return the recorded packages of VERSIONS.json by name; empty if absent."""
    path = vendor_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))["packages"]
    return {entry["name"]: entry for entry in entries}


def write_manifest(entries: dict[str, dict], vendor_dir: Path = VENDOR_DIR) -> None:
    """Write VERSIONS.json with packages in name order, stable across runs."""
    packages = [entries[name] for name in sorted(entries)]
    text = json.dumps({"packages": packages}, indent=2, sort_keys=True)
    (vendor_dir / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")


def check(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Return the problems of the vendored files against VERSIONS.json and pins."""
    problems: list[str] = []
    recorded = read_manifest(vendor_dir)
    if not recorded:
        return [f"{vendor_dir / MANIFEST_NAME} is missing or empty"]

    for name, pin in VERSIONS.items():
        entry = recorded.get(name)
        if entry is None:
            problems.append(f"{name}: pinned but not recorded in {MANIFEST_NAME}")
            continue
        if entry["version"] != pin.version:
            problems.append(
                f"{name}: recorded {entry['version']}, pinned {pin.version}"
            )
        problems.extend(_check_package(vendor_dir, name, entry))

    for name in sorted(set(recorded) - set(VERSIONS)):
        problems.append(f"{name}: recorded in {MANIFEST_NAME} but not pinned")
    return problems


def _check_package(vendor_dir: Path, name: str, entry: dict) -> list[str]:
    problems = []
    package_dir = vendor_dir / name
    files: dict[str, str] = entry["files"]
    if LICENSE_NAME not in files:
        problems.append(f"{name}: no {LICENSE_NAME} recorded")

    for relative, expected in sorted(files.items()):
        path = package_dir / relative
        if not path.is_file():
            problems.append(f"{name}/{relative}: missing")
        elif sha256_of(path) != expected:
            problems.append(f"{name}/{relative}: sha256 differs from {MANIFEST_NAME}")

    present = {
        p.relative_to(package_dir).as_posix()
        for p in package_dir.rglob("*")
        if p.is_file()
    }
    for extra in sorted(present - set(files)):
        problems.append(f"{name}/{extra}: not recorded in {MANIFEST_NAME}")
    return problems


def registry_dist(name: str, version: str) -> dict[str, str]:
    """Return the registry's tarball URL and integrity of one release."""
    output = _npm("view", f"{name}@{version}", "dist", "--json")
    dist = json.loads(output)
    if not dist.get("integrity", "").startswith("sha512-"):
        raise VendorError(f"{name}@{version}: the registry gives no sha512 integrity")
    return {"tarball": dist["tarball"], "integrity": dist["integrity"]}


def fetch_tarball(name: str, version: str, workdir: Path) -> Path:
    """Download one release's tarball into workdir with `npm pack`."""
    output = _npm("pack", f"{name}@{version}", "--json", cwd=workdir)
    filename = json.loads(output)[0]["filename"]
    return workdir / filename


def vendor_package(name: str, pin: Pin, vendor_dir: Path = VENDOR_DIR) -> dict:
    """Fetch, verify and copy one pinned package; return its manifest entry."""
    dist = registry_dist(name, pin.version)
    with tempfile.TemporaryDirectory(prefix="wenming-vendor-") as tmp:
        tarball = fetch_tarball(name, pin.version, Path(tmp))
        data = tarball.read_bytes()
        if sri_sha512(data) != dist["integrity"]:
            raise VendorError(
                f"{name}@{pin.version}: tarball does not match the registry "
                f"integrity {dist['integrity']}"
            )
        files = _copy_files(tarball, name, pin, vendor_dir)

    logger.info("%s %s: %d files vendored", name, pin.version, len(files))
    return {
        "name": name,
        "version": pin.version,
        "tarball": dist["tarball"],
        "integrity": dist["integrity"],
        "files": files,
    }


def _copy_files(tarball: Path, name: str, pin: Pin, vendor_dir: Path) -> dict:
    package_dir = vendor_dir / name
    if package_dir.exists():
        shutil.rmtree(package_dir)

    files = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for source, target in sorted(pin.files.items()):
            member = archive.extractfile(f"package/{source}")
            if member is None:
                raise VendorError(f"{name}@{pin.version}: {source} is not a file")
            destination = package_dir / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(member.read())
            files[target] = sha256_of(destination)
    return files


def _npm(*args: str, cwd: Path | None = None) -> str:
    command = ["npm", *args]
    try:
        completed = subprocess.run(
            command, cwd=cwd, check=True, capture_output=True, text=True
        )
    except FileNotFoundError as error:
        raise VendorError("npm is not installed; install Node.js and npm") from error
    except subprocess.CalledProcessError as error:
        raise VendorError(
            f"`{' '.join(command)}` failed: {error.stderr.strip()}"
        ) from error
    return completed.stdout


def vendor(force: bool = False, vendor_dir: Path = VENDOR_DIR) -> None:
    """Bring every pinned package into vendor_dir; skip those already verified."""
    vendor_dir.mkdir(parents=True, exist_ok=True)
    recorded = read_manifest(vendor_dir)
    entries = {name: recorded[name] for name in recorded if name in VERSIONS}

    for name, pin in VERSIONS.items():
        entry = entries.get(name)
        if not force and _is_current(vendor_dir, name, pin, entry):
            logger.info("%s %s: up to date", name, pin.version)
            continue
        entries[name] = vendor_package(name, pin, vendor_dir)
        write_manifest(entries, vendor_dir)

    for name in set(recorded) - set(VERSIONS):
        shutil.rmtree(vendor_dir / name, ignore_errors=True)
    write_manifest(entries, vendor_dir)


def _is_current(vendor_dir: Path, name: str, pin: Pin, entry: dict | None) -> bool:
    if entry is None or entry["version"] != pin.version:
        return False
    if set(entry["files"]) != set(pin.files.values()):
        return False
    return not _check_package(vendor_dir, name, entry)


def main(argv: list[str] | None = None) -> int:
    """Run the command line: vendor the pinned packages, or --check them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify, do not fetch")
    mode.add_argument("--force", action="store_true", help="fetch every package")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.check:
        problems = check()
        for problem in problems:
            logger.error("%s", problem)
        if not problems:
            logger.info("vendored files match %s", MANIFEST_NAME)
        return 1 if problems else 0

    try:
        vendor(force=args.force)
    except VendorError as error:
        logger.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
