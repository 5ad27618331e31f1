"""cluster/networkpolicy.yaml admits connections to the workers' port from the pods of the same Job only (issue 29)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "cluster"


def manifest(name: str) -> dict:
    (doc,) = list(yaml.safe_load_all((CLUSTER / name).read_text(encoding="utf-8")))
    return doc


POLICY, JOB, SERVICE = manifest("networkpolicy.yaml"), manifest("job.yaml"), manifest("service.yaml")
POLICY_TEXT = (CLUSTER / "networkpolicy.yaml").read_text(encoding="utf-8")


def test_the_policy_protects_the_jobs_pods_and_admits_only_the_same_job_on_the_workers_port():
    assert POLICY["kind"] == "NetworkPolicy" and POLICY["apiVersion"] == "networking.k8s.io/v1"
    spec = POLICY["spec"]
    same_job = {"job-name": JOB["metadata"]["name"]}  # the label the Job controller gives its pods
    assert spec["podSelector"] == {"matchLabels": same_job} and SERVICE["spec"]["selector"] == same_job
    assert spec["policyTypes"] == ["Ingress"]  # outbound traffic (DNS, storage) stays open
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert peer == {"podSelector": {"matchLabels": same_job}}  # no namespaceSelector / ipBlock: nobody else
    (container,) = JOB["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port["containerPort"]}]


def test_the_docs_explain_it_and_apply_it():
    docs = " ".join((ROOT / "docs" / "cluster.md").read_text(encoding="utf-8").split())
    assert "needs a network plugin that enforces" in docs
    assert "-f cluster/networkpolicy.yaml" in docs
    assert "docs/cluster.md" in POLICY_TEXT and "SECURITY.md" in POLICY_TEXT
