"""The grid expression language: a small, safe language for conditions, filters and mappings.

Grid builders write things like `input.deal.value > 1000 and not trigger.test` or
`lower(split(email, '@')[1])`. Those strings come from users and models, so they are never given
to Python's `eval`, `exec` or `compile`: a tokenizer and a recursive-descent parser build a small
tree of our own node classes, and an evaluator walks it. The evaluator only ever reads JSON
values: a dotted name or `[key]` looks a key up in a dict or an index up in a list, never an
attribute of a Python object, so `__class__`, `__import__` and friends simply do not exist here.
Function calls are limited to the `FUNCTIONS` table.

Language:
- literals: numbers, 'single' or "double" quoted strings, true, false, null, [lists];
- names: `input` (the node's input), `trigger` (the run's input), `nodes` (every finished node's
  output by id), `loop` (the innermost loop's `index` and `item`), `item`/`index` (inside a
  filter or aggregate), a node id (that node's output); any other name is a key of the current
  scope (the node's input, or the item being filtered), null when absent;
- paths: `a.b`, `a[0]`, `a['key with spaces']`; a missing key or index is null;
- operators, loosest first: `or`, `and`, `not`, comparisons (`== != < <= > >= in`, `not in`),
  `+ -`, `* / %`, unary `-`. `&&`, `||` and `!` are accepted as spellings of and, or, not;
- functions: see `FUNCTIONS`.

Templates (`render`) put expressions into strings: `"Deal {{ input.deal.title }} won"`. A string
that is exactly one `{{ ... }}` keeps the value's type (a number stays a number).

Limits keep a hostile expression cheap: at most `MAX_SOURCE` characters, `MAX_DEPTH` levels of
nesting, and strings and lists built by an expression of at most `MAX_SIZE` items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.grids import values
from tools.grids.functions import FUNCTIONS
from tools.grids.values import MAX_SIZE, ExpressionError, kind_of, truthy

__all__ = ["FUNCTIONS", "MAX_SIZE", "Env", "ExpressionError", "compare", "evaluate", "kind_of",
           "parse", "render", "truthy"]

MAX_SOURCE = 2000
MAX_DEPTH = 40
MAX_TREE_DEPTH = 120
RESERVED = frozenset({"input", "trigger", "nodes", "loop", "item", "index"})
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})


# -- tokens ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>+\-*/%().,\[\]!])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    value: Any
    at: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"expression is longer than {MAX_SOURCE} characters")
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise ExpressionError(f"unexpected character {source[pos]!r} at position {pos}")
        kind, text = match.lastgroup or "", match.group()
        if kind != "space":
            tokens.append(Token(kind, text, _token_value(kind, text), pos))
        pos = match.end()
    tokens.append(Token("end", "", None, len(source)))
    return tokens


def _token_value(kind: str, text: str) -> Any:
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if kind == "string":
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
    return None


# -- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    target: Node
    key: Node


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Literal | Name | Index | ListOf | Call | Unary | Binary
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not in"})
_SPELLINGS = {"&&": "and", "||": "or", "!": "not"}


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.pos = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def word(self) -> str:
        """The current token as an operator or keyword ("and" for `&&`), or ""."""
        token = self.token
        if token.kind == "op":
            return _SPELLINGS.get(token.text, token.text)
        return token.text if token.kind == "name" and token.text in KEYWORDS else ""

    def take(self, word: str) -> bool:
        if self.word() == word:
            self.pos += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.take(word):
            raise self.error(f"expected {word!r}")

    def error(self, message: str) -> ExpressionError:
        token = self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"{message} at position {token.at}, found {found}")

    def parse(self) -> Node:
        node = self.expression()
        if self.token.kind != "end":
            raise self.error("unexpected text after the expression")
        return node

    def nested(self, parse: Callable[[], Node]) -> Node:
        """Parse one level deeper; refuse nesting that could exhaust the stack."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def expression(self) -> Node:
        return self.nested(self.disjunction)

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.take("or"):
            node = Binary("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.take("and"):
            node = Binary("and", node, self.negation())
        return node

    def negation(self) -> Node:
        if self.take("not"):
            return Unary("not", self.nested(self.negation))
        return self.comparison()

    def comparison(self) -> Node:
        node = self.sum()
        op = self.word()
        if op == "not" and self.tokens[self.pos + 1].text == "in":
            self.pos += 2
            return Binary("not in", node, self.sum())
        if op in _COMPARISONS:
            self.pos += 1
            node = Binary(op, node, self.sum())
            if self.word() in _COMPARISONS:
                raise self.error("comparisons do not chain; join them with `and`")
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.word() in ("+", "-"):
            op = self.word()
            self.pos += 1
            node = Binary(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.word() in ("*", "/", "%"):
            op = self.word()
            self.pos += 1
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.take("-"):
            return Unary("-", self.nested(self.unary))
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.take("."):
                if self.token.kind != "name":
                    raise self.error("expected a key name after '.'")
                if self.token.text.startswith("__"):
                    raise ExpressionError(f"keys starting with '__' are not allowed "
                                          f"({self.token.text!r})")
                node = Index(node, Literal(self.token.text))
                self.pos += 1
            elif self.take("["):
                node = Index(node, self.expression())
                self.expect("]")
            else:
                return node

    def primary(self) -> Node:
        token = self.token
        if token.kind in ("number", "string"):
            self.pos += 1
            return Literal(token.value)
        if token.kind == "name":
            return self.named(token)
        if self.take("("):
            node = self.expression()
            self.expect(")")
            return node
        if self.take("["):
            return ListOf(self.items("]"))
        raise self.error("expected a value")

    def named(self, token: Token) -> Node:
        constants = {"true": True, "false": False, "null": None}
        if token.text in constants:
            self.pos += 1
            return Literal(constants[token.text])
        if token.text in KEYWORDS:
            raise self.error(f"{token.text!r} needs a value before it")
        self.pos += 1
        if self.take("("):
            if token.text not in FUNCTIONS:
                raise ExpressionError(
                    f"unknown function {token.text!r}; functions: {', '.join(sorted(FUNCTIONS))}"
                )
            return Call(token.text, self.items(")"))
        if token.text.startswith("__"):
            raise ExpressionError(f"names starting with '__' are not allowed ({token.text!r})")
        return Name(token.text)

    def items(self, closing: str) -> tuple[Node, ...]:
        found: list[Node] = []
        while not self.take(closing):
            if found:
                self.expect(",")
            found.append(self.expression())
        return tuple(found)


_CACHE: dict[str, Node] = {}


def parse(source: str) -> Node:
    """The syntax tree of an expression; `ExpressionError` says what is wrong and where."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text")
    node = _CACHE.get(source)
    if node is None:
        node = _Parser(source).parse()
        if _tree_depth(node) > MAX_TREE_DEPTH:
            raise ExpressionError(f"expression is too deeply nested (over {MAX_TREE_DEPTH} levels)")
        if len(_CACHE) < 4096:
            _CACHE[source] = node
    return node


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Index):
        return (node.target, node.key)
    if isinstance(node, ListOf):
        return node.items
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    return ()


def _tree_depth(root: Node) -> int:
    """How deep evaluation will recurse (`a + b + c ...` grows a deep left spine)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest


# -- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """What names mean while evaluating: named roots, node outputs, and the scope that other
    bare names are looked up in."""

    roots: Mapping[str, Any] = field(default_factory=dict)
    nodes: Mapping[str, Any] = field(default_factory=dict)
    scope: Any = None

    def with_item(self, item: Any, index: int) -> Env:
        """The environment for one element of a filter or aggregate."""
        return Env({**self.roots, "item": item, "index": index}, self.nodes, item)

    def lookup(self, name: str) -> Any:
        if name in self.roots:
            return self.roots[name]
        if name == "nodes":
            return dict(self.nodes)
        if name in self.nodes:
            return self.nodes[name]
        if name in RESERVED:
            return None
        return self.scope.get(name) if isinstance(self.scope, Mapping) else None


def evaluate(source: str | Node, env: Env) -> Any:
    """The value of an expression in `env`; `ExpressionError` for anything it cannot do."""
    node = parse(source) if isinstance(source, str) else source
    return _eval(node, env)


def _eval(node: Node, env: Env) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return env.lookup(node.name)
    if isinstance(node, Index):
        return values.index(_eval(node.target, env), _eval(node.key, env))
    if isinstance(node, ListOf):
        return [_eval(item, env) for item in node.items]
    if isinstance(node, Call):
        return _call(node, env)
    if isinstance(node, Unary):
        return _unary(node, env)
    return _binary(node, env)


def _call(node: Call, env: Env) -> Any:
    function = FUNCTIONS[node.function]
    args = [_eval(arg, env) for arg in node.args]
    try:
        return values.bounded(function(*args))
    except ExpressionError:
        raise
    except (TypeError, ValueError, ArithmeticError, IndexError) as exc:
        raise ExpressionError(f"{node.function}(): {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "positional argument" in text or "takes" in text:
        return "wrong number of arguments"
    return text or type(exc).__name__


def _unary(node: Unary, env: Env) -> Any:
    value = _eval(node.operand, env)
    if node.op == "not":
        return not truthy(value)
    if not values.is_number(value):
        raise ExpressionError(f"cannot negate {kind_of(value)}")
    return -value


def _binary(node: Binary, env: Env) -> Any:
    if node.op == "and":
        left = _eval(node.left, env)
        return _eval(node.right, env) if truthy(left) else left
    if node.op == "or":
        left = _eval(node.left, env)
        return left if truthy(left) else _eval(node.right, env)
    left, right = _eval(node.left, env), _eval(node.right, env)
    if node.op in _COMPARISONS:
        return _compare(node.op, left, right)
    return values.bounded(_arithmetic(node.op, left, right))


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(values.same(left, right))
    if op == "!=":
        return not values.same(left, right)
    if op in ("in", "not in"):
        found = values.contains(right, left)
        return found if op == "in" else not found
    if left is None or right is None:
        return False
    if not (values.is_number(left) and values.is_number(right)) and type(left) is not type(right):
        raise ExpressionError(f"cannot compare {kind_of(left)} with {kind_of(right)} using {op}")
    try:
        result: bool = {"<": left < right, "<=": left <= right,
                        ">": left > right, ">=": left >= right}[op]
    except TypeError as exc:
        raise ExpressionError(f"cannot order {kind_of(left)} values using {op}") from exc
    return result


def _arithmetic(op: str, left: Any, right: Any) -> Any:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if op == "+" and isinstance(left, list) and isinstance(right, list):
        return left + right
    if not (values.is_number(left) and values.is_number(right)):
        raise ExpressionError(f"cannot apply {op} to {kind_of(left)} and {kind_of(right)}")
    if op in ("/", "%") and right == 0:
        raise ExpressionError("division by zero")
    result = {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right,
              "/": lambda: left / right, "%": lambda: left % right}[op]()
    if isinstance(result, float) and not math.isfinite(result):
        raise ExpressionError("the result is not a finite number")
    return result


def compare(op: str, left: Any, right: Any) -> bool:
    """`left op right` as a condition's `field`/`operator`/`value` form states it; besides the
    comparison operators, `contains` (right in left) and `exists` (left is not null)."""
    if op == "exists":
        return left is not None
    if op == "contains":
        return values.contains(left, right)
    if op not in _COMPARISONS:
        raise ExpressionError(f"unknown operator {op!r}")
    return _compare(op, left, right)


# -- templates ---------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def placeholders(text: str) -> Iterator[str]:
    """The expressions inside a template's `{{ }}` placeholders."""
    for match in _PLACEHOLDER.finditer(text):
        yield match.group(1).strip()


def render(value: Any, env: Env) -> Any:
    """A JSON value with every `{{ expression }}` in its strings evaluated (recursively)."""
    if isinstance(value, str):
        return _render_text(value, env)
    if isinstance(value, Mapping):
        return {str(k): render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, env) for v in value]
    return value


def _render_text(text: str, env: Env) -> Any:
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole is not None and "{{" not in whole.group(1):
        return evaluate(whole.group(1).strip(), env)
    rendered = _PLACEHOLDER.sub(lambda m: values.text(evaluate(m.group(1).strip(), env)), text)
    return values.bounded(rendered)


def check_template(value: Any) -> None:
    """Parse every placeholder of a JSON value; `ExpressionError` for the first bad one."""
    if isinstance(value, str):
        for source in placeholders(value):
            parse(source)
    elif isinstance(value, Mapping):
        for item in value.values():
            check_template(item)
    elif isinstance(value, list):
        for item in value:
            check_template(item)
