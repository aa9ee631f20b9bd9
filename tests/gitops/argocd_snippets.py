"""The Argo CD configuration snippets, generated from deploy/argocd/edge.horizon.dev/*/health.lua.

``python -m tests.gitops.argocd_snippets`` rewrites them; test_argocd_health checks they are current.

- ``argocd-cm-patch.yaml``: keys ``resource.customizations.health.<group>_<Kind>`` of ConfigMap argocd-cm
  (upstream Argo CD; ``kubectl -n argocd patch configmap argocd-cm --patch-file ...``).
- ``argocd-cr-patch.yaml``: ``spec.resourceHealthChecks`` of the ``ArgoCD`` resource (OpenShift GitOps /
  argocd-operator, which overwrites argocd-cm from that field).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGOCD_DIR = ROOT / "deploy" / "argocd"
GROUP = "edge.horizon.dev"
KINDS = ("EdgeServiceImage", "EdgePublication")
CM_PATCH = ARGOCD_DIR / "argocd-cm-patch.yaml"
CR_PATCH = ARGOCD_DIR / "argocd-cr-patch.yaml"
GENERATED = "# Generated from deploy/argocd/edge.horizon.dev/*/health.lua by `python -m tests.gitops.argocd_snippets`:"


def health_script(kind: str) -> str:
    return (ARGOCD_DIR / GROUP / kind / "health.lua").read_text()


def cm_key(kind: str) -> str:
    return f"resource.customizations.health.{GROUP}_{kind}"


def _block(text: str, indent: int) -> list[str]:
    """``text`` as the lines of a YAML literal block (``|``): blank lines stay empty."""
    pad = " " * indent
    return [pad + line if line else "" for line in text.splitlines()]


def cm_patch() -> str:
    lines = [
        GENERATED,
        "# edit the .lua files, not this file. Apply: kubectl -n argocd patch configmap argocd-cm --patch-file THIS",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: argocd-cm",
        "  namespace: argocd",
        "  labels:",
        "    app.kubernetes.io/name: argocd-cm",
        "    app.kubernetes.io/part-of: argocd",
        "data:",
    ]
    for kind in KINDS:
        lines.append(f"  {cm_key(kind)}: |")
        lines += _block(health_script(kind), 4)
    return "\n".join(lines) + "\n"


def cr_patch() -> str:
    lines = [
        GENERATED,
        "# edit the .lua files, not this file. A merge patch replaces the whole list: add any checks you already",
        "# have. Apply: oc -n openshift-gitops patch argocd openshift-gitops --type merge --patch-file THIS",
        "apiVersion: argoproj.io/v1beta1",
        "kind: ArgoCD",
        "metadata:",
        "  name: openshift-gitops",
        "  namespace: openshift-gitops",
        "spec:",
        "  resourceHealthChecks:",
    ]
    for kind in KINDS:
        lines += [f"    - group: {GROUP}", f"      kind: {kind}", "      check: |"]
        lines += _block(health_script(kind), 8)
    return "\n".join(lines) + "\n"


def main() -> None:
    CM_PATCH.write_text(cm_patch())
    CR_PATCH.write_text(cr_patch())


if __name__ == "__main__":
    main()
