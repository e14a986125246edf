"""Terraform expressions, parsed from the text python-hcl2 returns for an attribute.

python-hcl2 8 splits a configuration into blocks and attributes but leaves each value's
expression as source text: ``"${var.x}"`` for a bare expression, ``"\\"arn:${...}\\""`` for a quoted
template (its quotes and escapes kept), Python lists and dicts for list and object literals written
out, numbers and booleans as Python values. ``value`` turns any of these into one small AST:

    ("lit", python value)                       string, number, bool or None (null)
    ("tmpl", [str | AST, ...])                  a template with interpolations
    ("ref", root, [("attr", name) | ("index", AST), ...])
    ("call", name, [AST, ...])
    ("list", [AST, ...]),  ("obj", [(key AST, AST), ...])
    ("cond", c, a, b),  ("bin", op, a, b),  ("not", a),  ("neg", a)

Only what the module uses is supported (no for expressions, splats or heredocs); anything else
fails loudly, so the parity test cannot silently read a value wrong.
"""

from __future__ import annotations

from typing import Any

AST = tuple


class ParseError(ValueError):
    pass


def value(raw: Any) -> AST:
    """The AST of one attribute value as python-hcl2 returned it."""
    if isinstance(raw, bool) or raw is None or isinstance(raw, (int, float)):
        return ("lit", raw)
    if isinstance(raw, list):
        return ("list", [value(x) for x in raw])
    if isinstance(raw, dict):
        return ("obj", [(("lit", unquote(k)), value(v)) for k, v in raw.items() if not k.startswith("__")])
    if not isinstance(raw, str):
        raise ParseError(f"unexpected value {raw!r}")
    text = raw.strip()
    if text.startswith("${") and text.endswith("}") and _one_interpolation(text):
        return parse(text[2:-1])
    if text.startswith('"') and text.endswith('"'):
        return parse(text)
    if text.startswith("<<"):
        raise ParseError("heredocs are not supported; use a quoted string or jsonencode")
    # A bare expression python-hcl2 did not wrap (type = string).
    return parse(text)


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _one_interpolation(text: str) -> bool:
    """Whether ``${...}`` spans the whole text (not ``${a}x${b}``)."""
    try:
        p = _Parser(text[2:-1])
        p.expr()
        p.ws()
        return p.at_end()
    except ParseError:
        return False


def parse(text: str) -> AST:
    p = _Parser(text)
    ast = p.expr()
    p.ws()
    if not p.at_end():
        raise ParseError(f"trailing text at {p.pos}: {text[p.pos:p.pos + 40]!r} in {text[:80]!r}")
    return ast


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0

    # ------------------------------------------------------------ scanning
    def at_end(self) -> bool:
        return self.pos >= len(self.s)

    def ws(self) -> None:
        s = self.s
        while self.pos < len(s):
            c = s[self.pos]
            if c in " \t\r\n":
                self.pos += 1
            elif c == "#" or s.startswith("//", self.pos):
                while self.pos < len(s) and s[self.pos] != "\n":
                    self.pos += 1
            elif s.startswith("/*", self.pos):
                end = s.find("*/", self.pos + 2)
                if end < 0:
                    raise ParseError("unterminated comment")
                self.pos = end + 2
            else:
                break

    def peek(self, token: str) -> bool:
        self.ws()
        return self.s.startswith(token, self.pos)

    def take(self, token: str) -> bool:
        if self.peek(token):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: str) -> None:
        if not self.take(token):
            raise ParseError(f"expected {token!r} at {self.pos}: {self.s[self.pos:self.pos + 40]!r}")

    def ident(self) -> str | None:
        self.ws()
        start = self.pos
        s = self.s
        if self.pos < len(s) and (s[self.pos].isalpha() or s[self.pos] == "_"):
            self.pos += 1
            while self.pos < len(s) and (s[self.pos].isalnum() or s[self.pos] in "_-"):
                self.pos += 1
            return s[start:self.pos]
        return None

    # ------------------------------------------------------------ grammar
    def expr(self) -> AST:
        c = self.binary(0)
        if self.take("?"):
            a = self.expr()
            self.expect(":")
            b = self.expr()
            return ("cond", c, a, b)
        return c

    LEVELS = [["||"], ["&&"], ["==", "!="], [">=", "<=", ">", "<"], ["+", "-"], ["*", "/", "%"]]

    def binary(self, level: int) -> AST:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            self.ws()
            op = next((o for o in self.LEVELS[level] if self.s.startswith(o, self.pos)), None)
            # "=" of an object item and "==" differ; ">" is never "=>" here.
            if op is None or (op in ("<", ">") and self.s.startswith(op + "=", self.pos) and op + "=" not in self.LEVELS[level]):
                return left
            self.pos += len(op)
            right = self.binary(level + 1)
            left = ("bin", op, left, right)

    def unary(self) -> AST:
        if self.peek("!") and not self.peek("!="):
            self.pos += 1
            return ("not", self.unary())
        if self.peek("-") and not self.s[self.pos + 1:self.pos + 2].isdigit():
            self.pos += 1
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: AST) -> AST:
        while True:
            if self.peek(".") and not self.peek(".."):
                self.pos += 1
                name = self.ident()
                if name is None:
                    self.ws()
                    start = self.pos
                    while self.pos < len(self.s) and self.s[self.pos].isdigit():
                        self.pos += 1
                    if start == self.pos:
                        raise ParseError(f"splat or bad attribute at {self.pos}")
                    name = self.s[start:self.pos]
                node = self._extend(node, ("attr", name))
            elif self.peek("["):
                self.pos += 1
                index = self.expr()
                self.expect("]")
                node = self._extend(node, ("index", index))
            else:
                return node

    @staticmethod
    def _extend(node: AST, step: tuple) -> AST:
        if node[0] == "ref":
            return ("ref", node[1], node[2] + [step])
        return ("ref", node, [step])  # a traversal of an expression (f(x).a)

    def primary(self) -> AST:
        self.ws()
        s = self.s
        if self.pos >= len(s):
            raise ParseError("unexpected end")
        c = s[self.pos]
        if c == "(":
            self.pos += 1
            inner = self.expr()
            self.expect(")")
            return inner
        if c == "[":
            self.pos += 1
            items = []
            while not self.take("]"):
                if self.peek("for "):
                    raise ParseError("for expressions are not supported")
                items.append(self.expr())
                self.take(",")
            return ("list", items)
        if c == "{":
            self.pos += 1
            items = []
            while not self.take("}"):
                key = self.object_key()
                if not (self.take("=") or self.take(":")):
                    raise ParseError(f"expected = or : at {self.pos}")
                items.append((key, self.expr()))
                self.take(",")
            return ("obj", items)
        if c == '"':
            return self.template()
        if c.isdigit():
            start = self.pos
            while self.pos < len(s) and (s[self.pos].isdigit() or s[self.pos] == "."):
                self.pos += 1
            text = s[start:self.pos]
            return ("lit", float(text) if "." in text else int(text))
        name = self.ident()
        if name is None:
            raise ParseError(f"unexpected {c!r} at {self.pos} in {s[:80]!r}")
        if name in ("true", "false"):
            return ("lit", name == "true")
        if name == "null":
            return ("lit", None)
        if self.peek("("):
            self.pos += 1
            args = []
            while not self.take(")"):
                args.append(self.expr())
                self.take("...")
                self.take(",")
            return ("call", name, args)
        return ("ref", name, [])

    def object_key(self) -> AST:
        self.ws()
        if self.peek('"'):
            return self.template()
        if self.peek("("):
            self.pos += 1
            key = self.expr()
            self.expect(")")
            return key
        name = self.ident()
        if name is None:
            raise ParseError(f"bad object key at {self.pos}")
        return ("lit", name)

    def template(self) -> AST:
        s = self.s
        self.expect('"')
        parts: list = []
        buf: list[str] = []
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while True:
            if self.pos >= len(s):
                raise ParseError("unterminated string")
            c = s[self.pos]
            if c == '"':
                self.pos += 1
                break
            if c == "\\":
                nxt = s[self.pos + 1]
                if nxt in escapes:
                    buf.append(escapes[nxt])
                    self.pos += 2
                elif nxt == "u":
                    buf.append(chr(int(s[self.pos + 2:self.pos + 6], 16)))
                    self.pos += 6
                else:
                    raise ParseError(f"unknown escape \\{nxt}")
            elif s.startswith("$${", self.pos) or s.startswith("%%{", self.pos):
                buf.append(s[self.pos + 1:self.pos + 3])
                self.pos += 3
            elif s.startswith("${", self.pos):
                self.pos += 2
                self.take("~")
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(self.expr())
                self.take("~")
                self.expect("}")
            elif s.startswith("%{", self.pos):
                raise ParseError("template directives are not supported")
            else:
                buf.append(c)
                self.pos += 1
        if buf:
            parts.append("".join(buf))
        if all(isinstance(p, str) for p in parts):
            return ("lit", "".join(parts))
        return ("tmpl", parts)
