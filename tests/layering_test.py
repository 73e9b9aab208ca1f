#!/usr/bin/env python3
"""The include rules of common/README.md and docs/design.md, checked:

- a layer of common/ includes only the layers listed above it in
  common/README.md (tests and test helpers excepted);
- role folders (ps/, worker/, chief/, evaluator/) include common/ and not
  each other, except chief/ using worker/ (the chief is a worker that owns
  the checkpoints), and tests, which may start other roles in-process;
- ps/ includes nothing of the graph runtime or the GPU code.
"""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
readme = (root / "common/README.md").read_text()
order = re.findall(r"^\| `(\w+)/` \|", readme, re.M)
rank = {layer: i for i, layer in enumerate(order)}
include = re.compile(r'#include "([\w/]+)/[\w.]+"')
problems = []


def includes(path):
    for m in include.finditer(path.read_text()):
        yield m.group(1)


def is_test(path):
    return re.search(r"(_test|testing|test_util)\.(h|cc)$", path.name) is not None


for layer in order:
    for f in sorted((root / "common" / layer).rglob("*")):
        if f.suffix not in (".h", ".cc", ".cu") or is_test(f):
            continue
        for inc in includes(f):
            parts = inc.split("/")
            if parts[0] == "common" and len(parts) > 1 and parts[1] in rank and rank[parts[1]] > rank[layer]:
                problems.append(f"{f.relative_to(root)} (layer {layer}) includes common/{parts[1]}, listed below it")

roles = {"ps": set(), "worker": set(), "chief": {"worker"}, "evaluator": set()}
for role, allowed in roles.items():
    for f in sorted((root / role).rglob("*")):
        if f.suffix not in (".h", ".cc") or is_test(f):
            continue
        for inc in includes(f):
            top = inc.split("/")[0]
            if top in roles and top != role and top not in allowed:
                problems.append(f"{f.relative_to(root)} includes {top}/: role folders use common/, not each other")
            # `inc` is the included file's folder.
            if role == "ps" and any(inc == d or inc.startswith(d + "/")
                                    for d in ("common/gpu", "common/runtime", "common/train", "common/graph")):
                problems.append(f"{f.relative_to(root)} includes {inc}: the parameter server has no graph runtime or GPU code")

if len(order) < 10:
    problems.append(f"common/README.md lists only {order} as layers")
for p in problems:
    print("FAIL:", p)
print(f"layering_test: {0 if problems else 1} passed, {1 if problems else 0} failed")
sys.exit(1 if problems else 0)
