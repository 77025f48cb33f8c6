"""What the kubelet does to a pod's container before it starts: only what the tests need to run a pod without a cluster.

Kubernetes expands ``$(NAME)`` in ``command`` and ``args`` from the container's environment
(``$$`` escapes a ``$``; an unknown name stays as written), and sets environment variables whose
``valueFrom`` names a field of the pod, such as the Indexed Job's completion index annotation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
COMPLETION_INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def expand(word: str, env: Mapping[str, str]) -> str:
    """``$(NAME)`` replaced as the kubelet does."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return REFERENCE.sub(one, word)


def pod_environment(container: Mapping[str, Any], completion_index: int) -> dict[str, str]:
    """The container's environment for the pod of ``completion_index``, ``valueFrom`` fields filled in."""
    env: dict[str, str] = {}
    for variable in container.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = expand(str(variable["value"]), env)
            continue
        field = variable["valueFrom"]["fieldRef"]["fieldPath"]
        if field != COMPLETION_INDEX_FIELD:
            raise ValueError(f"{variable['name']}: the tests know no pod field {field}")
        env[variable["name"]] = str(completion_index)
    return env


def pod_args(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The container's args as its process receives them."""
    return [expand(str(word), env) for word in container.get("args") or []]
