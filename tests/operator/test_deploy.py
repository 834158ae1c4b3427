"""Install manifests (``kubectl apply -k deploy/``) and the operator image."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from local_cluster import build
from sentiment_operator.render import CHILD_KINDS, Owner, render_children
from sentiment_operator.settings import (
    DEFAULT_SERVER_IMAGE,
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    OperatorSettings,
)
from sentiment_operator.spec import API_VERSION, GROUP, KIND, PLURAL, parse_spec

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = "sentiment-operator"
# Server-side apply is a patch (a create when absent); no update, no deletecollection.
CHILD_VERBS = {"get", "list", "watch", "create", "patch", "delete"}


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists, following included kustomization directories."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            objects.extend(kustomize(path))
        else:
            # kustomize refuses files outside the kustomization's own directory.
            assert path.is_relative_to(directory.resolve()), entry
            objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


OBJECTS = kustomize(DEPLOY)
NAMESPACED = kustomize(DEPLOY / "namespaced")
ROLE = "sentiment-operator"
KOPF_ROLE = "sentiment-operator-kopf"


def only(kind: str, objects: list[dict[str, Any]] = OBJECTS) -> dict[str, Any]:
    (found,) = [obj for obj in objects if obj["kind"] == kind]
    return found


def named(kind: str, name: str, objects: list[dict[str, Any]] = OBJECTS) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def allowed(rules: list[dict[str, Any]], group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs


def test_kustomization_installs_everything_once() -> None:
    kinds = sorted(obj["kind"] for obj in OBJECTS)
    assert kinds == sorted(
        [
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Deployment",
        ]
    )
    kustomization = yaml.safe_load((DEPLOY / "base" / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == NAMESPACE
    assert only("Namespace")["metadata"]["name"] == NAMESPACE


@pytest.mark.parametrize(
    "obj", OBJECTS + NAMESPACED, ids=lambda obj: f"{obj['kind']}-{obj['metadata']['name']}"
)
def test_install_manifest_validates(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, "1.31", strict=True)


def subjects_are_the_operator_account(binding: dict[str, Any]) -> bool:
    account = only("ServiceAccount")["metadata"]["name"]
    subject = {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    return bool(binding["subjects"] == [subject])


def test_bindings_grant_the_roles_to_the_operator_account() -> None:
    bindings = [obj for obj in OBJECTS if obj["kind"] == "ClusterRoleBinding"]
    assert sorted(binding["roleRef"]["name"] for binding in bindings) == [ROLE, KOPF_ROLE]
    assert all(subjects_are_the_operator_account(binding) for binding in bindings)
    deployment = only("Deployment")
    account = only("ServiceAccount")["metadata"]["name"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account


def test_the_namespaced_install_grants_the_role_only_in_the_watched_namespace() -> None:
    (cluster_binding,) = [obj for obj in NAMESPACED if obj["kind"] == "ClusterRoleBinding"]
    assert cluster_binding["roleRef"]["name"] == KOPF_ROLE
    binding = only("RoleBinding", NAMESPACED)
    assert binding["metadata"]["namespace"] == "models"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": ROLE}  # fmt: skip
    assert subjects_are_the_operator_account(binding)
    assert only("Namespace", [o for o in NAMESPACED if o["metadata"]["name"] == "models"])


def test_role_covers_every_child_the_renderers_make() -> None:
    rules = named("ClusterRole", ROLE)["rules"]
    for kind in CHILD_KINDS:
        assert allowed(rules, kind.group, kind.plural) == CHILD_VERBS, kind
    spec = parse_spec(
        {"model": {"name": "m", "stage": "Production"}, "registry": {"trackingUri": "http://m"},
         "server": {"replicas": 2}}
    )  # fmt: skip
    owner = Owner(API_VERSION, KIND, "m", "ns", "uid")
    rendered = {child["kind"] for child in render_children(owner, spec, "1", OperatorSettings())}
    assert rendered <= {kind.kind for kind in CHILD_KINDS}


def test_role_is_least_privilege() -> None:
    rules = named("ClusterRole", ROLE)["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
    assert allowed(rules, GROUP, PLURAL) == {"get", "list", "watch", "patch"}
    assert allowed(rules, GROUP, f"{PLURAL}/status") == {"get", "patch"}
    assert allowed(rules, "", "secrets") == {"get"}
    assert allowed(rules, "", "events") == {"create", "patch"}
    assert allowed(rules, "", "pods") == set()
    assert allowed(rules, "apiextensions.k8s.io", "customresourcedefinitions") == set()
    assert not any("kopf.dev" in rule["apiGroups"] for rule in rules)
    kopf_rules = named("ClusterRole", KOPF_ROLE)["rules"]
    assert allowed(kopf_rules, "apiextensions.k8s.io", "customresourcedefinitions") == {
        "get",
        "list",
        "watch",
    }
    assert allowed(kopf_rules, "", "namespaces") == {"list", "watch"}
    assert len(kopf_rules) == 2


def test_operator_deployment_is_hardened_and_runs_standalone() -> None:
    deployment = only("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["run", "--all-namespaces"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"]


DOCKERFILE = ROOT / "Dockerfile.operator"


def test_dockerfile_installs_from_the_lock_and_runs_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    assert '-c requirements.lock ".[operator]"' in text
    assert "\nUSER 10001\n" in text
    assert 'ENTRYPOINT ["python", "-m", "sentiment_operator"]' in text
    assert 'CMD ["run", "--all-namespaces"]' in text


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


KUSTOMIZATION = DEPLOY / "base" / "kustomization.yaml"
SERVER_IMAGE_VARIABLE = "SENTIMENT_DEFAULT_SERVER_IMAGE"


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def default_server_image(container: dict[str, Any]) -> str:
    (value,) = [e["value"] for e in container["env"] if e["name"] == SERVER_IMAGE_VARIABLE]
    return str(value)


def test_images_are_named_in_one_place() -> None:
    # deploy/kustomization.yaml's `images:` entry; settings.py, the manifest's literals and
    # the kind example agree with it, and its tag is the package version (the release tag).
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    (entry,) = kustomization["images"]
    container = operator_container(OBJECTS)
    assert container["image"].rpartition(":")[0] == entry["name"]
    assert entry["newName"] == f"{IMAGE_REPOSITORY}/operator"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert entry["newTag"] == IMAGE_TAG == version
    assert default_server_image(container) == DEFAULT_SERVER_IMAGE
    assert f"{IMAGE_REPOSITORY}/model-server:{IMAGE_TAG}" == DEFAULT_SERVER_IMAGE
    example = yaml.safe_load((ROOT / "examples" / "sentimentmodel-kind.yaml").read_text())
    assert example["spec"]["server"]["image"] == DEFAULT_SERVER_IMAGE


def kubectl_kustomize(directory: Path) -> list[dict[str, Any]]:
    # The kubectl that `make cluster-bin` builds; local rendering only, no cluster.
    kubectl = build.bin_dir() / "kubectl"
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.integration  # needs the kubectl built by `make cluster-bin`
@pytest.mark.parametrize(
    "directory", [DEPLOY, DEPLOY / "namespaced"], ids=["cluster", "namespaced"]
)
def test_kustomize_renders_the_defaults(directory: Path) -> None:
    container = operator_container(kubectl_kustomize(directory))
    assert container["image"] == f"{IMAGE_REPOSITORY}/operator:{IMAGE_TAG}"
    assert default_server_image(container) == DEFAULT_SERVER_IMAGE


@pytest.mark.integration  # needs the kubectl built by `make cluster-bin`
@pytest.mark.parametrize(
    "repository",
    ["ghcr.io/a-fork", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sentiment-operator",
     "localhost:5000/team"],
)  # fmt: skip
def test_moving_the_operator_image_moves_the_default_server_image(
    tmp_path: Path, repository: str
) -> None:
    # What `kustomize edit set image` (and the release workflow) changes: the entry only.
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copytree(ROOT / "crds", tmp_path / "crds")
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    kustomization["images"][0] |= {"newName": f"{repository}/operator", "newTag": "9.8.7"}
    (tmp_path / "deploy" / "base" / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    container = operator_container(kubectl_kustomize(tmp_path / "deploy"))
    assert container["image"] == f"{repository}/operator:9.8.7"
    assert default_server_image(container) == f"{repository}/model-server:9.8.7"
