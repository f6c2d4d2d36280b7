#!/usr/bin/env bash
# Checks template.yaml offline: the SAM transform (as CloudFormation would run it) must succeed,
# and cfn-lint must pass on both the SAM template and the CloudFormation it becomes, with the
# certificate stores off (the defaults) and on (every Certificate* parameter set). Then
# check-template-policies.py proves the function's IAM grants follow those parameters.
# Needs only Python 3 and pip (PyPI) on the first run; no AWS account, no AWS call.
set -euo pipefail
cd "$(dirname "$0")/.."

# Install the checkers only where they are missing.
python3 -c 'import samtranslator' 2>/dev/null || python3 -m pip install --quiet aws-sam-translator
python3 -c 'import cfnlint' 2>/dev/null || python3 -m pip install --quiet cfn-lint

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The translator wants a region (for AWS::Partition); no call is made with it.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

# sam_transform SRC DST
sam_transform() { python3 - "$1" "$2" <<'PY'
import json, sys
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

src, dst = sys.argv[1], sys.argv[2]
with open(src) as f:
    template = yaml_parse(f.read())

class NoManagedPolicies:
    """Stands in for ManagedPolicyLoader, which would list IAM policies through the AWS API."""
    def load(self):
        return {}

# What `sam package` does before CloudFormation transforms: the local CodeUri becomes an S3 object.
for res in template.get("Resources", {}).values():
    props = res.get("Properties", {})
    if res.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str) \
            and not props["CodeUri"].startswith("s3://"):
        props["CodeUri"] = "s3://check-template-bucket/function.zip"
    # A local state machine definition is what `sam deploy` uploads; offline it is read inline.
    if res.get("Type") == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str) \
            and not props["DefinitionUri"].startswith("s3://"):
        with open(props.pop("DefinitionUri")) as f:
            props["Definition"] = json.load(f)

# Values for the NoEcho parameters (their defaults are empty); the rest keep their defaults.
params = {name: "check-template-placeholder" for name, p in template.get("Parameters", {}).items()
          if str(p.get("NoEcho", "")).lower() == "true"}
try:
    out = transform(template, params, NoManagedPolicies())
except InvalidDocumentException as e:
    for cause in e.causes:
        print(f"SAM transform error: {cause.message}", file=sys.stderr)
    sys.exit(1)
with open(dst, "w") as f:
    json.dump(out, f, indent=2)
print(f"SAM transform: {len(out.get('Resources', {}))} CloudFormation resources: "
      + ", ".join(sorted(f"{k} ({v['Type']})" for k, v in out["Resources"].items())))
PY
}
sam_transform template.yaml "$out/transformed.json"
# The same template with every store set (as parameter defaults, so cfn-lint sees them too and checks
# them against their AllowedPattern).
python3 scripts/check-template-policies.py --enabled template.yaml "$out/enabled.json"
sam_transform "$out/enabled.json" "$out/enabled-transformed.json"

# cfn-lint through Python, since pip may put its command outside PATH. It exits non-zero on errors
# and on warnings; informational findings do not count.
cfn_lint() { python3 -c 'from cfnlint.runner import main; main()' --regions "$AWS_DEFAULT_REGION" -- "$@"; }
cfn_lint template.yaml
cfn_lint "$out/transformed.json"
cfn_lint "$out/enabled.json"
cfn_lint "$out/enabled-transformed.json"
# The transform keeps conditions unresolved; this evaluates them for every combination of the stores.
python3 scripts/check-template-policies.py "$out/transformed.json"
echo "template.yaml: SAM transform, cfn-lint (SAM and transformed; stores off and on) and IAM grants passed"
