#!/usr/bin/env python3
"""Proves that the function's IAM grants follow the Certificate* parameters of template.yaml.

The SAM translator keeps Conditions, Rules and Fn::If as they are, so this evaluates them itself, as
CloudFormation would, for every combination of the parameters, and compares the function role's
statements with what each certificate store needs: nothing while a parameter is empty, exactly the
action and resource when it is set; and the Rules refuse what they must (HttpAllow=request beside an
account grant, a prefix without its store). It also tries each parameter's AllowedPattern on values that
must pass and values that must fail (wildcards, names for ARNs, paths without their leading slash,
account prefixes without their trailing slash).

usage: check-template-policies.py TRANSFORMED.json
       check-template-policies.py --enabled TEMPLATE.yaml OUT.json   (TEMPLATE with every store set, for cfn-lint)
"""
import copy
import itertools
import json
import re
import sys

PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "check-template"}

# Every store set; the Defaults of the --enabled template.
ENABLED = {
    "CertificateSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:certs/example.com-AbC123",
    "CertificateBucket": "example-certs",
    "CertificateObjectPrefix": "live/example.com/",
    "CertificateParameterPrefix": "/certs/example.com/",
    "CertificateKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    # Not a store: the function may publish its digests to this topic.
    "NotifyTopicArn": "arn:aws:sns:us-east-1:123456789012:cdn-cert-deploy-notices",
    # Not a store: the alarm, so that cfn-lint checks it too. It grants the function nothing.
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:cdn-cert-deploy-alarms",
    # Many accounts: where their keys live, and the workflow that runs them.
    "AccountSecretPrefix": "cdn-accounts/",
    "AccountParameterPrefix": "/cdn-accounts/",
    "WorkflowEnabled": "true",
}

# The accounts' keys (huawei_credentials): not decrypted through CertificateKmsKeyArn.
ACCOUNTS_ON = [
    ("AccountSecretPrefix", "secretsmanager:GetSecretValue",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdn-accounts/*"),
    ("AccountParameterPrefix", "ssm:GetParameter",
     "arn:aws:ssm:us-east-1:123456789012:parameter/cdn-accounts/*"),
]
# The workflow's role: invoke the function (and its versions), publish the digest.
WORKFLOW_INVOKE = (["lambda:InvokeFunction"],
                   ["<CdnCertDeployFunction.Arn>", "<CdnCertDeployFunction.Arn>:*"], None)

# What the role must hold with ENABLED, written out: the parameter that turns each statement on,
# and the kms:ViaService value of its store.
ALL_ON = [
    ("CertificateSecretArn", "secretsmanager.*", "secretsmanager:GetSecretValue",
     "arn:aws:secretsmanager:us-east-1:123456789012:secret:certs/example.com-AbC123"),
    ("CertificateBucket", "s3.*", "s3:GetObject", "arn:aws:s3:::example-certs/live/example.com/*"),
    ("CertificateParameterPrefix", "ssm.*", "ssm:GetParameter",
     "arn:aws:ssm:us-east-1:123456789012:parameter/certs/example.com/*"),
]
NOTIFY = ("NotifyTopicArn", "sns:Publish", "arn:aws:sns:us-east-1:123456789012:cdn-cert-deploy-notices")
KMS = ("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
BASIC_EXECUTION = ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]

# AllowedPattern: values that must pass, values that must fail.
PATTERNS = {
    "NotifyTopicArn": (
        ["", ENABLED["NotifyTopicArn"], "arn:aws-cn:sns:cn-north-1:123456789012:ops_alerts"],
        ["cdn-cert-deploy-notices", "arn:aws:sns:us-east-1:123456789012:*",
         "arn:aws:sqs:us-east-1:123456789012:queue"],
    ),
    "AlarmTopicArn": (
        ["", ENABLED["AlarmTopicArn"], "arn:aws-cn:sns:cn-north-1:123456789012:ops_alerts"],
        ["cdn-cert-deploy-alarms", "arn:aws:sns:us-east-1:123456789012:*",
         "arn:aws:sqs:us-east-1:123456789012:queue"],
    ),
    "CertificateSecretArn": (
        ["", ENABLED["CertificateSecretArn"],
         "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:prod/cdn_cert+x=y.z@w-Zz9900"],
        ["certs/example.com", "arn:aws:secretsmanager:us-east-1:123456789012:secret:certs/*",
         "arn:aws:secretsmanager:us-east-1:123456789012:secret:certs/example.com-??????",
         "arn:aws:secretsmanager:us-east-1:123456789012:secret:certs/example.com"]),
    "CertificateBucket": (
        ["", "example-certs", "certs.example.com"],
        ["*", "example-*", "example-certs/live", "arn:aws:s3:::example-certs", "Example_Certs"]),
    "CertificateObjectPrefix": (
        ["", "live/example.com/", "certs/example.com-"],
        ["live/*", "live/example.com/?", "${aws:username}/"]),
    "CertificateParameterPrefix": (
        ["", "/certs/example.com/", "/certs"],
        ["certs/example.com/", "/", "//certs/", "/certs/*", "/certs/${x}"]),
    # Without its trailing / a prefix grants its siblings: team-a* is also team-a-evil/*.
    "AccountSecretPrefix": (
        ["", "cdn-accounts/", "prod/cdn_keys+x=y.z@w-/", "org/team-a/"],
        ["*", "cdn-accounts/*", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "a b",
         "team-a", "cdn-accounts", "prod/cdn_keys", "/", "cdn-accounts//"]),
    "AccountParameterPrefix": (
        ["", "/cdn-accounts/", "/keys/", "/org/team-a/"],
        ["cdn-accounts/", "/", "//keys/", "/keys/*", "/keys", "/team-a", "/org//team-a/"]),
    "CertificateKmsKeyArn": (
        ["", ENABLED["CertificateKmsKeyArn"], "arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef"],
        ["alias/aws/ssm", "arn:aws:kms:us-east-1:123456789012:alias/certs", "1234abcd-12ab-34cd-56ef",
         "arn:aws:kms:us-east-1:123456789012:key/*"]),
}

NO_VALUE = object()

# The template's resources: a Ref to one resolves to `<Name>` (a placeholder for its physical id).
RESOURCES = set()


class Fail(Exception):
    pass


def resolve(node, params, conditions):
    """The value CloudFormation would give `node` (Ref, Fn::Sub, Fn::If, AWS::NoValue)."""
    if isinstance(node, list):
        return [v for v in (resolve(x, params, conditions) for x in node) if v is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref":
            if arg == "AWS::NoValue":
                return NO_VALUE
            if arg in params:
                return params[arg]
            if arg in PSEUDO:
                return PSEUDO[arg]
            if arg in RESOURCES:
                return f"<{arg}>"
            raise Fail(f"Ref {arg}: not a parameter (a resource in an IAM policy is not expected here)")
        if fn == "Fn::GetAtt" and arg[0] in RESOURCES:
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::If":
            name, yes, no = arg
            return resolve(yes if conditions[name] else no, params, conditions)
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else arg

            def sub(m):
                key = m.group(1)
                if key.startswith("!"):
                    return "${" + key[1:] + "}"
                for table in (extra, params, PSEUDO):
                    if key in table:
                        return str(resolve(table[key], params, conditions))
                if key in RESOURCES or key.split(".")[0] in RESOURCES:
                    return f"<{key}>"
                raise Fail(f"Fn::Sub ${{{key}}}: unknown")
            return re.sub(r"\$\{([^}]+)\}", sub, text)
        if fn.startswith("Fn::"):
            raise Fail(f"{fn} in an IAM policy: extend this check to evaluate it")
    out = {}
    for k, v in node.items():
        v = resolve(v, params, conditions)
        if v is not NO_VALUE:
            out[k] = v
    return out


def truth(node, params, names, conditions):
    """A condition function's value; `names` are the Conditions, evaluated on demand."""
    (fn, arg), = node.items()
    if fn == "Condition":
        if arg not in conditions:
            conditions[arg] = truth(names[arg], params, names, conditions)
        return conditions[arg]
    if fn == "Fn::Equals":
        a, b = (resolve(x, params, conditions) for x in arg)
        return str(a) == str(b)
    if fn == "Fn::Not":
        return not truth(arg[0], params, names, conditions)
    if fn == "Fn::And":
        return all(truth(x, params, names, conditions) for x in arg)
    if fn == "Fn::Or":
        return any(truth(x, params, names, conditions) for x in arg)
    raise Fail(f"{fn} in a condition: extend this check to evaluate it")


def evaluate(template, overrides):
    """Parameter values, conditions and failing rules for these parameter values."""
    params = {k: p.get("Default", "") for k, p in template["Parameters"].items()}
    params.update(overrides)
    for name, value in params.items():
        pattern = template["Parameters"][name].get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, str(value)):
            raise Fail(f"scenario value {name}={value!r} does not match its AllowedPattern")
    names = template.get("Conditions", {})
    conditions = {}
    for name in names:
        truth({"Condition": name}, params, names, conditions)
    failing = set()
    for rule, body in template.get("Rules", {}).items():
        if "RuleCondition" in body and not truth(body["RuleCondition"], params, names, conditions):
            continue
        if not all(truth(a["Assert"], params, names, conditions) for a in body["Assertions"]):
            failing.add(rule)
    return params, conditions, failing


def as_list(v):
    return sorted(v) if isinstance(v, list) else [v]


def role_statements(template, role_name, params, conditions):
    """A role's inline statements, each as (actions, resources, condition)."""
    role = template["Resources"][role_name]["Properties"]
    statements = []
    for policy in resolve(role.get("Policies", []), params, conditions):
        doc = policy["PolicyDocument"]
        if not doc.get("Statement"):
            raise Fail(f"{policy['PolicyName']}: empty Statement (IAM rejects it)")
        for s in doc["Statement"]:
            if s.get("Effect") != "Allow" or "NotAction" in s or "NotResource" in s:
                raise Fail(f"{policy['PolicyName']}: only plain Allow statements are expected: {s}")
            cond = s.get("Condition")
            if cond is not None and any(v in ([], "", {}) for op in cond.values() for v in op.values()):
                raise Fail(f"{policy['PolicyName']}: empty condition value {cond}")
            statements.append((as_list(s["Action"]), as_list(s["Resource"]),
                               json.dumps(cond, sort_keys=True) if cond else None))
    return sorted(statements), resolve(role.get("ManagedPolicyArns", []), params, conditions)


def grants(template, params, conditions):
    """The function role's statements, each as (actions, resources, condition), and its managed policies."""
    res = template["Resources"]
    for name, r in res.items():
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            raise Fail(f"{name} ({r['Type']}): a policy outside the role; extend this check to include it")
    roles = [r["Properties"]["Role"]["Fn::GetAtt"][0] for r in res.values()
             if r["Type"] == "AWS::Lambda::Function"]
    if len(roles) != 1:
        raise Fail(f"expected one function with a role, found {len(roles)}")
    return role_statements(template, roles[0], params, conditions)


def workflow_grants(template, params, conditions):
    """The state machine role's statements, or None when the workflow is not created."""
    res = template["Resources"]
    machines = [(n, r) for n, r in res.items() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    if len(machines) != 1:
        raise Fail(f"expected one state machine, found {len(machines)}")
    _, machine = machines[0]
    cond = machine.get("Condition")
    if cond is None:
        raise Fail("the state machine is created whatever WorkflowEnabled says")
    if not conditions[cond]:
        return None
    role = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    if res[role].get("Condition") != cond:
        raise Fail(f"the state machine's role {role} does not share its condition")
    statements, managed = role_statements(template, role, params, conditions)
    if managed:
        raise Fail(f"the state machine's role has managed policies {managed}")
    return statements


def expected_workflow(overrides):
    if overrides.get("WorkflowEnabled") != "true":
        return None
    out = [WORKFLOW_INVOKE]
    if overrides.get(NOTIFY[0]):
        out.append(([NOTIFY[1]], [NOTIFY[2]], None))
    return sorted(out)


def expected(overrides):
    on = [(via, action, resource) for param, via, action, resource in ALL_ON if overrides.get(param)]
    out = [([action], [resource], None) for _, action, resource in on]
    if overrides.get("CertificateKmsKeyArn") and on:
        cond = {"StringLike": {"kms:ViaService": [via for via, _, _ in on]}}
        out.append(([KMS[0]], [KMS[1]], json.dumps(cond, sort_keys=True)))
    if overrides.get(NOTIFY[0]):
        out.append(([NOTIFY[1]], [NOTIFY[2]], None))
    out += [([action], [resource], None) for param, action, resource in ACCOUNTS_ON if overrides.get(param)]
    return sorted(out)


def scenarios():
    """Every combination of the four stores (the bucket with its prefix) and the notification topic,
    and the edge cases."""
    keys = [("CertificateSecretArn",), ("CertificateBucket", "CertificateObjectPrefix"),
            ("CertificateParameterPrefix",), ("CertificateKmsKeyArn",), ("NotifyTopicArn",)]
    for mask in itertools.product([False, True], repeat=len(keys)):
        yield {k: ENABLED[k] for on, group in zip(mask, keys) if on for k in group}
    # The workflow and the accounts' keys, with and without the topic.
    for mask in itertools.product([False, True], repeat=4):
        names = ["WorkflowEnabled", "NotifyTopicArn", "AccountSecretPrefix", "AccountParameterPrefix"]
        yield {k: ENABLED[k] for on, k in zip(mask, names) if on}
    # The whole request for HTTP callers: alone, and beside each account grant (refused).
    yield {"HttpAllow": "request"}
    yield {"HttpAllow": "request", "WorkflowEnabled": "true", "AccountSecretPrefix": ENABLED["AccountSecretPrefix"]}
    yield {"HttpAllow": "request", "AccountParameterPrefix": ENABLED["AccountParameterPrefix"]}
    yield {"HttpAllow": "request", "AccountSecretPrefix": ENABLED["AccountSecretPrefix"],
           "AccountParameterPrefix": ENABLED["AccountParameterPrefix"]}
    yield {"CertificateBucket": "example-certs"}  # no prefix: the whole bucket
    yield {"CertificateObjectPrefix": "live/example.com/"}  # a prefix without its bucket


def expected_rules(o):
    failing = set()
    if o.get("HttpAllow") == "request" and (o.get("AccountSecretPrefix") or o.get("AccountParameterPrefix")):
        failing.add("HttpRequestExcludesAccounts")
    if o.get("CertificateObjectPrefix") and not o.get("CertificateBucket"):
        failing.add("ObjectPrefixNeedsBucket")
    if o.get("CertificateKmsKeyArn") and not any(
            o.get(k) for k in ("CertificateSecretArn", "CertificateBucket", "CertificateParameterPrefix")):
        failing.add("KmsKeyNeedsStore")
    return failing


def check(template):
    """Every scenario and pattern; the list of what is wrong."""
    errors = []
    for o in scenarios():
        label = ", ".join(sorted(o)) or "no store"
        try:
            params, conditions, failing = evaluate(template, o)
            if failing != expected_rules(o):
                errors.append(f"[{label}] rules failing: {sorted(failing)}, expected {sorted(expected_rules(o))}")
            got, managed = grants(template, params, conditions)
            want = expected(o)
            if o == {"CertificateBucket": "example-certs"}:
                want = [(["s3:GetObject"], ["arn:aws:s3:::example-certs/*"], None)]
            if got != want:
                errors.append(f"[{label}] statements:\n  got  {got}\n  want {want}")
            if managed != BASIC_EXECUTION:
                errors.append(f"[{label}] managed policies {managed}, expected {BASIC_EXECUTION}")
            flow, want_flow = workflow_grants(template, params, conditions), expected_workflow(o)
            if flow != want_flow:
                errors.append(f"[{label}] workflow statements:\n  got  {flow}\n  want {want_flow}")
        except Fail as e:
            errors.append(f"[{label}] {e}")
    for name, (good, bad) in PATTERNS.items():
        pattern = template["Parameters"].get(name, {}).get("AllowedPattern")
        if pattern is None:
            errors.append(f"{name}: no AllowedPattern")
            continue
        errors += [f"{name}: AllowedPattern rejects {v!r}" for v in good if not re.fullmatch(pattern, v)]
        errors += [f"{name}: AllowedPattern accepts {v!r}" for v in bad if re.fullmatch(pattern, v)]
    return errors


def mutants(template):
    """Broken copies this check must catch, so that it cannot pass by checking nothing."""
    role = next(r["Properties"]["Role"]["Fn::GetAtt"][0] for r in template["Resources"].values()
                if r["Type"] == "AWS::Lambda::Function")
    policies = template["Resources"][role]["Properties"]["Policies"]

    def with_policies(new):
        m = copy.deepcopy(template)
        m["Resources"][role]["Properties"]["Policies"] = new
        return m
    for i, p in enumerate(policies):  # a policy kept while its parameter is empty
        if "Fn::If" not in p:
            continue
        yield f"policy {i} unconditional", with_policies(policies[:i] + [p["Fn::If"][1]] + policies[i + 1:])
    # One document of conditional statements: an empty Statement list while every store is off.
    yield "one document of conditional statements", with_policies([{"PolicyName": "All", "PolicyDocument": {
        "Statement": [{"Fn::If": [p["Fn::If"][0], p["Fn::If"][1]["PolicyDocument"]["Statement"][0],
                                  {"Ref": "AWS::NoValue"}]} for p in policies]}}])
    text = json.dumps(template)
    yield "parameter ARN with a doubled slash", json.loads(text.replace(":parameter${", ":parameter/${"))
    yield "a wider S3 action", json.loads(text.replace('"s3:GetObject"', '"s3:*"'))
    yield "a wider SNS action", json.loads(text.replace('"sns:Publish"', '"sns:*"'))
    yield "a workflow that may invoke any function", json.loads(
        text.replace('"${CdnCertDeployFunction.Arn}:*"', '"arn:aws:lambda:*"'))
    yield "a wider account secret grant", json.loads(text.replace("secret:${AccountSecretPrefix}*", "secret:*"))
    m = copy.deepcopy(template)
    m["Rules"].pop("HttpRequestExcludesAccounts", None)
    yield "HttpAllow=request beside account grants", m
    m = copy.deepcopy(template)
    m["Parameters"]["AccountSecretPrefix"]["AllowedPattern"] = "^$|^[A-Za-z0-9/_+=.@-]+$"
    yield "an account secret prefix without its trailing /", m
    machine = next(n for n, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine")
    m = copy.deepcopy(template)
    del m["Resources"][machine]["Condition"]
    yield "a workflow created while disabled", m


def main(argv):
    if argv[:1] == ["--enabled"]:
        from samtranslator.yaml_helper import yaml_parse
        with open(argv[1]) as f:
            template = yaml_parse(f.read())
        for k, v in ENABLED.items():
            template["Parameters"][k]["Default"] = v
        with open(argv[2], "w") as f:
            json.dump(template, f, indent=2)
        return 0
    with open(argv[0]) as f:
        template = json.load(f)
    RESOURCES.update(template["Resources"])
    errors = check(template)
    for e in errors:
        print(f"IAM check: {e}", file=sys.stderr)
    if errors:
        return 1
    missed = [name for name, m in mutants(template) if not check(m)]
    if missed:
        print(f"IAM check: did not catch these broken templates: {missed}", file=sys.stderr)
        return 1
    params, conditions, _ = evaluate(template, ENABLED)
    print(f"IAM check: {sum(1 for _ in scenarios())} parameter combinations give exactly their grants "
          "(none while empty); with every store set:")
    for actions, resources, cond in grants(template, params, conditions)[0]:
        print(f"  {', '.join(actions)} on {', '.join(resources)}" + (f" if {cond}" if cond else ""))
    print("and the workflow's role:")
    for actions, resources, cond in workflow_grants(template, params, conditions):
        print(f"  {', '.join(actions)} on {', '.join(resources)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
