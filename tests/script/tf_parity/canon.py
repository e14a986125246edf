"""The canonical form both sides are reduced to before they are compared.

A value becomes plain data (str, list, dict; numbers and booleans as strings, as CloudFormation
passes them) where everything deploy-time is a symbol (a tuple):

    ("param", "MemberRoleName")        !Ref MemberRoleName       var.member_role_name
    ("pseudo", "account")              AWS::AccountId            data.aws_caller_identity...account_id
    ("res", "WorkQueue", "Arn")        !GetAtt WorkQueue.Arn     aws_sqs_queue.work_queue.arn
    ("cond", "HasAlarmTopic")          !Condition HasAlarmTopic  local.has_alarm_topic
    ("if", c, a, b), ("novalue",)      !If [c, a, !Ref AWS::NoValue]   local.c ? a : null
    ("cat", part, ...)                 !Sub "a${X}b"             "a${x}b"
    ("eq"|"not"|"and"|"or"|"join"|"split"|"findinmap"|"contains"|"eachmemberin", ...)

Names are tied by convention only: a Terraform variable, local, resource or output is the
snake_case of the template's parameter, condition, logical id or output (SAM's generated resources
by SAM's own names: function + event, function + event + "Permission"). Nothing here lists an
expected value: every value is read from the two sides.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import hcl2
from cfnlint.decode import decode

from . import hcl

# python-hcl2 8 keeps what the comparison reads: strings with their quotes (so a literal and an
# expression differ), __is_block__ on nested blocks, and comments (the checkov skips). 7.x drops
# all three and re-serializes nested expressions, so it is refused rather than misread.
if int(version("python-hcl2").split(".")[0]) != 8:
    raise ImportError(f"python-hcl2 8.x needed, {version('python-hcl2')} installed (tests/harness/bootstrap.sh moto)")

NOVALUE = ("novalue",)
PSEUDO = {"AWS::AccountId": "account", "AWS::Region": "region", "AWS::Partition": "partition",
          "AWS::StackId": "stack_id", "AWS::URLSuffix": "url_suffix", "AWS::StackName": "stack_name"}
TF_PSEUDO = {("aws_caller_identity", "account_id"): "account", ("aws_partition", "partition"): "partition",
             ("aws_region", "name"): "region", ("aws_partition", "dns_suffix"): "url_suffix"}

# What CloudFormation's Ref / GetAtt of a resource type is, by the Terraform attribute that holds
# it. CloudWatch Logs' GetAtt Arn ends in ":*" where the provider's arn does not.
TF_ATTRS: dict[str, dict[str, str]] = {
    "aws_sqs_queue": {"arn": "Arn", "url": "Ref", "id": "Ref", "name": "QueueName"},
    "aws_lambda_function": {"arn": "Arn", "function_name": "Ref"},
    "aws_iam_role": {"arn": "Arn", "name": "Ref", "id": "Ref"},
    "aws_cloudwatch_event_bus": {"arn": "Arn", "name": "Ref"},
    "aws_cloudwatch_log_group": {"arn": "Arn without :*", "name": "Ref"},
    "aws_kms_key": {"arn": "Arn", "key_id": "Ref"},
    "aws_cloudwatch_event_rule": {"arn": "Arn", "name": "Ref", "id": "Ref"},
    "aws_cloudformation_stack_set": {"name": "StackSetName", "stack_set_id": "Ref"},
    "aws_dynamodb_table": {"arn": "Arn", "name": "Ref", "id": "Ref"},
    "aws_iam_policy": {"arn": "Ref", "id": "Ref"},
    "aws_sns_topic": {"arn": "Ref", "id": "Ref", "name": "TopicName"},
}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def scalar(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    return v


def cat(parts: list) -> Any:
    """A concatenation: nested ones flattened, adjacent strings merged, empty strings dropped."""
    flat: list = []
    for p in parts:
        p = scalar(p)
        items = list(p[1:]) if isinstance(p, tuple) and p[0] == "cat" else [p]
        for item in items:
            if isinstance(item, str) and flat and isinstance(flat[-1], str):
                flat[-1] += item
            elif item != "":
                flat.append(item)
    # Logs: "${aws_cloudwatch_log_group.x.arn}:*" is CloudFormation's GetAtt Arn.
    for i, p in enumerate(flat[:-1]):
        if isinstance(p, tuple) and p[0] == "res" and p[2] == "Arn without :*" and isinstance(flat[i + 1], str) \
                and flat[i + 1].startswith(":*"):
            flat[i] = ("res", p[1], "Arn")
            flat[i + 1] = flat[i + 1][2:]
    flat = [p for p in flat if p != ""]
    if not flat:
        return ""
    return flat[0] if len(flat) == 1 else ("cat", *flat)


def flatten_logic(op: str, items: list) -> tuple:
    out: list = []
    for item in items:
        out.extend(item[1:] if isinstance(item, tuple) and item[0] == op else [item])
    return (op, *out)


# ---------------------------------------------------------------- CloudFormation side
@dataclass
class Cfn:
    """A template's values in canonical form. ``subst`` maps a nested stack's parameters to the
    parent's canonical values (cfn/onboarding.yaml is read as the parent passes it)."""

    template: dict
    subst: dict[str, Any] | None = None
    lists: frozenset = frozenset()

    def __call__(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            (key, arg), = node.items()
            fn = getattr(self, "_" + key.replace("::", "_").replace("Fn_", ""), None)
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                if fn is None:
                    raise ValueError(f"intrinsic {key} not supported")
                return fn(arg)
        if isinstance(node, dict):
            return {k: self(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self(v) for v in node]
        return scalar(node)

    def _Ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NOVALUE
        if name in PSEUDO:
            return ("pseudo", PSEUDO[name])
        if name in self.template.get("Parameters", {}):
            if self.subst is not None:
                value = self.subst[name]
                return ("split", ",", value) if name in self.lists else value
            return ("param", name)
        if name in self.template.get("Resources", {}):
            return ("res", name, "Ref")
        raise ValueError(f"Ref to unknown {name}")

    def _GetAtt(self, arg: Any) -> Any:
        logical, attr = arg.split(".", 1) if isinstance(arg, str) else arg
        return ("res", logical, attr)

    def _Sub(self, arg: Any) -> Any:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        parts: list = []
        pos = 0
        for m in re.finditer(r"\$\{([^}!][^}]*)\}", text):
            parts.append(text[pos:m.start()])
            name = m.group(1).strip()
            if name in variables:
                parts.append(self(variables[name]))
            elif "." in name and not name.startswith("AWS::"):
                parts.append(self._GetAtt(name))
            else:
                parts.append(self._Ref(name))
            pos = m.end()
        parts.append(text[pos:])
        return cat(parts)

    def _If(self, arg: list) -> Any:
        return ("if", ("cond", arg[0]), self(arg[1]), self(arg[2]))

    def _Condition(self, name: str) -> Any:
        return ("cond", name)

    def _Equals(self, arg: list) -> Any:
        return ("eq", self(arg[0]), self(arg[1]))

    def _Not(self, arg: list) -> Any:
        return ("not", self(arg[0]))

    def _And(self, arg: list) -> Any:
        return flatten_logic("and", [self(a) for a in arg])

    def _Or(self, arg: list) -> Any:
        return flatten_logic("or", [self(a) for a in arg])

    def _Join(self, arg: list) -> Any:
        return ("join", arg[0], self(arg[1]))

    def _Split(self, arg: list) -> Any:
        return ("split", arg[0], self(arg[1]))

    def _Contains(self, arg: list) -> Any:
        return ("contains", self(arg[0]), self(arg[1]))

    def _EachMemberIn(self, arg: list) -> Any:
        return ("eachmemberin", self(arg[0]), self(arg[1]))

    def _FindInMap(self, arg: list) -> Any:
        return ("findinmap", arg[0], self(arg[1]), self(arg[2]))


def load_cfn(path: Path) -> dict:
    template, matches = decode(str(path))
    if template is None:
        raise ValueError(f"{path}: {matches}")
    return template


# ---------------------------------------------------------------- Terraform side
@dataclass
class Terraform:
    """deploy/terraform's blocks, by kind: resources[type][name] and data[type][name] are the
    attribute dicts python-hcl2 returns; values are canonicalized by ``value``."""

    directory: Path
    params: dict[str, str]          # snake_case -> the template's parameter name
    conditions: dict[str, str]      # snake_case -> the template's condition name
    mappings: dict[str, str]        # snake_case -> the template's mapping name
    logical: dict[str, str]         # snake_case -> a logical id (template, nested, SAM-generated)
    resources: dict[str, dict[str, dict]] = field(default_factory=dict)
    data: dict[str, dict[str, dict]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    terraform: list = field(default_factory=list)

    def __post_init__(self) -> None:
        for path in sorted(self.directory.glob("*.tf")):
            with path.open() as f:
                parsed = hcl2.load(f)
            for kind in ("resource", "data"):
                target = self.resources if kind == "resource" else self.data
                for block in parsed.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            rtype_, name_ = hcl.unquote(rtype), hcl.unquote(name)
                            if name_ in target.setdefault(rtype_, {}):
                                raise ValueError(f"duplicate {rtype_}.{name_}")
                            target[rtype_][name_] = body
            for block in parsed.get("locals", []):
                for k, v in block.items():
                    if not k.startswith("__"):
                        self.locals[k] = v
            for kind, target in (("variable", self.variables), ("output", self.outputs)):
                for block in parsed.get(kind, []):
                    for name, body in block.items():
                        target[hcl.unquote(name)] = body
            self.terraform.extend(parsed.get("terraform", []))

    # ------------------------------------------------------------ values
    def value(self, raw: Any) -> Any:
        return self.canon(hcl.value(raw))

    def attr(self, body: dict, path: str) -> Any:
        """The canonical value at a dotted path of a block (nested blocks are lists of one dict);
        None when absent."""
        node: Any = body
        for step in path.split("."):
            if isinstance(node, list) and len(node) == 1 and isinstance(node[0], dict):
                node = node[0]
            if not isinstance(node, dict) or step not in node:
                return None
            node = node[step]
        return self.value(node)

    def canon(self, ast: tuple) -> Any:
        kind = ast[0]
        if kind == "lit":
            return NOVALUE if ast[1] is None else scalar(ast[1])
        if kind == "tmpl":
            return cat([p if isinstance(p, str) else self.canon(p) for p in ast[1]])
        if kind == "list":
            return [self.canon(x) for x in ast[1]]
        if kind == "obj":
            out = {}
            for k, v in ast[1]:
                key = self.canon(k) if k[0] != "ref" or k[2] else k[1]
                out[key] = self.canon(v)
            return out
        if kind == "cond":
            return ("if", self.canon(ast[1]), self.canon(ast[2]), self.canon(ast[3]))
        if kind == "not":
            return ("not", self.canon(ast[1]))
        if kind == "bin":
            op, a, b = ast[1], self.canon(ast[2]), self.canon(ast[3])
            if op == "==":
                # Rules' Fn::EachMemberIn [list, allowed]: length(setsubtract(list, allowed)) == 0.
                if b == "0" and isinstance(a, tuple) and a[:2] == ("call", "length") and isinstance(a[2], tuple) \
                        and a[2][:2] == ("call", "setsubtract") and len(a[2]) == 4:
                    return ("eachmemberin", a[2][2], a[2][3])
                return ("eq", a, b)
            if op == "!=":
                return ("not", ("eq", a, b))
            if op in ("&&", "||"):
                return flatten_logic("and" if op == "&&" else "or", [a, b])
            return (op, a, b)
        if kind == "call":
            return self.call(ast[1], ast[2])
        if kind == "ref":
            return self.ref(ast[1], ast[2])
        raise ValueError(f"cannot canonicalize {ast}")

    def call(self, name: str, args: list) -> Any:
        if name in ("jsonencode", "tostring", "toset", "tolist", "tonumber"):
            return self.canon(args[0])
        if name in ("join", "split"):
            return (name, self.canon(args[0]), self.canon(args[1]))
        if name == "contains":
            return ("contains", self.canon(args[0]), self.canon(args[1]))
        if name == "concat":
            lists = [self.canon(a) for a in args]
            if all(isinstance(x, list) for x in lists):
                return [item for x in lists for item in x]
            return ("call", name, *lists)
        return ("call", name, *[self.canon(a) for a in args])

    def ref(self, root: Any, steps: list) -> Any:
        names = [s[1] for s in steps if s[0] == "attr"]
        if root == "var":
            var = names[0]
            return ("param", self.params[var]) if var in self.params else ("tfvar", var)
        if root == "local":
            local = names[0]
            if local in self.conditions:
                return ("cond", self.conditions[local])
            if local in self.mappings and len(steps) == 3 and steps[1][0] == "index":
                return ("findinmap", self.mappings[local], self.canon(steps[1][1]), steps[2][1])
            if len(steps) != 1:
                raise ValueError(f"traversal of local.{local} not supported")
            return self.value(self.locals[local])
        if root == "data":
            dtype, dname, attr = names[0], names[1], names[2]
            if (dtype, attr) in TF_PSEUDO:
                return ("pseudo", TF_PSEUDO[(dtype, attr)])
            if dtype == "aws_iam_policy_document" and attr == "json":
                return ("policy", dname)
            return ("data", dtype, dname, attr)
        if root in ("path", "each", "count", "terraform"):
            return (root, *names)
        if isinstance(root, str) and root.startswith("aws_") or root == "terraform_data":
            name = names[0]
            attr = next((s[1] for s in steps[1:] if s[0] == "attr"), None)
            logical = self.logical.get(name)
            mapped = TF_ATTRS.get(root, {}).get(attr)
            if logical is None or mapped is None:
                return ("tfres", root, name, attr)
            return ("res", logical, mapped)
        raise ValueError(f"reference {root} {steps} not supported")

    # ------------------------------------------------------------ blocks
    def condition_of(self, body: dict) -> str | None:
        """The template condition a resource's count (or for_each) stands for."""
        raw = body.get("count", body.get("for_each"))
        if raw is None:
            return None
        value = self.value(raw)
        if isinstance(value, tuple) and value[0] == "if" and isinstance(value[1], tuple) and value[1][0] == "cond":
            return value[1][1]
        raise ValueError(f"count/for_each {raw!r} is not a template condition")

    def blocks(self, body: dict, name: str) -> list[tuple[str | None, dict]]:
        """A block's nested blocks of one kind, static ones and `dynamic` ones, each with the
        condition its for_each stands for (None for a static block)."""
        found = [(None, b) for b in body.get(name, [])]
        for dyn in body.get("dynamic", []):
            for label, spec in dyn.items():
                if hcl.unquote(label) == name:
                    cond = self.condition_of(spec)
                    found += [(cond, b) for b in spec["content"]]
        return found

    def policy(self, name: str) -> list[dict]:
        """The canonical statements of data.aws_iam_policy_document.<name>."""
        doc = self.data["aws_iam_policy_document"][name]
        out = []
        for cond, st in self.blocks(doc, "statement"):
            principals: dict[str, list] = {}
            for _, p in self.blocks(st, "principals"):
                principals.setdefault(self.attr(p, "type"), []).extend(self.attr(p, "identifiers"))
            conditions = [(self.attr(c, "test"), self.attr(c, "variable"), self.attr(c, "values"))
                          for _, c in self.blocks(st, "condition")]
            known = {"sid", "effect", "actions", "resources", "not_resources", "principals", "condition", "__is_block__",
                     "__comments__", "__inline_comments__"}
            unknown = set(st) - known
            if unknown:
                raise ValueError(f"policy {name}: statement attributes {unknown} not compared")
            out.append(statement(self.attr(st, "sid"), self.attr(st, "effect") or "Allow", self.attr(st, "actions"),
                                 self.attr(st, "resources"), principals or None, conditions, cond,
                                 self.attr(st, "not_resources")))
        return out


def statement(sid: Any, effect: Any, actions: Any, resources: Any, principals: Any, conditions: list,
              cond: str | None, not_resources: Any = None) -> dict:
    """One IAM statement, order-free where IAM is."""
    def as_list(v: Any) -> list:
        return [] if v is None else v if isinstance(v, list) else [v]

    return {
        "Sid": sid,
        "Effect": effect,
        "Action": sorted(as_list(actions), key=repr),
        "Resource": sorted(as_list(resources), key=repr),
        "NotResource": None if not_resources is None else sorted(as_list(not_resources), key=repr),
        "Principal": None if principals is None else {k: sorted(as_list(v), key=repr) for k, v in principals.items()},
        "Condition": sorted(((t, k, sorted(as_list(v), key=repr)) for t, k, v in conditions), key=repr),
        "If": cond,
    }


def cfn_statements(cfn: Callable[[Any], Any], document: Any) -> list[dict]:
    """The canonical statements of a template policy document (or a bare statement list); a
    statement under !If [C, statement, !Ref AWS::NoValue] is conditional on C."""
    raw = document.get("Statement", document) if isinstance(document, dict) else document
    raw = raw if isinstance(raw, list) else [raw]
    out = []
    for st in raw:
        cond = None
        if isinstance(st, dict) and list(st) == ["Fn::If"]:
            name, then, otherwise = st["Fn::If"]
            if otherwise != {"Ref": "AWS::NoValue"}:
                raise ValueError(f"conditional statement {st} with an else branch")
            cond, st = name, then
        unknown = set(st) - {"Sid", "Effect", "Action", "Resource", "NotResource", "Principal", "Condition"}
        if unknown:
            raise ValueError(f"statement keys {unknown} not compared")
        principal = st.get("Principal")
        if principal == "*":
            principals = {"*": ["*"]}
        elif principal is None:
            principals = None
        else:
            principals = {k: cfn(v) for k, v in principal.items()}
        conditions = [(test, key, cfn(v)) for test, keys in (st.get("Condition") or {}).items() for key, v in keys.items()]
        out.append(statement(st.get("Sid"), st["Effect"], cfn(st.get("Action")), cfn(st.get("Resource")),
                             principals, conditions, cond,
                             cfn(st["NotResource"]) if "NotResource" in st else None))
    return out


def json_with_symbols(value: Any) -> Any:
    """A template string that is JSON with ${} substitutions (a Sub's canonical ("cat", ...)), as
    canonical data: each symbol stands in the JSON as a placeholder string, put back after parsing."""
    if isinstance(value, str):
        return json.loads(value)
    parts = list(value[1:]) if isinstance(value, tuple) and value[0] == "cat" else [value]
    symbols: dict[str, Any] = {}
    text = ""
    for p in parts:
        if isinstance(p, str):
            text += p
        else:
            key = f"\ue000{len(symbols)}\ue000"
            symbols[key] = p
            text += key

    def back(node: Any) -> Any:
        if isinstance(node, str):
            if node in symbols:
                return symbols[node]
            if "\ue000" in node:
                return cat([symbols.get(x, x) for x in re.split(r"(\ue000\d+\ue000)", node)])
            return node
        if isinstance(node, list):
            return [back(x) for x in node]
        if isinstance(node, dict):
            return {back(k): back(v) for k, v in node.items()}
        return scalar(node)

    return back(json.loads(text))
