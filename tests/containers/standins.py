"""Stand-in base images for podman on a host that reaches no container registry.

``standin_recipes/build.sh`` builds them; this module decides whether it must.
They are tagged with the exact names the Dockerfiles' ``FROM`` lines use and labelled
with a hash of their recipe (the script, the host's CA bundle, the Caddy binary and
the Debian mirror), and rebuilt only when that hash changes: a CI run in a fresh
clone reuses the ones in the tier's storage root.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import yaml

from stack.paths import REPO_ROOT, find_tool

#: This tier's folder: the engine's settings and the stand-in recipes live here.
HERE: Final = Path(__file__).resolve().parent
BUILD_SCRIPT: Final = HERE / "standin_recipes" / "build.sh"
PROMETHEUS_RECIPE: Final = HERE / "standin_recipes" / "prometheus.Containerfile"
COMPOSE_FILE: Final = REPO_ROOT / "compose.yaml"
CA_BUNDLE: Final = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL: Final = "org.vonage-voice-websocket.standin-recipe"
PYTHON_DOCKERFILES: Final = (
    REPO_ROOT / "audio_socket" / "Dockerfile",
    REPO_ROOT / "webhooks" / "Dockerfile",
)
CADDY_DOCKERFILE: Final = REPO_ROOT / "caddy" / "Dockerfile"
APT_SOURCES: Final = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
#: debootstrap and two imports take about a minute; a slow mirror more.
BUILD_TIMEOUT: Final = 900.0


def base_images(dockerfiles: Sequence[Path]) -> list[str]:
    """The ``FROM`` images of ``dockerfiles``, each once, in order."""
    names: list[str] = []
    for dockerfile in dockerfiles:
        for name in re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE):
            if name not in names:
                names.append(name)
    return names


def tags(name: str) -> list[str]:
    """``name`` fully qualified both ways an unqualified FROM may be resolved: as a
    local image and as Docker Hub's."""
    if "/" in name:
        return [name]
    return [f"localhost/{name}", f"docker.io/library/{name}"]


def debian_mirror(sources: Sequence[Path] = APT_SOURCES) -> str:
    """The first Debian mirror apt uses (deb822 ``.sources`` or one-line ``.list``)."""
    files: list[Path] = []
    for source in sources:
        files += sorted(source.iterdir()) if source.is_dir() else [source]
    for path in files:
        if not path.is_file() or path.suffix not in (".list", ".sources"):
            continue
        text = path.read_text()
        uris: list[str]
        if path.suffix == ".sources":
            uris = re.findall(r"^URIs:\s*(\S+)", text, flags=re.MULTILINE)
        else:
            uris = re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, flags=re.MULTILINE)
        for uri in uris:
            if "security" not in uri:
                return uri.rstrip("/")
    return "http://deb.debian.org/debian"


def recipe_hash(caddy: Path, mirror: str) -> str:
    """What the stand-ins are made of, hashed: a change to any part rebuilds them."""
    digest = hashlib.sha256()
    for part in (BUILD_SCRIPT, CA_BUNDLE, caddy):
        digest.update(hashlib.sha256(part.read_bytes()).digest())
    digest.update(mirror.encode())
    return digest.hexdigest()[:16]


def _label(image: str, env: Mapping[str, str]) -> str | None:
    completed = subprocess.run(
        ["podman", "image", "inspect", "--format", f'{{{{index .Labels "{LABEL}"}}}}', image],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    label: str = completed.stdout.strip()
    return label if completed.returncode == 0 else None


def ensure_standins(env: Mapping[str, str]) -> bool:
    """Build the stand-ins unless every tag already carries this recipe; True if built."""
    caddy = find_tool("caddy")
    mirror = debian_mirror()
    recipe = recipe_hash(caddy, mirror)
    python_tags = [tag for name in base_images(PYTHON_DOCKERFILES) for tag in tags(name)]
    caddy_tags = [tag for name in base_images([CADDY_DOCKERFILE]) for tag in tags(name)]
    if all(_label(tag, env) == recipe for tag in (*python_tags, *caddy_tags)):
        return False
    argv = [str(BUILD_SCRIPT), mirror, str(caddy), recipe, *python_tags, "--", *caddy_tags]
    subprocess.run(argv, env=dict(env), timeout=BUILD_TIMEOUT, check=True)
    return True


def prometheus_image(compose_file: Path = COMPOSE_FILE) -> str:
    """The image of compose.yaml's ``prometheus`` service (the observability profile)."""
    services = yaml.safe_load(compose_file.read_text())["services"]
    image: str = services["prometheus"]["image"]
    return image


def ensure_prometheus_standin(env: Mapping[str, str]) -> bool:
    """Build the Prometheus stand-in on the Python one unless it carries this recipe
    (its Containerfile and the base's own recipe); True if built."""
    base = tags(base_images(PYTHON_DOCKERFILES)[0])[0]
    base_recipe = _label(base, env)
    if base_recipe is None:
        raise RuntimeError(f"no stand-in {base} to build the Prometheus stand-in on")
    digest = hashlib.sha256(PROMETHEUS_RECIPE.read_bytes())
    digest.update(base_recipe.encode())
    recipe = digest.hexdigest()[:16]
    # Both ways an engine may resolve a name with a path but no registry.
    name = prometheus_image()
    prometheus_tags = [f"docker.io/{name}", f"localhost/{name}"]
    if all(_label(tag, env) == recipe for tag in prometheus_tags):
        return False
    argv = ["podman", "build", "--quiet", "--build-arg", f"BASE={base}"]
    argv += ["--label", f"{LABEL}={recipe}", "--file", str(PROMETHEUS_RECIPE)]
    for tag in prometheus_tags:
        argv += ["--tag", tag]
    subprocess.run(
        [*argv, str(PROMETHEUS_RECIPE.parent)],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        timeout=BUILD_TIMEOUT,
        check=True,
    )
    return True
