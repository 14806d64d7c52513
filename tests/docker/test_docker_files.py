"""Static checks of the container and Milvus deployment files in docker/.

Nothing here builds an image or starts a container (the development machine has no Docker
engine): the files are parsed and cross-checked against each other, against the repository
(COPY sources, console script, torch pin) and against `hybrid_search.settings.Settings`, so a
renamed setting, a moved package or an unpinned image fails `make test` instead of a deploy.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from hybrid_search.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
HELM_VALUES = DOCKER / "milvus-cluster-values.yaml"
DOCKER_README = DOCKER / "README.md"
DOCKERIGNORE = REPO / ".dockerignore"

ENV_PREFIX = "HYBRID_SEARCH_"
#: a setting name as written in files: HYBRID_SEARCH_FIELD or HYBRID_SEARCH_FIELD__SUBFIELD
ENV_NAME = re.compile(r"\bHYBRID_SEARCH_[A-Z0-9]+(?:_{1,2}[A-Z0-9]+)*")
#: compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")

SERVICES = {"etcd", "minio", "standalone", "hybrid-search"}
OFFICIAL_IMAGES = {
    "etcd": "quay.io/coreos/etcd",
    "minio": "minio/minio",
    "standalone": "milvusdb/milvus",
}
MILVUS_PORT = 19530
SERVICE_PORT = 8000
TORCH_PIN = "torch==2.13.0"
SAMPLE_API_KEYS = json.dumps([{"sha256": "0" * 64, "tenant": "t1"}])

#: the variables docker/.env.example must document (the deployment-facing settings)
DOCUMENTED = {
    "HYBRID_SEARCH_MILVUS_URI",
    "HYBRID_SEARCH_MILVUS_TOKEN",
    "HYBRID_SEARCH_COLLECTION",
    "HYBRID_SEARCH_EMBEDDING_MODEL",
    "HYBRID_SEARCH_RERANKER_MODEL",
    "HYBRID_SEARCH_DEVICE",
    "HYBRID_SEARCH_USE_FP16",
    "HYBRID_SEARCH_SERVICE__HOST",
    "HYBRID_SEARCH_SERVICE__PORT",
    "HYBRID_SEARCH_SERVICE__API_KEYS",
    "HYBRID_SEARCH_SERVICE__MAX_CONCURRENCY",
    "HYBRID_SEARCH_SERVICE__MAX_QUEUE",
}


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def setting_path(env_name: str) -> tuple[str, ...] | None:
    """The Settings field path an environment variable sets, or None if it sets nothing.

    Mirrors pydantic-settings: prefix HYBRID_SEARCH_, case-insensitive, `__` between nested
    model fields (Settings.service -> ServiceSettings.host for HYBRID_SEARCH_SERVICE__HOST).
    """
    if not env_name.upper().startswith(ENV_PREFIX):
        return None
    parts = env_name[len(ENV_PREFIX) :].lower().split("__")
    model: type[BaseModel] = Settings
    path: list[str] = []
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return None
        path.append(part)
        if i < len(parts) - 1:
            nested = field.annotation
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                return None
            model = nested
    return tuple(path)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comment lines dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # comment lines inside a continuation are removed
            continue
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        buf += line
        keyword, _, args = buf.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        buf = ""
    assert not buf, "Dockerfile ends inside a line continuation"
    return out


def arg_defaults(instructions: list[tuple[str, str]]) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for keyword, args in instructions:
        if keyword == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Instructions grouped by build stage (each group starts with its FROM)."""
    groups: list[list[tuple[str, str]]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            groups.append([])
        if groups:
            groups[-1].append(ins)
    return groups


def resolve_interpolation(value: str, required: dict[str, str] | None = None) -> str:
    """What compose would substitute with an empty environment: defaults for `:-`/`-`, and
    the caller's sample for variables compose requires (`:?`/`?`)."""
    required = required or {}

    def sub(m: re.Match[str]) -> str:
        name, op, rest = m.group(1), m.group(2), m.group(3)
        if op in (":?", "?"):
            assert name in required, f"no sample value for required variable {name}"
            return required[name]
        if op in (":-", "-"):
            return rest or ""
        return ""

    return INTERPOLATION.sub(sub, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(
            (item.split("=", 1)[0], item.split("=", 1)[1] if "=" in item else "") for item in env
        )
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, int, int]]:
    """(host_ip, host_port, container_port) for compose short and long port syntax."""
    out: list[tuple[str | None, int, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out.append((entry.get("host_ip"), int(entry["published"]), int(entry["target"])))
            continue
        spec = str(entry).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            out.append((parts[0].strip("[]"), int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            out.append((None, int(parts[0]), int(parts[1])))
        else:
            out.append((None, int(parts[0]), int(parts[0])))
    return out


def image_tag(image: str) -> tuple[str, str | None]:
    """("repo", "tag") for repo[:tag]; a registry port (host:5000/x) is not a tag."""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, None
    return name, tag


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        assert "=" in line, f"{path.name}: not NAME=value: {raw!r}"
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def is_dockerignored(rel: str, patterns: list[str]) -> bool:
    """Approximation of .dockerignore matching (last match wins, `!` re-includes; a pattern
    excludes a directory and everything in it)."""
    ignored = False
    prefixes = [rel]
    parts = rel.split("/")
    prefixes += ["/".join(parts[:i]) for i in range(1, len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        candidates = [pat]
        if pat.startswith("**/"):
            candidates.append(pat[3:])
        if any(fnmatch.fnmatch(p, c) for p in prefixes for c in candidates):
            ignored = not negate
    return ignored


# ------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def helm() -> dict[str, Any]:
    data = yaml.safe_load(HELM_VALUES.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No HYBRID_SEARCH_* from the test runner's environment, no .env from the cwd."""
    import os

    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


# ------------------------------------------------------------------------------------------
# the settings mapping itself
# ------------------------------------------------------------------------------------------


def test_setting_path_maps_real_names_and_rejects_others() -> None:
    assert setting_path("HYBRID_SEARCH_MILVUS_URI") == ("milvus_uri",)
    assert setting_path("HYBRID_SEARCH_SERVICE__API_KEYS") == ("service", "api_keys")
    assert setting_path("HYBRID_SEARCH_RETRY__ATTEMPTS") == ("retry", "attempts")
    assert setting_path("HYBRID_SEARCH_MILVUS_URL") is None
    assert setting_path("HYBRID_SEARCH_SERVICE__NOPE") is None
    assert setting_path("HYBRID_SEARCH_SERVICE_HOST") is None  # single underscore: not nested
    assert setting_path("HYBRID_SEARCH_COLLECTION__X") is None  # str is not a nested model
    assert setting_path("MILVUS_URI") is None


@pytest.mark.parametrize(
    "path", [COMPOSE, ENV_EXAMPLE, HELM_VALUES, DOCKERFILE, DOCKER_README], ids=lambda p: p.name
)
def test_every_setting_name_in_deployment_files_is_real(path: Path) -> None:
    names = set(ENV_NAME.findall(path.read_text(encoding="utf-8")))
    unknown = sorted(n for n in names if setting_path(n) is None)
    assert not unknown, f"{path.name} names settings that do not exist: {unknown}"


# ------------------------------------------------------------------------------------------
# docker-compose.yml
# ------------------------------------------------------------------------------------------


def test_compose_has_the_milvus_stack_and_the_service(services: dict[str, Any]) -> None:
    assert set(services) >= SERVICES


@pytest.mark.parametrize("name", sorted(OFFICIAL_IMAGES))
def test_compose_images_are_official_and_pinned(services: dict[str, Any], name: str) -> None:
    repo, tag = image_tag(services[name]["image"])
    assert repo == OFFICIAL_IMAGES[name]
    assert tag and tag != "latest", f"{name}: image must be pinned to a tag"
    if name == "standalone":
        assert re.fullmatch(r"v2\.6\.\d+", tag), f"Milvus 2.6.x expected, got {tag}"
    if name == "minio":
        assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", tag)
    if name == "etcd":
        assert re.fullmatch(r"v3\.5\.\d+", tag)


def test_no_compose_image_is_latest_or_untagged(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if "image" not in svc:
            assert "build" in svc, f"{name}: neither image nor build"
            continue
        _, tag = image_tag(svc["image"])
        assert tag and tag != "latest", f"{name}: {svc['image']} is not pinned"


def test_milvus_standalone_is_wired_like_upstream(services: dict[str, Any]) -> None:
    milvus = services["standalone"]
    assert milvus["command"] == ["milvus", "run", "standalone"]
    env = environment(milvus)
    assert env["ETCD_ENDPOINTS"] == "etcd:2379"
    assert env["MINIO_ADDRESS"] == "minio:9000"
    assert " ".join(milvus["healthcheck"]["test"]).endswith("http://localhost:9091/healthz")
    depends = milvus["depends_on"]
    assert {"etcd", "minio"} <= set(depends)
    etcd_env = environment(services["etcd"])
    assert etcd_env["ETCD_AUTO_COMPACTION_MODE"] == "revision"
    assert "ETCD_AUTO_COMPACTION_RETENTION" in etcd_env
    assert "--console-address" in services["minio"]["command"]


def test_milvus_port_19530_is_published(services: dict[str, Any]) -> None:
    ports = published_ports(services["standalone"])
    assert any(container == MILVUS_PORT for _, _, container in ports)


def test_every_published_port_is_bound_to_loopback(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for host_ip, host_port, _ in published_ports(svc):
            assert host_ip == "127.0.0.1", f"{name}: port {host_port} published on all interfaces"


def test_service_reaches_milvus_by_service_name_and_port(services: dict[str, Any]) -> None:
    env = environment(services["hybrid-search"])
    uri = urlsplit(resolve_interpolation(env["HYBRID_SEARCH_MILVUS_URI"]))
    assert uri.scheme in ("http", "https", "tcp", "grpc")
    assert uri.hostname == "standalone" and uri.hostname in services
    assert uri.port == MILVUS_PORT
    milvus_container_ports = {c for _, _, c in published_ports(services["standalone"])}
    assert uri.port in milvus_container_ports


def test_service_waits_for_healthy_milvus(services: dict[str, Any]) -> None:
    depends = services["hybrid-search"]["depends_on"]
    assert isinstance(depends, dict), "depends_on must use the long form with a condition"
    assert depends["standalone"]["condition"] == "service_healthy"
    assert "healthcheck" in services["standalone"]


def test_service_build_and_ports(services: dict[str, Any]) -> None:
    svc = services["hybrid-search"]
    context = (COMPOSE.parent / svc["build"]["context"]).resolve()
    assert context == REPO
    assert (context / svc["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert published_ports(svc) == [("127.0.0.1", SERVICE_PORT, SERVICE_PORT)]
    assert "127.0.0.1:8000:8000" in [str(p) for p in svc["ports"]]
    env = environment(svc)
    assert env["HYBRID_SEARCH_SERVICE__HOST"] == "0.0.0.0"
    assert int(env["HYBRID_SEARCH_SERVICE__PORT"]) == SERVICE_PORT
    mounts = [resolve_interpolation(str(v)).split(":")[1] for v in svc.get("volumes", [])]
    assert "/models" in mounts


def test_service_requires_api_keys_when_listening_beyond_loopback(
    services: dict[str, Any],
) -> None:
    """The app refuses 0.0.0.0 without keys; compose must demand them rather than start a
    container that exits at once."""
    raw = environment(services["hybrid-search"])["HYBRID_SEARCH_SERVICE__API_KEYS"]
    m = INTERPOLATION.fullmatch(raw)
    assert m and m.group(1) == "HYBRID_SEARCH_SERVICE__API_KEYS" and m.group(2) == ":?"


def test_service_environment_validates_as_settings(
    services: dict[str, Any], clean_env: pytest.MonkeyPatch
) -> None:
    env = environment(services["hybrid-search"])
    required = {"HYBRID_SEARCH_SERVICE__API_KEYS": SAMPLE_API_KEYS}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            clean_env.setenv(name, resolve_interpolation(value, required))
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.milvus_uri == f"http://standalone:{MILVUS_PORT}"
    assert not s.is_milvus_lite()
    assert s.service.host == "0.0.0.0" and s.service.port == SERVICE_PORT
    assert len(s.service.api_keys) == 1


def test_compose_variables_are_documented_in_env_example(compose: dict[str, Any]) -> None:
    used = {m.group(1) for m in INTERPOLATION.finditer(COMPOSE.read_text(encoding="utf-8"))}
    documented = set(read_env_file(ENV_EXAMPLE))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


# ------------------------------------------------------------------------------------------
# .env.example
# ------------------------------------------------------------------------------------------


def test_env_example_documents_the_deployment_settings() -> None:
    values = read_env_file(ENV_EXAMPLE)
    assert set(values) >= DOCUMENTED, f"missing: {sorted(DOCUMENTED - set(values))}"
    unknown = sorted(n for n in values if n.startswith(ENV_PREFIX) and setting_path(n) is None)
    assert not unknown


def test_env_example_values_validate_as_settings(clean_env: pytest.MonkeyPatch) -> None:
    values = read_env_file(ENV_EXAMPLE)
    for name, value in values.items():
        if name.startswith(ENV_PREFIX) and value:  # empty = "fill this in" / "no value"
            clean_env.setenv(name, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.collection == "documents"
    assert s.service.port == SERVICE_PORT


# ------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore
# ------------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim(dockerfile: list[tuple[str, str]]) -> None:
    froms = [args for kw, args in dockerfile if kw == "FROM"]
    assert len(froms) >= 2, "builder + runtime stages expected"
    defaults = arg_defaults(dockerfile)
    for args in froms:
        image = args.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), image)
        assert image == "python:3.11-slim"
    assert any(kw == "COPY" and "--from=builder" in args for kw, args in dockerfile)


def test_dockerfile_installs_pinned_cpu_torch_then_the_lock_then_the_project(
    dockerfile: list[tuple[str, str]],
) -> None:
    runs = [args for kw, args in dockerfile if kw == "RUN"]
    torch_at = next(i for i, r in enumerate(runs) if TORCH_PIN in r)
    lock_at = next(i for i, r in enumerate(runs) if "requirements.lock" in r)
    project_at = next(i for i, r in enumerate(runs) if '".[server]"' in r or "'.[server]'" in r)
    assert torch_at < lock_at < project_at
    assert "--index-url" in runs[torch_at]
    assert arg_defaults(dockerfile)["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    # the rest is the lock, hash-checked and unresolved, as `make install` installs it
    assert "--require-hashes" in runs[lock_at] and "--no-deps" in runs[lock_at]
    assert "--no-deps" in runs[project_at]
    copied = " ".join(args for kw, args in dockerfile if kw == "COPY")
    assert "requirements.lock" in copied
    locked = re.search(r"^torch==([0-9.]+)", (REPO / "requirements.lock").read_text(), re.M)
    assert locked and f"torch=={locked.group(1)}" == TORCH_PIN, "Dockerfile pin != the lock's"


def test_dockerfile_lock_filter_drops_only_torch() -> None:
    """The awk filter in the Dockerfile leaves every locked package but torch, hashes intact."""
    import shutil
    import subprocess

    awk = shutil.which("awk")
    if awk is None:
        pytest.skip("no awk")
    program = re.search(r"awk '([^']+)'", DOCKERFILE.read_text())
    assert program
    lock = (REPO / "requirements.lock").read_text()
    out = subprocess.run(
        [awk, program.group(1)], input=lock, capture_output=True, text=True, check=True
    ).stdout
    pins = set(re.findall(r"^([A-Za-z0-9_.\-]+)==", lock, re.M))
    kept = set(re.findall(r"^([A-Za-z0-9_.\-]+)==", out, re.M))
    assert pins - kept == {"torch"}
    assert out.count("--hash=") == lock.count("--hash=") - len(
        re.search(r"^torch==.*?(?=^\S)", lock, re.M | re.S).group(0).split("--hash=")[1:]  # type: ignore[union-attr]
    )


def test_dockerfile_runtime_is_non_root_and_serves(
    dockerfile: list[tuple[str, str]], pyproject: dict[str, Any]
) -> None:
    runtime = stages(dockerfile)[-1]
    users = [args for kw, args in runtime if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(kw == "EXPOSE" and str(SERVICE_PORT) in args.split() for kw, args in runtime)
    cmd = json.loads(next(args for kw, args in runtime if kw == "CMD"))
    assert cmd[:2] == ["hybrid-search", "serve"]
    assert "hybrid-search" in pyproject["project"]["scripts"]
    env = " ".join(args for kw, args in runtime if kw == "ENV")
    assert "HYBRID_SEARCH_SERVICE__HOST=0.0.0.0" in env
    assert "HF_HOME=/models/hf-cache" in env


def test_dockerfile_healthcheck_uses_python_against_healthz(
    dockerfile: list[tuple[str, str]],
) -> None:
    checks = [args for kw, args in dockerfile if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    check = checks[0]
    assert "/healthz" in check and "urllib" in check
    assert "curl" not in check and "wget" not in check  # neither is in the slim image
    cmd = json.loads(check[check.index("CMD") + 3 :].strip())
    assert cmd[0] == "python"
    compile(cmd[-1], "<healthcheck>", "exec")  # the probe is valid Python


def test_dockerfile_copy_sources_exist_and_reach_the_context(
    dockerfile: list[tuple[str, str]],
) -> None:
    patterns = dockerignore_patterns()
    sources: list[str] = []
    for kw, args in dockerfile:
        if kw not in ("COPY", "ADD"):
            continue
        words = args.split()
        if any(w.startswith("--from=") for w in words):
            continue
        sources += [w for w in words if not w.startswith("--")][:-1]
    assert {"pyproject.toml", "README.md", "hybrid_search", "ingest", "schemas"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), f"COPY source {src} missing from the repository"
        assert not is_dockerignored(src, patterns), f"COPY source {src} is in .dockerignore"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv", ".git", "data", "models", "tests", ".env", "hybrid_search/__pycache__"):
        assert is_dockerignored(path, patterns), f"{path} should be excluded from the context"


# ------------------------------------------------------------------------------------------
# Helm values (Milvus cluster)
# ------------------------------------------------------------------------------------------


def test_helm_values_enable_a_milvus_26_cluster(helm: dict[str, Any]) -> None:
    assert helm["cluster"]["enabled"] is True
    assert helm["image"]["all"]["repository"] == "milvusdb/milvus"
    assert re.fullmatch(r"v2\.6\.\d+", helm["image"]["all"]["tag"])
    assert helm["streaming"]["enabled"] is True
    assert helm["indexNode"]["enabled"] is False  # merged into the data node in 2.6
    assert helm["mixCoordinator"]["enabled"] is True
    for component in ("proxy", "queryNode", "dataNode", "streamingNode"):
        assert int(helm[component]["replicas"]) >= 1, component


def test_helm_values_choose_exactly_one_message_queue(helm: dict[str, Any]) -> None:
    enabled = [mq for mq in ("woodpecker", "pulsarv3", "pulsar", "kafka") if helm[mq]["enabled"]]
    assert enabled == ["woodpecker"]


def test_helm_dependencies_are_pinned(helm: dict[str, Any]) -> None:
    assert helm["etcd"]["replicaCount"] >= 3 and helm["etcd"]["replicaCount"] % 2 == 1
    for dep in ("etcd", "minio"):
        tag = str(helm[dep]["image"]["tag"])
        assert tag and tag != "latest", dep


def test_helm_and_compose_run_the_same_milvus_and_minio(
    helm: dict[str, Any], services: dict[str, Any]
) -> None:
    assert image_tag(services["standalone"]["image"])[1] == helm["image"]["all"]["tag"]
    assert image_tag(services["minio"]["image"])[1] == helm["minio"]["image"]["tag"]


def test_helm_values_say_how_to_point_hybrid_search_at_the_cluster() -> None:
    text = HELM_VALUES.read_text(encoding="utf-8")
    assert "HYBRID_SEARCH_MILVUS_URI=http://" in text
    assert re.search(r"\.svc\.cluster\.local:19530", text)
    assert "HYBRID_SEARCH_MILVUS_TOKEN=" in text
